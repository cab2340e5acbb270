#!/usr/bin/env bash
# Benchmark of undoing a job (SPEC §7, issue 11), on the bench cluster and
# its database of demo orders (bench/run.sh sets PGHOST, PGPORT, PGUSER,
# PGDATABASE) or, run alone, on a cluster of its own with BENCH_ORDERS orders:
# the 100,000 scattered keys of bench.keys are cancelled with a void request
# where the payment method has a gateway (bulk_cancel(keys, true)), then that
# job is reverted (revert_job: every order back, every request withdrawn).
# Both commit, as an operator's undo comes after the job (in one transaction
# the foreign keys of rows the same transaction wrote are checked again on
# every update); the revert leaves the orders as they were, so the next
# round starts from the same orders (the job rows and the withdrawn requests
# stay).  Goal: the revert takes at most 1.5x the job it reverts.
#   BENCH_ROUNDS (5)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
rounds=${BENCH_ROUNDS:-5}
out=bench/results
mkdir -p "$out"
if [ -z "${PGDATABASE:-}" ]; then
  # alone: a cluster and the bench's data of its own
  eval "$(bash tools/pg.sh start bench_revert)"
  trap 'bash tools/pg.sh stop bench_revert' EXIT
  export PGDATABASE=bench_revert
  command psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $PGDATABASE" -c "CREATE DATABASE $PGDATABASE"
  command psql -X -q -v ON_ERROR_STOP=1 -c "CREATE EXTENSION bulkorder"
  command psql -X -q -v ON_ERROR_STOP=1 -v orders="${BENCH_ORDERS:-1000000}" -v seed=42 -f tools/demo-data.sql
  command psql -X -q -v ON_ERROR_STOP=1 -c "VACUUM (FREEZE, ANALYZE)"
  command psql -X -q -v ON_ERROR_STOP=1 -v keys="${BENCH_KEYS:-100000}" -f bench/setup.sql
fi
psql() { PGOPTIONS="-c client_min_messages=warning" command psql -X -q -v ON_ERROR_STOP=1 "$@"; }
nkeys=$(psql -At -c "SELECT n FROM bench.keys")

script=$out/revert-runs.sql
{
  echo '\set ON_ERROR_STOP on'
  echo 'SELECT keys::text AS keys FROM bench.keys \gset'
  echo 'CREATE TEMP TABLE revert_results (round int, job_ms numeric, revert_ms numeric, changed bigint, reverted bigint, withdrawn bigint, not_withdrawn bigint);'
  for r in $(seq 0 "$rounds"); do
    cat <<SQL
CHECKPOINT;
SELECT clock_timestamp() AS t0 \gset
SELECT bulkorder.bulk_cancel(:'keys'::bigint[], true) AS job \gset
SELECT clock_timestamp() AS t1 \gset
VACUUM bulkorder.orders, bulkorder.bulk_jobs, bulkorder.bulk_job_items, bulkorder.notifications, bulkorder.payment_requests;
CHECKPOINT;
SELECT clock_timestamp() AS t1b \gset
SELECT bulkorder.revert_job(:job) AS rev \gset
SELECT clock_timestamp() AS t2 \gset
SELECT (SELECT success_count FROM bulkorder.bulk_jobs WHERE job_id = :job) AS changed,
       (SELECT success_count FROM bulkorder.bulk_jobs WHERE job_id = :rev) AS reverted,
       (SELECT count(*) FILTER (WHERE status = 'withdrawn') - count(*)
          FROM bulkorder.payment_requests WHERE job_id = :job) AS not_withdrawn,
       (SELECT count(*) FROM bulkorder.payment_requests WHERE job_id = :job AND status = 'withdrawn') AS withdrawn \gset
INSERT INTO revert_results VALUES ($r,
    round(extract(epoch FROM :'t1'::timestamptz - :'t0'::timestamptz)::numeric * 1000, 1),
    round(extract(epoch FROM :'t2'::timestamptz - :'t1b'::timestamptz)::numeric * 1000, 1),
    :changed, :reverted, :withdrawn, :not_withdrawn);
\echo round $r: job :changed changed, revert :reverted reverted, :withdrawn requests withdrawn
VACUUM bulkorder.orders, bulkorder.bulk_jobs, bulkorder.bulk_job_items, bulkorder.notifications, bulkorder.payment_requests;
SQL
  done
  cat <<SQL
\echo
\echo 'revert of a $nkeys-target cancel (void requests queued, then withdrawn); medians of $rounds rounds after a warm-up'
WITH m AS (
    SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY job_ms) AS job,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY revert_ms) AS rev,
           min(changed) AS changed, min(reverted) AS reverted, min(withdrawn) AS withdrawn
    FROM revert_results WHERE round > 0)
SELECT round(job::numeric, 1) AS "job ms (bulk_cancel)", round(rev::numeric, 1) AS "revert ms (revert_job)",
       'revert/job = ' || round((rev / job)::numeric, 2) AS ratio,
       'revert ≤ 1.5× job: ' || CASE WHEN rev <= 1.5 * job THEN 'PASS' ELSE 'MISS' END AS goal,
       changed, reverted, withdrawn
FROM m \gx
SELECT count(*) > 0 AS bad_rounds FROM revert_results
WHERE changed <> $nkeys OR reverted <> $nkeys OR not_withdrawn <> 0 \gset
\if :bad_rounds
\echo 'bench/revert: a round did not change, revert and withdraw every key'
SELECT 1/0;
\endif
SQL
} > "$script"
echo "bench/revert: $nkeys-target cancel and its revert, $rounds rounds (+1 warm-up)"
psql -f "$script" | tee "$out/revert.txt"
