#!/usr/bin/env bash
# A shop's own operations survive the next ALTER EXTENSION bulkorder UPDATE.
# Every upgrade script ends with all of extension/sql/code, which declares
# the shipped operations again; this stage plays a next version whose
# upgrade script is exactly that code section (bulkorder--1.1--1.1.99.sql,
# put beside the installed scripts for the length of the stage, and back
# again by bulkorder--1.1.99--1.1.sql, the same code, so that the library's
# version check lets the jobs run afterwards) and checks
# that the shop's operation, its wrapper and grants, and its replacement of
# a shipped operation are all still there and run.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
db=bulkorder_shop_ops
q() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }
extdir=$(psql -X -At -d postgres -c "SELECT setting FROM pg_config WHERE name = 'SHAREDIR'")/extension
version=$(sed -n "s/^default_version *= *'\(.*\)'/\1/p" "$top/bulkorder.control")
next="$extdir/bulkorder--$version--$version.99.sql"
back="$extdir/bulkorder--$version.99--$version.sql"
cleanup() {
  q -d postgres -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
  q -d postgres -c "DROP ROLE IF EXISTS bulkorder_stage_operator" >/dev/null 2>&1 || true
  rm -f "$next" "$back"
}
trap cleanup EXIT
cleanup

# the next version's upgrade script: the code section of this build
sed -n '/^-- ==== extension\/sql\/code\//,$p' "$extdir/bulkorder--$version.sql" > "$next"
cp "$next" "$back"
grep -q "define_operation('orders', 'cancel'" "$next" || { echo "FAILED: no code section in $next"; exit 1; }

q -d postgres -c "CREATE DATABASE $db" -c "CREATE ROLE bulkorder_stage_operator"
q -d $db -c "CREATE EXTENSION bulkorder"
q -d $db -v ECHO=none -f "$top/test/fixtures/shop.sql" >/dev/null
q -d $db -f - >/dev/null <<'SQL'
SELECT bulkorder.grant_operator('bulkorder_stage_operator');
ALTER TABLE bulkorder.orders ADD COLUMN gift_wrap boolean NOT NULL DEFAULT false;
SELECT bulkorder.define_operation('orders', 'gift_wrap',
    name_ja => 'ギフト包装', name_en => 'gift wrapping',
    wrapper => 'bulk_gift_wrap',
    params => '{"wrap": {"type": "boolean", "position": 1}}',
    changed_columns => '{gift_wrap}',
    set_clause => $$gift_wrap = (p->>'wrap')::boolean$$,
    rules => '[{"code": "not_awaiting_shipment", "condition": "t.status = ''awaiting_shipment''",
                "message_ja": "出荷待ちの注文ではないためギフト包装を変更できません",
                "message_en": "only orders awaiting shipment can change their gift wrapping"}]');
SELECT bulkorder.define_operation('orders', 'cancel', 'キャンセル', 'cancel', 'bulk_cancel',
    params => '{"void_payment": {"type": "boolean"}}',
    changed_columns => '{status}', set_clause => $$status = 'cancelled'$$,
    rules => '[{"code": "on_shipping_hold", "condition": "NOT t.shipping_hold",
                "message_ja": "出荷停止中の注文はキャンセルできません",
                "message_en": "an order on shipping hold cannot be cancelled"}]',
    replace_shipped => true);
SQL
snapshot="SELECT page, operation, shipped, wrapper, params, rules FROM bulkorder.operation_catalog ORDER BY 1, 2"
before=$(q -d $db -At -c "$snapshot")

out=$(q -d $db -c "ALTER EXTENSION bulkorder UPDATE TO '$version.99'" -c "ALTER EXTENSION bulkorder UPDATE TO '$version'" 2>&1)
echo "$out" | grep -q "keeping the shop's declaration of operation orders/cancel" \
  || { echo "FAILED: no notice about the kept replacement: $out"; exit 1; }
echo "ok - the upgrade re-declared the shipped operations and said it kept the shop's orders/cancel"

after=$(q -d $db -At -c "$snapshot")
[ "$before" = "$after" ] || { echo "FAILED: the catalogue changed"; diff <(echo "$before") <(echo "$after"); exit 1; }
shop=$(q -d $db -At -c "SELECT string_agg(operation, ' ' ORDER BY operation) FROM bulkorder_catalog.operations WHERE NOT shipped")
[ "$shop" = "cancel gift_wrap" ] || { echo "FAILED: the shop's operations after the upgrade: $shop"; exit 1; }
shipped=$(q -d $db -At -c "SELECT count(*) FROM bulkorder_catalog.operations WHERE shipped")
[ "$shipped" = 37 ] || { echo "FAILED: $shipped shipped operations after the upgrade"; exit 1; }
echo "ok - the catalogue is the same: the shop's gift_wrap and its cancel kept, 37 shipped operations"

# the operator still runs the shop's wrapper, and the replacement's rule holds
job=$(q -d $db -At -c "SET ROLE bulkorder_stage_operator" -c "SELECT bulkorder.bulk_gift_wrap('{1001}', true)")
got=$(q -d $db -At -c "SELECT ok FROM bulkorder.bulk_job_items WHERE job_id = $job")
[ "$got" = t ] || { echo "FAILED: bulk_gift_wrap after the upgrade"; exit 1; }
q -d $db -c "UPDATE bulkorder.orders SET shipping_hold = true WHERE order_no = 1001"
got=$(q -d $db -At -c "SELECT error_code FROM bulkorder.preview_bulk('orders', 'cancel', '{1001}', '{\"void_payment\": false}')")
[ "$got" = on_shipping_hold ] || { echo "FAILED: the shop's cancel after the upgrade gave '$got'"; exit 1; }
echo "ok - after the upgrade the operator runs bulk_gift_wrap and the shop's cancel rule holds"

# and asynchronously, by the background worker, as any operation
job=$(q -d $db -At -c "SELECT bulkorder.run_bulk('orders', 'gift_wrap', '{1001,1002}', '{\"wrap\": false}', '{\"async\": true}')")
for _ in $(seq 1 120); do
  status=$(q -d $db -At -c "SELECT status FROM bulkorder.bulk_jobs WHERE job_id = $job")
  [ "$status" = done ] && break
  sleep 0.5
done
got=$(q -d $db -At -c "SELECT is_async || ' ' || status || ' ' || success_count || ' ' || failure_count
                       FROM bulkorder.bulk_jobs WHERE job_id = $job")
[ "$got" = "true done 1 1" ] || { echo "FAILED: the async gift_wrap job: $got"; exit 1; }
echo "ok - the shop's operation runs asynchronously too (job $job: 1001 changed, 1002 not awaiting shipment)"
