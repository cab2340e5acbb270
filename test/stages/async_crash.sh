#!/usr/bin/env bash
# Asynchronous jobs survive crashes and restarts, applying every item exactly
# once, and what shared_preload_libraries adds.  On a cluster of its own:
#   A. SIGKILL of the job worker mid-job (the postmaster's crash recovery
#      follows); the launcher (preloaded) resumes the job with no new call;
#  A2. pg_terminate_backend of the worker: the launcher's next look resumes it;
#   B. SIGKILL of the postmaster and of every one of its processes (as a
#      machine going down would), then a start;
#   C. without bulkorder in shared_preload_libraries: an async job runs (its
#      worker started by run_bulk); after an immediate shutdown and a start
#      nothing resumes it until bulkorder.start_worker() is called;
#   D. without preloading, a job left 'running' by a crash is cancelled at
#      once by cancel_job, counts true to what was applied;
#   E. (issue 23) a shop-defined operation whose fragment ends its own
#      backend: the chunk ends its worker twice, the job fails with
#      worker_crashed, the notification says so, and nothing resumes it;
#   F. (issue 23) SIGKILL of the worker in the middle of the same chunk
#      twice: after each crash recovery the launcher waits a naptime before
#      it starts a worker, and after the second the job fails with
#      worker_crashed, the chunks before it applied once.
# A and A2 count one abnormal end of the chunk in flight; B (the whole
# server gone, then started) counts none.
# Each ends with: status as expected, one item per target reached, counts
# equal to the items, and no item whose before image already holds the tag
# (a chunk applied twice would show one).
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
name=async_crash
eval "$(bash "$top/tools/pg.sh" start "$name")"
data="$PGHOST/data"
log="$PGHOST/server.log"
trap 'bash "$top/tools/pg.sh" stop "$name"' EXIT
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
db=bulkorder_crash
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
    sleep 0.2
  done
}
wait_up() {
  local deadline=$((SECONDS + 60))
  until psql -X -A -t -q -d "$db" -c 'SELECT 1' >/dev/null 2>&1; do
    [ $SECONDS -ge "$deadline" ] && fail "server did not come back"
    sleep 0.2
  done
}
pg_ctl_() { as_pg "$(command -v pg_ctl)" -D "$data" -l "$log" "$@" >/dev/null; }

psql -X -q -d postgres -c "CREATE DATABASE $db"
q "CREATE EXTENSION bulkorder"
q "INSERT INTO bulkorder.customers (customer_id, name) SELECT g, 'customer ' || g FROM generate_series(1, 1000) g"
q "INSERT INTO bulkorder.orders (order_no, customer_id, status, payment_method)
   SELECT g, 1 + g % 1000, 'awaiting_shipment', 'credit_card' FROM generate_series(1, 200000) g"
q "ALTER DATABASE $db SET bulkorder.chunk_size = 1000"

submit() {  # submit TAG LAST_ORDER -> job id
  q "SELECT bulkorder.run_bulk('orders', 'tags', ARRAY(SELECT generate_series(1, $2))::bigint[],
                               jsonb_build_object('add', jsonb_build_array('$1')), '{\"async\": true}')"
}
verify() {  # verify LABEL JOB TAG TARGETS STATUS
  local job=$2 tag=$3 n=$4 status=$5
  # a crash resets the statistics: without them the checks below may be
  # planned as nested loops over every item (hours, not seconds)
  q "ANALYZE bulkorder.bulk_jobs, bulkorder.bulk_job_items, bulkorder.bulk_job_chunks, bulkorder.orders"
  check "$1: status" "SELECT status FROM bulkorder.bulk_jobs WHERE job_id = $job" "$status"
  check "$1: one item per target, none twice" \
    "SELECT count(*) = count(DISTINCT target) FROM bulkorder.bulk_job_items WHERE job_id = $job" t
  check "$1: counts equal the items" \
    "SELECT j.processed_count = i.n AND j.success_count = i.ok AND j.failure_count = i.n - i.ok
       FROM bulkorder.bulk_jobs j,
            (SELECT count(*) AS n, count(*) FILTER (WHERE ok) AS ok
               FROM bulkorder.bulk_job_items WHERE job_id = $job) i
      WHERE j.job_id = $job" t
  check "$1: items are exactly the targets up to the cursor" \
    "SELECT (SELECT count(*) FROM bulkorder.bulk_job_targets t WHERE t.job_id = $job
               AND t.target <= j.last_target)
          = j.processed_count
        AND NOT EXISTS (SELECT 1 FROM bulkorder.bulk_job_targets t WHERE t.job_id = $job
               AND t.target <= j.last_target
               AND NOT EXISTS (SELECT 1 FROM bulkorder.bulk_job_items i
                                WHERE i.shop_id = j.shop_id AND i.job_id = $job AND i.target = t.target))
       FROM bulkorder.bulk_jobs j WHERE j.job_id = $job" t
  check "$1: no target changed twice (no before image holds the tag)" \
    "SELECT count(*) FROM bulkorder.bulk_job_items
      WHERE job_id = $job AND before->'tags' ? '$tag'" 0
  check "$1: tagged orders = applied items" \
    "SELECT (SELECT count(*) FROM bulkorder.orders WHERE '$tag' = ANY (tags))
          = (SELECT success_count FROM bulkorder.bulk_jobs WHERE job_id = $job)" t
  if [ "$status" = done ]; then
    check "$1: every target processed" \
      "SELECT processed_count = $n AND success_count = $n AND total_count = $n
         FROM bulkorder.bulk_jobs WHERE job_id = $job" t
    check "$1: completion notification with the counts" \
      "SELECT count(*) FROM bulkorder.notifications WHERE job_id = $job
          AND message LIKE '%成功 $n 件 / 失敗 0 件%'" 1
  fi
}

echo "# A: SIGKILL of the worker mid-job, the launcher resumes it"
check "A: the launcher runs" "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'bulkorder launcher'" 1
job=$(submit crash 200000)
wait_for 120 "SELECT processed_count >= 30000 FROM bulkorder.bulk_jobs WHERE job_id = $job"
pid=$(q "SELECT pid FROM pg_stat_activity WHERE backend_type = 'bulkorder worker' AND datname = '$db'")
[ -n "$pid" ] || fail "no worker to kill"
kill -KILL "$pid"
sleep 1
wait_up
before=$(q "SELECT processed_count FROM bulkorder.bulk_jobs WHERE job_id = $job")
echo "ok - A: killed worker $pid; $before of 200000 committed before the crash"
[ "$before" -lt 200000 ] || fail "A: the job ended before the kill"
grep -q "terminated by signal 9" "$log" || fail "A: no crash in the server log"
wait_for 180 "SELECT status = 'done' FROM bulkorder.bulk_jobs WHERE job_id = $job"
verify A "$job" crash 200000 done
check "A: the chunk in flight counted one abnormal end" \
  "SELECT sum(crashes) || ' ' || count(*) FILTER (WHERE crashes = 1)
     FROM bulkorder.bulk_job_chunks WHERE job_id = $job" "1 1"
grep -q "bulkorder launcher: the server recovered from a crash, no job resumes for" "$log" ||
  fail "A: the launcher did not wait after the crash recovery"
echo "ok - A: the launcher waited after the crash recovery"

echo "# A2: a terminated worker (SIGTERM): the launcher's next look resumes the job"
q "ALTER SYSTEM SET bulkorder.worker_naptime = 1"
q "SELECT pg_reload_conf()" >/dev/null
job=$(submit terminated 100000)
# terminated while it runs a chunk of the job (its activity names the job), in
# the statement that sees it doing so: between two chunks (the claim of the
# next one) no chunk is in flight, and the count below would be 0
wait_for 120 "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
    WHERE backend_type = 'bulkorder worker' AND datname = '$db' AND state = 'active'
      AND query LIKE 'bulkorder: job $job %'
      AND (SELECT processed_count >= 20000 FROM bulkorder.bulk_jobs WHERE job_id = $job)"
echo "ok - A2: pg_terminate_backend of the worker running a chunk"
wait_for 180 "SELECT status = 'done' FROM bulkorder.bulk_jobs WHERE job_id = $job"
verify A2 "$job" terminated 100000 done
check "A2: a terminated worker is an abnormal end of its chunk" \
  "SELECT sum(crashes) FROM bulkorder.bulk_job_chunks WHERE job_id = $job" 1
q "ALTER SYSTEM RESET bulkorder.worker_naptime"
q "SELECT pg_reload_conf()" >/dev/null

echo "# B: SIGKILL of the postmaster and all its processes mid-job, then a start"
job=$(submit crash2 100000)
wait_for 120 "SELECT processed_count >= 30000 FROM bulkorder.bulk_jobs WHERE job_id = $job"
pm=$(head -1 "$data/postmaster.pid")
children=$(ps -o pid= --ppid "$pm" || true)
kill -KILL "$pm" $children
# wait until they are gone (and reaped: a zombie still holds postmaster.pid)
deadline=$((SECONDS + 60))
for p in $pm $children; do
  while [ -e "/proc/$p" ]; do
    [ $SECONDS -ge $deadline ] && fail "B: process $p did not go away"
    sleep 0.1
  done
done
pg_ctl_ -w start
wait_up
before=$(q "SELECT processed_count FROM bulkorder.bulk_jobs WHERE job_id = $job")
echo "ok - B: killed postmaster $pm and its processes; $before of 100000 committed before"
wait_for 180 "SELECT status = 'done' FROM bulkorder.bulk_jobs WHERE job_id = $job"
verify B "$job" crash2 100000 done
check "B: a server that went away and was started again is not the chunk's doing" \
  "SELECT sum(crashes) FROM bulkorder.bulk_job_chunks WHERE job_id = $job" 0

echo "# E: an operation whose fragment ends its own backend fails with worker_crashed"
q "ALTER SYSTEM SET bulkorder.worker_naptime = 1"
q "SELECT pg_reload_conf()" >/dev/null
q "SELECT bulkorder.define_operation('customers', 'self_destruct',
     name_ja => '自己終了', name_en => 'self destruct', wrapper => 'bulk_self_destruct',
     changed_columns => '{remarks}',
     set_clause => \$\$remarks = CASE WHEN pg_catalog.pg_terminate_backend(pg_catalog.pg_backend_pid())
                                    THEN t.remarks ELSE t.remarks END\$\$)" >/dev/null
fatal_lines() { tail -c "+$1" "$log" | grep -c 'FATAL:  terminating background worker "bulkorder worker" due to administrator command' || true; }
log_mark=$(( $(stat -c %s "$log") + 1 ))
job=$(q "SELECT bulkorder.run_bulk('customers', 'self_destruct', ARRAY(SELECT generate_series(1, 3000))::bigint[],
                                   '{}', '{\"async\": true, \"operator\": \"yamada\"}')")
wait_for 120 "SELECT status = 'failed' FROM bulkorder.bulk_jobs WHERE job_id = $job"
check "E: failed with worker_crashed, nothing applied" \
  "SELECT error_code || ' ' || processed_count || ' ' || (error_message LIKE '%worker_crashed%')::text
     FROM bulkorder.bulk_jobs WHERE job_id = $job" "worker_crashed 0 true"
check "E: its first chunk ended its worker twice, no run of it is left open" \
  "SELECT chunk_no || ':' || crashes || ':' || (run_started_at IS NULL)::text
     FROM bulkorder.bulk_job_chunks WHERE job_id = $job AND crashes > 0" "1:2:true"
check "E: the notification says so" \
  "SELECT count(*) FROM bulkorder.notifications WHERE job_id = $job AND recipient = 'yamada'
      AND message LIKE '一括更新がエラーで中断しました。顧客一覧「自己終了」%異常終了%worker_crashed%'" 1
[ "$(fatal_lines "$log_mark")" = 2 ] || fail "E: expected 2 terminated workers, the log has $(fatal_lines "$log_mark")"
# three more looks of the launcher: the job stays failed, no worker ran it
sleep 3
check "E: never resumed" \
  "SELECT status || ' ' || (SELECT sum(crashes) FROM bulkorder.bulk_job_chunks WHERE job_id = $job)
     FROM bulkorder.bulk_jobs WHERE job_id = $job" "failed 2"
[ "$(fatal_lines "$log_mark")" = 2 ] || fail "E: the job ran again after it failed"
echo "ok - E: two terminated workers in the log, no third"
job2=$(q "SELECT bulkorder.run_bulk('customers', 'points', ARRAY[1, 2]::bigint[], '{\"delta\": 5}', '{\"async\": true}')")
wait_for 60 "SELECT status = 'done' FROM bulkorder.bulk_jobs WHERE job_id = $job2"
echo "ok - E: the next job of the database runs"

echo "# F: SIGKILL of the worker in the middle of the same chunk, twice"
# the launcher waits one naptime after a crash recovery: 5 s here
q "ALTER SYSTEM SET bulkorder.worker_naptime = 5"
q "SELECT pg_reload_conf()" >/dev/null
# order 5500 (the sixth chunk of 1000) keeps its worker in the chunk
q "CREATE FUNCTION public.crash_slow() RETURNS trigger LANGUAGE plpgsql AS
   \$\$BEGIN PERFORM pg_sleep(300); RETURN NEW; END\$\$"
q "CREATE TRIGGER crash_slow BEFORE UPDATE ON bulkorder.orders
   FOR EACH ROW WHEN (NEW.order_no = 5500) EXECUTE FUNCTION public.crash_slow()"
# in English: the notification says so in the job's language
job=$(q "SET bulkorder.language = 'en';
         SELECT bulkorder.run_bulk('orders', 'tags', ARRAY(SELECT generate_series(1, 20000))::bigint[],
                                   '{\"add\": [\"killed\"]}', '{\"async\": true}')")
for round in 1 2; do
  wait_for 120 "SELECT EXISTS (SELECT FROM pg_stat_activity WHERE backend_type = 'bulkorder worker'
                                AND datname = '$db' AND wait_event = 'PgSleep')"
  if [ $round = 2 ]; then
    # the worker that resumed the job was started a naptime after the server was back
    check "F: the launcher waited 5 s after the crash recovery" \
      "SELECT backend_start >= '$ready'::timestamptz + interval '5 s'
         FROM pg_stat_activity WHERE backend_type = 'bulkorder worker' AND datname = '$db' AND wait_event = 'PgSleep'" t
  fi
  check "F: round $round: in the sixth chunk, five committed" \
    "SELECT processed_count FROM bulkorder.bulk_jobs WHERE job_id = $job" 5000
  pid=$(q "SELECT pid FROM pg_stat_activity WHERE backend_type = 'bulkorder worker' AND datname = '$db' AND wait_event = 'PgSleep'")
  kill -KILL "$pid"
  sleep 1
  wait_up
  # when the server was back: the log's last "ready" line (log_line_prefix '%m [%p] ')
  ready=$(grep 'database system is ready to accept connections' "$log" | tail -1 | cut -d' ' -f1-3)
  echo "ok - F: round $round: killed worker $pid mid-chunk; the server is back"
done
wait_for 120 "SELECT status = 'failed' FROM bulkorder.bulk_jobs WHERE job_id = $job"
q "DROP TRIGGER crash_slow ON bulkorder.orders"
check "F: failed with worker_crashed after the second" \
  "SELECT error_code || ' ' || (SELECT string_agg(chunk_no || ':' || crashes, ',') FROM bulkorder.bulk_job_chunks
                                 WHERE job_id = $job AND crashes > 0)
     FROM bulkorder.bulk_jobs WHERE job_id = $job" "worker_crashed 6:2"
verify F "$job" killed 20000 failed
check "F: the notification says so, in the job's language" \
  "SELECT message FROM bulkorder.notifications WHERE job_id = $job ORDER BY notification_id DESC LIMIT 1" \
  "Bulk update broke off with an error: orders, tags: 5000 succeeded / 0 failed before it: the job's worker ended abnormally 2 times while running targets 5001 to 6000, so the job is not resumed automatically (worker_crashed) (job #$job)"
q "ALTER SYSTEM RESET bulkorder.worker_naptime"
q "SELECT pg_reload_conf()" >/dev/null

echo "# C: without shared_preload_libraries"
cat >> "$data/postgresql.conf" <<CONF
shared_preload_libraries = ''
bulkorder.worker_naptime = 1
CONF
pg_ctl_ -m fast -w restart
wait_up
check "C: no launcher" "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'bulkorder launcher'" 0
job=$(submit nopreload 100000)
wait_for 120 "SELECT processed_count >= 30000 FROM bulkorder.bulk_jobs WHERE job_id = $job"
echo "ok - C: the job runs without preloading"
pg_ctl_ -m immediate -w stop
pg_ctl_ -w start
wait_up
before=$(q "SELECT processed_count FROM bulkorder.bulk_jobs WHERE job_id = $job")
sleep 3
check "C: nothing resumed it by itself" \
  "SELECT status || ' ' || processed_count FROM bulkorder.bulk_jobs WHERE job_id = $job" "running $before"
check "C: start_worker" "SELECT bulkorder.start_worker()" t
wait_for 180 "SELECT status = 'done' FROM bulkorder.bulk_jobs WHERE job_id = $job"
verify C "$job" nopreload 100000 done

echo "# D: without preloading, cancel a job whose worker died"
job=$(submit orphan 100000)
wait_for 120 "SELECT processed_count >= 20000 FROM bulkorder.bulk_jobs WHERE job_id = $job"
pg_ctl_ -m immediate -w stop
pg_ctl_ -w start
wait_up
before=$(q "SELECT processed_count FROM bulkorder.bulk_jobs WHERE job_id = $job")
check "D: cancel_job" "SELECT bulkorder.cancel_job($job)" t
check "D: cancelled at once, counts as committed" \
  "SELECT status || ' ' || processed_count FROM bulkorder.bulk_jobs WHERE job_id = $job" "cancelled $before"
verify D "$job" orphan 100000 cancelled
check "D: cancel notification with the counts" \
  "SELECT count(*) FROM bulkorder.notifications WHERE job_id = $job AND message LIKE '%中止%成功 $before 件 / 失敗 0 件%'" 1
check "D: a second cancel does nothing" "SELECT bulkorder.cancel_job($job)" f
# and the next submission's worker finds no job left behind
job2=$(q "SELECT bulkorder.run_bulk('orders', 'tags', '{1}', '{\"add\": [\"last\"]}', '{\"async\": true}')")
wait_for 60 "SELECT status = 'done' FROM bulkorder.bulk_jobs WHERE job_id = $job2"
check "D: no open jobs left" "SELECT count(*) FROM bulkorder.bulk_jobs WHERE status IN ('queued', 'running')" 0
echo "async_crash: all checks passed"
