#!/usr/bin/env bash
# Benchmark of asynchronous jobs, on a cluster of its own:
#   - a 1,000,000-target job (orders page, tags: add one tag to every order)
#     run synchronously, then asynchronously, then synchronously again
#     (the table changes with each pass: the two synchronous runs bracket
#     the asynchronous one), items per second for each;
#   - the job worker's peak memory at 100,000 and at 1,000,000 targets:
#     VmHWM (peak resident set, which counts the shared buffers the process
#     touched) and the peak of RssAnon (its private memory), sampled from
#     /proc/<pid>/status while it runs, and RssShmem (the shared part).
# Goal: asynchronous throughput within 1.3x of synchronous, flat memory.
# BENCH_TARGETS / BENCH_SMALL change the sizes; figures go to stdout and
# bench/out/async.txt (ignored by git).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
N=${BENCH_TARGETS:-1000000}
SMALL=${BENCH_SMALL:-100000}
name=bench_async
db=bench_async
eval "$(bash "$top/tools/pg.sh" start "$name")"
trap 'bash "$top/tools/pg.sh" stop "$name"' EXIT
q() { psql -X -A -t -q -v ON_ERROR_STOP=1 -d "$db" -c "$1"; }

echo "bench/async: $N orders, default bulkorder.chunk_size ($(psql -XAtq -d postgres -c 'SHOW bulkorder.chunk_size' 2>/dev/null || echo 10000))"
psql -X -q -d postgres -c "CREATE DATABASE $db"
q "CREATE EXTENSION bulkorder"
q "INSERT INTO bulkorder.customers (customer_id, name) SELECT g, 'customer ' || g FROM generate_series(1, 10000) g"
q "INSERT INTO bulkorder.orders (order_no, customer_id, status, payment_method)
   SELECT g, 1 + g % 10000, 'awaiting_shipment', 'credit_card' FROM generate_series(1, $N) g"
q "VACUUM ANALYZE bulkorder.orders"

kb() { awk -v k="$1:" '$1 == k { print $2 }' "$2" 2>/dev/null || true; }

# run_sync TAG COUNT -> "seconds vmhwm_kb"
run_sync() {
  q "VACUUM bulkorder.orders"
  local t0 t1 hwm
  t0=$(date +%s.%N)
  hwm=$(psql -X -A -t -q -v ON_ERROR_STOP=1 -d "$db" <<SQL | tail -1
SELECT bulkorder.run_bulk('orders', 'tags', ARRAY(SELECT generate_series(1, $2))::bigint[],
                          jsonb_build_object('add', jsonb_build_array('$1'))) IS NOT NULL;
SELECT substring(pg_read_file('/proc/self/status') FROM 'VmHWM:\s+(\d+) kB');
SQL
)
  t1=$(date +%s.%N)
  echo "$(echo "$t1 - $t0" | bc -l) $hwm"
}

# run_async TAG COUNT -> "end_to_end_s worker_s vmhwm_kb rssanon_peak_kb rssshmem_peak_kb"
run_async() {
  q "VACUUM bulkorder.orders"
  local job pid="" hwm=0 anon=0 shm=0 a h m status
  job=$(q "SELECT bulkorder.run_bulk('orders', 'tags', ARRAY(SELECT generate_series(1, $2))::bigint[],
                                     jsonb_build_object('add', jsonb_build_array('$1')), '{\"async\": true}')")
  while :; do
    if [ -z "$pid" ]; then
      pid=$(q "SELECT pid FROM pg_stat_activity WHERE backend_type = 'bulkorder worker'
                 AND datname = '$db' AND query LIKE 'bulkorder: job $job %'" | head -1)
    fi
    if [ -n "$pid" ] && [ -r "/proc/$pid/status" ]; then
      h=$(kb VmHWM "/proc/$pid/status"); a=$(kb RssAnon "/proc/$pid/status")
      m=$(kb RssShmem "/proc/$pid/status")
      [ -n "$h" ] && [ "$h" -gt "$hwm" ] && hwm=$h
      [ -n "$a" ] && [ "$a" -gt "$anon" ] && anon=$a
      [ -n "$m" ] && [ "$m" -gt "$shm" ] && shm=$m
    fi
    status=$(q "SELECT status FROM bulkorder.bulk_jobs WHERE job_id = $job")
    [ "$status" = queued ] || [ "$status" = running ] || break
    sleep 0.1
  done
  [ "$status" = done ] || { echo "job $job ended $status" >&2; exit 1; }
  q "SELECT extract(epoch FROM finished_at - requested_at) || ' ' || extract(epoch FROM finished_at - started_at)
       FROM bulkorder.bulk_jobs WHERE job_id = $job" | tr '\n' ' '
  echo "$hwm $anon $shm"
}

rate() { echo "$1 / $2" | bc -l | xargs printf '%.0f'; }
mb() { echo "$1 / 1024" | bc -l | xargs printf '%.1f'; }

echo "- async $SMALL targets (memory baseline)"
read -r small_e2e small_run small_hwm small_anon small_shm <<<"$(run_async a_small "$SMALL")"
echo "- sync $N targets"
read -r sync1_s sync1_hwm <<<"$(run_sync s1 "$N")"
echo "- async $N targets"
read -r big_e2e big_run big_hwm big_anon big_shm <<<"$(run_async a_big "$N")"
echo "- sync $N targets, again"
read -r sync2_s sync2_hwm <<<"$(run_sync s2 "$N")"

sync_mean=$(echo "($sync1_s + $sync2_s) / 2" | bc -l)
out="$top/bench/out/async.txt"
mkdir -p "$(dirname "$out")"
{
  echo "bench/async ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores)"
  printf '%-44s %10s %12s\n' "run" "seconds" "items/s"
  printf '%-44s %10.1f %12s\n' "sync $N (1st)" "$sync1_s" "$(rate "$N" "$sync1_s")"
  printf '%-44s %10.1f %12s\n' "async $N, submit to done" "$big_e2e" "$(rate "$N" "$big_e2e")"
  printf '%-44s %10.1f %12s\n' "async $N, worker start to done" "$big_run" "$(rate "$N" "$big_run")"
  printf '%-44s %10.1f %12s\n' "sync $N (2nd)" "$sync2_s" "$(rate "$N" "$sync2_s")"
  printf '%-44s %10.1f %12s\n' "async $SMALL, submit to done" "$small_e2e" "$(rate "$SMALL" "$small_e2e")"
  echo
  printf 'async/sync time ratio (submit to done vs mean of the sync runs): %.2fx (goal <= 1.30x)\n' \
    "$(echo "$big_e2e / $sync_mean" | bc -l)"
  echo
  printf '%-30s %14s %14s %8s\n' "worker memory" "$SMALL" "$N" "ratio"
  printf '%-30s %11s MB %11s MB %7.2fx\n' "VmHWM (peak RSS)" "$(mb "$small_hwm")" "$(mb "$big_hwm")" \
    "$(echo "$big_hwm / $small_hwm" | bc -l)"
  printf '%-30s %11s MB %11s MB %7.2fx\n' "RssAnon peak (private)" "$(mb "$small_anon")" "$(mb "$big_anon")" \
    "$(echo "$big_anon / $small_anon" | bc -l)"
  printf '%-30s %11s MB %11s MB %7.2fx\n' "RssShmem peak (shared buffers)" "$(mb "$small_shm")" "$(mb "$big_shm")" \
    "$(echo "$big_shm / $small_shm" | bc -l)"
  echo "(VmHWM counts the shared buffers a process touched, at most shared_buffers = $(q 'SHOW shared_buffers');"
  echo " the worker's own memory is RssAnon)"
  printf '%-30s %14s %11s MB\n' "sync backend VmHWM ($N)" "" "$(mb "$sync1_hwm")"
} | tee "$out"
