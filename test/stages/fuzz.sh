#!/usr/bin/env bash
# Stage: fuzzing.  Random, boundary and hostile calls to every public
# function of schema bulkorder (listed from pg_proc at run time), as an
# operator (grant_operator) and, for about a quarter of the calls, as a
# superuser, on a small demo shop in a database of its own.
#
# Which calls: the same seed gives the same calls.
#   (nothing)     the fixed seeds of `make test` (FUZZ_FIXED_SEEDS), each
#                 for FUZZ_FIXED_CALLS calls: every run makes the same calls,
#                 so a failure replays exactly
#   FUZZ_SEEDS    a list of seeds, run one after the other (FUZZ_CALLS each)
#   FUZZ_SEED     one seed; "random" picks a new one and prints it (`make
#                 fuzz`), bounded by FUZZ_SECONDS
#   FUZZ_SECONDS  how long one seed runs at most (default 60 for a random
#                 seed; no limit when FUZZ_CALLS is given without it)
#   FUZZ_CALLS    stop after this many calls
#   FUZZ_KEEP=1   keep the database bulkorder_fuzz afterwards
# Every seed's run prints the command that replays it, and every finding the
# call that gave it.
#
# Two shops: the calls act on the default one; a second shop (fuzzb) holds
# the same keys and more, and no call may read or change its rows.
# Fails on: a lost connection; a server log line with TRAP, "terminated by
# signal" or PANIC, or an error with SQLSTATE class XX (internal), from the
# session or a job worker; a call answered with class XX, or with an SQL
# error that only SQL built inside the extension can raise (42601 syntax
# error, 42P01 undefined table, 42703 undefined column, …); a statement
# that ran into the 60 s statement_timeout; a call that failed (or was rolled
# back) and left any table of bulkorder or bulkorder_catalog changed
# (test/fuzz/harness.sql); asynchronous jobs still open 120 s after the end.
# Uses the test cluster of tools/test.sh (PGHOST/PGPORT), or starts a
# cluster of its own when run alone.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
FUZZ_FIXED_SEEDS="101 202 303"
FUZZ_FIXED_CALLS=800

# several seeds: this script once per seed, on one cluster
if [ -z "${FUZZ_SEED:-}" ]; then
  seeds=${FUZZ_SEEDS:-$FUZZ_FIXED_SEEDS}
  [ -n "${FUZZ_SEEDS:-}" ] || export FUZZ_CALLS=${FUZZ_CALLS:-$FUZZ_FIXED_CALLS}
  if [ -z "${BULKORDER_TEST_HOST:-}" ]; then
    eval "$(bash tools/pg.sh start fuzz)" || { echo "fuzz: could not start a cluster"; exit 1; }
    trap 'bash tools/pg.sh stop fuzz' EXIT
    export BULKORDER_TEST_HOST=$PGHOST BULKORDER_TEST_PORT=$PGPORT
  fi
  if [ -n "${FUZZ_CALLS:-}" ]; then each="$FUZZ_CALLS calls"; else each="${FUZZ_SECONDS:-60} s"; fi
  echo "fuzz: seeds $seeds, $each each"
  failed_seeds=()
  for s in $seeds; do
    FUZZ_SEED=$s bash "$0" || failed_seeds+=("$s")
  done
  if [ ${#failed_seeds[@]} -gt 0 ]; then
    echo "fuzz: seeds that failed: ${failed_seeds[*]}"
    for s in "${failed_seeds[@]}"; do
      echo "  replay: make && FUZZ_SEED=$s${FUZZ_CALLS:+ FUZZ_CALLS=$FUZZ_CALLS} bash test/stages/fuzz.sh"
    done
    exit 1
  fi
  echo "fuzz: no problem found (seeds $seeds)"
  exit 0
fi

seed=$FUZZ_SEED
[ "$seed" = random ] && seed=$(( $(od -An -N4 -tu4 /dev/urandom | tr -d ' ') % 1000000000 ))
seconds=${FUZZ_SECONDS:-60}
calls=${FUZZ_CALLS:-}
db=bulkorder_fuzz
op=bulkorder_fuzz_op
case "$seconds$seed$calls" in
  *[!0-9]*) echo "fuzz: FUZZ_SECONDS, FUZZ_SEED (or random) and FUZZ_CALLS are whole numbers" >&2; exit 2 ;;
esac
if [ -n "$calls" ] && [ -z "${FUZZ_SECONDS:-}" ]; then seconds=86400; fi
# enough calls never to run out before the time is up
[ -n "$calls" ] || calls=$((seconds * 400 + 2000))

logs="$top/.pg/logs"
mkdir -p "$logs"
if [ -z "${BULKORDER_TEST_HOST:-}" ]; then
  eval "$(bash tools/pg.sh start fuzz)" || { echo "fuzz: could not start a cluster"; exit 1; }
  own_cluster=1
fi
server_log=${FUZZ_SERVER_LOG:-$PGHOST/server.log}
log_from=$(( $(stat -c %s "$server_log" 2>/dev/null || echo 0) + 1 ))

q() { PGOPTIONS="-c client_min_messages=warning" psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
cleanup() {
  if [ "${FUZZ_KEEP:-0}" != 1 ]; then
    q -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1
    q -d postgres -c "DROP ROLE IF EXISTS $op" -c "DROP ROLE IF EXISTS bulkorder_fuzz_other" >/dev/null 2>&1
  fi
  [ -n "${own_cluster:-}" ] && bash tools/pg.sh stop fuzz
}
trap cleanup EXIT

if [ "$seconds" = 86400 ]; then limit="no time limit"; else limit="${seconds} s at most"; fi
echo "fuzz: seed $seed, $limit, ${calls} calls at most (replay: make && FUZZ_SEED=$seed FUZZ_CALLS=N bash test/stages/fuzz.sh)"

# the shop: 300 demo orders, always the same (the seed of the calls varies)
q -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db" || exit 1
q -d postgres -c "DROP ROLE IF EXISTS $op" -c "DROP ROLE IF EXISTS bulkorder_fuzz_other" \
  -c "CREATE ROLE $op" -c "CREATE ROLE bulkorder_fuzz_other" || exit 1
q -d "$db" -c "CREATE EXTENSION bulkorder" || exit 1
q -d "$db" -v orders=300 -v seed=7 -f tools/demo-data.sql >/dev/null || exit 1
# a second shop, never named by a call (its code is not in the fuzzer's
# words): no call may read or change its rows (test/fuzz/harness.sql).  Its
# 400 orders share the first shop's 300 order numbers and add 100 of their own.
q -d "$db" -c "SELECT bulkorder.create_shop('fuzzb', 'the other shop')" >/dev/null || exit 1
PGOPTIONS="-c client_min_messages=warning -c bulkorder.shop=fuzzb" \
  psql -X -q -v ON_ERROR_STOP=1 -d "$db" -v orders=400 -v seed=8 -f tools/demo-data.sql >/dev/null || exit 1
# order generation with no shop named runs in every shop: the other shop's
# masters are paused, so that it makes nothing there
q -d "$db" -c "UPDATE bulkorder.subscriptions s SET status = 'paused' FROM bulkorder.shops x
               WHERE x.shop_id = s.shop_id AND x.code = 'fuzzb' AND s.status = 'active'" || exit 1
# every session acts on the default shop unless a call names one (RESET
# comes back to it)
q -d "$db" -c "ALTER DATABASE $db SET bulkorder.shop = 'default'" || exit 1
q -d "$db" -c "SELECT bulkorder.grant_operator('$op', 'default')" >/dev/null || exit 1
# the SQLSTATE of every error in the server log: a job worker's too
q -d "$db" -c "ALTER DATABASE $db SET log_error_verbosity = verbose" || exit 1
q -d "$db" -v op="$op" -f test/fuzz/harness.sql || exit 1
q -d "$db" -c "SELECT bulkorder_fuzz.metadata('$op')" > "$logs/fuzz-metadata.json" || exit 1
nfun=$(q -d "$db" -c "SELECT count(*) FROM pg_proc WHERE pronamespace = 'bulkorder'::regnamespace AND prokind = 'f'")

script="$logs/fuzz-$seed.sql"
python3 test/fuzz/fuzz.py "$logs/fuzz-metadata.json" "$seed" "$calls" > "$script" || { echo "fuzz: the generator failed"; exit 1; }
q -d "$db" -c "SELECT bulkorder_fuzz.snapshot()" >/dev/null || exit 1

deadline=$(q -d "$db" -c "SELECT (clock_timestamp() + make_interval(secs => $seconds))::text")
echo "fuzz: $nfun functions of schema bulkorder; calls in $script"
t0=$(date +%s%N)
psql -X -d "$db" -v deadline="$deadline" -f "$script" > "$logs/fuzz.out" 2> "$logs/fuzz.err"
rc=$?
t1=$(date +%s%N)
cat "$logs/fuzz.out"
elapsed=$(( (t1 - t0) / 1000000 ))

fails=0
problem() { echo "FAIL: $*"; fails=$((fails + 1)); }
call_sql() {  # the statements of call N, from the script
  awk -v n="$1" '$0 ~ "^-- call " n " " {p = 1; print; next} p && /^SELECT bulkorder_fuzz\.check/ {exit} p && !/^\\/' "$script" | cut -c1-2000
}
replay() { echo "  replay: FUZZ_SEED=$seed FUZZ_CALLS=$1 bash test/stages/fuzz.sh"; call_sql "$1" | sed 's/^/    /'; }

# the server must still (or again) be up
deadline_up=$((SECONDS + 120))
until q -d "$db" -c "SELECT 1" >/dev/null 2>&1; do
  [ $SECONDS -ge $deadline_up ] && { echo "FAIL: the server did not come back"; tail -50 "$server_log"; exit 1; }
  sleep 0.5
done
last=$(q -d "$db" -c "SELECT coalesce(max(call), 0) FROM bulkorder_fuzz.calls")
if [ "$rc" -ne 0 ]; then
  problem "psql exited with $rc after call $last: the connection was lost during call $((last + 1)) (seed $seed)"
  tail -5 "$logs/fuzz.err"
  replay $((last + 1))
fi

# asynchronous jobs the calls submitted: they must all end
wait_jobs=$((SECONDS + 120))
while [ "$(q -d "$db" -c "SELECT bulkorder_fuzz.jobs_open()")" = t ]; do
  if [ $SECONDS -ge $wait_jobs ]; then
    problem "asynchronous jobs still open 120 s after the last call:"
    q -d "$db" -c "SELECT job_id, status, page, operation, processed_count, total_count FROM bulkorder.bulk_jobs WHERE status IN ('queued', 'running')"
    break
  fi
  sleep 0.5
done

# the oracle's findings, call by call
while IFS='|' read -r call kind detail; do
  [ -n "$call" ] || continue
  problem "call $call (seed $seed): $kind: $detail"
  replay "$call"
done < <(q -d "$db" -c "SELECT call, kind, replace(detail, E'\n', ' ') FROM bulkorder_fuzz.findings ORDER BY call")

# the server log since the start
if [ -f "$server_log" ]; then
  tail -c "+$log_from" "$server_log" > "$logs/fuzz-server.log"
  if grep -nE 'TRAP|terminated by signal|PANIC' "$logs/fuzz-server.log" | head -20 | grep .; then
    problem "the server log has a crash (above; $logs/fuzz-server.log)"
  fi
  if grep -nE '(ERROR|FATAL|WARNING): +XX[0-9A-Z]{3}:' "$logs/fuzz-server.log" | head -20 | grep .; then
    problem "the server log has internal errors (above; $logs/fuzz-server.log)"
  fi
else
  echo "fuzz: no server log at $server_log: crash lines not checked (set FUZZ_SERVER_LOG)"
fi

echo "---- fuzz summary (seed $seed)"
q -d "$db" -c "SELECT format('%s calls in %s s (%s per second); %s as the operator, %s as a superuser; %s failed, %s of them compared with the tables before',
                             count(*), round($elapsed / 1000.0, 1), round(count(*) / greatest($elapsed / 1000.0, 0.001)),
                             count(*) FILTER (WHERE role = '$op'), count(*) FILTER (WHERE role <> '$op'),
                             count(*) FILTER (WHERE sqlstate <> '00000' OR rolled_back),
                             count(*) FILTER (WHERE compared))
               FROM bulkorder_fuzz.calls"
echo "calls by SQLSTATE (00000 = no error):"
q -d "$db" -F ' ' -c "SELECT '  ' || sqlstate, count(*), '  e.g. ' || left(replace((array_agg(message ORDER BY call))[1], E'\n', ' '), 100)
                        FROM bulkorder_fuzz.calls GROUP BY sqlstate ORDER BY count(*) DESC, sqlstate"
echo "jobs by status (asynchronous ones in brackets):"
q -d "$db" -F ' ' -c "SELECT '  ' || status, count(*), '(' || count(*) FILTER (WHERE is_async) || ')'
                        FROM bulkorder_fuzz.all_jobs() GROUP BY status ORDER BY status"
failed_jobs=$(q -d "$db" -c "SELECT count(*) FROM bulkorder_fuzz.all_jobs() WHERE status = 'failed'")
if [ "$failed_jobs" -gt 0 ]; then
  echo "asynchronous jobs that ended failed, with the worker's error:"
  q -d "$db" -F ' ' -c "SELECT '  job ' || job_id, left(error_message, 200) FROM bulkorder_fuzz.all_jobs() WHERE status = 'failed' ORDER BY job_id LIMIT 20"
fi

echo "fuzz: this run replays with: make && FUZZ_SEED=$seed FUZZ_CALLS=$last bash test/stages/fuzz.sh"
if [ "$fails" -gt 0 ]; then
  echo "fuzz: $fails problem(s), seed $seed"
  exit 1
fi
echo "fuzz: no problem found (seed $seed)"
