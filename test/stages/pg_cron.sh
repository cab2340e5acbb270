#!/usr/bin/env bash
# Stage: pg_cron runs subscription order generation, scheduled as
# docs/administration.md ("Scheduling with pg_cron") writes it.
#
# The test cluster preloads pg_cron with cron.database_name = 'postgres' and
# cron.host = its socket directory (tools/pg.sh).  In database postgres:
# create pg_cron and bulkorder, seed a subscription due today (in Japan as
# anywhere), schedule the document's command every minute (pg_cron 1.4's
# smallest interval) instead of at 21:00 GMT, wait until
# cron.job_run_details shows a succeeded run and the order exists, then
# unschedule and drop bulkorder so the next stage starts clean.
set -euo pipefail
export PGHOST=${BULKORDER_TEST_HOST:-$PGHOST} PGPORT=${BULKORDER_TEST_PORT:-$PGPORT} PGUSER=${PGUSER:-postgres}
export PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning"
job_name=bulkorder-subscription-orders
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d postgres "$@"; }

cleanup() {
  q -c "SELECT cron.unschedule(jobid) FROM cron.job WHERE jobname = '$job_name'" >/dev/null 2>&1 || true
  q -c "DROP SCHEMA IF EXISTS bulkorder CASCADE" >/dev/null 2>&1 || true
}
trap cleanup EXIT

q -c "CREATE EXTENSION IF NOT EXISTS pg_cron"
q -c "DROP SCHEMA IF EXISTS bulkorder CASCADE"
q -c "CREATE EXTENSION bulkorder"
q <<'SQL'
INSERT INTO bulkorder.customers (customer_id, name) VALUES (1, '山田 太郎');
INSERT INTO bulkorder.delivery_methods (code, name) VALUES ('yamato', 'ヤマト運輸');
INSERT INTO bulkorder.frequencies (frequency_id, kind, every, name) VALUES (1, 'months', 1, '1ヶ月ごと');
INSERT INTO bulkorder.products (product_id, name, price, is_public) VALUES (101, '青汁 30包', 3980, true);
INSERT INTO bulkorder.product_payment_methods VALUES (101, 'credit_card');
INSERT INTO bulkorder.product_delivery_methods VALUES (101, 'yamato');
INSERT INTO bulkorder.product_frequencies VALUES (101, 1);
-- due today in Japan, whatever the server's time zone: the scheduled
-- command generates for (now() AT TIME ZONE 'Asia/Tokyo')::date
INSERT INTO bulkorder.subscriptions
    (course_order_no, customer_id, status, payment_method, delivery_method, frequency_id,
     next_ship_date, next_delivery_date)
VALUES (501, 1, 'active', 'credit_card', 'yamato', 1, current_date - 1, current_date + 1);
INSERT INTO bulkorder.subscription_items (course_order_no, product_id, quantity) VALUES (501, 101, 2);
SQL

top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/test/lib/docs.sh"
sql=$(doc_block docs/administration.md pg-cron-generation) || { echo "docs/administration.md has no block pg-cron-generation"; exit 1; }
grep -q "'0 21 \* \* \*'" <<< "$sql" || { echo "docs/administration.md pg-cron-generation: no 21:00 schedule to replace"; exit 1; }
jobid=$(q <<< "$(sed "s/'0 21 \* \* \*'/'* * * * *'/" <<< "$sql")")
echo "scheduled pg_cron job $jobid; waiting for its first run (at most 75 s)"

ok=0
for _ in $(seq 1 75); do
  status=$(q -c "SELECT coalesce(string_agg(status || ': ' || coalesce(return_message, ''), '; '), '')
                 FROM cron.job_run_details WHERE jobid = $jobid")
  if [ -n "$status" ]; then
    # a finished run: it must have succeeded and made the order
    if q -c "SELECT 1 FROM cron.job_run_details WHERE jobid = $jobid AND status = 'succeeded'" | grep -q 1; then
      ok=1; break
    fi
    if q -c "SELECT 1 FROM cron.job_run_details WHERE jobid = $jobid AND status = 'failed'" | grep -q 1; then
      echo "the scheduled run failed: $status"; exit 1
    fi
  fi
  sleep 1
done
[ "$ok" = 1 ] || { echo "no succeeded run of job $jobid within 75 s (runs: ${status:-none})"; exit 1; }
echo "run: $status"

result=$(q -c "SELECT count(*) || ' order(s); seq ' || min(o.course_seq) || '; ship '
                      || (min(o.scheduled_ship_date) = current_date - 1) || '; items '
                      || (SELECT string_agg(i.product_id || 'x' || i.quantity, ',') FROM bulkorder.order_items i)
                      || '; master advanced '
                      || (SELECT next_delivery_date > current_date + 1 FROM bulkorder.subscriptions)
               FROM bulkorder.orders o WHERE o.course_order_no = 501")
echo "generated: $result"
[ "$result" = "1 order(s); seq 1; ship true; items 101x2; master advanced true" ] || {
  echo "unexpected generation result"; exit 1; }

q -c "SELECT cron.unschedule($jobid)" >/dev/null
q -c "DELETE FROM cron.job_run_details WHERE jobid = $jobid"
q -c "DROP SCHEMA bulkorder CASCADE"
trap - EXIT
echo "pg_cron stage passed"
