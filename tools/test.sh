#!/usr/bin/env bash
# Every test against a throwaway cluster: pg_regress (sql/), isolation
# (specs/), pgTAP (test/*.sql) and the stage scripts (test/stages/*.sh) for
# what must really commit (the background worker, pg_cron, a crash).
# Ends with "N passed, N failed", and after a failure with the commands
# that replay each failed suite ("replay: ...").
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
# logs stay in the checkout even when the cluster itself lives under /tmp
logs="$top/.pg/logs"
mkdir -p "$logs"
eval "$(bash tools/pg.sh start test)" || { echo "could not start the test cluster"; exit 1; }
trap 'bash tools/pg.sh stop test' EXIT
export BULKORDER_TEST_HOST=$PGHOST BULKORDER_TEST_PORT=$PGPORT

passed=0; failed=0; failures=(); replays=()
count() {  # count SUITE PASSED FAILED [REPLAY]
  passed=$((passed + $2)); failed=$((failed + $3))
  [ "$3" -gt 0 ] && failures+=("$1") && [ -n "${4:-}" ] && replays+=("$4")
  return 0
}

# pg_regress and isolation through PGXS, as `make installcheck` runs them
if [ -n "$(ls sql/*.sql 2>/dev/null)" ] || [ -n "$(ls specs/*.spec 2>/dev/null)" ]; then
  make -s installcheck > "$logs/installcheck.log" 2>&1; rc=$?
  cat "$logs/installcheck.log"
  for f in regression.diffs output_iso/regression.diffs; do
    [ -s "$f" ] && { echo "==== $f"; cat "$f"; }
  done
  n_ok=$(grep -cE '\.\.\. ok|^ok [0-9]' "$logs/installcheck.log" || true)
  n_fail=$(grep -cE '\.\.\. FAILED|^not ok [0-9]|\.\.\. failed' "$logs/installcheck.log" || true)
  [ "$rc" -ne 0 ] && [ "$n_fail" -eq 0 ] && n_fail=1
  # the failed tests, by kind: "test NAME ... FAILED"
  bad_regress=(); bad_iso=()
  for t in $(sed -n 's/^\(not ok [0-9]* *- *\|test \)\([a-z0-9_]*\) .*\(FAILED\|failed\).*/\2/p' "$logs/installcheck.log"); do
    if [ -f "sql/$t.sql" ]; then bad_regress+=("$t"); else bad_iso+=("$t"); fi
  done
  count "pg_regress/isolation" "$n_ok" "$n_fail" \
    "make && eval \"\$(bash tools/pg.sh start test)\" && make installcheck REGRESS='${bad_regress[*]}' ISOLATION='${bad_iso[*]}'"
fi

# pgTAP: each file runs in its own rolled-back transaction
if [ -n "$(ls test/*.sql 2>/dev/null)" ]; then
  psql -X -q -d postgres -c "DROP DATABASE IF EXISTS bulkorder_tap" -c "CREATE DATABASE bulkorder_tap" >/dev/null
  psql -X -q -d bulkorder_tap -c "CREATE EXTENSION pgtap" >/dev/null
  pg_prove -d bulkorder_tap test/*.sql > "$logs/pgtap.log" 2>&1
  cat "$logs/pgtap.log"
  files=$(ls test/*.sql | wc -l)
  bad=$(grep -cE '^test/.*\.sql \.\. .*(Failed|Dubious|skipped: .*)' "$logs/pgtap.log" || true)
  grep -q "^Result: PASS" "$logs/pgtap.log" || [ "$bad" -gt 0 ] || bad=1
  bad_files=$(sed -n 's/^\(test\/[^ ]*\.sql\) \.\. .*\(Failed\|Dubious\).*/\1/p' "$logs/pgtap.log" | paste -sd' ')
  count "pgTAP" $((files - bad)) "$bad" \
    "make && eval \"\$(bash tools/pg.sh start test)\" && psql -X -q -d postgres -c 'DROP DATABASE IF EXISTS bulkorder_tap' -c 'CREATE DATABASE bulkorder_tap' && psql -X -q -d bulkorder_tap -c 'CREATE EXTENSION pgtap' && pg_prove -d bulkorder_tap ${bad_files:-test/*.sql}"
fi

# stage scripts: each exits 0 when it passed
for s in test/stages/*.sh; do
  [ -f "$s" ] || continue
  echo "==== stage $s"
  t0=$SECONDS
  if bash "$s"; then count "$s" 1 0; echo "ok: $s ($((SECONDS - t0)) s)"
  else
    # a stage starts its own cluster when run alone; the fuzz stage's seeds
    # are in its output (its own replay lines)
    count "$s" 0 1 "make && bash $s"
    echo "FAILED: $s ($((SECONDS - t0)) s); replay: make && bash $s"
  fi
done

echo
[ ${#failures[@]} -gt 0 ] && echo "failed suites: ${failures[*]}"
for r in "${replays[@]}"; do echo "replay: $r"; done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
