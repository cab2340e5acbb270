#!/usr/bin/env bash
# `make check-asan`: the extension built with AddressSanitizer and
# UndefinedBehaviorSanitizer, a throwaway server with the sanitizer runtime
# preloaded, and the regress, isolation, pgTAP and fuzz suites against it.
# Fails when a suite fails, when a sanitizer writes a report, or when the
# server log shows a crash.  Ends with "N passed, N failed".
#
# The sanitized build never touches the checkout's own: the tracked sources
# are copied to .pg/asan/src and built and installed there (its own private
# PostgreSQL tree, through tools/pg.sh of the copy), so `make` and
# `make test` afterwards use the normal build.
#   ASAN_FUZZ_SECONDS  the fuzz stage's time (default 60)
#   ASAN_FUZZ_SEED     its seed (default 101, the first of make test's fixed
#                      seeds; random for a new one, printed)
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

san="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined"
libasan=$(gcc -print-file-name=libasan.so)
libasan=$(readlink -f "$libasan")
if [ ! -f "$libasan" ]; then
  echo "check-asan: no libasan for gcc (Debian: libasan8, which gcc-12 depends on)" >&2
  exit 1
fi

work="$top/.pg/asan"
src="$work/src"
t0=$(date +%s)
echo "check-asan: copying the sources to $src and building with $san"
rm -rf "$src"
mkdir -p "$src"
git ls-files -co --exclude-standard -z | tar --null -T - -cf - | tar -xf - -C "$src"
make -C "$src" -s COPT="$san" >/dev/null || { echo "check-asan: the sanitized build failed"; exit 1; }
bash "$src/tools/pg.sh" install asan || exit 1
# the cluster: tools/pg.sh's paths, port and settings; started here, with
# the sanitizer runtime preloaded into the server alone (a sanitized
# bulkorder.so cannot even load without it)
eval "$(bash "$src/tools/pg.sh" env asan)" || exit 1
data="$PGHOST/data"
log="$PGHOST/server.log"
reports="$PGHOST/sanitizer"
if [ -f "$data/postmaster.pid" ]; then
  as_pg "$(command -v pg_ctl)" -D "$data" -m immediate -w stop >/dev/null 2>&1 || true
fi
rm -rf "$PGHOST"
mkdir -p "$PGHOST" "$reports"
[ "$(id -u)" -eq 0 ] && chown postgres:postgres "$PGHOST" "$reports"
as_pg "$(command -v initdb)" -D "$data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 --no-sync >/dev/null || exit 1
cat >> "$data/postgresql.conf" <<CONF
port = $PGPORT
unix_socket_directories = '$PGHOST'
listen_addresses = ''
fsync = off
synchronous_commit = off
full_page_writes = off
shared_preload_libraries = 'pg_cron,bulkorder'
cron.database_name = 'postgres'
cron.host = '$PGHOST'
max_worker_processes = 32
log_min_messages = warning
CONF
stop() { as_pg "$(command -v pg_ctl)" -D "$data" -m fast -w stop >/dev/null 2>&1 || true; }
trap stop EXIT
# The runtime preloaded into the server alone (a sanitized bulkorder.so
# cannot even load without it), with the NLS shim after it: without the
# shim, postgres hangs at start under this preload (tools/asan-nls-shim.c).
# detect_leaks=0: the postmaster's own allocations live until exit by design.
# quarantine_size_mb=8 (256 by default): freed memory is held back that long
# to catch a use after free; at 256 MB it raises a backend's peak memory far
# beyond what sql/csv_upload.sql allows an upload (file + 32 MB), while 8 MB
# still holds every small chunk freed recently.
shim="$work/asan-nls-shim.so"
gcc -shared -fPIC -O2 -Wall -o "$shim" tools/asan-nls-shim.c || exit 1
chmod 755 "$work" "$shim"
as_pg env LD_PRELOAD="$libasan:$shim" \
  ASAN_OPTIONS="detect_leaks=0:quarantine_size_mb=8:abort_on_error=1:halt_on_error=1:log_path=$reports/asan:detect_odr_violation=0" \
  UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$reports/ubsan" \
  "$(command -v pg_ctl)" -D "$data" -l "$log" -w -t 120 start >/dev/null \
  || { echo "check-asan: the server did not start"; tail -30 "$log"; exit 1; }
grep -q "$(basename "$libasan")" "/proc/$(head -1 "$data/postmaster.pid")/maps" \
  || { echo "check-asan: the server runs without $libasan"; exit 1; }
export BULKORDER_TEST_HOST=$PGHOST BULKORDER_TEST_PORT=$PGPORT

passed=0; failed=0; failures=()
count() { passed=$((passed + $2)); failed=$((failed + $3)); [ "$3" -gt 0 ] && failures+=("$1"); return 0; }

echo "check-asan: pg_regress and isolation"
make -C "$src" -s installcheck > "$work/installcheck.log" 2>&1; rc=$?
cat "$work/installcheck.log"
for f in "$src/regression.diffs" "$src/output_iso/regression.diffs"; do
  [ -s "$f" ] && { echo "==== $f"; head -200 "$f"; }
done
n_ok=$(grep -cE '\.\.\. ok|^ok [0-9]' "$work/installcheck.log" || true)
n_fail=$(grep -cE '\.\.\. FAILED|^not ok [0-9]|\.\.\. failed' "$work/installcheck.log" || true)
[ "$rc" -ne 0 ] && [ "$n_fail" -eq 0 ] && n_fail=1
count "pg_regress/isolation" "$n_ok" "$n_fail"

echo "check-asan: pgTAP"
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS bulkorder_tap" -c "CREATE DATABASE bulkorder_tap" >/dev/null
psql -X -q -d bulkorder_tap -c "CREATE EXTENSION pgtap" >/dev/null
(cd "$src" && pg_prove -d bulkorder_tap test/*.sql) > "$work/pgtap.log" 2>&1
tail -3 "$work/pgtap.log"
files=$(ls "$src"/test/*.sql | wc -l)
bad=$(grep -cE '^test/.*\.sql \.\. .*(Failed|Dubious|skipped: .*)' "$work/pgtap.log" || true)
grep -q "^Result: PASS" "$work/pgtap.log" || [ "$bad" -gt 0 ] || bad=1
count "pgTAP" $((files - bad)) "$bad"

echo "check-asan: the fuzz stage"
if FUZZ_SEED=${ASAN_FUZZ_SEED:-101} FUZZ_SECONDS=${ASAN_FUZZ_SECONDS:-60} FUZZ_SERVER_LOG="$log" \
   bash "$src/test/stages/fuzz.sh"; then
  count fuzz 1 0
else
  count fuzz 0 1
fi

# the sanitizers' own verdict
if ls "$reports"/* >/dev/null 2>&1; then
  echo "check-asan: sanitizer reports:"
  for f in "$reports"/*; do echo "==== $f"; head -80 "$f"; done
  count "sanitizer reports" 0 1
else
  echo "check-asan: no sanitizer report"
  count "sanitizer reports" 1 0
fi
if grep -nE 'TRAP|terminated by signal|PANIC|AddressSanitizer|runtime error:' "$log" | head -20 | grep .; then
  count "server log" 0 1
else
  count "server log" 1 0
fi

echo
echo "check-asan: $(( $(date +%s) - t0 )) s"
[ ${#failures[@]} -gt 0 ] && echo "failed: ${failures[*]}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
