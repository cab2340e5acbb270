#!/usr/bin/env bash
# `make bench`: cancel 100,000 scattered orders out of 1,000,000, three ways,
# on the same data, and compare medians:
#   (E) the engine:   bulkorder.bulk_cancel(keys, false)
#   (a) the set-based SQL a DBA would write: one UPDATE … WHERE order_no = ANY($1)
#       AND status = 'awaiting_shipment', with jsonb history rows inserted in the
#       same statement (a data-modifying CTE) into a table shaped like bulk_job_items
#   (b) a PL/pgSQL loop doing the same row by row (lock, check, update, record)
# Each run starts from the same state: it runs in a transaction that is rolled
# back, then VACUUM and CHECKPOINT; the contenders take turns, round after
# round, after one warm-up round that is not counted.  Results and an
# EXPLAIN ANALYZE of the engine's statements go to bench/results/.  Then
# every other bench/*.sh runs, with PGHOST, PGPORT, PGUSER and PGDATABASE
# set to this cluster and its database of 1,000,000 demo orders; the
# cluster stops when they are done.
#   BENCH_ORDERS (1000000), BENCH_KEYS (100000), BENCH_ROUNDS (7)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
orders=${BENCH_ORDERS:-1000000}
nkeys=${BENCH_KEYS:-100000}
rounds=${BENCH_ROUNDS:-7}
db=bench
out=bench/results
mkdir -p "$out"
case "$orders$nkeys$rounds" in
  *[!0-9]*) echo "bench: BENCH_ORDERS, BENCH_KEYS and BENCH_ROUNDS must be whole numbers" >&2; exit 2 ;;
esac

echo "bench: starting the bench cluster"
eval "$(bash tools/pg.sh start bench)"
trap 'bash tools/pg.sh stop bench' EXIT
# A server sized for a million orders: the tables and indexes fit in
# shared_buffers, so the runs measure the work, not the eviction of pages;
# no JIT, whose compile time would land on whichever statement is costed
# high enough (one 100,000-key UPDATE, not the engine's 10,000-key chunks).
psql -X -q -d postgres -c "ALTER SYSTEM SET shared_buffers = '1GB'" -c "ALTER SYSTEM SET max_wal_size = '4GB'" -c "ALTER SYSTEM SET jit = off"
eval "$(BULKORDER_KEEP_DATA=1 bash tools/pg.sh start bench)"
export PGDATABASE=$db
psql() { PGOPTIONS="-c client_min_messages=warning" command psql -X -q -v ON_ERROR_STOP=1 "$@"; }

psql -d postgres -c "CREATE DATABASE $db"
psql -c "CREATE EXTENSION bulkorder" -c "CREATE EXTENSION pg_prewarm"
echo "bench: loading $orders orders with tools/demo-data.sql"
t0=$(date +%s%N)
psql -v orders="$orders" -v seed=42 -f tools/demo-data.sql
t1=$(date +%s%N)
load_ms=$(( (t1 - t0) / 1000000 ))
echo "bench: loaded $orders orders in $load_ms ms"
psql -c "VACUUM (FREEZE, ANALYZE)"
psql -v keys="$nkeys" -f bench/setup.sql
got=$(psql -At -c "SELECT n FROM bench.keys")
[ "$got" -eq "$nkeys" ] || { echo "bench: only $got awaiting orders to pick $nkeys keys from" >&2; exit 1; }
psql -c "SELECT pg_prewarm(c.oid) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname IN ('bulkorder', 'bench') AND c.relkind IN ('r', 'i')" >/dev/null

# One psql session runs every round, so each contender has its plans cached
# after the warm-up round, as in a long-lived connection.
script=$out/cancel-runs.sql
{
  echo '\set ON_ERROR_STOP on'
  echo 'SELECT keys::text AS keys FROM bench.keys \gset'
  for r in $(seq 0 "$rounds"); do
    case $((r % 3)) in 0) order="E a b" ;; 1) order="a b E" ;; *) order="b E a" ;; esac
    for c in $order; do
      echo "CHECKPOINT;"
      echo "BEGIN;"
      echo "SELECT clock_timestamp() AS t0 \gset"
      case $c in
        E) echo "SELECT bulkorder.bulk_cancel(:'keys'::bigint[], false) AS job \gset"
           echo "SELECT round(extract(epoch FROM clock_timestamp() - :'t0'::timestamptz)::numeric * 1000, 1) AS ms \gset"
           echo "SELECT success_count AS changed FROM bulkorder.bulk_jobs WHERE job_id = :job \gset" ;;
        a) echo "WITH changed AS (
    UPDATE bulkorder.orders o SET status = 'cancelled'
    WHERE o.order_no = ANY (:'keys'::bigint[]) AND o.status = 'awaiting_shipment' AND o.deleted_at IS NULL
    RETURNING o.order_no)
INSERT INTO bench.history_a (job_id, target, ok, before, after)
SELECT $r, order_no, true, jsonb_build_object('status', 'awaiting_shipment'),
       jsonb_build_object('status', 'cancelled')
FROM changed;"
           echo "SELECT round(extract(epoch FROM clock_timestamp() - :'t0'::timestamptz)::numeric * 1000, 1) AS ms \gset"
           echo "SELECT count(*) AS changed FROM bench.history_a WHERE job_id = $r \gset" ;;
        b) echo "SELECT bench.cancel_b(:'keys'::bigint[], $r) AS changed \gset"
           echo "SELECT round(extract(epoch FROM clock_timestamp() - :'t0'::timestamptz)::numeric * 1000, 1) AS ms \gset" ;;
      esac
      echo "ROLLBACK;"
      echo "INSERT INTO bench.results VALUES ($r, '$c', :ms, :changed);"
      echo "\echo round $r $c: :ms ms, :changed changed"
      echo "VACUUM bulkorder.orders, bulkorder.bulk_jobs, bulkorder.bulk_job_items, bulkorder.notifications, bench.history_a, bench.history_b;"
    done
  done
} > "$script"
echo "bench: cancel of $nkeys scattered keys, $rounds rounds (+1 warm-up) of E, a, b"
psql -f "$script"

report=$out/cancel.txt
psql -P footer=off -f - > "$report" <<SQL
\echo 'cancel of $nkeys scattered awaiting-shipment orders among $orders (demo data loaded in $load_ms ms)'
\echo 'medians of $rounds runs after a warm-up; each run rolled back, then VACUUM and CHECKPOINT'
\echo
WITH m AS (
    SELECT contender, percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS median,
           min(ms) AS best, max(ms) AS worst, count(*) AS runs, min(changed) AS min_changed,
           max(changed) AS max_changed
    FROM bench.results WHERE round > 0 GROUP BY contender)
SELECT CASE contender WHEN 'E' THEN '(E) engine: bulkorder.bulk_cancel(keys, false)'
                      WHEN 'a' THEN '(a) one UPDATE + history rows (data-modifying CTE)'
                      ELSE '(b) PL/pgSQL loop, row by row' END AS contender,
       round(median::numeric, 1) AS "median ms", best AS "best ms", worst AS "worst ms", runs,
       CASE WHEN min_changed = max_changed THEN min_changed::text
            ELSE min_changed || '..' || max_changed END AS "rows changed"
FROM m ORDER BY contender;
WITH m AS (
    SELECT contender, percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS median
    FROM bench.results WHERE round > 0 GROUP BY contender),
r AS (
    SELECT (SELECT median FROM m WHERE contender = 'E') AS e,
           (SELECT median FROM m WHERE contender = 'a') AS a,
           (SELECT median FROM m WHERE contender = 'b') AS b)
SELECT 'E/a = ' || round((e / a)::numeric, 2) || '    E/b = ' || round((e / b)::numeric, 2) AS ratios,
       'engine ≤ 1.3× (a): ' || CASE WHEN e <= 1.3 * a THEN 'PASS' ELSE 'MISS' END
       || '    engine faster than (b): ' || CASE WHEN e < b THEN 'PASS' ELSE 'MISS' END AS goals
FROM r \gx
SQL
echo
cat "$report"
bad=$(psql -At -c "SELECT count(*) FROM bench.results WHERE changed <> (SELECT n FROM bench.keys)")
[ "$bad" -eq 0 ] || { echo "bench: $bad runs did not change every key" >&2; exit 1; }

# Where the engine's time goes: EXPLAIN ANALYZE of the statements it runs
# for one chunk (auto_explain, nested statements of 1 ms and more, with the
# time of the foreign-key triggers), and of (a) for the same keys.
explain=$out/explain-cancel.txt
psql -f - > "$explain" 2>&1 <<'SQL'
\set ON_ERROR_STOP on
SELECT (keys[1:current_setting('bulkorder.chunk_size')::integer])::text AS chunk FROM bench.keys \gset
\echo '==== (E) bulkorder.bulk_cancel on one chunk of keys: the statements the engine runs'
BEGIN;
LOAD 'auto_explain';
SET LOCAL auto_explain.log_min_duration = 1;
SET LOCAL auto_explain.log_analyze = on;
SET LOCAL auto_explain.log_buffers = on;
SET LOCAL auto_explain.log_triggers = on;
SET LOCAL auto_explain.log_nested_statements = on;
SET LOCAL auto_explain.log_level = notice;
SET LOCAL client_min_messages = notice;
SELECT bulkorder.bulk_cancel(:'chunk'::bigint[], false) IS NOT NULL AS ran;
ROLLBACK;
VACUUM bulkorder.orders, bulkorder.bulk_jobs, bulkorder.bulk_job_items, bulkorder.notifications;
\echo '==== (a) the same keys'
BEGIN;
EXPLAIN (ANALYZE, BUFFERS)
WITH changed AS (
    UPDATE bulkorder.orders o SET status = 'cancelled'
    WHERE o.order_no = ANY (:'chunk'::bigint[]) AND o.status = 'awaiting_shipment' AND o.deleted_at IS NULL
    RETURNING o.order_no)
INSERT INTO bench.history_a (job_id, target, ok, before, after)
SELECT 0, order_no, true, jsonb_build_object('status', 'awaiting_shipment'),
       jsonb_build_object('status', 'cancelled')
FROM changed;
ROLLBACK;
SQL
echo "bench: EXPLAIN ANALYZE of the engine's statements for one chunk: $explain"

# The other benchmarks (CSV upload, asynchronous jobs, …), on the same cluster.
status=0
for s in bench/*.sh; do
  [ "$s" = bench/run.sh ] && continue
  [ -f "$s" ] || continue
  echo
  echo "==== $s"
  bash "$s" || { echo "bench: $s failed" >&2; status=1; }
done
exit $status
