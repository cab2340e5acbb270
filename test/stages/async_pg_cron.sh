#!/usr/bin/env bash
# pg_cron submits an asynchronous bulk job on a schedule (docs/async.md,
# "Submitting jobs with pg_cron": its two blocks, as written, with the
# schedule every minute and this stage's database for 'shop'), in a
# database other than pg_cron's own; the job runs there and completes.
# pg_cron 1.4 schedules by the minute: this waits for up to two.
set -euo pipefail
: "${PGHOST:?run by tools/test.sh}"
db=bulkorder_cron_async
q() { PGOPTIONS="-c client_min_messages=warning" psql -X -A -t -q -v ON_ERROR_STOP=1 -d "$1" -c "$2"; }
fail() { echo "FAIL: $*"; exit 1; }

created_cron=$(q postgres "SELECT NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_cron')")
cleanup() {
  q postgres "SELECT cron.unschedule(jobid) FROM cron.job WHERE jobname = 'bulkorder-hold-auth-ng'" >/dev/null 2>&1 || true
  q "$db" "DROP OWNED BY bulkorder_cron" >/dev/null 2>&1 || true
  q postgres "DROP ROLE IF EXISTS bulkorder_cron" >/dev/null 2>&1 || true
  [ "$created_cron" = t ] && q postgres "DROP EXTENSION IF EXISTS pg_cron" >/dev/null 2>&1 || true
  q postgres "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
}
trap cleanup EXIT
q postgres "DROP DATABASE IF EXISTS $db WITH (FORCE)"
q postgres "CREATE DATABASE $db"
q postgres "CREATE EXTENSION IF NOT EXISTS pg_cron"
q "$db" "CREATE EXTENSION bulkorder"
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/test/lib/docs.sh"
role_sql=$(doc_block docs/async.md pg-cron-role) || fail "docs/async.md has no block pg-cron-role"
submit_sql=$(doc_block docs/async.md pg-cron-submit) || fail "docs/async.md has no block pg-cron-submit"
grep -q "'0 2 \* \* \*'" <<< "$submit_sql" && grep -q "'shop', 'bulkorder_cron')" <<< "$submit_sql" ||
  fail "docs/async.md pg-cron-submit: no nightly schedule or no 'shop' database to replace"
submit_sql=$(sed -e "s/'0 2 \* \* \*'/'* * * * *'/" -e "s/'shop', 'bulkorder_cron')/'$db', 'bulkorder_cron')/" <<< "$submit_sql")
# the document: scheduled jobs run under a role of their own (request keys are the role's)
q "$db" "DROP OWNED BY bulkorder_cron" >/dev/null 2>&1 || true
q postgres "DROP ROLE IF EXISTS bulkorder_cron"
PGOPTIONS="-c client_min_messages=warning" psql -X -q -v ON_ERROR_STOP=1 -d "$db" <<< "$role_sql" >/dev/null
q "$db" "INSERT INTO bulkorder.customers (customer_id, name) VALUES (1, 'テスト 花子')"
q "$db" "INSERT INTO bulkorder.orders (order_no, customer_id, status, payment_method, auth_status)
         SELECT g, 1, 'awaiting_shipment', 'np_atobarai', CASE WHEN g % 2 = 0 THEN 'ng' ELSE 'ok' END
         FROM generate_series(1, 2000) g"

# the document's command, every minute instead of nightly
PGOPTIONS="-c client_min_messages=warning" psql -X -q -v ON_ERROR_STOP=1 -d postgres <<< "$submit_sql" >/dev/null
# another role takes every key of the next minutes first (issue 13 F4): the
# cron role's keys are its own, so its job still runs and holds the orders
q "$db" "SELECT bulkorder.run_bulk('orders', 'tags', '{}', '{\"add\": [\"noop\"]}',
           jsonb_build_object('request_key', 'hold-ng-' || to_char(now() + make_interval(mins => m), 'YYYY-MM-DD HH24:MI')))
         FROM generate_series(0, 3) m" >/dev/null
echo "scheduled; waiting for pg_cron's next minute"

deadline=$((SECONDS + 150))
until [ "$(q "$db" "SELECT count(*) > 0 FROM bulkorder.bulk_jobs WHERE source = 'pg_cron' AND status = 'done'")" = t ]; do
  if [ $SECONDS -ge $deadline ]; then
    q postgres "SELECT status, return_message FROM cron.job_run_details ORDER BY runid DESC LIMIT 3" || true
    fail "no pg_cron job finished within 150 s"
  fi
  sleep 1
done
q postgres "SELECT cron.unschedule(jobid) FROM cron.job WHERE jobname = 'bulkorder-hold-auth-ng'" >/dev/null

job=$(q "$db" "SELECT min(job_id) FROM bulkorder.bulk_jobs WHERE source = 'pg_cron' AND status = 'done'")
got=$(q "$db" "SELECT is_async || ' ' || total_count || ' ' || success_count || ' ' || failure_count || ' ' || operator
               || ' ' || requested_by FROM bulkorder.bulk_jobs WHERE job_id = $job")
[ "$got" = "true 1000 1000 0 nightly batch bulkorder_cron" ] || fail "job $job: $got"
echo "ok - pg_cron submitted async job $job: $got"
held=$(q "$db" "SELECT count(*) FILTER (WHERE shipping_hold) || ' ' || count(*) FILTER (WHERE shipping_hold AND auth_status = 'ng')
               FROM bulkorder.orders")
[ "$held" = "1000 1000" ] || fail "held orders: $held"
echo "ok - the orders with auth NG are on hold"
n=$(q "$db" "SELECT count(*) FROM bulkorder.notifications WHERE job_id = $job
             AND recipient = 'nightly batch' AND message LIKE '%成功 1000 件 / 失敗 0 件%'")
[ "$n" = 1 ] || fail "completion notification: $n"
echo "ok - completion notification to the batch operator"
echo "async_pg_cron: all checks passed"
