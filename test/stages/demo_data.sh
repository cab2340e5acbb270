#!/usr/bin/env bash
# Stage: the demo generator (tools/demo-data.sql) and the `make demo`
# walkthrough (tools/demo-walkthrough.sql), in databases of their own on the
# test cluster (PGHOST/PGPORT from tools/test.sh).  Exits 0 when all passed.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
fails=0
ok() { echo "ok - $1"; }
fail() { echo "not ok - $1"; fails=$((fails + 1)); }
q() { command psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
fresh() {  # fresh DB: a database with the extension and nothing else
  PGOPTIONS="-c client_min_messages=warning" q -d postgres -c "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1"
  q -d "$1" -c "CREATE EXTENSION bulkorder"
}
cleanup() {
  for d in demo_stage_a demo_stage_b demo_stage_c; do
    PGOPTIONS="-c client_min_messages=warning" q -d postgres -c "DROP DATABASE IF EXISTS $d" >/dev/null 2>&1
  done
  # the walkthrough's operators (roles belong to the cluster)
  q -d postgres -c "DROP ROLE IF EXISTS demo_tanaka" -c "DROP ROLE IF EXISTS demo_suzuki" >/dev/null 2>&1
}
trap cleanup EXIT

fresh demo_stage_a
if q -d demo_stage_a -v orders=5000 -v seed=42 -f tools/demo-data.sql; then ok "loads 5000 orders"; else fail "loads 5000 orders"; fi

# Each check is a query that returns true.
check() {  # check NAME SQL
  local got
  got=$(q -d demo_stage_a -c "$2" 2>&1)
  if [ "$got" = t ]; then ok "$1"; else fail "$1 (got: $got)"; fi
}
check "exactly the orders asked for, customers = orders / 5" \
  "SELECT (SELECT count(*) FROM bulkorder.orders) = 5000 AND (SELECT count(*) FROM bulkorder.customers) = 1000"
check "orders in every status" \
  "SELECT count(DISTINCT status) = 5 FROM bulkorder.orders WHERE deleted_at IS NULL"
check "subscriptions in every status, each with items" \
  "SELECT count(DISTINCT status) = 3 AND bool_and(EXISTS (SELECT FROM bulkorder.subscription_items i
          WHERE i.course_order_no = s.course_order_no)) FROM bulkorder.subscriptions s"
check "NP後払い and NP後払い(リアルタイム) NG with exactly NG999, and with other codes" \
  "SELECT count(DISTINCT payment_method) FILTER (WHERE auth_message = 'NPの与信がNGになりました。NG999。') = 2
      AND count(*) FILTER (WHERE auth_message LIKE 'NPの与信がNGになりました。NG00_。') > 0
     FROM bulkorder.orders WHERE auth_status = 'ng' AND payment_method IN ('np_atobarai', 'np_atobarai_realtime')"
check "other deferred payments NG too, awaiting shipment" \
  "SELECT count(DISTINCT payment_method) >= 5 FROM bulkorder.orders
    WHERE auth_status = 'ng' AND status = 'awaiting_shipment'"
check "shipment report NG only on orders being shipped whose method needs reports" \
  "SELECT count(*) > 0 AND bool_and(o.status = 'shipping' AND pm.needs_ship_report)
     FROM bulkorder.orders o JOIN bulkorder.payment_methods pm ON pm.code = o.payment_method
    WHERE o.ship_report_status = 'ng'"
check "free gifts, non-public products, and products limited in payment, delivery and frequency" \
  "SELECT (SELECT count(*) FROM bulkorder.products WHERE price = 0) >= 3
      AND (SELECT count(*) FROM bulkorder.products WHERE NOT is_public) >= 2
      AND (SELECT count(*) FROM bulkorder.products p WHERE (SELECT count(*) FROM bulkorder.product_payment_methods m
           WHERE m.product_id = p.product_id) < 9) > 0
      AND (SELECT count(*) FROM bulkorder.products p WHERE NOT EXISTS (SELECT FROM bulkorder.product_delivery_methods m
           WHERE m.product_id = p.product_id AND m.delivery_method = 'nekopos')) > 0
      AND (SELECT count(*) FROM bulkorder.products p WHERE (SELECT count(*) FROM bulkorder.product_frequencies f
           WHERE f.product_id = p.product_id) BETWEEN 1 AND 5) > 0"
check "every order line allowed by its order's payment and delivery method" \
  "SELECT NOT EXISTS (SELECT FROM bulkorder.order_items i JOIN bulkorder.orders o USING (order_no)
    WHERE NOT EXISTS (SELECT FROM bulkorder.product_payment_methods m
                      WHERE m.product_id = i.product_id AND m.payment_method = o.payment_method)
       OR NOT EXISTS (SELECT FROM bulkorder.product_delivery_methods m
                      WHERE m.product_id = i.product_id AND m.delivery_method = o.delivery_method))"
check "every subscription item allowed by its master's payment, delivery method and frequency" \
  "SELECT NOT EXISTS (SELECT FROM bulkorder.subscription_items i JOIN bulkorder.subscriptions s USING (course_order_no)
    WHERE NOT EXISTS (SELECT FROM bulkorder.product_payment_methods m
                      WHERE m.product_id = i.product_id AND m.payment_method = s.payment_method)
       OR NOT EXISTS (SELECT FROM bulkorder.product_delivery_methods m
                      WHERE m.product_id = i.product_id AND m.delivery_method = s.delivery_method)
       OR NOT EXISTS (SELECT FROM bulkorder.product_frequencies m
                      WHERE m.product_id = i.product_id AND m.frequency_id = s.frequency_id))"
check "course_seq numbers each subscription's orders 1..n in order-number order" \
  "SELECT NOT EXISTS (SELECT FROM (SELECT course_seq, row_number() OVER (PARTITION BY course_order_no ORDER BY order_no) AS n
                                   FROM bulkorder.orders WHERE course_order_no IS NOT NULL) x WHERE course_seq <> n)"
check "time slots belong to their delivery method (or 指定なし)" \
  "SELECT NOT EXISTS (SELECT FROM bulkorder.orders o WHERE o.delivery_time_slot IS NOT NULL AND NOT EXISTS
                      (SELECT FROM bulkorder.delivery_time_slots s WHERE s.delivery_method = o.delivery_method
                       AND s.code = o.delivery_time_slot))
      AND EXISTS (SELECT FROM bulkorder.orders WHERE delivery_time_slot IS NULL)"
check "the five frequencies of the seed's shop" \
  "SELECT count(*) = 5 FROM bulkorder.frequencies WHERE (kind, every, coalesce(day_of_month, 0)) IN
     (('months', 1, 0), ('months', 2, 0), ('weeks', 2, 0), ('days', 10, 0), ('day_of_month', 1, 25))"
check "customers: Japanese names with kana, addresses, ranks, candidates and blacklisted" \
  "SELECT bool_and(name ~ '^\S+ \S+$' AND name_kana ~ '^[ァ-ヶー]+ [ァ-ヶー]+$' AND email LIKE '%@example.%'
                   AND prefecture ~ '(都|道|府|県)$' AND postal_code ~ '^\d{3}-\d{4}$')
      AND count(DISTINCT blacklist_status) = 3 AND count(DISTINCT rank) = 4
     FROM bulkorder.customers"
check "tags, notes, held orders, autogen errors and a few deleted orders" \
  "SELECT count(*) FILTER (WHERE tags <> '{}') > 0 AND count(*) FILTER (WHERE customer_message IS NOT NULL) > 0
      AND count(*) FILTER (WHERE reply_message IS NOT NULL) > 0 AND count(*) FILTER (WHERE remarks IS NOT NULL) > 0
      AND count(*) FILTER (WHERE integration_text IS NOT NULL) > 0 AND count(*) FILTER (WHERE shipping_hold) > 0
      AND count(*) FILTER (WHERE autogen_error) > 0
      AND count(*) FILTER (WHERE deleted_at IS NOT NULL) BETWEEN 1 AND 50
     FROM bulkorder.orders"
check "dates consistent: ship ≤ delivery; awaiting orders not shipped before today - 2" \
  "SELECT NOT EXISTS (SELECT FROM bulkorder.orders WHERE scheduled_ship_date > scheduled_delivery_date)
      AND NOT EXISTS (SELECT FROM bulkorder.subscriptions WHERE next_ship_date > next_delivery_date)
      AND NOT EXISTS (SELECT FROM bulkorder.orders WHERE status = 'awaiting_shipment'
                      AND scheduled_ship_date < DATE '2026-12-01' - 2)"
check "the carriers issue jp12 tracking numbers, and every stored one is a valid jp12 number" \
  "SELECT (SELECT bool_and(tracking_format = 'jp12') FROM bulkorder.delivery_methods)
      AND (SELECT count(*) > 0 AND bool_and(bulkorder.tracking_no_problem(m.tracking_format, o.tracking_no) IS NULL
                                            AND o.tracking_no = bulkorder.tracking_no_canonical(m.tracking_format, o.tracking_no))
           FROM bulkorder.orders o JOIN bulkorder.delivery_methods m ON m.code = o.delivery_method
           WHERE o.tracking_no IS NOT NULL)"
check "the identity sequences continue after the demo's keys" \
  "SELECT nextval(pg_get_serial_sequence('bulkorder.orders', 'order_no')) > (SELECT max(order_no) FROM bulkorder.orders)
      AND nextval(pg_get_serial_sequence('bulkorder.customers', 'customer_id')) > (SELECT max(customer_id) FROM bulkorder.customers)
      AND nextval(pg_get_serial_sequence('bulkorder.subscriptions', 'course_order_no')) > (SELECT max(course_order_no) FROM bulkorder.subscriptions)"

# Deterministic: the same seed gives the same rows, another seed others.
digest() {
  q -d "$1" -c "SELECT md5(string_agg(t::text, '|' ORDER BY t.order_no)) FROM bulkorder.orders t" \
              -c "SELECT md5(string_agg(t::text, '|' ORDER BY t.customer_id)) FROM bulkorder.customers t" \
              -c "SELECT md5(string_agg(t::text, '|' ORDER BY t.order_no, t.product_id)) FROM bulkorder.order_items t" \
              -c "SELECT md5(string_agg(t::text, '|' ORDER BY t.course_order_no)) FROM bulkorder.subscriptions t"
}
fresh demo_stage_b
q -d demo_stage_b -v orders=5000 -v seed=42 -f tools/demo-data.sql
fresh demo_stage_c
q -d demo_stage_c -v orders=5000 -v seed=7 -f tools/demo-data.sql
a=$(digest demo_stage_a); b=$(digest demo_stage_b); c=$(digest demo_stage_c)
if [ -n "$a" ] && [ "$a" = "$b" ]; then ok "same seed, same rows"; else fail "same seed, same rows"; fi
if [ "$a" != "$c" ]; then ok "another seed, other rows"; else fail "another seed, other rows"; fi

# A shop that already has data is refused, and left as it was.
before=$(digest demo_stage_b)
if q -d demo_stage_b -v orders=100 -f tools/demo-data.sql >/dev/null 2>&1; then
  fail "refuses a shop that has data"
else
  [ "$(digest demo_stage_b)" = "$before" ] && ok "refuses a shop that has data" || fail "refuses a shop that has data (changed it)"
fi

# The walkthrough of `make demo` runs as written and shows each step.
out=$(command psql -X -q -v ON_ERROR_STOP=1 -d demo_stage_a -f tools/demo-walkthrough.sql 2>&1)
rc=$?
if [ $rc -eq 0 ]; then ok "walkthrough runs"; else fail "walkthrough runs (rc $rc): $(echo "$out" | tail -3)"; fi
for want in "④ 最終確認画面" "⑤ 確定" "一括更新を受け付けました" "一括更新が完了しました。注文一覧「キャンセル」 成功 10 件 / 失敗 2 件" \
            "⑥ 受注一括更新履歴" "not_awaiting_shipment" "not_found" "same job" \
            "出荷データ取り込み" "invalid_tracking_no" "チェックディジット" "formula_text"; do
  if grep -qF "$want" <<<"$out"; then ok "walkthrough shows: $want"; else fail "walkthrough shows: $want"; fi
done
check "walkthrough: ten orders cancelled, with void requests where the method has a gateway" \
  "SELECT (SELECT success_count = 10 AND failure_count = 2 FROM bulkorder.bulk_jobs ORDER BY job_id LIMIT 1)
      AND (SELECT count(*) FROM bulkorder.payment_requests r JOIN bulkorder.payment_methods pm ON pm.code = r.payment_method
           WHERE r.kind = 'void' AND pm.has_gateway) =
          (SELECT count(*) FROM bulkorder.bulk_job_items i JOIN bulkorder.orders o ON o.order_no = i.target
           JOIN bulkorder.payment_methods pm ON pm.code = o.payment_method
           WHERE i.job_id = (SELECT min(job_id) FROM bulkorder.bulk_jobs) AND i.ok AND pm.has_gateway)"
check "walkthrough: the import shipped the real tracking number only, and stored it as issued" \
  "SELECT array_agg(i.ok::text || ':' || coalesce(i.error_code, '') ORDER BY i.target DESC)
          = '{false:formula_text,false:invalid_tracking_no,true:}'
      AND bool_and(o.tracking_no IS NULL) FILTER (WHERE NOT i.ok)
      AND bool_and(bulkorder.tracking_no_problem('jp12', o.tracking_no) IS NULL) FILTER (WHERE i.ok)
     FROM bulkorder.bulk_job_items i JOIN bulkorder.orders o ON o.order_no = i.target
    WHERE i.job_id = (SELECT max(job_id) FROM bulkorder.bulk_jobs WHERE operation = 'import_shipments')"
# and again: it picks other orders
if command psql -X -q -v ON_ERROR_STOP=1 -d demo_stage_a -f tools/demo-walkthrough.sql >/dev/null 2>&1; then
  ok "walkthrough runs a second time"; else fail "walkthrough runs a second time"; fi

# Two shops, as `make demo` makes them: the second shop's load leaves the
# first as it was, and the walkthrough's last part shows each shop's
# operator its own shop alone.
shop1() { q -d demo_stage_a -c "SELECT md5(string_agg(t::text, '|' ORDER BY t.order_no)) FROM bulkorder.orders t WHERE t.shop_id = 1"; }
before=$(shop1)
q -d demo_stage_a -c "SELECT bulkorder.create_shop('cosme', 'コスメの定期便')" >/dev/null
if PGOPTIONS="-c bulkorder.shop=cosme" q -d demo_stage_a -v orders=1000 -v seed=43 -f tools/demo-data.sql >/dev/null; then
  ok "loads a second shop into the same database"; else fail "loads a second shop into the same database"; fi
[ "$(shop1)" = "$before" ] && ok "the first shop's rows are as they were" || fail "the first shop's rows are as they were"
check "the second shop has its own rows, with the first shop's keys again" \
  "SELECT (SELECT count(*) FROM bulkorder.orders o JOIN bulkorder.shops s USING (shop_id) WHERE s.code = 'cosme') = 1000
      AND (SELECT count(*) FROM bulkorder.customers c JOIN bulkorder.shops s USING (shop_id) WHERE s.code = 'cosme') = 200
      AND EXISTS (SELECT FROM bulkorder.orders a JOIN bulkorder.orders b USING (order_no) WHERE a.shop_id <> b.shop_id)"
out=$(command psql -X -q -v ON_ERROR_STOP=1 -d demo_stage_a -f tools/demo-walkthrough.sql 2>&1)
rc=$?
if [ $rc -eq 0 ]; then ok "walkthrough runs with two shops"; else fail "walkthrough runs with two shops (rc $rc): $(echo "$out" | tail -3)"; fi
for want in "⑦ ショップごとの担当者" "permission denied for shop \"default\"" "does not exist"; do
  if grep -qF "$want" <<<"$out"; then ok "walkthrough shows: $want"; else fail "walkthrough shows: $want"; fi
done
check "walkthrough: demo_suzuki's job is cosme's, and it changed cosme's orders alone" \
  "SELECT (SELECT bool_and(s.code = 'cosme') FROM bulkorder.bulk_jobs j JOIN bulkorder.shops s USING (shop_id)
           WHERE j.operator = 'suzuki')
      AND NOT EXISTS (SELECT FROM bulkorder.orders o WHERE 'cosme-担当' = ANY (o.tags) AND o.shop_id = 1)
      AND EXISTS (SELECT FROM bulkorder.orders o JOIN bulkorder.shops s USING (shop_id)
                  WHERE 'cosme-担当' = ANY (o.tags) AND s.code = 'cosme')"

echo "demo_data: $fails failed"
[ "$fails" -eq 0 ]
