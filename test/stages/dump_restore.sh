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
pg_dump -Fc -d $src -f "$dump"
pg_restore --exit-on-error -d $dst "$dump"

summary="SELECT (SELECT count(*) FROM bulkorder.orders), (SELECT count(*) FROM bulkorder.customers),
                (SELECT count(*) FROM bulkorder.bulk_jobs), (SELECT count(*) FROM bulkorder.bulk_job_items),
                (SELECT count(*) FROM bulkorder.payment_requests), (SELECT count(*) FROM bulkorder.payment_methods),
                (SELECT count(*) FROM bulkorder.mail_templates), (SELECT count(*) FROM bulkorder_catalog.operations)"
a=$(q -d $src -At -c "$summary"); b=$(q -d $dst -At -c "$summary")
[ "$a" = "$b" ] || { echo "FAILED: restored counts differ: $a vs $b"; exit 1; }
echo "ok - restored the same rows: $b"

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
