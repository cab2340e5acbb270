#!/usr/bin/env bash
# No role can stall or starve the job queue (issue 13: F1, F2, F6), on a
# cluster of its own (it changes bulkorder.max_workers):
#   F1. a session holding every advisory lock key 1.0's workers used
#       (pg_advisory_lock(751001, slot), pg_advisory_lock(751002, job id))
#       and a range of one-key advisory locks: an async job still runs to done;
#   F2. with bulkorder.max_workers = 2, six transactions each submit two
#       jobs and stay open: at no time do more than two job workers of the
#       database exist (pg_stat_activity), none of them waits for those
#       transactions, and once they commit every job ends done;
#   F6. with bulkorder.max_workers = 1, two 200,000-target jobs take turns
#       by chunk, and a 1-target job submitted after them finishes before
#       either, within seconds;
#   F7. (issue 23) with bulkorder.max_workers = 2, two operators each leave a
#       one-row synchronous job's transaction open, and asynchronous jobs on
#       those rows take both workers: a third operator's unrelated
#       one-target job finishes within seconds, the two jobs are set aside
#       (nothing applied) and complete once the transactions end;
#   F8. (issue 23) BEGIN; SELECT cancel_job(j); left open by an operator: no
#       worker waits for it, the job goes on, and the cancel takes effect
#       when it commits.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
name=async_queue
eval "$(bash "$top/tools/pg.sh" start "$name")"
log="$PGHOST/server.log"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  bash "$top/tools/pg.sh" stop "$name"
}
trap cleanup EXIT
db=bulkorder_queue
export PGOPTIONS="-c client_min_messages=warning"
q() { psql -X -A -t -q -v ON_ERROR_STOP=1 -d "$db" -c "$1"; }
fail() { echo "FAIL: $*"; echo "---- server log (tail)"; tail -40 "$log"; exit 1; }
check() {  # check LABEL SQL EXPECTED
  local got; got=$(q "$2")
  [ "$got" = "$3" ] || fail "$1: expected '$3', got '$got'"
  echo "ok - $1"
}
wait_for() {  # wait_for SECONDS SQL: until the query returns t
  local deadline=$((SECONDS + $1))
  until [ "$(q "$2" 2>/dev/null)" = t ]; do
    [ $SECONDS -ge "$deadline" ] && fail "timeout ($1 s) waiting for: $2"
    sleep 0.2
  done
}
workers="SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'bulkorder worker' AND datname = '$db'"
set_max_workers() {
  q "ALTER SYSTEM SET bulkorder.max_workers = $1"
  q "SELECT pg_reload_conf()" >/dev/null
  wait_for 10 "SELECT current_setting('bulkorder.max_workers') = '$1'"
}
submit() {  # submit TAG FIRST LAST -> job id
  q "SELECT bulkorder.run_bulk('orders', 'tags', ARRAY(SELECT generate_series($2, $3))::bigint[],
                               jsonb_build_object('add', jsonb_build_array('$1')), '{\"async\": true}')"
}

psql -X -q -d postgres -c "CREATE DATABASE $db"
q "CREATE EXTENSION bulkorder"
q "INSERT INTO bulkorder.customers (customer_id, name) SELECT g, 'customer ' || g FROM generate_series(1, 100) g"
q "INSERT INTO bulkorder.orders (order_no, customer_id, status, payment_method)
   SELECT g, 1 + g % 100, 'awaiting_shipment', 'credit_card' FROM generate_series(1, 200000) g"
q "CREATE ROLE queue_nobody LOGIN"
q "GRANT CONNECT ON DATABASE $db TO queue_nobody"

echo "# F1: advisory locks any role can take do not stall the queue"
next=$(q "SELECT coalesce(max(job_id), 0) + 1 FROM bulkorder.bulk_jobs")
# a role with no grants: the slot keys, the job keys of the next jobs, and
# one-key locks over the same numbers
psql -X -q -d "$db" -U queue_nobody -v ON_ERROR_STOP=1 -c "
  SELECT pg_advisory_lock(751001, s) FROM generate_series(0, 63) s;
  SELECT pg_advisory_lock(751002, j) FROM generate_series(0, $next + 50) j;
  SELECT pg_advisory_lock(j) FROM generate_series(0, $next + 50) j;
  SELECT pg_advisory_lock(751001::bigint << 32 | s) FROM generate_series(0, 63) s;
  SELECT pg_sleep(600)" >/dev/null 2>&1 &
pids+=($!)
wait_for 30 "SELECT count(*) >= 64 * 2 + 2 * ($next + 51) FROM pg_locks
               WHERE locktype = 'advisory' AND granted
                 AND pid = (SELECT pid FROM pg_stat_activity WHERE usename = 'queue_nobody')"
echo "ok - F1: queue_nobody holds the advisory keys"
job=$(submit f1 1 5000)
[ "$job" -ge "$next" ] && [ "$job" -le $((next + 50)) ] || fail "F1: job $job outside the locked keys"
wait_for 60 "SELECT status = 'done' FROM bulkorder.bulk_jobs WHERE job_id = $job"
check "F1: the job ran to done under the locks" \
  "SELECT status || ' ' || success_count FROM bulkorder.bulk_jobs WHERE job_id = $job" "done 5000"
q "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'queue_nobody'" >/dev/null

echo "# F2: open submitting transactions make no extra workers"
set_max_workers 2
wait_for 60 "SELECT ($workers) = 0"
n_tx=6
open_job_ids=$(q "SELECT coalesce(max(job_id), 0) FROM bulkorder.bulk_jobs")
for i in $(seq 1 $n_tx); do
  psql -X -q -d "$db" -v ON_ERROR_STOP=1 <<SQL >/dev/null 2>&1 &
BEGIN;
SELECT bulkorder.run_bulk('orders', 'tags', ARRAY(SELECT generate_series(1, 3000))::bigint[], '{"add": ["f2a-$i"]}', '{"async": true}');
SELECT bulkorder.run_bulk('orders', 'tags', ARRAY(SELECT generate_series(2001, 5000))::bigint[], '{"add": ["f2b-$i"]}', '{"async": true}');
SELECT pg_sleep(5);
COMMIT;
SQL
  pids+=($!)
done
# while they are open, and after they commit, until every job is done
max=0; deadline=$((SECONDS + 120)); done_all=f
wait_for 10 "SELECT count(*) = $n_tx FROM pg_stat_activity WHERE datname = '$db' AND query LIKE 'SELECT pg_sleep(5)%' AND backend_type = 'client backend'"
echo "ok - F2: $n_tx transactions hold $((2 * n_tx)) uncommitted submissions"
while [ "$done_all" != t ]; do
  [ $SECONDS -ge $deadline ] && fail "F2: jobs not done within 120 s"
  n=$(q "$workers")
  [ "$n" -gt "$max" ] && max=$n
  done_all=$(q "SELECT count(*) = $((2 * n_tx)) AND bool_and(status = 'done')
                FROM bulkorder.bulk_jobs WHERE job_id > $open_job_ids")
  sleep 0.1
done
[ "$max" -le 2 ] || fail "F2: $max job workers existed at once (max_workers = 2)"
[ "$max" -ge 1 ] || fail "F2: no job worker was ever seen"
echo "ok - F2: at most $max job workers at once; all $((2 * n_tx)) jobs done after the commits"
check "F2: every item applied" \
  "SELECT sum(success_count) FROM bulkorder.bulk_jobs WHERE job_id > $open_job_ids" $((n_tx * 6000))
check "F2: no worker is left waiting" "SELECT count(*) FROM pg_stat_activity
   WHERE backend_type = 'bulkorder worker' AND wait_event_type = 'Lock'" 0
check "F2: start_worker still finds a background worker" "SELECT bulkorder.start_worker()" t

echo "# F6: jobs take turns by chunk; a small job does not wait for large ones"
set_max_workers 1
wait_for 60 "SELECT ($workers) = 0"
check "F6: chunk_size is for superusers" \
  "SELECT context FROM pg_settings WHERE name = 'bulkorder.chunk_size'" superuser
q "ALTER DATABASE $db SET bulkorder.chunk_size = 2000"
big1=$(submit big1 1 200000)
big2=$(submit big2 1 200000)
wait_for 60 "SELECT processed_count >= 4000 FROM bulkorder.bulk_jobs WHERE job_id = $big2"
small=$(submit small 200000 200000)
wait_for 60 "SELECT status = 'done' FROM bulkorder.bulk_jobs WHERE job_id = $small"
check "F6: the large jobs were still running when the small one finished" \
  "SELECT count(*) FROM bulkorder.bulk_jobs WHERE job_id IN ($big1, $big2)
      AND (finished_at IS NULL OR finished_at > (SELECT finished_at FROM bulkorder.bulk_jobs WHERE job_id = $small))" 2
check "F6: both large jobs had made progress (turns, not one after the other)" \
  "SELECT bool_and(processed_count > 0) FROM bulkorder.bulk_jobs WHERE job_id IN ($big1, $big2)" t
wait_for 300 "SELECT bool_and(status = 'done') FROM bulkorder.bulk_jobs WHERE job_id IN ($big1, $big2)"
check "F6: the small job finished first" \
  "SELECT (SELECT finished_at FROM bulkorder.bulk_jobs WHERE job_id = $small)
        < (SELECT min(finished_at) FROM bulkorder.bulk_jobs WHERE job_id IN ($big1, $big2))" t
check "F6: ... within seconds of its submission" \
  "SELECT finished_at - requested_at < interval '5 seconds' FROM bulkorder.bulk_jobs WHERE job_id = $small" t
check "F6: the large jobs' chunks interleaved (neither ran all its chunks first)" \
  "SELECT abs(extract(epoch FROM (a.finished_at - b.finished_at))) <
          extract(epoch FROM (greatest(a.finished_at, b.finished_at) - least(a.started_at, b.started_at))) / 4
     FROM bulkorder.bulk_jobs a, bulkorder.bulk_jobs b WHERE a.job_id = $big1 AND b.job_id = $big2" t
check "F6: every target of the large jobs applied once" \
  "SELECT string_agg(success_count || '/' || total_count, ' ' ORDER BY job_id)
     FROM bulkorder.bulk_jobs WHERE job_id IN ($big1, $big2)" "200000/200000 200000/200000"
check "F6: each job kept the chunk size it was submitted with" \
  "SELECT string_agg(DISTINCT chunk_size::text, ',') FROM bulkorder.bulk_jobs WHERE job_id IN ($big1, $big2, $small)" 2000
echo "# F7: two operators' open transactions never stop a third operator's job"
q "ALTER DATABASE $db RESET bulkorder.chunk_size"
set_max_workers 2
wait_for 60 "SELECT ($workers) = 0"
for r in queue_op1 queue_op2 queue_op3; do
  q "CREATE ROLE $r LOGIN"
  q "GRANT CONNECT ON DATABASE $db TO $r"
  q "SELECT bulkorder.grant_operator('$r')" >/dev/null
done
as_op() {  # as_op ROLE SQL
  psql -X -A -t -q -v ON_ERROR_STOP=1 -d "$db" -U "$1" -c "$2"
}
holders="SELECT count(*) FROM pg_stat_activity WHERE usename IN ('queue_op1', 'queue_op2')
           AND state = 'active' AND query LIKE 'SELECT pg_sleep(600)%'"
for i in 1 2; do
  # order i: hold its shipment, synchronously, and leave the transaction open
  psql -X -q -d "$db" -U queue_op$i -v ON_ERROR_STOP=1 <<SQL >/dev/null 2>&1 &
BEGIN;
SELECT bulkorder.run_bulk('orders', 'shipping_hold', ARRAY[$i]::bigint[], '{"hold": true}');
SELECT pg_sleep(600);
COMMIT;
SQL
  pids+=($!)
done
wait_for 30 "SELECT ($holders) = 2"
echo "ok - F7: queue_op1 and queue_op2 hold orders 1 and 2 in open transactions"
held1=$(as_op queue_op1 "SELECT bulkorder.run_bulk('orders', 'tags', ARRAY[1]::bigint[], '{\"add\": [\"f7\"]}', '{\"async\": true}')")
held2=$(as_op queue_op2 "SELECT bulkorder.run_bulk('orders', 'tags', ARRAY[2]::bigint[], '{\"add\": [\"f7\"]}', '{\"async\": true}')")
wait_for 30 "SELECT count(*) = 2 FROM bulkorder.bulk_jobs WHERE job_id IN ($held1, $held2) AND status = 'running'"
echo "ok - F7: both workers took the jobs on the held orders"
third=$(as_op queue_op3 "SELECT bulkorder.run_bulk('customers', 'points', ARRAY[5]::bigint[], '{\"delta\": 10}', '{\"async\": true}')")
wait_for 60 "SELECT status = 'done' FROM bulkorder.bulk_jobs WHERE job_id = $third"
check "F7: the third operator's job finished within seconds (lock_timeout 5 s)" \
  "SELECT success_count || ' ' || (finished_at - requested_at < interval '20 seconds')::text
     FROM bulkorder.bulk_jobs WHERE job_id = $third" "1 true"
check "F7: the transactions are still open" "SELECT ($holders)" 2
check "F7: the jobs on the held orders are set aside, nothing applied" \
  "SELECT string_agg(status || ' ' || processed_count || ' ' || (not_before IS NOT NULL), ',' ORDER BY job_id)
     FROM bulkorder.bulk_jobs WHERE job_id IN ($held1, $held2)" "running 0 true,running 0 true"
check "F7: their chunks record since when their rows are held" \
  "SELECT count(*) FROM bulkorder.bulk_job_chunks WHERE job_id IN ($held1, $held2) AND held_since IS NOT NULL" 2
# the operators' sessions end (their transactions roll back): the jobs complete
q "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename IN ('queue_op1', 'queue_op2')" >/dev/null
wait_for 120 "SELECT bool_and(status = 'done') FROM bulkorder.bulk_jobs WHERE job_id IN ($held1, $held2)"
check "F7: once the transactions ended, both jobs applied their target once" \
  "SELECT string_agg(success_count || '/' || failure_count, ' ' ORDER BY job_id) || ' '
          || (SELECT count(*) FROM bulkorder.orders WHERE order_no IN (1, 2)
                AND array_length(array_positions(tags, 'f7'), 1) = 1)
     FROM bulkorder.bulk_jobs WHERE job_id IN ($held1, $held2)" "1/0 1/0 2"

echo "# F8: BEGIN; SELECT cancel_job(j); left open stalls nothing"
q "ALTER DATABASE $db SET bulkorder.chunk_size = 1000"
job=$(as_op queue_op1 "SELECT bulkorder.run_bulk('orders', 'tags', ARRAY(SELECT generate_series(1, 200000))::bigint[],
                                                  '{\"add\": [\"f8\"]}', '{\"async\": true}')")
wait_for 60 "SELECT processed_count >= 2000 FROM bulkorder.bulk_jobs WHERE job_id = $job"
fifo="$PGHOST/f8.fifo"
rm -f "$fifo"; mkfifo "$fifo"
psql -X -q -A -t -d "$db" -U queue_op2 -v ON_ERROR_STOP=1 < "$fifo" > "$PGHOST/f8.out" 2>&1 &
pids+=($!)
exec 7> "$fifo"
echo "BEGIN;" >&7
echo "SELECT bulkorder.cancel_job($job, '{\"operator\": \"suzuki\"}');" >&7
wait_for 30 "SELECT EXISTS (SELECT FROM pg_stat_activity WHERE usename = 'queue_op2' AND state = 'idle in transaction')"
at_cancel=$(q "SELECT processed_count FROM bulkorder.bulk_jobs WHERE job_id = $job")
wait_for 60 "SELECT processed_count >= $at_cancel + 5000 FROM bulkorder.bulk_jobs WHERE job_id = $job"
check "F8: the job went on while the cancel is open, no worker waits for it" \
  "SELECT count(*) FROM pg_stat_activity w WHERE w.backend_type = 'bulkorder worker'
      AND EXISTS (SELECT FROM pg_stat_activity c WHERE c.usename = 'queue_op2' AND c.pid = ANY (pg_blocking_pids(w.pid)))" 0
echo "COMMIT;" >&7
exec 7>&-
wait_for 60 "SELECT status = 'cancelled' FROM bulkorder.bulk_jobs WHERE job_id = $job"
check "F8: cancelled after the commit, by whom, counts true to what was applied" \
  "SELECT cancelled_by || ' ' || cancelled_by_operator || ' ' || (processed_count < 200000)
          || ' ' || (processed_count = (SELECT count(*) FROM bulkorder.bulk_job_items WHERE job_id = $job))
     FROM bulkorder.bulk_jobs WHERE job_id = $job" "queue_op2 suzuki true true"
grep -q "^t$" "$PGHOST/f8.out" || fail "F8: cancel_job did not return true: $(cat "$PGHOST/f8.out")"
echo "async_queue: all checks passed"
