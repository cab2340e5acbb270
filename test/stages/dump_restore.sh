#!/usr/bin/env bash
# The shop's tables are the database's own (not extension members): pg_dump
# keeps them like any table, with their key sequences; pg_restore runs
# CREATE EXTENSION before re-creating them (the install script must leave
# them to the dump), and the restored database goes on (new keys, jobs).
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
src=bulkorder_dump_src dst=bulkorder_dump_dst
dump=$(mktemp)
q() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }
cleanup() {
  q -d postgres -c "DROP DATABASE IF EXISTS $src" -c "DROP DATABASE IF EXISTS $dst" >/dev/null 2>&1 || true
  rm -f "$dump"
}
trap cleanup EXIT
cleanup
q -d postgres -c "CREATE DATABASE $src" -c "CREATE DATABASE $dst"
q -d $src -c "CREATE EXTENSION bulkorder"
q -d $src -v orders=2000 -v seed=7 -f "$top/tools/demo-data.sql" >/dev/null
q -d $src -c "SELECT bulkorder.bulk_cancel(ARRAY(SELECT order_no FROM bulkorder.order_list
                                               WHERE status = 'awaiting_shipment' ORDER BY order_no LIMIT 7), true)" >/dev/null
# the shop's own operation on its own column (docs/define_operation.md),
# and its replacement of a shipped one: both must come back with the dump
q -d $src -f - >/dev/null <<'SQL'
ALTER TABLE bulkorder.orders ADD COLUMN gift_wrap boolean NOT NULL DEFAULT false;
SELECT bulkorder.define_operation('orders', 'gift_wrap',
    name_ja => 'ギフト包装', name_en => 'gift wrapping',
    wrapper => 'bulk_gift_wrap',
    params => '{"wrap": {"type": "boolean", "position": 1}}',
    changed_columns => '{gift_wrap}',
    set_clause => $$gift_wrap = (p->>'wrap')::boolean$$,
    rules => '[{"code": "not_awaiting_shipment", "condition": "t.status = ''awaiting_shipment''",
                "message_ja": "出荷待ちの注文ではないためギフト包装を変更できません",
                "message_en": "only orders awaiting shipment can change their gift wrapping"}]',
    revert => jsonb_build_object('rules', jsonb_build_array(jsonb_build_object(
        'code', 'already_shipping', 'condition', $$t.status = 'awaiting_shipment'$$,
        'message_ja', '出荷作業に入った注文のギフト包装は取り消せません',
        'message_en', 'the order is being shipped: its gift wrapping stays'))));
SELECT bulkorder.define_operation('orders', 'cancel', 'キャンセル', 'cancel', 'bulk_cancel',
    params => '{"void_payment": {"type": "boolean"}}',
    changed_columns => '{status}', set_clause => $$status = 'cancelled'$$,
    effects => ARRAY[bulkorder_catalog.void_payment_effect()],
    rules => '[{"code": "not_awaiting_shipment", "condition": "t.status = ''awaiting_shipment''",
                "message_ja": "出荷待ちの注文ではないためキャンセルできません",
                "message_en": "only orders awaiting shipment can be cancelled"},
               {"code": "on_shipping_hold", "condition": "NOT t.shipping_hold",
                "message_ja": "出荷停止中の注文はキャンセルできません",
                "message_en": "an order on shipping hold cannot be cancelled"}]',
    replace_shipped => true);
SELECT bulkorder.bulk_gift_wrap(ARRAY(SELECT order_no FROM bulkorder.order_list
                                      WHERE status = 'awaiting_shipment' ORDER BY order_no LIMIT 5), true);
SQL
pg_dump -Fc -d $src -f "$dump"
pg_restore --exit-on-error -d $dst "$dump"

summary="SELECT (SELECT count(*) FROM bulkorder.orders), (SELECT count(*) FROM bulkorder.customers),
                (SELECT count(*) FROM bulkorder.bulk_jobs), (SELECT count(*) FROM bulkorder.bulk_job_items),
                (SELECT count(*) FROM bulkorder.payment_requests), (SELECT count(*) FROM bulkorder.payment_methods),
                (SELECT count(*) FROM bulkorder.mail_templates), (SELECT count(*) FROM bulkorder_catalog.operations)"
a=$(q -d $src -At -c "$summary"); b=$(q -d $dst -At -c "$summary")
[ "$a" = "$b" ] || { echo "FAILED: restored counts differ: $a vs $b"; exit 1; }
echo "ok - restored the same rows: $b"

# the shop's operations: the same catalogue rows (rules included), the
# shop's wrapper, and they run
catalogue="SELECT o.page, o.operation, o.shipped, o.wrapper, c.set_clause, o.params, o.rules
           FROM bulkorder.operation_catalog o JOIN bulkorder_catalog.operations c USING (page, operation)
           ORDER BY 1, 2"
a=$(q -d $src -At -c "$catalogue"); b=$(q -d $dst -At -c "$catalogue")
[ "$a" = "$b" ] || { echo "FAILED: restored catalogue differs"; diff <(echo "$a") <(echo "$b"); exit 1; }
shop=$(q -d $dst -At -c "SELECT string_agg(page || '/' || operation, ' ' ORDER BY operation)
                         FROM bulkorder_catalog.operations WHERE NOT shipped")
[ "$shop" = "orders/cancel orders/gift_wrap" ] || { echo "FAILED: the shop's operations after restore: $shop"; exit 1; }
job=$(q -d $dst -At -c "SELECT bulkorder.bulk_gift_wrap(ARRAY(SELECT order_no FROM bulkorder.orders
                          WHERE status = 'awaiting_shipment' AND deleted_at IS NULL AND NOT gift_wrap
                          ORDER BY order_no LIMIT 2), true)")
got=$(q -d $dst -At -c "SELECT count(*) = 2 AND bool_and(ok AND (after->>'gift_wrap')::boolean)
                        FROM bulkorder.bulk_job_items WHERE job_id = $job")
[ "$got" = t ] || { echo "FAILED: bulk_gift_wrap after restore: '$got'"; exit 1; }
held=$(q -d $dst -At -c "UPDATE bulkorder.orders SET shipping_hold = true
                         WHERE order_no = (SELECT min(order_no) FROM bulkorder.order_list WHERE status = 'awaiting_shipment')
                         RETURNING order_no")
got=$(q -d $dst -At -c "SELECT error_code FROM bulkorder.preview_bulk('orders', 'cancel', '{$held}', '{\"void_payment\": false}')")
[ "$got" = on_shipping_hold ] || { echo "FAILED: the shop's cancel after restore gave '$got'"; exit 1; }
echo "ok - the shop's own operation and its replacement of a shipped one survive the dump, and run"

# every column of the catalogue rows (the revert declarations included),
# and the shop's revert rule holds in an undo of a job made before the dump
catalogue="SELECT * FROM bulkorder_catalog.operations ORDER BY page, operation"
a=$(q -d $src -At -c "$catalogue"); b=$(q -d $dst -At -c "$catalogue")
[ "$a" = "$b" ] || { echo "FAILED: restored catalogue rows differ"; diff <(echo "$a") <(echo "$b"); exit 1; }
wrapped=$(q -d $dst -At -c "SELECT min(job_id) FROM bulkorder.bulk_jobs WHERE operation = 'gift_wrap'")
q -d $dst -c "UPDATE bulkorder.orders SET status = 'shipping'
              WHERE order_no = (SELECT min(target) FROM bulkorder.bulk_job_items WHERE job_id = $wrapped)" >/dev/null
got=$(q -d $dst -At -c "SELECT string_agg(coalesce(error_code, 'ok'), ' ' ORDER BY target)
                        FROM bulkorder.preview_revert($wrapped)")
[ "$got" = "already_shipping ok ok ok ok" ] || { echo "FAILED: the shop's revert rule after restore gave '$got'"; exit 1; }
echo "ok - every catalogue column survives the dump, and the shop's revert declaration holds in an undo"

# the restored shop goes on: new keys past the old ones, and a job
for t in "customers (name) VALUES ('新規 顧客') RETURNING customer_id > (SELECT max(customer_id) - 1 FROM bulkorder.customers)" \
         "products (name, price) VALUES ('新商品', 100) RETURNING product_id > 0"; do
  got=$(q -d $dst -At -c "INSERT INTO bulkorder.$t")
  [ "$got" = t ] || { echo "FAILED: INSERT INTO bulkorder.$t"; exit 1; }
done
job=$(q -d $dst -At -c "SELECT bulkorder.bulk_tags(ARRAY(SELECT order_no FROM bulkorder.order_list ORDER BY order_no LIMIT 3), '{restored}')")
old=$(q -d $src -At -c "SELECT max(job_id) FROM bulkorder.bulk_jobs")
[ "$job" -gt "$old" ] || { echo "FAILED: the restored job id $job is not past $old"; exit 1; }
echo "ok - new keys and a new job ($job) after the restore"
