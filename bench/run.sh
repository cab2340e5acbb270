#!/usr/bin/env bash
# `make bench`: every path of the engine against its floor, the SQL a DBA
# would write by hand for the same result (bench/floors/*.sql: no call of
# bulkorder's own functions, inline expressions, a history table with the
# primary key of bulk_job_items), and against the engine of 1.1, in the same
# run.  bench/README.md says how to read what it prints.
#
# Two clusters, each with 1,000,000 demo orders loaded the same way: the
# current build (this checkout) and 1.1's engine built from its commit
# (BENCH_V11=0 leaves it out).  On each, the engine, the floor and the older
# baselines, so that both clusters' rows go through the same changes.  The contenders of a path take
# turns, the order rotating every round, and each runs in a psql session of
# its own cluster that stays open for the whole path (plans and caches warm,
# as in a shop's life).  Runs COMMIT: bulk_job_items, bulk_jobs,
# notifications, the outboxes and each floor's own history table grow
# across rounds; what a run changed on the shop's rows is put back between
# runs by an untimed UPDATE, then VACUUM (ANALYZE) of every table a run
# writes and a CHECKPOINT, before whichever contender comes next.  Figures
# are medians of the counted rounds, after a warm-up round that is not
# counted; each pair also gets the median of its rounds' own ratios (the two
# contenders of one round paired, cancelling the drift of history piling up).
#
# Paths (engine / floor; the floor runs on both clusters):
#   cancel   bulk_cancel of 100,000 scattered keys / floors/cancel.sql; and
#            floors/cancel_nolock.sql (the UPDATE without the key-order lock)
#            and a PL/pgSQL row loop
#   tags     a 1,000,000-target tags job, sync and async / floors/tags.sql
#   import   import_shipments of 100,000 lines / floors/import.sql (COPY +
#            one statement)
#   upload   upload_csv of 1,000,000 lines / floors/upload.sql (COPY + the
#            join resolving the keys); and the backend's peak private memory
#            at 100,000 vs 1,000,000 lines
#   preview  preview_bulk of 100,000 targets / floors/preview.sql
#   revert   revert_job of a 100,000-target cancel / the cancel job itself
# Then EXPLAIN ANALYZE of the statements one chunk of each engine path
# runs (auto_explain) and pg_stat_statements, to bench/out/explain.txt.
#
# Environment: BENCH_ORDERS (1000000 demo orders), BENCH_SCALE (1: scales
# every path's size, e.g. 0.1 for a quick look), BENCH_ROUNDS (9 counted
# rounds of the 100,000-key paths), BENCH_BIG_ROUNDS (3 counted rounds of
# the million-row tags jobs), BENCH_UPLOAD_ROUNDS (8 counted rounds of the
# million-line upload, a multiple of its four contenders: a round takes
# seconds, and its floor's rounds spread 2x on this machine, so a median of
# three was too few), BENCH_PATHS (all: a space-separated subset of
# cancel tags import upload preview revert), BENCH_V11 (1: also 1.1's
# engine).  Scratch output goes to bench/out/ (ignored by git).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
. bench/lib.sh
orders=${BENCH_ORDERS:-1000000}
scale=${BENCH_SCALE:-1}
rounds=${BENCH_ROUNDS:-9}
big_rounds=${BENCH_BIG_ROUNDS:-3}
upload_rounds=${BENCH_UPLOAD_ROUNDS:-8}
paths=${BENCH_PATHS:-cancel tags import upload preview revert}
v11=${BENCH_V11:-1}
case "$orders$rounds$big_rounds$upload_rounds" in
  *[!0-9]*) echo "bench: BENCH_ORDERS, BENCH_ROUNDS, BENCH_BIG_ROUNDS and BENCH_UPLOAD_ROUNDS must be whole numbers" >&2; exit 2 ;;
esac
sized() { awk -v n="$1" -v s="$scale" -v max="${2:-0}" 'BEGIN { v = int(n * s); if (v < 1) v = 1; if (max > 0 && v > max) v = max; print v }'; }
nkeys=$(sized 100000)
ntags=$(sized 1000000 "$orders")
nlines=$(sized 1000000)
nlines_small=$(sized 100000)
db=bench
out=$top/bench/out
mkdir -p "$out"
work=$(mktemp -d /tmp/bulkorder-bench.XXXXXX)
chmod 755 "$work"
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
started=$(date +%s)
trap '' PIPE   # a session that died is reported, not a silent SIGPIPE

# --- the clusters ---------------------------------------------------------------
# A server sized for a million orders: the tables and indexes fit in
# shared_buffers, so the runs measure the work, not the eviction of pages.
# No JIT: its compile time lands on whichever statement is costed high
# enough (a one-statement floor over 1,000,000 rows, not the engine's
# 10,000-key chunks), which would favour neither side honestly.
# pg_stat_statements for the profile at the end (track = top while timing).
# The same settings for both clusters: ALTER SYSTEM here, postgresql.conf
# lines for 1.1's.
settings="shared_buffers = '1GB'
max_wal_size = '4GB'
jit = off
shared_preload_libraries = 'pg_cron,bulkorder,pg_stat_statements'"
echo "bench: starting the bench cluster (this checkout)"
eval "$(bash tools/pg.sh start bench)"
cur_host=$PGHOST cur_port=$PGPORT
root=$(dirname "$cur_host")
stop_all() {
  local n
  for n in "${!S_FD[@]}"; do session_close "$n" || true; done
  bash tools/pg.sh stop bench
  if [ -n "${v11_data:-}" ] && [ -f "$v11_data/postmaster.pid" ]; then
    as_pg "$v11_bin/pg_ctl" -D "$v11_data" -m fast -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
declare -A S_FD=() S_ACK=() S_PID=()
trap stop_all EXIT
psql -X -q -d postgres -c "ALTER SYSTEM SET shared_buffers = '1GB'" -c "ALTER SYSTEM SET max_wal_size = '4GB'" \
  -c "ALTER SYSTEM SET jit = off" -c "ALTER SYSTEM SET shared_preload_libraries = pg_cron, bulkorder, pg_stat_statements"
eval "$(BULKORDER_KEEP_DATA=1 bash tools/pg.sh start bench)"
export PGDATABASE=$db
psql() { PGOPTIONS="-c client_min_messages=warning" command psql -X -q -v ON_ERROR_STOP=1 "$@"; }
psql11() { PGHOST=$v11_host PGPORT=$v11_port psql "$@"; }

if [ "$v11" = 1 ]; then
  echo "bench: 1.1's engine, built from $v11_commit"
  v11_bin=$(v11_tree "$root/v11")
  v11_host=$root/bench11
  v11_data=$v11_host/data
  v11_port=$((50000 + $(echo "$top/bench11" | cksum | cut -d' ' -f1) % 10000))
  [ "$v11_port" = "$cur_port" ] && v11_port=$((v11_port + 1))
  [ -f "$v11_data/postmaster.pid" ] && as_pg "$v11_bin/pg_ctl" -D "$v11_data" -m fast -w stop >/dev/null 2>&1 || true
  rm -rf "$v11_host"; mkdir -p "$v11_host"
  [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$v11_host"
  as_pg "$v11_bin/initdb" -D "$v11_data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 --no-sync >/dev/null
  # as tools/pg.sh configures a cluster, then the bench's settings
  cat >> "$v11_data/postgresql.conf" <<CONF
port = $v11_port
unix_socket_directories = '$v11_host'
listen_addresses = ''
fsync = off
synchronous_commit = off
full_page_writes = off
cron.database_name = 'postgres'
cron.host = '$v11_host'
max_worker_processes = 32
log_min_messages = warning
$settings
CONF
  as_pg "$v11_bin/pg_ctl" -D "$v11_data" -l "$v11_host/server.log" -w start >/dev/null
  v11_demo_data "$work/demo-data-1.1.sql"
fi

# load CLUSTER DEMO: the demo orders (DEMO: that version's demo-data.sql),
# the bench's schema and keys
load() {
  local p=psql; [ "$1" = 1.1 ] && p=psql11
  $p -d postgres -c "CREATE DATABASE $db"
  $p -c "CREATE EXTENSION bulkorder" -c "CREATE EXTENSION pg_prewarm" -c "CREATE EXTENSION pg_stat_statements"
  $p -v orders="$orders" -v seed=42 -f "$2" >/dev/null
  $p -c "VACUUM (FREEZE, ANALYZE)"
  $p -v keys="$nkeys" -v tag_targets="$ntags" -f bench/setup.sql
}
echo "bench: loading $orders orders with tools/demo-data.sql$([ "$v11" = 1 ] && echo ", and 1.1's into its cluster")"
t0=$(date +%s%N)
[ "$v11" = 1 ] && { load 1.1 "$work/demo-data-1.1.sql" > "$work/load11.log" 2>&1 & }
load cur tools/demo-data.sql
[ "$v11" = 1 ] && { wait $! || { cat "$work/load11.log" >&2; exit 1; }; }
t1=$(date +%s%N)
load_ms=$(( (t1 - t0) / 1000000 ))
echo "bench: loaded in $load_ms ms"
got=$(psql -At -c "SELECT n FROM bench.keys")
[ "$got" -eq "$nkeys" ] || { echo "bench: only $got awaiting orders to pick $nkeys keys from" >&2; exit 1; }
# the same data on both: every column the orders of 1.1 have, and the keys
same_data="-"
if [ "$v11" = 1 ]; then
  cols=$(psql11 -At -c "SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) FROM pg_attribute
                        WHERE attrelid = 'bulkorder.orders'::regclass AND attnum > 0 AND NOT attisdropped")
  sum="SELECT md5(string_agg(r, E'\\n' ORDER BY order_no)) || ' ' || md5((SELECT keys FROM bench.keys)::text)
       FROM (SELECT order_no, ($cols)::text AS r FROM bulkorder.orders) o"
  a=$(psql -At -c "$sum"); b=$(psql11 -At -c "$sum")
  if [ "$a" = "$b" ]; then same_data="yes (md5 of the orders ${a%% *})"
  else same_data="NO: the orders differ (md5 ${a%% *} here, ${b%% *} in 1.1's cluster)"; fi
  echo "bench: same data on both clusters: $same_data"
fi
# the shop of each cluster, when its tables have a shop column (bench.shop,
# setup.sql): the floors are confined to it (floor_sql, bench/lib.sh)
declare -A SHOP_ID=() SHOP_TABLES=()
shop_of() {  # shop_of CLUSTER PSQL
  local line
  line=$($2 -At -c "SELECT coalesce(shop_id::text, '') || '|' || coalesce(tables, '') FROM bench.shop")
  SHOP_ID[$1]=${line%%|*} SHOP_TABLES[$1]=${line#*|}
}
shop_of cur psql
[ "$v11" = 1 ] && shop_of 1.1 psql11
shop_note=$([ -n "${SHOP_TABLES[cur]}" ] && echo "shop $(printf '%s' "${SHOP_ID[cur]}") (shop_id in: ${SHOP_TABLES[cur]})" || echo "no shop column")
# fsql CLUSTER NAME …: floor_sql for that cluster's shop
fsql() {
  local cl=$1; shift
  FLOOR_SHOP_ID=${SHOP_ID[$cl]} FLOOR_SHOP_TABLES=${SHOP_TABLES[$cl]} floor_sql "$@"
}
prewarm() {
  local q="SELECT pg_prewarm(c.oid) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname IN ('bulkorder', 'bench') AND c.relkind IN ('r', 'i')"
  psql -c "$q" >/dev/null
  [ "$v11" = 1 ] && psql11 -c "$q" >/dev/null
  return 0
}
prewarm

# --- files: the import's shipment file and the upload's CSV files ---------
# The import: the :nkeys keys, in their scattered order (import_csv_awk,
# bench/lib.sh).
psql -At -c "SELECT k FROM unnest((SELECT keys FROM bench.keys)) k" | awk "$import_csv_awk" > "$work/import.csv"
# The uploads: as Excel saves them, a header, CRLF, keys in random order
# with a few errors (not a number, repeats; deleted orders are not_found).
read -r kmin kmax < <(psql -At -F' ' -c "SELECT min(order_no), max(order_no) FROM bulkorder.orders")
make_csv() {  # make_csv NAME LINES
  awk -v lines="$2" -v lo="$kmin" -v hi="$kmax" -v seed=42 "$upload_csv_awk" < /dev/null > "$work/$1.csv"
}
make_csv upload_small "$nlines_small"
make_csv upload "$nlines"

# --- sessions: one psql per cluster for the whole of a path --------------------------
# session_open NAME HOST PORT; session_do NAME SQL runs SQL there and waits
# until it is done (the session writes to NAME.ack; it reads its commands
# from the NAME.in fifo); session_close NAME.
session_open() {
  local n=$1 fd afd
  rm -f "$work/$n.in" "$work/$n.ack"
  mkfifo "$work/$n.in" "$work/$n.ack"
  PGOPTIONS="-c client_min_messages=warning" command psql -X -q -v ON_ERROR_STOP=1 -h "$2" -p "$3" -d "$db" \
    < "$work/$n.in" >> "$work/$n.log" 2>&1 &
  S_PID[$n]=$!
  exec {fd}> "$work/$n.in"
  exec {afd}<> "$work/$n.ack"
  S_FD[$n]=$fd S_ACK[$n]=$afd
}
session_do() {
  local n=$1 line
  printf '%s\n\\! echo done > %s\n' "$2" "$work/$n.ack" >&"${S_FD[$n]}" 2>/dev/null || true
  until read -r -t 5 -u "${S_ACK[$n]}" line; do
    kill -0 "${S_PID[$n]}" 2>/dev/null && continue
    echo "bench: the $n session failed:" >&2; tail -25 "$work/$n.log" >&2; exit 1
  done
  grep '^bench: ' "$work/$n.log" | tail -1 | sed 's/^/  /' || true
  : > "$work/$n.log"
}
session_close() {
  local n=$1
  local fd=${S_FD[$n]} afd=${S_ACK[$n]}
  printf '\\q\n' >&"$fd" 2>/dev/null || true
  exec {fd}>&- {afd}<&-
  wait "${S_PID[$n]}" 2>/dev/null || true
  unset "S_FD[$n]" "S_ACK[$n]" "S_PID[$n]"
}
open_sessions() {
  session_open cur "$cur_host" "$cur_port"
  [ "$v11" = 1 ] && session_open 1.1 "$v11_host" "$v11_port"
  return 0
}
close_sessions() { local n; for n in "${!S_FD[@]}"; do session_close "$n"; done; }

# --- how a run is written ---------------------------------------------------
# timed PATH ROUND CLUSTER CONTENDER SQL: SQL sets :changed; the time from
# before SQL to after it goes into bench.results (of that cluster: merged at
# the end).  Every timed run is preceded by a CHECKPOINT.
# Besides the wall time, the CPU time of the session's backend (utime +
# stime of /proc/self/stat, in clock ticks): on a shared machine it leaves
# out the time spent waiting for a core.  It does not count other processes
# (an asynchronous job's worker, parallel workers, the WAL writer).
cpu="(SELECT split_part(s, ' ', 14)::bigint + split_part(s, ' ', 15)::bigint FROM pg_read_file('/proc/self/stat') AS s)"
tick_ms=$(awk -v t="$(getconf CLK_TCK)" 'BEGIN { print 1000 / t }')
timed() {
  echo "CHECKPOINT;"
  echo "SELECT clock_timestamp() AS t0, $cpu AS c0 \\gset"
  echo "$5"
  echo "SELECT round(extract(epoch FROM clock_timestamp() - :'t0'::timestamptz)::numeric * 1000, 1) AS ms,"
  echo "       ($cpu - :c0) * $tick_ms AS cpu_ms \\gset"
  echo "INSERT INTO bench.results VALUES ('$1', $2, '$3', '$4', :ms, :cpu_ms, :changed);"
  echo "\\echo bench: $1 round $2 $3 $4: :ms ms, :cpu_ms ms CPU, :changed changed"
}
# settle: after every run and its reset (untimed), VACUUM (ANALYZE) of every
# table a run writes, the engine's and the floors' alike, so that the next
# run is not timed together with autovacuum catching up on 100,000 or
# 1,000,000 new rows of one of them (2 cores: it takes one).  Not the
# floors' scratch tables (ship_stage, csv_stage, csv_resolved): emptied and
# filled again by every run, they stand for the temporary table a DBA would
# COPY into, which has no statistics (autovacuum never sees a temporary
# table); statistics of the very file about to be loaded would be a gift no
# real COPY gets.
settle() {
  echo "VACUUM (ANALYZE) bulkorder.orders, bulkorder.bulk_job_items, bulkorder.bulk_jobs,
        bulkorder.notifications, bulkorder.payment_requests, bulkorder.mail_outbox,
        bulkorder.uploads, bulkorder.upload_lines, bulkorder.upload_shipments,
        bench.floor_cancel, bench.floor_tags, bench.floor_import, bench.history_a, bench.history_b;"
}
# order R C1 C2 …: the contenders of round R, rotated by R
order() {
  local r=$1; shift
  local a=("$@") n=$# i
  for ((i = 0; i < n; i++)); do printf '%s ' "${a[$(((i + r) % n))]}"; done
}
# the contenders of a path: CLUSTER:NAME for each engine and floor, on both
# clusters when 1.1 runs, then the current cluster's extra ones
contenders() {
  local c
  for c in "$@"; do
    case $c in
      +*) echo "cur:${c#+}" ;;
      *) echo "cur:$c"; if [ "$v11" = 1 ]; then echo "1.1:$c"; fi ;;
    esac
  done
}
keys="(SELECT keys FROM bench.keys)::bigint[]"

# --- cancel ---------------------------------------------------------------------
bench_cancel() {
  local r c cl name job sql
  echo "bench: cancel of $nkeys scattered keys, $rounds rounds (+1 warm-up)"
  open_sessions
  for r in $(seq 0 "$rounds"); do
    # the older baselines too on both clusters: their rows then go through
    # the same changes, round after round
    for c in $(order "$r" $(contenders engine floor nolock loop)); do
      cl=${c%%:*} name=${c#*:} job=$((r * 10 + 1))
      case $name in
        engine) sql="SELECT bulkorder.bulk_cancel((SELECT keys FROM bench.keys), false) AS job \\gset
SELECT success_count AS changed FROM bulkorder.bulk_jobs WHERE job_id = :job \\gset" ;;
        floor) sql="$(fsql "$cl" cancel "$keys" "$job")
SELECT count(*) AS changed FROM bench.floor_cancel WHERE job_id = $job \\gset" ;;
        nolock) sql="$(fsql "$cl" cancel_nolock "$keys" "$job")
SELECT count(*) AS changed FROM bench.history_a WHERE job_id = $job \\gset" ;;
        loop) sql="SELECT bench.cancel_b((SELECT keys FROM bench.keys), $job) AS changed \\gset" ;;
      esac
      session_do "$cl" "$(timed cancel "$r" "$cl" "$name" "$sql")
UPDATE bulkorder.orders SET status = 'awaiting_shipment'
WHERE order_no IN (SELECT unnest(keys) FROM bench.keys) AND status = 'cancelled';
$(settle)"
    done
  done
  close_sessions
}

# --- tags, synchronous and asynchronous ---------------------------------------------
# Nothing is put back: every run adds its own tag (named by round and
# contender, the same on both clusters, which so change the same rows alike).
bench_tags() {
  local r c cl name k sql
  echo "bench: tags job of $ntags targets, $big_rounds rounds (+1 warm-up of 10,000)"
  open_sessions
  for r in $(seq 0 "$big_rounds"); do
    if [ "$r" -eq 0 ]; then k="(SELECT keys[1:10000] FROM bench.tag_keys)"; else k="(SELECT keys FROM bench.tag_keys)"; fi
    for c in $(order "$r" $(contenders sync async floor)); do
      cl=${c%%:*} name=${c#*:}
      case $name in
        sync) sql="SELECT bulkorder.run_bulk('orders', 'tags', $k, '{\"add\": [\"r${r}$name\"]}') AS job \\gset
SELECT success_count AS changed FROM bulkorder.bulk_jobs WHERE job_id = :job \\gset" ;;
        async) sql="SELECT bulkorder.run_bulk('orders', 'tags', $k, '{\"add\": [\"r${r}$name\"]}', '{\"async\": true}') AS job \\gset
SELECT bench.wait_job(:job) AS changed \\gset" ;;
        floor) sql="$(fsql "$cl" tags "$k::bigint[]" "$r" "'r${r}$name'::text")
SELECT count(*) AS changed FROM bench.floor_tags WHERE job_id = $r \\gset" ;;
      esac
      session_do "$cl" "$(timed tags "$r" "$cl" "$name" "$sql")
$(settle)"
    done
  done
  close_sessions
}

# --- import_shipments -------------------------------------------------------
bench_import() {
  local r c cl name sql
  echo "bench: import_shipments of $nkeys lines, $rounds rounds (+1 warm-up)"
  open_sessions
  for r in $(seq 0 "$rounds"); do
    for c in $(order "$r" $(contenders engine floor)); do
      cl=${c%%:*} name=${c#*:}
      case $name in
        engine) sql="SELECT bulkorder.import_shipments(pg_read_binary_file('$work/import.csv'),
                                  '{\"encoding\": \"UTF8\"}') AS job \\gset
SELECT success_count AS changed FROM bulkorder.bulk_jobs WHERE job_id = :job \\gset" ;;
        floor) sql="$(fsql "$cl" import "" "$r" "" "'$work/import.csv'")
SELECT count(*) AS changed FROM bench.floor_import WHERE job_id = $r \\gset" ;;
      esac
      session_do "$cl" "$(timed import "$r" "$cl" "$name" "$sql")
UPDATE bulkorder.orders o SET status = g.status, ship_report_status = g.ship_report_status,
       tracking_no = g.tracking_no, ship_mail_sent = g.ship_mail_sent
FROM bench.import_orig g
WHERE o.order_no = g.order_no AND o.status IS DISTINCT FROM g.status;
$(settle)"
    done
  done
  close_sessions
}

# --- upload_csv ---------------------------------------------------------------
bench_upload() {
  local r c cl name sql file
  echo "bench: upload_csv of $nlines lines, $upload_rounds rounds (+1 warm-up of $nlines_small)"
  open_sessions
  for r in $(seq 0 "$upload_rounds"); do
    if [ "$r" -eq 0 ]; then file=$work/upload_small.csv; else file=$work/upload.csv; fi
    for c in $(order "$r" $(contenders engine floor)); do
      cl=${c%%:*} name=${c#*:}
      case $name in
        engine) sql="SELECT bulkorder.upload_csv('orders', pg_read_binary_file('$file'),
                                   '{\"encoding\": \"UTF8\"}') AS upload \\gset
SELECT key_count AS changed FROM bulkorder.uploads WHERE upload_id = :upload \\gset" ;;
        floor) sql="$(fsql "$cl" upload "" 0 "" "'$file'")
SELECT count(*) FILTER (WHERE found) AS changed FROM bench.csv_resolved \\gset" ;;
      esac
      session_do "$cl" "$(timed upload "$r" "$cl" "$name" "$sql")
$(settle)"
    done
  done
  close_sessions

  # Memory: one upload of each size in a fresh backend of the current
  # cluster, its RssAnon sampled every 10 ms from /proc while the call runs.
  local lines pidfile=$work/pid res=$work/res peak base pid kb job
  for name in upload_small upload; do
    rm -f "$pidfile"
    psql -At > "$res" <<SQL &
SELECT pg_backend_pid() \\g $pidfile
SELECT pg_sleep(0.3);
SELECT extract(epoch FROM clock_timestamp()) AS t0 \\gset
SELECT bulkorder.upload_csv('orders', pg_read_binary_file('$work/$name.csv'), '{"encoding": "UTF8"}') IS NOT NULL AS ok \\gset
SELECT round((extract(epoch FROM clock_timestamp()) - :t0)::numeric, 2);
SQL
    job=$!
    while [ ! -s "$pidfile" ]; do sleep 0.01; done
    pid=$(tr -dc '0-9' < "$pidfile")
    base=$(awk '/^RssAnon/ {print $2}' "/proc/$pid/status")
    peak=$base
    while kill -0 "$job" 2>/dev/null; do
      kb=$(awk '/^RssAnon/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
      [ -n "$kb" ] && [ "$kb" -gt "$peak" ] && peak=$kb
      sleep 0.01
    done
    wait "$job"
    lines=$(wc -l < "$work/$name.csv")
    psql -c "INSERT INTO bench.memory VALUES ('upload_csv', $lines, $(stat -c %s "$work/$name.csv"), $base, $peak, $(tail -1 "$res"))"
  done
}

# --- preview_bulk -------------------------------------------------------------
bench_preview() {
  local r c cl name sql
  echo "bench: preview_bulk of $nkeys targets, $rounds rounds (+1 warm-up)"
  open_sessions
  for r in $(seq 0 "$rounds"); do
    for c in $(order "$r" $(contenders engine floor)); do
      cl=${c%%:*} name=${c#*:}
      case $name in
        engine) sql="SELECT count(*) FILTER (WHERE ok) AS changed
FROM bulkorder.preview_bulk('orders', 'cancel', (SELECT keys FROM bench.keys), '{\"void_payment\": false}') \\gset" ;;
        floor) sql="$(fsql "$cl" preview "$keys" 0 | sed '$ s/;$/ \\gset/; s/^SELECT count(\*) FILTER (WHERE ok) FROM/SELECT count(*) FILTER (WHERE ok) AS changed FROM/')" ;;
      esac
      session_do "$cl" "$(timed preview "$r" "$cl" "$name" "$sql")"
    done
  done
  close_sessions
}

# --- revert ---------------------------------------------------------------------
# job: bulk_cancel of the :nkeys keys with a void request where the method
# has a gateway; revert: revert_job of that job (every order back, every
# request withdrawn).  Both commit, as an undo comes after its job.  The
# revert puts the orders back, so the next round starts from the same
# orders; the jobs, items and withdrawn requests pile up.  Every round must
# change, revert and withdraw alike.  The clusters take turns.
bench_revert() {
  local r cl
  echo "bench: revert of a $nkeys-target cancel, $rounds rounds (+1 warm-up)"
  open_sessions
  for r in $(seq 0 "$rounds"); do
    for cl in $(order "$r" $(contenders x | cut -d: -f1)); do
      session_do "$cl" "$(timed revert "$r" "$cl" job "SELECT bulkorder.bulk_cancel((SELECT keys FROM bench.keys), true) AS job \\gset
SELECT success_count AS changed FROM bulkorder.bulk_jobs WHERE job_id = :job \\gset")
$(settle)"
      session_do "$cl" "$(timed revert "$r" "$cl" revert "SELECT bulkorder.revert_job(:job) AS rev \\gset
SELECT success_count AS changed FROM bulkorder.bulk_jobs WHERE job_id = :rev \\gset")
SELECT count(*) AS unwithdrawn FROM bulkorder.payment_requests WHERE job_id = :job AND status <> 'withdrawn' \\gset
SELECT :unwithdrawn <> 0 AS bad \\gset
\\if :bad
\\echo 'bench: revert round $r left requests of job' :job 'not withdrawn'
SELECT 1/0;
\\endif
$(settle)"
    done
  done
  close_sessions
}

durations=""
for p in $paths; do
  t0=$(date +%s)
  case $p in
    cancel|tags|import|upload|preview|revert) "bench_$p" ;;
    *) echo "bench: unknown path $p" >&2; exit 2 ;;
  esac
  durations="$durations $p $(( $(date +%s) - t0 )) s (load $(cut -d' ' -f1 /proc/loadavg)),"
done

# --- where the time goes: one chunk of each engine path ------------------------------
explain=$out/explain.txt
prewarm
psql -f - > "$explain" 2>&1 <<SQL || true
\\set ON_ERROR_STOP on
SET pg_stat_statements.track = 'all';
SELECT pg_stat_statements_reset() IS NULL AS reset \\gset
\\echo '==== one chunk of each engine path: the statements it runs (auto_explain, nested statements of 1 ms or more)'
LOAD 'auto_explain';
SET auto_explain.log_min_duration = 1;
SET auto_explain.log_analyze = on;
SET auto_explain.log_buffers = on;
SET auto_explain.log_verbose = on;
SET auto_explain.log_triggers = on;
SET auto_explain.log_nested_statements = on;
SET auto_explain.log_level = notice;
SET client_min_messages = notice;
\\echo '==== cancel'
BEGIN;
SELECT bulkorder.bulk_cancel((SELECT keys[1:current_setting('bulkorder.chunk_size')::integer] FROM bench.keys), false) IS NOT NULL AS ran;
ROLLBACK;
\\echo '==== tags'
BEGIN;
SELECT bulkorder.run_bulk('orders', 'tags', (SELECT keys[1:current_setting('bulkorder.chunk_size')::integer] FROM bench.tag_keys), '{"add": ["profile"]}') IS NOT NULL AS ran;
ROLLBACK;
\\echo '==== import_shipments'
BEGIN;
SELECT bulkorder.import_shipments(pg_read_binary_file('$work/import.csv'), '{"encoding": "UTF8"}') IS NOT NULL AS ran;
ROLLBACK;
\\echo '==== preview'
SELECT count(*) FROM bulkorder.preview_bulk('orders', 'cancel', (SELECT keys[1:current_setting('bulkorder.chunk_size')::integer] FROM bench.keys), '{"void_payment": false}');
SET auto_explain.log_min_duration = -1;
\\echo '==== pg_stat_statements: the statements above, by total time'
SELECT calls, round(total_exec_time::numeric, 1) AS total_ms, rows, left(regexp_replace(query, '\\s+', ' ', 'g'), 160) AS query
FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 25;
SQL
echo "bench: EXPLAIN of one chunk per path: $explain"

# --- the table ---------------------------------------------------------------------
# 1.1's results join the current cluster's
if [ "$v11" = 1 ]; then
  psql11 -c "COPY bench.results TO STDOUT" | psql -c "COPY bench.results FROM STDIN"
fi
load_end=$(cut -d' ' -f1-3 /proc/loadavg)
elapsed=$(( $(date +%s) - started ))
report=$out/summary.txt
pgsettings=$(psql -At -F' ' -c "SELECT string_agg(name || '=' || setting || coalesce(unit, ''), ', ' ORDER BY name)
  FROM pg_settings WHERE name IN ('shared_buffers', 'jit', 'fsync', 'synchronous_commit', 'full_page_writes',
                                  'work_mem', 'max_wal_size', 'bulkorder.chunk_size')")
commit=$(git -C "$top" rev-parse --short HEAD)$(git -C "$top" diff --quiet HEAD -- extension bench || echo '+changes')
psql -P footer=off -f - > "$report" <<SQL
\\echo 'bulkorder bench, $(date -u +%Y-%m-%dT%H:%MZ), $commit: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), $(awk '/MemTotal/ {printf "%.1f GB", $2/1048576}' /proc/meminfo) RAM'
\\echo 'PostgreSQL $(psql -At -c 'SHOW server_version'): $pgsettings'
\\echo 'load average at start: $load_start; at end: $load_end; $elapsed s in all (wall times on a shared machine: see bench/README.md)'
\\echo 'each path, and the load average when it ended:${durations%,}'
\\echo '$orders demo orders (loaded in $load_ms ms), $shop_note; 1.1 (engine of $v11_commit, its own cluster): $([ "$v11" = 1 ] && echo "same data: $same_data" || echo "not run (BENCH_V11=0)")'
\\echo 'runs commit, history piles up; counted rounds: $rounds of the 100,000-key paths, $big_rounds of the million-row tags jobs, $upload_rounds of the million-line upload, after a warm-up round'
\\echo 'ratio: of the medians; paired: the median of the ratios of the two contenders of each round (range in brackets); result: the paired ratio against the goal'
\\echo 'CPU paired: the same, of the CPU time of the session backend: leaves out waiting for a core; none for the async job, whose work is in its worker'
\\echo '1.1 ms, 1.1 / its floor: the engine of 1.1 on its own cluster; now / 1.1: the current engine against 1.1 (paired; issue 21 allows the shop column 1.05: judged on CPU where there is one)'
\\echo
WITH r AS (SELECT * FROM bench.results WHERE round > 0),
m AS (SELECT path, cluster, contender, percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS median, count(*) AS runs
      FROM r GROUP BY 1, 2, 3),
pairs (ord, path, what, engine, floor, goal, size, cpu, floor_sql) AS (VALUES
    (1, 'cancel', 'cancel: bulk_cancel, scattered keys', 'engine', 'floor', 1.10, $nkeys, true, 'floors/cancel.sql'),
    (2, 'tags', 'tags: run_bulk sync', 'sync', 'floor', 1.15, $ntags, true, 'floors/tags.sql'),
    (3, 'tags', 'tags: run_bulk async, submit to done', 'async', 'floor', 1.15, $ntags, false, 'floors/tags.sql'),
    (4, 'import', 'import_shipments, lines', 'engine', 'floor', 1.30, $nkeys, true, 'floors/import.sql'),
    (5, 'upload', 'upload_csv, lines', 'engine', 'floor', 1.50, $nlines, true, 'floors/upload.sql'),
    (6, 'preview', 'preview_bulk (cancel)', 'engine', 'floor', 1.10, $nkeys, true, 'floors/preview.sql'),
    (7, 'revert', 'revert_job of a cancel', 'revert', 'job', 1.30, $nkeys, true, 'the cancel job it reverts')),
-- x's rounds against y's: the median of the ratios of the same round
paired AS (
    SELECT x.path, x.cluster AS xc, x.contender AS xn, y.cluster AS yc, y.contender AS yn,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY x.ms / y.ms) AS median,
           min(x.ms / y.ms) AS lo, max(x.ms / y.ms) AS hi,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY x.cpu_ms / nullif(y.cpu_ms, 0)) AS cpu
    FROM r x JOIN r y ON y.path = x.path AND y.round = x.round
    GROUP BY 1, 2, 3, 4, 5)
SELECT p.what AS path, p.size,
       round(e.median::numeric) AS "engine ms", round(f.median::numeric) AS "floor ms",
       round((e.median / f.median)::numeric, 2) AS ratio,
       round(q.median::numeric, 2) || ' (' || round(q.lo::numeric, 2) || '–' || round(q.hi::numeric, 2) || ')' AS paired,
       CASE WHEN p.cpu THEN round(q.cpu::numeric, 2)::text ELSE '-' END AS "CPU paired",
       '≤ ' || p.goal AS goal,
       CASE WHEN q.median IS NULL THEN 'not measured' WHEN q.median <= p.goal THEN 'PASS' ELSE 'MISS' END AS result,
       round(e11.median::numeric) AS "1.1 ms",
       round(q11.median::numeric, 2) AS "1.1 / its floor",
       round(qv.median::numeric, 3) || ' (' || round(qv.lo::numeric, 2) || '–' || round(qv.hi::numeric, 2) || ')' AS "now / 1.1 paired",
       CASE WHEN p.cpu THEN round(qv.cpu::numeric, 3)::text ELSE '-' END AS "now / 1.1 CPU",
       CASE WHEN qv.median IS NULL THEN '-'
            WHEN coalesce(CASE WHEN p.cpu THEN qv.cpu END, qv.median) <= 1.05 THEN 'ok' ELSE 'over 1.05' END AS "≤ 1.05",
       p.floor_sql AS floor
FROM pairs p
LEFT JOIN m e ON e.path = p.path AND e.cluster = 'cur' AND e.contender = p.engine
LEFT JOIN m f ON f.path = p.path AND f.cluster = 'cur' AND f.contender = p.floor
LEFT JOIN m e11 ON e11.path = p.path AND e11.cluster = '1.1' AND e11.contender = p.engine
LEFT JOIN paired q ON q.path = p.path AND q.xc = 'cur' AND q.xn = p.engine AND q.yc = 'cur' AND q.yn = p.floor
LEFT JOIN paired q11 ON q11.path = p.path AND q11.xc = '1.1' AND q11.xn = p.engine AND q11.yc = '1.1' AND q11.yn = p.floor
LEFT JOIN paired qv ON qv.path = p.path AND qv.xc = 'cur' AND qv.xn = p.engine AND qv.yc = '1.1' AND qv.yn = p.engine
ORDER BY p.ord;
\\echo
\\echo 'the older baselines (current cluster): what they tell'
WITH r AS (SELECT * FROM bench.results WHERE round > 0 AND cluster = 'cur'),
pairs (ord, path, what, x, y) AS (VALUES
    (1, 'cancel', 'bulk_cancel vs one UPDATE without the key-order lock (floors/cancel_nolock.sql, the baseline before issue 25)', 'engine', 'nolock'),
    (2, 'cancel', 'bulk_cancel vs a PL/pgSQL row loop (lock, check, update, record)', 'engine', 'loop'),
    (3, 'cancel', 'the floor vs the same UPDATE without the key-order lock: what the lock costs the floor', 'floor', 'nolock'))
SELECT p.what, round(percentile_cont(0.5) WITHIN GROUP (ORDER BY x.ms / y.ms)::numeric, 2) AS "paired ratio",
       round(min(x.ms / y.ms)::numeric, 2) || '–' || round(max(x.ms / y.ms)::numeric, 2) AS range,
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY x.cpu_ms / nullif(y.cpu_ms, 0))::numeric, 2) AS "CPU paired"
FROM pairs p
JOIN r x ON x.path = p.path AND x.contender = p.x
JOIN r y ON y.path = p.path AND y.contender = p.y AND y.round = x.round
GROUP BY p.ord, p.what ORDER BY p.ord;
\\echo
\\echo 'every contender (ms over the counted rounds; rows changed per run)'
SELECT path, cluster, contender, round(median::numeric) AS median, best, worst, round(cpu::numeric) AS "CPU median", runs,
       CASE WHEN lo = hi THEN lo::text ELSE lo || '..' || hi END AS changed
FROM (SELECT path, cluster, contender, percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS median,
             min(ms) AS best, max(ms) AS worst, percentile_cont(0.5) WITHIN GROUP (ORDER BY cpu_ms) AS cpu,
             count(*) AS runs, min(changed) AS lo, max(changed) AS hi
      FROM bench.results WHERE round > 0 GROUP BY 1, 2, 3) m
ORDER BY path, cluster DESC, contender;
\\echo
\\echo 'upload_csv backend memory (RssAnon, private; current cluster): flat in the number of lines beyond the file bytes'
SELECT lines, round(file_bytes / 1048576.0, 1) AS "file MB", round(before_kb / 1024.0, 1) AS "before MB",
       round(peak_kb / 1024.0, 1) AS "peak MB", round((peak_kb - before_kb) / 1024.0, 1) AS "growth MB",
       round((peak_kb - before_kb) / 1024.0 - file_bytes / 1048576.0, 1) AS "growth beyond file MB", seconds
FROM bench.memory ORDER BY lines;
\\echo 'history rows at the end (current cluster): bulk_job_items ' `psql -At -c "SELECT count(*) FROM bulkorder.bulk_job_items"` ', bulk_jobs ' `psql -At -c "SELECT count(*) FROM bulkorder.bulk_jobs"` ', notifications ' `psql -At -c "SELECT count(*) FROM bulkorder.notifications"`
SQL
echo
cat "$report"
# Every contender of a path must have changed the same rows in every run.
bad=$(psql -At -c "SELECT string_agg(DISTINCT path || '/' || cluster || '/' || contender, ' ') FROM bench.results r
  WHERE round > 0 AND changed <> (SELECT max(changed) FROM bench.results x WHERE x.path = r.path AND x.round > 0)")
[ -z "$bad" ] || { echo "bench: runs that did not change the same rows: $bad" >&2; exit 1; }
