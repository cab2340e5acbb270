#!/usr/bin/env bash
# bench/profile.sh [PATH...]: where the engine's work goes against its floor,
# in instructions, which do not depend on the machine's load.
#
# For each path (tags, cancel, import, revert, upload; default the first three) every contender
# runs in a single-user backend (`postgres --single`) under
# `valgrind --tool=callgrind`, on a fresh copy of one data directory (the
# bench's demo orders, loaded once and kept until its inputs change): first
# a warm-up on other keys (caches loaded, the engine's plans prepared), then
# the measured statement on PROFILE_KEYS keys (default 10,000: one engine
# chunk).  Callgrind dumps its counters on entering pg_sleep, which brackets
# the measured statement, so a contender's count is that statement's alone
# (plus a few thousand instructions of the bracket itself).  The WAL it
# writes is counted by pg_waldump over the same bracket.
#
# Contenders (bench/floors/*.sql hold the floors' SQL):
#   tags    engine: run_bulk('orders', 'tags', keys, {"add": [tag]}), sync
#           floor:  floors/tags.sql      lock: floors/lock.sql alone
#   cancel  engine: bulk_cancel(keys, false) of scattered awaiting orders
#           floor:  floors/cancel.sql    nolock: floors/cancel_nolock.sql
#           ctid:   floors/cancel_ctid.sql (the floor's UPDATE taking the
#                   locked row by its ctid, as the engine does)
#           lock:   floors/lock.sql alone
#   import  engine: import_shipments of a file of those keys
#           floor:  floors/import.sql (COPY + one statement)
#   revert  engine: revert_job of a bulk_cancel(keys, true) job
#           floor:  that cancel job itself (the goal's yardstick)
#   upload  engine: upload_csv('orders', file) of PROFILE_UPLOAD_LINES lines
#           as bench/run.sh writes them (random keys, a few bad lines)
#           floor:  floors/upload.sql (COPY + the join resolving its keys)
#           Its warm-up is a file of a tenth as many lines.
# With PROFILE_V11=1 the engine of 1.1 (built from its commit) runs too, on
# a data directory of its own loaded the same way.
#
# Prints one table (instructions, ratios, WAL records and bytes) and, per
# path, the symbols where engine and floor differ most: self cost
# (callgrind_annotate) and the inclusive cost of a few telling functions.
# Files: bench/out/profile/ (scratch, ignored by git).
#
# Environment: PROFILE_ORDERS (1000000), PROFILE_KEYS (10000),
# PROFILE_UPLOAD_LINES (100000),
# PROFILE_TOP (15 symbols), PROFILE_V11 (0), PROFILE_CONTENDERS (all: e.g.
# "engine floor"), PROFILE_CACHE_SIM (0; 1: callgrind simulates the caches,
# about twice as slow, and fills the table's last-level cache misses).
# Needs valgrind.  Builds and installs this checkout into its private
# PostgreSQL tree (tools/pg.sh), never into the system's.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
. bench/lib.sh
orders=${PROFILE_ORDERS:-1000000}
nkeys=${PROFILE_KEYS:-10000}
nlines=${PROFILE_UPLOAD_LINES:-100000}
ntop=${PROFILE_TOP:-15}
v11=${PROFILE_V11:-0}
only=${PROFILE_CONTENDERS:-}
cache_sim=${PROFILE_CACHE_SIM:-0}
cache_arg=
[ "$cache_sim" = 1 ] && cache_arg=--cache-sim=yes
paths=${*:-tags cancel import}
case "$orders$nkeys$ntop$nlines" in
  *[!0-9]*) echo "profile: PROFILE_ORDERS, PROFILE_KEYS, PROFILE_UPLOAD_LINES and PROFILE_TOP must be whole numbers" >&2; exit 2 ;;
esac
command -v valgrind >/dev/null || { echo "profile: needs valgrind (apt-get install valgrind)" >&2; exit 2; }
out=$top/bench/out/profile
mkdir -p "$out"
[ "$(id -u)" -eq 0 ] && chown postgres:postgres "$out"
rm -f "$out"/*.cg* "$out"/*.txt

bash tools/pg.sh install profile
eval "$(bash tools/pg.sh env profile)"
root=$(dirname "$PGHOST")
cur_bin=$root/tree/usr/lib/postgresql/15/bin
unset PGHOST PGPORT

# template LABEL BIN DEMO: a data directory with the demo orders and the
# bench's schema, made with BIN (its tree's bulkorder) and demo data file
# DEMO; kept in $root/profile-LABEL until any input changes.  Prints it.
template() {
  local label=$1 bin=$2 demo=$3 dir=$root/profile-$1 key port
  key=$( { echo "$orders $nkeys"; echo "$import_csv_awk"; cat bench/setup.sql "$demo";
           cat "$bin"/../../../../share/postgresql/15/extension/bulkorder*; } | md5sum | cut -c1-16)
  if [ -f "$dir/key" ] && [ "$(cat "$dir/key")" = "$key" ]; then echo "$dir"; return; fi
  rm -rf "$dir"; mkdir -p "$dir"; chmod 755 "$dir"
  [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$dir"
  port=$((40000 + $(echo "$dir" | cksum | cut -d' ' -f1) % 10000))
  as_pg "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 --no-sync >/dev/null
  cat >> "$dir/data/postgresql.conf" <<CONF
port = $port
unix_socket_directories = '$dir'
listen_addresses = ''
fsync = off
synchronous_commit = off
full_page_writes = off
autovacuum = off
jit = off
shared_buffers = '1GB'
max_wal_size = '4GB'
log_min_messages = warning
CONF
  as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w start >/dev/null
  local P="psql -X -q -v ON_ERROR_STOP=1 -h $dir -p $port -U postgres"
  echo "profile: loading $orders demo orders into $dir ($label)" >&2
  $P -d postgres -c "CREATE DATABASE bench" >/dev/null
  $P -d bench -c "CREATE EXTENSION bulkorder" >/dev/null
  PGOPTIONS="-c client_min_messages=warning" $P -d bench -v orders="$orders" -v seed=42 -f "$demo" >/dev/null
  $P -d bench -c "VACUUM (FREEZE, ANALYZE)" >/dev/null
  PGOPTIONS="-c client_min_messages=warning" $P -d bench -v keys=$((2 * nkeys)) \
    -v tag_targets=$((2 * nkeys)) -f bench/setup.sql >/dev/null
  # the warm-up and the measured part each need PROFILE_KEYS awaiting orders
  local have
  have=$($P -d bench -At -c "SELECT n FROM bench.keys")
  if [ "$have" -lt $((2 * nkeys)) ]; then
    as_pg "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
    echo "profile: $orders demo orders hold $have awaiting shipment; PROFILE_KEYS=$nkeys needs $((2 * nkeys)) (at most $((have / 2)), or more PROFILE_ORDERS)" >&2
    exit 2
  fi
  # the import's files: the warm-up's keys and the measured keys, as
  # bench/run.sh writes them (header, CRLF, scattered order, tracking
  # numbers of eleven digits and their 7DR check digit, which 1.2 checks)
  local part lo hi
  for part in w m; do
    if [ $part = w ]; then lo=1 hi=$nkeys; else lo=$((nkeys + 1)) hi=$((2 * nkeys)); fi
    $P -d bench -At -c "SELECT k FROM unnest((SELECT keys[$lo:$hi] FROM bench.keys)) k" \
      | awk "$import_csv_awk" > "$dir/import_$part.csv"
  done
  $P -d bench -At -F' ' -c "SELECT min(order_no), max(order_no) FROM bulkorder.orders" > "$dir/order_range"
  $P -d bench -At -c "SELECT coalesce(shop_id::text, '') || '|' || coalesce(tables, '') FROM bench.shop" > "$dir/shop"
  $P -d bench -c "CHECKPOINT" >/dev/null
  as_pg "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
  echo "$key" > "$dir/key"
  echo "$dir"
}

# upload_files DIR: the upload's files for DIR's orders, as bench/run.sh
# writes them (bench/lib.sh, upload_csv_awk): DIR/upload_m.csv of nlines
# lines, measured, and DIR/upload_w.csv of a tenth as many, the warm-up
upload_files() {
  local kmin kmax
  read -r kmin kmax < "$1/order_range"
  awk -v lines=$((nlines / 10)) -v lo="$kmin" -v hi="$kmax" -v seed=7 "$upload_csv_awk" < /dev/null > "$1/upload_w.csv"
  awk -v lines="$nlines" -v lo="$kmin" -v hi="$kmax" -v seed=42 "$upload_csv_awk" < /dev/null > "$1/upload_m.csv"
}

# cg NAME DIR BIN WARM MEASURED [CHECK]: run WARM, then MEASURED bracketed by
# pg_sleep, then CHECK (a statement that fails unless MEASURED did all its
# work), in a single-user backend on a copy of DIR/data; writes
# $out/NAME.cg.2 (the measured part) and prints "instructions wal_records
# wal_bytes syscalls" (--collect-systime: the system calls it made, which
# callgrind does not count as instructions).
cg() {
  local name=$1 dir=$2 bin=$3 run=$2/run input=$out/$1.in start end
  rm -rf "$run"; cp -a "$dir/data" "$run"
  # -j: a statement ends at a semicolon followed by an empty line
  { printf '%s\n\n' "$4"
    printf 'SELECT pg_sleep(0), pg_current_wal_insert_lsn() AS lsn_start;\n\n'
    printf '%s\n\n' "$5"
    printf 'SELECT pg_sleep(0), pg_current_wal_insert_lsn() AS lsn_end;\n\n'
    [ -z "${6:-}" ] || printf '%s\n\n' "$6"
  } | sed -e '/^ *--/d' > "$input"
  as_pg valgrind --tool=callgrind --dump-before=pg_sleep --collect-systime=yes $cache_arg --callgrind-out-file="$out/$name.cg" \
    "$bin/postgres" --single -D "$run" -c shared_preload_libraries= -c jit=off -c wal_keep_size=4GB -j bench \
    < "$input" > "$out/$name.out" 2> "$out/$name.err" || true
  if grep -q 'ERROR:' "$out/$name.out" "$out/$name.err"; then
    echo "profile: $name failed:" >&2; grep -h -A3 'ERROR:' "$out/$name.out" "$out/$name.err" >&2; exit 1
  fi
  start=$(sed -n 's/.*lsn_start = "\([0-9A-F/]*\)".*/\1/p' "$out/$name.out")
  end=$(sed -n 's/.*lsn_end = "\([0-9A-F/]*\)".*/\1/p' "$out/$name.out")
  "$bin/pg_waldump" -p "$run/pg_wal" -s "$start" -e "$end" --stats=record > "$out/$name.wal" 2> "$out/$name.wal.err" || true
  rm -rf "$run"
  local ir records bytes sys ll
  # the counters by name ("events:" names the columns of "summary:"), read
  # in one pass and printed as written (awk's arithmetic would round them
  # to six digits): instructions, system calls, and with PROFILE_CACHE_SIM=1
  # the last-level cache misses (instructions and data, read and written),
  # the memory traffic instructions hide
  read -r ir sys ll < <(awk -v sim="$cache_sim" '
    /^events:/ { for (i = 2; i <= NF; i++) col[$i] = i }
    /^(summary|totals):/ { printf "%s %s %s\n", $(col["Ir"]), col["sysCount"] ? $(col["sysCount"]) : 0,
                             sim == 1 ? sprintf("%.0f", $(col["ILmr"]) + $(col["DLmr"]) + $(col["DLmw"])) : "-"; exit }' \
    "$out/$name.cg.2")
  records=$(awk '$1 == "Total" { print $2; exit }' "$out/$name.wal")
  bytes=$(( (16#${end%/*} * 4294967296 + 16#${end#*/}) - (16#${start%/*} * 4294967296 + 16#${start#*/}) ))
  echo "$ir ${records:-?} $bytes $sys $ll"
}

# c(n): n with thousands separators (mawk has no %'d)
C='function c(n,   s, r, m) { s = sprintf("%.0f", n); m = (s ~ /^-/); if (m) s = substr(s, 2); r = "";
  while (length(s) > 3) { r = "," substr(s, length(s) - 2) r; s = substr(s, 1, length(s) - 3) }
  return (m ? "-" : "") s r }'

# symbols NAME [INCLUSIVE] [EVENT]: "count symbol" per function of NAME's
# measured part: self cost (or inclusive), in instructions (or EVENT)
symbols() {
  callgrind_annotate --inclusive="${2:-no}" --show="${3:-Ir}" --sort="${3:-Ir}" --threshold=100 --auto=no \
    "$out/$1.cg.2" 2>/dev/null |
    awk '/PROGRAM TOTALS/ { t = $1; gsub(",", "", t); next }
         /^ *[0-9,]+ .*:/ { n = $1; gsub(",", "", n); if (n == t) next; s = $0; sub(/^ *[0-9,]+ +\([ 0-9.]+%\) +/, "", s);
                            sub(/ \[.*\]$/, "", s); sub(/^.*:/, "", s); print n, s }'
}

cur=$(template cur "$cur_bin" tools/demo-data.sql)
if [ "$v11" = 1 ]; then
  v11_bin=$(v11_tree "$root/v11")
  v11_demo_data "$out/demo-data-1.1.sql"
  old=$(template v11 "$v11_bin" "$out/demo-data-1.1.sql")
fi

# the floors run on the current build's data: confined to its shop when its
# tables have a shop column (bench/lib.sh, floor_sql)
shop=$(cat "$cur/shop")
export FLOOR_SHOP_ID=${shop%%|*} FLOOR_SHOP_TABLES=${shop#*|}
W="keys[1:$nkeys]" M="keys[$((nkeys + 1)):$((2 * nkeys))]"
results=$out/results.txt
: > "$results"
# An engine contender must have changed every key the floor changes: a job
# with other failed items (a refused tracking number, say) would count less
# work.  The one refusal the floors share is the import's shipping hold.
all_done="SELECT 1 / (j.success_count + j.failure_count = $nkeys AND NOT EXISTS
                 (SELECT FROM bulkorder.bulk_job_items i WHERE i.job_id = j.job_id AND NOT i.ok
                  AND i.error_code <> 'shipping_hold'))::int AS every_key_changed
          FROM bulkorder.bulk_jobs j ORDER BY j.job_id DESC LIMIT 1;"
measure() {  # measure PATH CONTENDER DIR BIN WARM MEASURED [CHECK]
  local r check=${7:-}
  case " $only " in "  "|*" $2 "*) ;; *) return 0 ;; esac
  case $1:$2 in upload:*) ;; *:engine*) check=$all_done ;; esac
  echo "profile: $1 $2" >&2
  r=$(cg "$1.$2" "$3" "$4" "$5" "$6" "$check")
  echo "$1 $2 $r" >> "$results"
}
for p in $paths; do
  case $p in
    tags)
      kw="(SELECT $W FROM bench.tag_keys)::bigint[]" km="(SELECT $M FROM bench.tag_keys)::bigint[]"
      eng() { echo "SELECT bulkorder.run_bulk('orders', 'tags', $1, '{\"add\": [\"$2\"]}') IS NOT NULL;"; }
      measure tags engine "$cur" "$cur_bin" "$(eng "$kw" warm)" "$(eng "$km" measured)"
      [ "$v11" = 1 ] && measure tags engine_1.1 "$old" "$v11_bin" "$(eng "$kw" warm)" "$(eng "$km" measured)"
      measure tags floor "$cur" "$cur_bin" "$(floor_sql tags "$kw" 1 "'warm'::text")" \
        "$(floor_sql tags "$km" 2 "'measured'::text")"
      measure tags lock "$cur" "$cur_bin" "$(floor_sql lock "$kw" 1)" "$(floor_sql lock "$km" 2)" ;;
    cancel)
      kw="(SELECT $W FROM bench.keys)::bigint[]" km="(SELECT $M FROM bench.keys)::bigint[]"
      eng() { echo "SELECT bulkorder.bulk_cancel($1, false) IS NOT NULL;"; }
      measure cancel engine "$cur" "$cur_bin" "$(eng "$kw")" "$(eng "$km")"
      [ "$v11" = 1 ] && measure cancel engine_1.1 "$old" "$v11_bin" "$(eng "$kw")" "$(eng "$km")"
      measure cancel floor "$cur" "$cur_bin" "$(floor_sql cancel "$kw" 1)" "$(floor_sql cancel "$km" 2)"
      measure cancel nolock "$cur" "$cur_bin" "$(floor_sql cancel_nolock "$kw" 1)" "$(floor_sql cancel_nolock "$km" 2)"
      measure cancel ctid "$cur" "$cur_bin" "$(floor_sql cancel_ctid "$kw" 1)" "$(floor_sql cancel_ctid "$km" 2)"
      measure cancel lock "$cur" "$cur_bin" "$(floor_sql lock "$kw" 1)" "$(floor_sql lock "$km" 2)" ;;
    revert)
      # engine: revert_job of a cancel (with its void requests) of the
      # measured keys; its "floor" is the goal's yardstick, that cancel job
      # itself (issue 25: a revert within 1.3x the job it reverts).  Both
      # warm up on a cancel and its revert of other keys.
      kw="(SELECT $W FROM bench.keys)::bigint[]" km="(SELECT $M FROM bench.keys)::bigint[]"
      job() { echo "SELECT bulkorder.bulk_cancel($1, true) IS NOT NULL;"; }
      last="(SELECT max(job_id) FROM bulkorder.bulk_jobs)"
      warm="$(job "$kw")

SELECT bulkorder.revert_job($last) IS NOT NULL;"
      measure revert engine "$cur" "$cur_bin" "$warm

$(job "$km")" "SELECT bulkorder.revert_job($last) IS NOT NULL;"
      measure revert floor "$cur" "$cur_bin" "$warm" "$(job "$km")" "$all_done" ;;
    import)
      eng() { echo "SELECT bulkorder.import_shipments(pg_read_binary_file('$1'), '{\"encoding\": \"UTF8\"}') IS NOT NULL;"; }
      measure import engine "$cur" "$cur_bin" "$(eng "$cur/import_w.csv")" "$(eng "$cur/import_m.csv")"
      [ "$v11" = 1 ] && measure import engine_1.1 "$old" "$v11_bin" "$(eng "$old/import_w.csv")" "$(eng "$old/import_m.csv")"
      measure import floor "$cur" "$cur_bin" "$(floor_sql import "" 1 "" "'$cur/import_w.csv'")" \
        "$(floor_sql import "" 2 "" "'$cur/import_m.csv'")" ;;
    upload)
      upload_files "$cur"
      [ "$v11" = 1 ] && upload_files "$old"
      # the engine's check: the measured file's upload resolved keys
      eng() { echo "SELECT bulkorder.upload_csv('orders', pg_read_binary_file('$1'), '{\"encoding\": \"UTF8\"}') IS NOT NULL;"; }
      uploaded="SELECT 1 / (key_count > 0)::int AS keys_resolved FROM bulkorder.uploads ORDER BY upload_id DESC LIMIT 1;"
      measure upload engine "$cur" "$cur_bin" "$(eng "$cur/upload_w.csv")" "$(eng "$cur/upload_m.csv")" "$uploaded"
      [ "$v11" = 1 ] && measure upload engine_1.1 "$old" "$v11_bin" "$(eng "$old/upload_w.csv")" "$(eng "$old/upload_m.csv")" "$uploaded"
      measure upload floor "$cur" "$cur_bin" "$(floor_sql upload "" 0 "" "'$cur/upload_w.csv'")" \
        "$(floor_sql upload "" 0 "" "'$cur/upload_m.csv'")" ;;
    *) echo "profile: unknown path $p (tags, cancel, import, revert, upload)" >&2; exit 2 ;;
  esac
done

# --- the report --------------------------------------------------------------
report=$out/profile.txt
{
  echo "bench/profile.sh, $(date -u +%Y-%m-%dT%H:%MZ), $(git -C "$top" rev-parse --short HEAD)$(git -C "$top" diff --quiet HEAD -- extension || echo '+changes'):" \
       "$orders demo orders, $nkeys keys measured after a warm-up on $nkeys others;" \
       "PostgreSQL $("$cur_bin/postgres" --version | awk '{print $3}'), single-user backend under callgrind;" \
       "load average $(cut -d' ' -f1-3 /proc/loadavg) (instruction counts do not depend on it)"
  echo
  printf '%-7s %-11s %16s %10s %10s %12s %14s %10s %14s\n' path contender instructions "/ floor" "per key" "WAL records" "WAL bytes" syscalls "LL misses"
  awk -v k="$nkeys" -v l="$nlines" "$C"'{ ir[$1 " " $2] = $3; line[NR] = $0 }
    END { for (i = 1; i <= NR; i++) { split(line[i], f, " "); fl = ir[f[1] " floor"]; n = f[1] == "upload" ? l : k;
            printf "%-7s %-11s %16s %10s %10s %12s %14s %10s %14s\n", f[1], f[2], c(f[3]),
                   fl ? sprintf("%.3f", f[3] / fl) : "-", c(f[3] / n), f[4], c(f[5]), c(f[6]),
                   f[7] == "-" ? "-" : c(f[7]) } }' "$results"
  case " $paths " in *" upload "*) echo "(the upload's \"per key\" is per line of its file: $nlines lines)" ;; esac
  for p in $paths; do
    [ -f "$out/$p.engine.cg.2" ] && [ -f "$out/$p.floor.cg.2" ] || continue
    echo
    echo "== $p: self cost by symbol, engine vs floor (top $ntop by difference)"
    symbols "$p.engine" > "$out/$p.engine.sym"
    symbols "$p.floor" > "$out/$p.floor.sym"
    awk -v n="$ntop" "$C"'FNR == NR { f[$2] += $1; next } { e[$2] += $1 }
      END { for (s in e) d[s] = e[s] - f[s]; for (s in f) if (!(s in e)) d[s] = -f[s];
            printf "%16s %16s %16s  %s\n", "engine", "floor", "difference", "symbol";
            for (i = 0; i < n; i++) { best = ""; for (s in d) if (best == "" || d[s] > d[best]) best = s;
              if (best == "") break;
              printf "%16s %16s %16s  %s\n", c(e[best]), c(f[best]), c(d[best]), best; delete d[best] } }' \
      "$out/$p.floor.sym" "$out/$p.engine.sym"
    echo "-- inclusive cost of telling functions (instructions; 0: not called)"
    symbols "$p.engine" yes > "$out/$p.engine.inc"
    symbols "$p.floor" yes > "$out/$p.floor.inc"
    printf '%16s %16s  %s\n' engine floor function
    for fn in SPI_execute_plan standard_planner heap_lock_tuple heap_update heap_fetch \
              heap_insert ExecInsertIndexTuples fmgr_sql AtEOXact_GUC ExecInitNode SearchCatCache1 pg_qsort \
              AfterTriggerEndQuery jsonb_build_object CopyFrom XLogInsert; do
      awk -v fn="$fn" "$C"'FNR == NR { if ($2 == fn && !f) f = $1; next } { if ($2 == fn && !e) e = $1 }
        END { printf "%16s %16s  %s\n", c(e), c(f), fn }' "$out/$p.floor.inc" "$out/$p.engine.inc"
    done
    echo "-- system calls (inclusive count): the relation size (lseek), WAL and data file writes and reads"
    symbols "$p.engine" yes sysCount > "$out/$p.engine.sys"
    symbols "$p.floor" yes sysCount > "$out/$p.floor.sys"
    printf '%16s %16s  %s\n' engine floor function
    for fn in smgrnblocks heap_rescan XLogWrite FileWrite FileRead; do
      awk -v fn="$fn" "$C"'FNR == NR { if ($2 == fn && !f) f = $1; next } { if ($2 == fn && !e) e = $1 }
        END { printf "%16s %16s  %s\n", c(e), c(f), fn }' "$out/$p.floor.sys" "$out/$p.engine.sys"
    done
    echo "-- WAL records by type (pg_waldump --stats=record)"
    printf '%16s %16s  %s\n' engine floor "record type"
    awk '/^[A-Za-z]/ && $2 ~ /^[0-9]+$/ && $1 != "Total" { if (FNR == NR) f[$1] = $2; else e[$1] = $2; t[$1] = 1 }
         END { for (k in t) printf "%16d %16d  %s\n", e[k], f[k], k }' "$out/$p.floor.wal" "$out/$p.engine.wal" | sort -k3
  done
} > "$report"
cat "$report"
