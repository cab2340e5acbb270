#!/usr/bin/env bash
# The workload test/stages/citus.sh runs twice, on a single node and on a
# Citus coordinator, to compare what it leaves behind (test/citus/dump.sql).
# Every call names its shop (options.shop) as an admin tool behind a pooler
# does.  Sourced by the stage, which defines:
#   sql NODE [psql args]   psql on NODE's database, unaligned, stop on error
#   between_jobs NODE      what happens between the two jobs of the move
#                          check (a shard move on Citus, nothing on one node)
# Outputs (previews, upload errors, connector polls) go to $out/NODE.calls.
#
# Determinism: every job id, upload id and notification id is drawn on the
# coordinator in the order of the calls, so the calls run one after the
# other, an asynchronous job waited for before the next call.

# targets: keys of a page in one shop (status: orders only), plus one key
# that no shop has
keys_of() {  # keys_of SHOP PAGE STATUS OFFSET LIMIT
  local shop=$1 page=$2 status=$3 off=$4 lim=$5
  case $page in
    orders|shipments)
      echo "ARRAY(SELECT order_no FROM bulkorder.orders WHERE shop_id = (SELECT shop_id FROM bulkorder.shops WHERE code = '$shop')
                  AND status = '$status' ORDER BY order_no OFFSET $off LIMIT $lim)" ;;
    subscriptions)
      echo "ARRAY(SELECT course_order_no FROM bulkorder.subscriptions WHERE shop_id = (SELECT shop_id FROM bulkorder.shops WHERE code = '$shop')
                  ORDER BY course_order_no OFFSET $off LIMIT $lim)" ;;
    customers)
      echo "ARRAY(SELECT customer_id FROM bulkorder.customers WHERE shop_id = (SELECT shop_id FROM bulkorder.shops WHERE code = '$shop')
                  ORDER BY customer_id OFFSET $off LIMIT $lim)" ;;
  esac
}
targets() {  # targets SHOP PAGE OFFSET: a mix of eligible and ineligible keys, and an unknown one
  local shop=$1 page=$2 off=$3
  case $page in
    orders|shipments)
      echo "$(keys_of "$shop" orders awaiting_shipment "$off" 5) || $(keys_of "$shop" orders shipped "$off" 3)
            || $(keys_of "$shop" orders shipping 0 2) || $(keys_of "$shop" orders cancelled "$off" 1) || 999999::bigint" ;;
    *)
      echo "$(keys_of "$shop" "$page" - "$off" 9) || 999999::bigint" ;;
  esac
}

# the operations of every page, with params that suit the demo shops
operations() {
  cat <<'OPS'
orders|cancel|{"void_payment": true}
orders|return|{"void_payment": true}
orders|delete|{"void_payment": false}
orders|shipping_hold|{"hold": true}
orders|tags|{"add": ["citus", "確認済"], "remove": ["VIP"]}
orders|reauthorize|{}
orders|customer_message|{"text": "置き配希望", "mode": "append"}
orders|reply_message|{"text": "承知しました", "mode": "overwrite"}
orders|remarks|{"text": "電話確認済み", "mode": "append"}
orders|integration_text|{"text": "WMS-7", "mode": "overwrite"}
orders|payment_method|{"payment_method": "cod"}
orders|reship_report|{}
orders|add_products|{"product_id": 201, "quantity": 2}
orders|remove_products|{"product_id": 201}
orders|clear_autogen_error|{}
orders|delivery_method|{"delivery_method": "yamato", "time_slot": "am"}
orders|ship_mail_status|{"sent": true}
orders|blacklist|{"action": "candidate"}
subscriptions|next_dates|{"next_ship_date": "2027-01-10", "next_delivery_date": "2027-01-12"}
subscriptions|customer_message|{"text": "玄関前", "mode": "append"}
subscriptions|reply_message|{"text": "了解です", "mode": "overwrite"}
subscriptions|remarks|{"text": "要確認", "mode": "append"}
subscriptions|integration_text|{"text": "CRM-1", "mode": "overwrite"}
subscriptions|next_delivery_method|{"delivery_method": "sagawa", "time_slot": "12-14"}
subscriptions|clear_autogen_error|{}
subscriptions|frequency|{"frequency_id": 2}
subscriptions|swap_product|{"from_product_id": 101, "to_product_id": 102}
subscriptions|course_status|{"status": "paused"}
shipments|delivery_dates|{"ship_date": "2026-12-20", "delivery_date": "2026-12-22", "update_subscription": true}
shipments|revert_to_awaiting|{}
shipments|delivery_method|{"delivery_method": "yupack", "time_slot": null}
customers|blacklist|{"action": "blacklist"}
customers|mail_opt_in|{"opt_in": false}
customers|points|{"delta": 100}
customers|rank|{"rank": "gold"}
customers|remarks|{"text": "優良顧客", "mode": "append"}
customers|tags|{"add": ["citus"], "remove": []}
OPS
}

wait_job() {  # wait_job NODE JOB: until the job has ended
  local node=$1 job=$2 status deadline=$((SECONDS + 120))
  while :; do
    status=$(sql "$node" -c "SELECT status FROM bulkorder.bulk_jobs WHERE job_id = $job")
    case $status in queued|running) ;; *) return 0 ;; esac
    [ $SECONDS -lt $deadline ] || { echo "FAIL: $node: job $job still $status after 120 s"; return 1; }
    sleep 0.2
  done
}

run_job() {  # run_job NODE SHOP PAGE OPERATION OFFSET PARAMS [OPTIONS-JSON-FIELDS]
  local node=$1 shop=$2 page=$3 op=$4 off=$5 params=$6 extra=${7:-} job
  job=$(sql "$node" -c "SET bulkorder.chunk_size = 4" \
            -c "SELECT bulkorder.run_bulk('$page', '$op', $(targets "$shop" "$page" "$off"), '$params',
                                          '{\"shop\": \"$shop\"$extra}')")
  job=${job##*$'\n'}
  if [ -n "$extra" ]; then wait_job "$node" "$job"; fi
  echo "$job"
}

workload() {  # workload NODE
  local node=$1 calls="$out/$1.calls" i=0 page op params job upload csv
  : > "$calls"

  # every operation of every page: synchronous in kenko, asynchronous in
  # cosme, a chunk being 4 targets (several chunks, several calls each)
  while IFS='|' read -r page op params; do
    i=$((i + 1))
    run_job "$node" kenko "$page" "$op" $((i % 7)) "$params" >/dev/null
    run_job "$node" cosme "$page" "$op" $((i % 5)) "$params" ', "async": true' >/dev/null
  done < <(operations)

  # the confirmation step, then the job; the failures again; an undo, and
  # the undo of the undo (default, where the outbox rows are withdrawn)
  sql "$node" -c "SELECT 'preview', * FROM bulkorder.preview_bulk('orders', 'cancel', $(targets default orders 0),
                                                                   '{\"void_payment\": true}')
                  ORDER BY target" >> "$calls" 2>&1 || true
  sql "$node" -c "SET bulkorder.shop = 'default'" \
      -c "SELECT 'preview', * FROM bulkorder.preview_bulk('orders', 'cancel', $(targets default orders 0),
                                                          '{\"void_payment\": true}') ORDER BY target" >> "$calls"
  job=$(run_job "$node" default orders cancel 0 '{"void_payment": true}')
  sql "$node" -c "SELECT 'retry', bulkorder.retry_failed($job, '{\"shop\": \"default\"}') IS NOT NULL" >> "$calls"
  sql "$node" -c "SELECT 'preview_revert', * FROM bulkorder.preview_revert($job) ORDER BY target" >> "$calls" 2>&1 || true
  sql "$node" -c "SET bulkorder.shop = 'default'" \
      -c "SELECT 'preview_revert', * FROM bulkorder.preview_revert($job) ORDER BY target" >> "$calls"
  local revert; revert=$(sql "$node" -c "SELECT bulkorder.revert_job($job, '{\"shop\": \"default\"}')")
  sql "$node" -c "SELECT 'revert of revert', bulkorder.revert_job($revert, '{\"shop\": \"default\"}') IS NOT NULL" >> "$calls"
  # an asynchronous undo, and a job cancelled while queued
  job=$(run_job "$node" default orders payment_method 1 '{"payment_method": "cod"}')
  revert=$(sql "$node" -c "SELECT bulkorder.revert_job($job, '{\"shop\": \"default\", \"async\": true}')")
  wait_job "$node" "$revert"
  sql "$node" <<SQL >> "$calls"
BEGIN;
SELECT bulkorder.run_bulk('orders', 'tags', $(targets default orders 2), '{"add": ["never"]}',
                          '{"shop": "default", "async": true}') AS job \gset
SELECT 'cancel', bulkorder.cancel_job(:job, '{"shop": "default"}');
COMMIT;
SQL

  # an operation of the shop's own, declared on the coordinator: it reaches
  # the shops' nodes, sync and async
  sql "$node" <<'SQL' >/dev/null
SELECT bulkorder.define_operation('orders', 'citus_note',
    name_ja => 'メモ', name_en => 'note', wrapper => 'bulk_citus_note',
    params => '{"note": {"type": "text", "max_length": 20, "position": 1}}',
    changed_columns => '{remarks}',
    set_clause => $$remarks = p->>'note'$$,
    rules => '[{"code": "not_awaiting_shipment", "condition": "t.status = ''awaiting_shipment''",
                "message_ja": "出荷待ちの注文ではありません", "message_en": "not awaiting shipment"}]');
SQL
  run_job "$node" default orders citus_note 2 '{"note": "メモ"}' >/dev/null
  run_job "$node" cosme orders citus_note 2 '{"note": "非同期"}' ', "async": true' >/dev/null

  # a CSV of keys chooses the targets; the shipment import
  csv=$(sql "$node" -c "SELECT string_agg(k::text, E'\\r\\n') FROM unnest($(targets default orders 3)) k")
  upload=$(sql "$node" -c "SELECT bulkorder.upload_csv('orders', convert_to('注文番号' || E'\\r\\n' || '$csv' || E'\\r\\n12x\\r\\n', 'UTF8'),
                                                       '{\"shop\": \"default\"}')")
  sql "$node" -c "SET bulkorder.shop = 'default'" \
      -c "SELECT 'upload_errors', * FROM bulkorder.upload_errors($upload) ORDER BY 2" >> "$calls"
  sql "$node" -c "SET bulkorder.shop = 'default'" \
      -c "SELECT 'upload job', bulkorder.run_bulk('orders', 'shipping_hold', bulkorder.upload_targets($upload),
                                                  '{\"hold\": true}', '{\"source\": \"csv\"}') IS NOT NULL" >> "$calls"
  for shop in default kenko; do
    local async=''; [ $shop = kenko ] && async=', "async": true'
    # order number, tracking number (a jp12 number with its check digit)
    csv=$(sql "$node" -c "SELECT string_agg(o.order_no || ',' || t.no, E'\\n' ORDER BY o.order_no)
                           FROM bulkorder.orders o
                           CROSS JOIN LATERAL (SELECT lpad((40000000000 + o.order_no)::text, 11, '0')
                                                      || ((40000000000 + o.order_no) % 7)::text AS no) t
                           WHERE o.shop_id = (SELECT shop_id FROM bulkorder.shops WHERE code = '$shop')
                             AND o.status IN ('awaiting_shipment', 'shipped', 'cancelled')
                             AND o.order_no % 3 = 0")
    job=$(sql "$node" -c "SELECT bulkorder.import_shipments(convert_to('$csv' || E'\\n999999,123456789012\\n', 'UTF8'),
                                                           '{\"shop\": \"$shop\"$async}')")
    if [ -n "$async" ]; then wait_job "$node" "$job"; fi
    sql "$node" -c "SELECT 'import', status, success_count, failure_count FROM bulkorder.bulk_jobs WHERE job_id = $job" >> "$calls"
  done

  # connectors: requests taken and answered, mails taken and sent, in the
  # connector's own transaction, as docs/connectors.md's polls run them
  for shop in default kenko cosme; do
    sql "$node" -U bo_citus_payments <<SQL >> "$calls"
BEGIN;
CREATE TEMP TABLE taken ON COMMIT DROP AS
SELECT * FROM bulkorder.take_payment_requests(3, '{"shop": "$shop"}');
SELECT 'poll' AS what, order_no, payment_method, kind, attempts FROM taken ORDER BY order_no, kind;
SELECT 'complete', t.order_no, t.kind,
       bulkorder.complete_payment_request(t.request_id, t.order_no % 2 = 0, CASE WHEN t.order_no % 2 = 0 THEN 'OK' ELSE 'NG999' END,
                                          CASE WHEN t.order_no % 2 = 0 THEN NULL ELSE 'NPの与信がNGになりました。NG999。' END)
FROM (SELECT * FROM taken ORDER BY order_no, kind LIMIT 2) t ORDER BY t.order_no, t.kind;
SELECT 'tried', bulkorder.payment_requests_tried(ARRAY(SELECT request_id FROM taken ORDER BY order_no, kind OFFSET 2),
                                                  '{"shop": "$shop"}');
COMMIT;
SQL
    sql "$node" -U bo_citus_mails <<SQL >> "$calls"
BEGIN;
CREATE TEMP TABLE taken ON COMMIT DROP AS SELECT * FROM bulkorder.take_mails(5, '{"shop": "$shop"}');
SELECT 'mail' AS what, template_code, order_no, to_address, subject FROM taken ORDER BY order_no, template_code;
SELECT 'sent', bulkorder.mark_mails_sent(ARRAY(SELECT mail_id FROM taken ORDER BY order_no, template_code LIMIT 2),
                                         '{"shop": "$shop"}');
COMMIT;
SQL
  done

  # order generation, every shop, each in its own call; a master whose
  # order cannot be made gets autogen_error
  sql "$node" -c "SELECT 'generation', * FROM bulkorder.generate_subscription_orders('2027-01-31')" >> "$calls"
  sql "$node" -c "SELECT 'generation', * FROM bulkorder.generate_subscription_orders('2027-03-31', 'kenko')" >> "$calls"

  # a shop created now, after distribute_shops() on Citus: its rows, a job
  sql "$node" -c "SELECT 'late shop', bulkorder.create_shop('late', '後から追加したショップ') IS NOT NULL" >> "$calls"
  sql "$node" <<'SQL'
BEGIN;
SET LOCAL bulkorder.shop = 'late';
INSERT INTO bulkorder.customers (customer_id, name, email) VALUES (1, '佐藤 花子', 'hanako@example.jp');
INSERT INTO bulkorder.orders (order_no, customer_id, status, payment_method)
SELECT g, 1, CASE WHEN g % 3 = 0 THEN 'shipped' ELSE 'awaiting_shipment' END, 'np_atobarai'
FROM generate_series(118501, 118520) g;
COMMIT;
SQL
  run_job "$node" late orders cancel 0 '{"void_payment": true}' >/dev/null

  # two jobs of one shop with a move of the shop between them
  run_job "$node" cosme orders tags 2 '{"add": ["before the move"]}' >/dev/null
  between_jobs "$node"
  run_job "$node" cosme orders tags 2 '{"add": ["after the move"]}' >/dev/null
  after_move "$node"
}
