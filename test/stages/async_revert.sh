#!/usr/bin/env bash
# A large asynchronous revert (docs/api.md, revert_job): 100,000 orders
# cancelled with a void request each, then undone by an async revert job that
# the engine's worker runs chunk by chunk.  On a cluster of its own:
#   A. progress (processed_count grows, chunk by chunk) and crash-resume:
#      the worker is killed mid-revert; the launcher resumes it; every order
#      is back, every request withdrawn, each exactly once;
#   B. cancel: the revert of that revert (re-applying the cancel with new
#      requests) is cancelled mid-way; what it applied is exactly its items.
#   C. a target is undone at most once (issue 23): +100 points to 4,000
#      customers, an async revert of it cancelled half-way, then a second
#      revert: it undoes only the rest, and every customer ends at the
#      balance it started with (1.1 took the 100 twice from those the first
#      revert had undone).
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
name=async_revert
eval "$(bash "$top/tools/pg.sh" start "$name")"
log="$PGHOST/server.log"
trap 'bash "$top/tools/pg.sh" stop "$name"' EXIT
db=bulkorder_revert
n=100000
q() { psql -X -A -t -q -v ON_ERROR_STOP=1 -d "$db" -c "$1"; }
fail() { echo "FAIL: $*"; echo "---- server log (tail)"; tail -40 "$log"; exit 1; }
check() {  # check LABEL SQL EXPECTED
  local got; got=$(q "$2")
  [ "$got" = "$3" ] || fail "$1: expected '$3', got '$got'"
  echo "ok - $1"
}
wait_for() {  # wait_for SECONDS SQL: until the query returns t
  local deadline=$((SECONDS + $1))
  until [ "$(psql -X -A -t -q -d "$db" -c "$2" 2>/dev/null)" = t ]; do
    [ $SECONDS -ge "$deadline" ] && fail "timeout ($1 s) waiting for: $2"
    sleep 0.1
  done
}
wait_up() {
  local deadline=$((SECONDS + 60))
  until psql -X -A -t -q -d "$db" -c 'SELECT 1' >/dev/null 2>&1; do
    [ $SECONDS -ge "$deadline" ] && fail "server did not come back"
    sleep 0.2
  done
}
consistent() {  # consistent LABEL JOB: items = counts, one per target
  check "$1: one item per target, counts equal the items" \
    "SELECT count(*) = count(DISTINCT i.target) AND count(*) = j.processed_count
            AND count(*) FILTER (WHERE i.ok) = j.success_count
       FROM bulkorder.bulk_jobs j JOIN bulkorder.bulk_job_items i USING (shop_id, job_id)
      WHERE j.job_id = $2 GROUP BY j.processed_count, j.success_count" t
}

psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
q "CREATE EXTENSION bulkorder"
q "INSERT INTO bulkorder.customers (customer_id, name) SELECT g, 'customer ' || g FROM generate_series(1, 1000) g"
q "INSERT INTO bulkorder.orders (order_no, customer_id, status, payment_method)
   SELECT g, 1 + g % 1000, 'awaiting_shipment', 'credit_card' FROM generate_series(1, $n) g"
q "ALTER DATABASE $db SET bulkorder.chunk_size = 2000"
job=$(q "SELECT bulkorder.run_bulk('orders', 'cancel', ARRAY(SELECT generate_series(1, $n))::bigint[],
                                   '{\"void_payment\": true}')")
check "the job cancelled every order with a void request" \
  "SELECT count(*) FROM bulkorder.payment_requests WHERE job_id = $job AND status = 'pending'" "$n"

echo "# A: progress and crash-resume of an async revert"
rev=$(q "SELECT bulkorder.revert_job($job, '{\"async\": true}')")
wait_for 60 "SELECT processed_count >= 10000 FROM bulkorder.bulk_jobs WHERE job_id = $rev"
p1=$(q "SELECT processed_count FROM bulkorder.bulk_jobs WHERE job_id = $rev")
wait_for 60 "SELECT processed_count > $p1 FROM bulkorder.bulk_jobs WHERE job_id = $rev"
p2=$(q "SELECT processed_count || ' ' || status FROM bulkorder.bulk_jobs WHERE job_id = $rev")
echo "ok - A: progress $p1 then $p2 of $n"
pid=$(q "SELECT pid FROM pg_stat_activity WHERE backend_type = 'bulkorder worker' AND datname = '$db'")
[ -n "$pid" ] || fail "A: no worker to kill (the revert ended already: $(q "SELECT status FROM bulkorder.bulk_jobs WHERE job_id = $rev"))"
kill -KILL "$pid"
sleep 1
wait_up
before=$(q "SELECT processed_count FROM bulkorder.bulk_jobs WHERE job_id = $rev")
[ "$before" -lt "$n" ] || fail "A: the revert ended before the kill"
echo "ok - A: killed worker $pid; $before of $n committed before the crash"
wait_for 120 "SELECT status = 'done' FROM bulkorder.bulk_jobs WHERE job_id = $rev"
consistent A "$rev"
check "A: every target reverted" \
  "SELECT success_count || ' ' || failure_count FROM bulkorder.bulk_jobs WHERE job_id = $rev" "$n 0"
check "A: every order back" \
  "SELECT count(*) FROM bulkorder.orders WHERE status = 'awaiting_shipment'" "$n"
check "A: every request withdrawn" \
  "SELECT count(*) FROM bulkorder.payment_requests WHERE job_id = $job AND status = 'withdrawn'" "$n"
check "A: history and notification" \
  "SELECT reverted_by = $rev FROM bulkorder.order_bulk_history WHERE job_id = $job" t
check "A: completion notification with the counts" \
  "SELECT count(*) FROM bulkorder.notifications WHERE job_id = $rev
      AND message = '一括更新を取り消しました。注文一覧「キャンセル」(ジョブ #$job) 成功 100,000 件 / 失敗 0 件 (ジョブ #$rev)'" 1

echo "# B: cancel an async revert (of the revert: the cancel applied again)"
rev2=$(q "SELECT bulkorder.revert_job($rev, '{\"async\": true}')")
wait_for 60 "SELECT processed_count >= 10000 FROM bulkorder.bulk_jobs WHERE job_id = $rev2"
check "B: cancel_job" "SELECT bulkorder.cancel_job($rev2)" t
wait_for 60 "SELECT status = 'cancelled' FROM bulkorder.bulk_jobs WHERE job_id = $rev2"
consistent B "$rev2"
done2=$(q "SELECT success_count FROM bulkorder.bulk_jobs WHERE job_id = $rev2")
[ "$done2" -lt "$n" ] || fail "B: the revert ended before the cancel"
echo "ok - B: cancelled after $done2 of $n"
check "B: cancelled orders = its items, each with a new void request" \
  "SELECT (SELECT count(*) FROM bulkorder.orders WHERE status = 'cancelled')
          || ' ' || (SELECT count(*) FROM bulkorder.payment_requests WHERE job_id = $rev2 AND status = 'pending')" \
  "$done2 $done2"
check "B: a cancelled revert does not count: the revert can be reverted again (queued)" \
  "SELECT bulkorder.revert_job($rev, '{\"async\": true}') > $rev2" t
check "B: ... and that one, queued or running, is the job's reverted_by" \
  "SELECT reverted_by > $rev2 FROM bulkorder.order_bulk_history WHERE job_id = $rev" t
echo "# C: a revert after a cancelled one undoes each target once"
m=4000
q "INSERT INTO bulkorder.customers (customer_id, name, points)
   SELECT 100000 + g, 'points ' || g, 1000 FROM generate_series(1, $m) g"
pjob=$(q "SELECT bulkorder.run_bulk('customers', 'points',
                                    ARRAY(SELECT 100000 + generate_series(1, $m))::bigint[], '{\"delta\": 100}')")
check "C: +100 points to every customer" \
  "SELECT count(*) FROM bulkorder.customers WHERE customer_id > 100000 AND points = 1100" "$m"
# slow enough to cancel half-way: 40 chunks of 100, a millisecond a customer
q "CREATE FUNCTION public.slow_points() RETURNS trigger LANGUAGE plpgsql AS
   \$\$ BEGIN PERFORM pg_sleep(0.001); RETURN NEW; END \$\$"
q "CREATE TRIGGER slow_points BEFORE UPDATE OF points ON bulkorder.customers
   FOR EACH ROW EXECUTE FUNCTION public.slow_points()"
prev=$(q "SET bulkorder.chunk_size = 100; SELECT bulkorder.revert_job($pjob, '{\"async\": true}')")
wait_for 60 "SELECT processed_count >= 1000 FROM bulkorder.bulk_jobs WHERE job_id = $prev"
check "C: cancel_job of the revert half-way" "SELECT bulkorder.cancel_job($prev)" t
wait_for 60 "SELECT status = 'cancelled' FROM bulkorder.bulk_jobs WHERE job_id = $prev"
consistent C "$prev"
undone=$(q "SELECT success_count FROM bulkorder.bulk_jobs WHERE job_id = $prev")
[ "$undone" -lt "$m" ] || fail "C: the revert ended before the cancel"
echo "ok - C: the first revert undid $undone of $m before it was cancelled"
q "DROP TRIGGER slow_points ON bulkorder.customers; DROP FUNCTION public.slow_points()"
prev2=$(q "SELECT bulkorder.revert_job($pjob)")
check "C: the second revert leaves out what the first undid" \
  "SELECT total_count || ' ' || success_count || ' ' || failure_count FROM bulkorder.bulk_jobs WHERE job_id = $prev2" \
  "$((m - undone)) $((m - undone)) 0"
check "C: each target undone once: every customer back at 1,000 points" \
  "SELECT count(*) FILTER (WHERE points = 1000) || ' ' || count(*) FILTER (WHERE points < 1000)
     FROM bulkorder.customers WHERE customer_id > 100000" "$m 0"
check "C: the two reverts' items name each target once" \
  "SELECT count(*) || ' ' || count(DISTINCT target) FROM bulkorder.bulk_job_items
    WHERE job_id IN ($prev, $prev2) AND ok" "$m $m"
echo "async_revert: all checks passed"
