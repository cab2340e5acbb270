#!/usr/bin/env bash
# `make bench`: every path of the engine against the set-based SQL a DBA
# would write for the same change, measured in the same run, on the same
# cluster and data (1,000,000 demo orders), and one table of ratios at the
# end.  Runs COMMIT, as in a shop's life: bulk_job_items, bulk_jobs,
# notifications, the outboxes and each baseline's own history table grow
# across rounds; what a run changed on the shop's rows is put back between
# runs by an untimed UPDATE, then VACUUM (ANALYZE) of every table a run
# writes and CHECKPOINT, before whichever
# contender comes next.  The contenders take turns (the order rotates every
# round), so load on the machine falls on both alike; the figures are
# medians of the counted rounds, after a warm-up round that is not counted.
# Each pair gets two ratios: of the two contenders' medians, and the median
# of the rounds' own ratios (the two contenders of one round paired: every
# round is slower than the one before as history piles up, and pairing
# cancels that drift).
#
# Paths (engine vs baseline):
#   cancel   bulk_cancel of 100,000 scattered keys vs one UPDATE … = ANY
#            with its jsonb history rows in the same statement; and the
#            PL/pgSQL row loop (the old way) for comparison
#   tags     a 1,000,000-target tags job, synchronous and asynchronous, vs
#            one UPDATE … SET tags = merge_tags(…) of the same rows, locked
#            in key order FOR NO KEY UPDATE, history rows in the statement
#   import   import_shipments of 100,000 lines vs COPY into a staging table
#            plus the set-based statement making the same changes (status,
#            ship_report request, ship_complete mail, history)
#   upload   upload_csv of 1,000,000 lines vs COPY of the same file into a
#            table plus the join that resolves the keys; and the backend's
#            peak private memory at 100,000 vs 1,000,000 lines
#   preview  preview_bulk of 100,000 targets vs the same check as a SELECT
#   revert   a 100,000-target revert_job vs the cancel job it reverts
# Then a profile of one chunk of each engine path: EXPLAIN ANALYZE of the
# statements it runs (auto_explain) and pg_stat_statements, to
# bench/results/profile.txt.
#
# Environment: BENCH_ORDERS (1000000 demo orders), BENCH_SCALE (1: scales
# every path's size, e.g. 0.1 for a quick look), BENCH_ROUNDS (9 counted
# rounds of the 100,000-key paths), BENCH_BIG_ROUNDS (3 counted rounds of
# the million-line paths), BENCH_PATHS (all: a space-separated subset of
# cancel tags import upload preview revert).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
orders=${BENCH_ORDERS:-1000000}
scale=${BENCH_SCALE:-1}
rounds=${BENCH_ROUNDS:-9}
big_rounds=${BENCH_BIG_ROUNDS:-3}
paths=${BENCH_PATHS:-cancel tags import upload preview revert}
case "$orders$rounds$big_rounds" in
  *[!0-9]*) echo "bench: BENCH_ORDERS, BENCH_ROUNDS and BENCH_BIG_ROUNDS must be whole numbers" >&2; exit 2 ;;
esac
sized() { awk -v n="$1" -v s="$scale" -v max="${2:-0}" 'BEGIN { v = int(n * s); if (v < 1) v = 1; if (max > 0 && v > max) v = max; print v }'; }
nkeys=$(sized 100000)
ntags=$(sized 1000000 "$orders")
nlines=$(sized 1000000)
nlines_small=$(sized 100000)
db=bench
out=$top/bench/results
mkdir -p "$out"
work=$(mktemp -d /tmp/bulkorder-bench.XXXXXX)
chmod 755 "$work"
load_start=$(cat /proc/loadavg)
started=$(date +%s)

echo "bench: starting the bench cluster"
eval "$(bash tools/pg.sh start bench)"
trap 'bash tools/pg.sh stop bench; rm -rf "$work"' EXIT
# A server sized for a million orders: the tables and indexes fit in
# shared_buffers, so the runs measure the work, not the eviction of pages.
# No JIT: its compile time lands on whichever statement is costed high
# enough (a one-statement baseline over 1,000,000 rows, not the engine's
# 10,000-key chunks), which would favour neither side honestly.
# pg_stat_statements for the profile at the end (track = top while timing).
psql -X -q -d postgres -c "ALTER SYSTEM SET shared_buffers = '1GB'" -c "ALTER SYSTEM SET max_wal_size = '4GB'" \
  -c "ALTER SYSTEM SET jit = off" -c "ALTER SYSTEM SET shared_preload_libraries = pg_cron, bulkorder, pg_stat_statements"
eval "$(BULKORDER_KEEP_DATA=1 bash tools/pg.sh start bench)"
export PGDATABASE=$db
psql() { PGOPTIONS="-c client_min_messages=warning" command psql -X -q -v ON_ERROR_STOP=1 "$@"; }

psql -d postgres -c "CREATE DATABASE $db"
psql -c "CREATE EXTENSION bulkorder" -c "CREATE EXTENSION pg_prewarm" -c "CREATE EXTENSION pg_stat_statements"
echo "bench: loading $orders orders with tools/demo-data.sql"
t0=$(date +%s%N)
psql -v orders="$orders" -v seed=42 -f tools/demo-data.sql
t1=$(date +%s%N)
load_ms=$(( (t1 - t0) / 1000000 ))
echo "bench: loaded $orders orders in $load_ms ms"
psql -c "VACUUM (FREEZE, ANALYZE)"
psql -v keys="$nkeys" -v tag_targets="$ntags" -f bench/setup.sql
got=$(psql -At -c "SELECT n FROM bench.keys")
[ "$got" -eq "$nkeys" ] || { echo "bench: only $got awaiting orders to pick $nkeys keys from" >&2; exit 1; }
prewarm() {
  psql -c "SELECT pg_prewarm(c.oid) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname IN ('bulkorder', 'bench') AND c.relkind IN ('r', 'i')" >/dev/null
}
prewarm

# --- files: the import's shipment file and the upload's CSV files ---------
# The import: the :nkeys keys, in their scattered order, a tracking number
# each, header line, CRLF, as a warehouse system writes it.  The demo's
# carriers issue jp12 numbers: eleven digits (4 and the key) and their 7DR
# check digit, which the import checks (exact in awk's doubles: < 2^53).
psql -At -c "SELECT k FROM unnest((SELECT keys FROM bench.keys)) k" \
  | awk 'BEGIN { printf "注文番号,送り状番号\r\n" }
         { d = 40000000000 + $1; printf "%s,%.0f%d\r\n", $1, d, d % 7 }' > "$work/import.csv"
# The uploads: as Excel saves them, a header, CRLF, keys in random order
# with a few errors (not a number, repeats; deleted orders are not_found).
read -r kmin kmax < <(psql -At -F' ' -c "SELECT min(order_no), max(order_no) FROM bulkorder.orders")
make_csv() {  # make_csv NAME LINES
  { printf '注文番号,お名前\r\n'
    awk -v n=$(( $2 - 1 - $2 / 1000 )) -v lo="$kmin" -v hi="$kmax" 'BEGIN {
      srand(42); for (i = 0; i < n; i++) printf "%d,テスト\r\n", lo + int(rand() * (hi - lo + 1)) }'
    for ((i = 0; i < $2 / 2000; i++)); do printf 'abc,bad\r\n12345,repeat\r\n'; done
  } > "$work/$1.csv"
}
make_csv upload_small "$nlines_small"
make_csv upload "$nlines"

# --- how a run is written ---------------------------------------------------
# timed PATH ROUND CONTENDER SQL: SQL sets :changed; the time from before SQL
# to after it goes into bench.results.  Every timed run is preceded by a
# CHECKPOINT and followed by the path's reset (untimed).
timed() {
  echo "CHECKPOINT;"
  echo "SELECT clock_timestamp() AS t0 \\gset"
  echo "$4"
  echo "SELECT round(extract(epoch FROM clock_timestamp() - :'t0'::timestamptz)::numeric * 1000, 1) AS ms \\gset"
  echo "INSERT INTO bench.results VALUES ('$1', $2, '$3', :ms, :changed);"
  echo "\\echo $1 round $2 $3: :ms ms, :changed changed"
}
# settle: after every run and its reset (untimed), VACUUM (ANALYZE) of every
# table a run writes, the engine's and the baselines' alike, so that the
# next run is not timed together with autovacuum catching up on 100,000 or
# 1,000,000 new rows of one of them (2 cores: it takes one).  Not the
# baselines' scratch tables (ship_stage, csv_stage, csv_resolved): emptied
# and filled again by every run, they stand for the temporary table a DBA
# would COPY into, which has no statistics (autovacuum never sees a
# temporary table); statistics of the very file about to be loaded would be
# a gift no real COPY gets.
settle() {
  echo "VACUUM (ANALYZE) bulkorder.orders, bulkorder.bulk_job_items, bulkorder.bulk_jobs,
        bulkorder.notifications, bulkorder.payment_requests, bulkorder.mail_outbox,
        bulkorder.uploads, bulkorder.upload_lines, bulkorder.upload_shipments,
        bench.history_a, bench.history_b, bench.history_t, bench.history_i;"
}
# order R C1 C2 …: the contenders of round R, rotated by R
order() {
  local r=$1; shift
  local a=("$@") n=$# i
  for ((i = 0; i < n; i++)); do printf '%s ' "${a[$(((i + r) % n))]}"; done
}

# --- (a) cancel ---------------------------------------------------------------
bench_cancel() {
  local script=$work/cancel.sql r c
  {
    echo '\set ON_ERROR_STOP on'
    for r in $(seq 0 "$rounds"); do
      for c in $(order "$r" E a b); do
        case $c in
          E) timed cancel "$r" E "SELECT bulkorder.bulk_cancel((SELECT keys FROM bench.keys), false) AS job \\gset
SELECT success_count AS changed FROM bulkorder.bulk_jobs WHERE job_id = :job \\gset" ;;
          a) timed cancel "$r" a "WITH changed AS (
    UPDATE bulkorder.orders o SET status = 'cancelled'
    WHERE o.order_no = ANY ((SELECT keys FROM bench.keys)::bigint[]) AND o.status = 'awaiting_shipment' AND o.deleted_at IS NULL
    RETURNING o.order_no)
INSERT INTO bench.history_a (job_id, target, ok, before, after)
SELECT $r * 10 + 1, order_no, true, jsonb_build_object('status', 'awaiting_shipment'),
       jsonb_build_object('status', 'cancelled')
FROM changed;
SELECT count(*) AS changed FROM bench.history_a WHERE job_id = $r * 10 + 1 \\gset" ;;
          b) timed cancel "$r" b "SELECT bench.cancel_b((SELECT keys FROM bench.keys), $r * 10 + 2) AS changed \\gset" ;;
        esac
        echo "UPDATE bulkorder.orders SET status = 'awaiting_shipment'
              WHERE order_no = ANY ((SELECT keys FROM bench.keys)::bigint[]) AND status = 'cancelled';"
        settle
      done
    done
  } > "$script"
  echo "bench: cancel of $nkeys scattered keys, $rounds rounds (+1 warm-up) of E, a, b"
  psql -f "$script"
}

# --- (b) tags, synchronous and asynchronous ---------------------------------------
bench_tags() {
  local script=$work/tags.sql r c keys tag
  {
    echo '\set ON_ERROR_STOP on'
    for r in $(seq 0 "$big_rounds"); do
      # the warm-up round: 10,000 targets each
      if [ "$r" -eq 0 ]; then keys="(SELECT keys[1:10000] FROM bench.tag_keys)"; else keys="(SELECT keys FROM bench.tag_keys)"; fi
      for c in $(order "$r" S T A); do
        tag="r${r}$c"
        case $c in
          S) timed tags "$r" S "SELECT bulkorder.run_bulk('orders', 'tags', $keys,
                          '{\"add\": [\"$tag\"]}') AS job \\gset
SELECT success_count AS changed FROM bulkorder.bulk_jobs WHERE job_id = :job \\gset" ;;
          A) timed tags "$r" A "SELECT bulkorder.run_bulk('orders', 'tags', $keys,
                          '{\"add\": [\"$tag\"]}', '{\"async\": true}') AS job \\gset
SELECT bench.wait_job(:job) AS changed \\gset" ;;
          T) timed tags "$r" T "WITH locked AS MATERIALIZED (
    SELECT o.order_no, o.tags FROM bulkorder.orders o
    WHERE o.order_no = ANY ($keys::bigint[]) AND o.deleted_at IS NULL
    ORDER BY o.order_no FOR NO KEY UPDATE),
changed AS (
    UPDATE bulkorder.orders o SET tags = bulkorder.merge_tags(o.tags, ARRAY['$tag'], '{}')
    FROM locked l WHERE o.order_no = l.order_no
    RETURNING o.order_no, o.tags)
INSERT INTO bench.history_t (job_id, target, ok, before, after)
SELECT $r, c.order_no, true, jsonb_build_object('tags', l.tags), jsonb_build_object('tags', c.tags)
FROM changed c JOIN locked l ON l.order_no = c.order_no;
SELECT count(*) AS changed FROM bench.history_t WHERE job_id = $r \\gset" ;;
        esac
        settle
      done
    done
  } > "$script"
  echo "bench: tags job of $ntags targets, $big_rounds rounds (+1 warm-up of 10,000) of S (sync), A (async), T (set-based)"
  psql -f "$script"
}

# --- (c) import_shipments -------------------------------------------------------
bench_import() {
  local script=$work/import.sql r c
  {
    echo '\set ON_ERROR_STOP on'
    for r in $(seq 0 "$rounds"); do
      for c in $(order "$r" I J); do
        case $c in
          I) timed import "$r" I "SELECT bulkorder.import_shipments(pg_read_binary_file('$work/import.csv'),
                                  '{\"encoding\": \"UTF8\"}') AS job \\gset
SELECT success_count AS changed FROM bulkorder.bulk_jobs WHERE job_id = :job \\gset" ;;
          J) timed import "$r" J "TRUNCATE bench.ship_stage;
COPY bench.ship_stage FROM '$work/import.csv' (FORMAT csv, HEADER true);
WITH staged AS (
    SELECT order_no::bigint AS order_no, min(tracking_no) AS tracking_no
    FROM bench.ship_stage GROUP BY 1),
locked AS MATERIALIZED (
    SELECT o.order_no, o.customer_id, o.payment_method, o.course_order_no, o.status, o.ship_report_status,
           o.tracking_no, o.ship_mail_sent, s.tracking_no AS new_tracking_no, pm.needs_ship_report,
           pm.name AS payment_name
    FROM bulkorder.orders o
    JOIN staged s ON s.order_no = o.order_no
    JOIN bulkorder.payment_methods pm ON pm.code = o.payment_method
    WHERE o.deleted_at IS NULL AND o.status = 'awaiting_shipment' AND NOT o.shipping_hold
    ORDER BY o.order_no FOR NO KEY UPDATE OF o),
changed AS (
    UPDATE bulkorder.orders o
    SET status = CASE WHEN l.needs_ship_report THEN 'shipping' ELSE 'shipped' END,
        ship_report_status = CASE WHEN l.needs_ship_report THEN 'pending' ELSE o.ship_report_status END,
        tracking_no = l.new_tracking_no,
        ship_mail_sent = o.ship_mail_sent OR EXISTS (SELECT 1 FROM bulkorder.mail_templates mt
                                                     WHERE mt.code = 'ship_complete' AND mt.enabled)
    FROM locked l WHERE o.order_no = l.order_no
    RETURNING o.order_no, o.status, o.ship_report_status, o.tracking_no, o.ship_mail_sent),
requests AS (
    INSERT INTO bulkorder.payment_requests (order_no, payment_method, kind)
    SELECT order_no, payment_method, 'ship_report' FROM locked WHERE needs_ship_report),
mails AS (
    INSERT INTO bulkorder.mail_outbox (template_code, order_no, customer_id, to_address, subject, body)
    SELECT mt.code, l.order_no, l.customer_id, c.email,
           replace(replace(replace(replace(replace(mt.subject, '{{order_no}}', l.order_no::text),
               '{{customer_name}}', coalesce(c.name, '')), '{{tracking_no}}', l.new_tracking_no),
               '{{payment_method}}', l.payment_name), '{{course_order_no}}', coalesce(l.course_order_no::text, '')),
           replace(replace(replace(replace(replace(mt.body, '{{order_no}}', l.order_no::text),
               '{{customer_name}}', coalesce(c.name, '')), '{{tracking_no}}', l.new_tracking_no),
               '{{payment_method}}', l.payment_name), '{{course_order_no}}', coalesce(l.course_order_no::text, ''))
    FROM locked l
    JOIN bulkorder.customers c ON c.customer_id = l.customer_id
    JOIN bulkorder.mail_templates mt ON mt.code = 'ship_complete' AND mt.enabled
    WHERE NOT l.ship_mail_sent)
INSERT INTO bench.history_i (job_id, target, ok, before, after)
SELECT $r, c.order_no, true,
       jsonb_build_object('status', l.status, 'ship_report_status', l.ship_report_status,
                          'tracking_no', l.tracking_no, 'ship_mail_sent', l.ship_mail_sent),
       jsonb_build_object('status', c.status, 'ship_report_status', c.ship_report_status,
                          'tracking_no', c.tracking_no, 'ship_mail_sent', c.ship_mail_sent)
FROM changed c JOIN locked l ON l.order_no = c.order_no;
SELECT count(*) AS changed FROM bench.history_i WHERE job_id = $r \\gset" ;;
        esac
        echo "UPDATE bulkorder.orders o SET status = g.status, ship_report_status = g.ship_report_status,
                     tracking_no = g.tracking_no, ship_mail_sent = g.ship_mail_sent
              FROM bench.import_orig g
              WHERE o.order_no = g.order_no AND o.status IS DISTINCT FROM g.status;"
        settle
      done
    done
  } > "$script"
  echo "bench: import_shipments of $nkeys lines, $rounds rounds (+1 warm-up) of I (engine), J (COPY + set-based)"
  psql -f "$script"
}

# --- (d) upload_csv ---------------------------------------------------------------
bench_upload() {
  local script=$work/upload.sql r c file
  {
    echo '\set ON_ERROR_STOP on'
    for r in $(seq 0 "$big_rounds"); do
      if [ "$r" -eq 0 ]; then file=$work/upload_small.csv; else file=$work/upload.csv; fi
      for c in $(order "$r" U C); do
        case $c in
          U) timed upload "$r" U "SELECT bulkorder.upload_csv('orders', pg_read_binary_file('$file'),
                                                   '{\"encoding\": \"UTF8\"}') AS upload \\gset
SELECT key_count AS changed FROM bulkorder.uploads WHERE upload_id = :upload \\gset" ;;
          C) timed upload "$r" C "TRUNCATE bench.csv_stage, bench.csv_resolved;
COPY bench.csv_stage FROM '$file' (FORMAT csv, HEADER true, ENCODING 'UTF8');
INSERT INTO bench.csv_resolved
SELECT s.key, o.order_no IS NOT NULL
FROM (SELECT DISTINCT trim(a)::bigint AS key FROM bench.csv_stage WHERE trim(a) ~ '^[0-9]{1,18}\$') s
LEFT JOIN bulkorder.orders o ON o.order_no = s.key AND o.deleted_at IS NULL;
SELECT count(*) FILTER (WHERE found) AS changed FROM bench.csv_resolved \\gset" ;;
        esac
        settle
      done
    done
  } > "$script"
  echo "bench: upload_csv of $nlines lines, $big_rounds rounds (+1 warm-up of $nlines_small) of U (engine), C (COPY + join)"
  psql -f "$script"

  # Memory: one upload of each size in a fresh backend, its RssAnon sampled
  # every 10 ms from /proc while the call runs.
  local name lines pidfile=$work/pid res=$work/res peak base pid kb job
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

# --- (e) preview_bulk -------------------------------------------------------------
bench_preview() {
  local script=$work/preview.sql r c
  {
    echo '\set ON_ERROR_STOP on'
    for r in $(seq 0 "$rounds"); do
      for c in $(order "$r" P Q); do
        case $c in
          P) timed preview "$r" P "SELECT count(*) FILTER (WHERE ok) AS changed
FROM bulkorder.preview_bulk('orders', 'cancel', (SELECT keys FROM bench.keys), '{\"void_payment\": false}') \\gset" ;;
          Q) timed preview "$r" Q "SELECT count(*) FILTER (WHERE ok) AS changed FROM (
    SELECT c.target, c.error_code IS NULL AS ok, c.error_code, m.message
    FROM (SELECT i.target,
                 CASE WHEN t.order_no IS NULL THEN 'not_found'
                      WHEN NOT coalesce(t.status = 'awaiting_shipment', false) THEN 'not_awaiting_shipment'
                 END AS error_code
          FROM unnest((SELECT keys FROM bench.keys)) AS i(target)
          LEFT JOIN bulkorder.orders t ON t.order_no = i.target AND t.deleted_at IS NULL) c
    LEFT JOIN (VALUES ('not_found', '対象が見つかりません(存在しないか削除済みです)'),
                      ('not_awaiting_shipment', '出荷待ちの注文ではないためキャンセルできません')) AS m(code, message)
      ON m.code = c.error_code
    ORDER BY c.target) x \\gset" ;;
        esac
      done
    done
  } > "$script"
  echo "bench: preview_bulk of $nkeys targets, $rounds rounds (+1 warm-up) of P (engine), Q (SELECT)"
  psql -f "$script"
}

# --- revert -------------------------------------------------------------------------
# K: bulk_cancel of the :nkeys keys with a void request where the method has
# a gateway; R: revert_job of that job (every order back, every request
# withdrawn).  Both commit, as an undo comes after its job (in one
# transaction the foreign keys of rows the same transaction wrote would be
# checked again on every update).  The revert puts the orders back, so the
# next round starts from the same orders; the jobs, items and withdrawn
# requests pile up.  Every round must change, revert and withdraw alike.
bench_revert() {
  local script=$work/revert.sql r
  {
    echo '\set ON_ERROR_STOP on'
    for r in $(seq 0 "$rounds"); do
      timed revert "$r" K "SELECT bulkorder.bulk_cancel((SELECT keys FROM bench.keys), true) AS job \\gset
SELECT success_count AS changed FROM bulkorder.bulk_jobs WHERE job_id = :job \\gset"
      settle
      timed revert "$r" R "SELECT bulkorder.revert_job(:job) AS rev \\gset
SELECT success_count AS changed FROM bulkorder.bulk_jobs WHERE job_id = :rev \\gset"
      echo "SELECT count(*) AS unwithdrawn FROM bulkorder.payment_requests WHERE job_id = :job AND status <> 'withdrawn' \\gset"
      echo "SELECT :unwithdrawn <> 0 AS bad \\gset"
      echo "\\if :bad"
      echo "\\echo 'bench: revert round $r left requests of job' :job 'not withdrawn'"
      echo "SELECT 1/0;"
      echo "\\endif"
      settle
    done
  } > "$script"
  echo "bench: revert of a $nkeys-target cancel, $rounds rounds (+1 warm-up) of K (the job), R (its revert)"
  psql -f "$script"
}

for p in $paths; do
  case $p in
    cancel|tags|import|upload|preview|revert) "bench_$p" ;;
    *) echo "bench: unknown path $p" >&2; exit 2 ;;
  esac
done

# --- where the time goes: one chunk of each engine path ------------------------------
profile=$out/profile.txt
prewarm
psql -f - > "$profile" 2>&1 <<SQL || true
\\set ON_ERROR_STOP on
SET pg_stat_statements.track = 'all';
SELECT pg_stat_statements_reset() IS NULL AS reset \\gset
\\echo '==== one chunk of each engine path: the statements it runs (auto_explain, nested statements of 1 ms or more)'
LOAD 'auto_explain';
SET auto_explain.log_min_duration = 1;
SET auto_explain.log_analyze = on;
SET auto_explain.log_buffers = on;
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
echo "bench: profile of one chunk per path: $profile"

# --- the table ---------------------------------------------------------------------
load_end=$(cat /proc/loadavg)
elapsed=$(( $(date +%s) - started ))
report=$out/summary.txt
pgsettings=$(psql -At -F' ' -c "SELECT string_agg(name || '=' || setting || coalesce(unit, ''), ', ' ORDER BY name)
  FROM pg_settings WHERE name IN ('shared_buffers', 'jit', 'fsync', 'synchronous_commit', 'full_page_writes',
                                  'work_mem', 'max_wal_size', 'bulkorder.chunk_size')")
psql -P footer=off -f - > "$report" <<SQL
\\echo 'bulkorder bench, $(date -u +%Y-%m-%dT%H:%MZ): $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), $(awk '/MemTotal/ {printf "%.1f GB", $2/1048576}' /proc/meminfo) RAM'
\\echo 'PostgreSQL $(psql -At -c 'SHOW server_version'): $pgsettings'
\\echo 'load average at start: $load_start; at end: $load_end; $elapsed s in all'
\\echo '$orders demo orders (loaded in $load_ms ms); runs commit, history piles up; ratio: of the medians of the counted rounds; round ratios: of the two contenders of each round'
\\echo
WITH m AS (
    SELECT path, contender, percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS median,
           count(*) AS runs
    FROM bench.results WHERE round > 0 GROUP BY path, contender),
pairs (path, engine, baseline, what, goal, size, ord) AS (VALUES
    ('cancel', 'E', 'a', 'cancel: bulk_cancel vs one UPDATE + history', 1.10, $nkeys, 1),
    ('cancel', 'E', 'b', 'cancel: bulk_cancel vs PL/pgSQL row loop', 1.00, $nkeys, 2),
    ('tags', 'S', 'T', 'tags: run_bulk sync vs UPDATE in key order + history', 1.15, $ntags, 3),
    ('tags', 'A', 'T', 'tags: run_bulk async (submit to done) vs the same', 1.15, $ntags, 4),
    ('import', 'I', 'J', 'import_shipments vs COPY + set-based changes', 1.30, $nkeys, 5),
    ('upload', 'U', 'C', 'upload_csv vs COPY + join resolving the keys', 1.50, $nlines, 6),
    ('preview', 'P', 'Q', 'preview_bulk vs the same check as a SELECT', 1.10, $nkeys, 7),
    ('revert', 'R', 'K', 'revert_job vs the job it reverts', 1.50, $nkeys, 8))
SELECT p.what AS path, p.size AS "size",
       round(e.median::numeric) AS "engine ms", round(b.median::numeric) AS "baseline ms",
       round((e.median / b.median)::numeric, 2) AS ratio, coalesce('≤ ' || p.goal, '-') AS goal,
       CASE WHEN e.median IS NULL THEN 'not measured'
            WHEN p.goal IS NULL THEN '-'
            WHEN e.median / b.median <= p.goal THEN 'PASS' ELSE 'MISS' END AS result,
       round(p.size / (e.median / 1000)) AS "engine items/s",
       round(p.size / (b.median / 1000)) AS "baseline items/s",
       e.runs AS rounds,
       round(r.median::numeric, 2) AS "round ratios: median",
       CASE WHEN r.median IS NULL THEN 'not measured'
            WHEN r.median <= p.goal THEN 'PASS' ELSE 'MISS' END AS "paired result",
       round(r.lo::numeric, 2) || '–' || round(r.hi::numeric, 2) AS "round ratios: range"
FROM pairs p
LEFT JOIN m e ON e.path = p.path AND e.contender = p.engine
LEFT JOIN m b ON b.path = p.path AND b.contender = p.baseline
-- the two contenders of each round, paired: a drift across rounds (history
-- piling up slows every later round) cancels out of each round's ratio
LEFT JOIN LATERAL (
    SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY x.ms / y.ms) AS median,
           min(x.ms / y.ms) AS lo, max(x.ms / y.ms) AS hi
    FROM bench.results x JOIN bench.results y ON y.path = x.path AND y.round = x.round
    WHERE x.path = p.path AND x.round > 0 AND x.contender = p.engine AND y.contender = p.baseline) r ON true
ORDER BY p.ord;
\\echo
\\echo 'every contender (ms over the counted rounds; rows changed per run)'
SELECT path, contender, round(median::numeric) AS median, best, worst, runs,
       CASE WHEN lo = hi THEN lo::text ELSE lo || '..' || hi END AS changed
FROM (SELECT path, contender, percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS median,
             min(ms) AS best, max(ms) AS worst, count(*) AS runs, min(changed) AS lo, max(changed) AS hi
      FROM bench.results WHERE round > 0 GROUP BY path, contender) m
ORDER BY path, contender;
\\echo
\\echo 'upload_csv backend memory (RssAnon, private): flat in the number of lines beyond the file bytes'
SELECT lines, round(file_bytes / 1048576.0, 1) AS "file MB", round(before_kb / 1024.0, 1) AS "before MB",
       round(peak_kb / 1024.0, 1) AS "peak MB", round((peak_kb - before_kb) / 1024.0, 1) AS "growth MB",
       round((peak_kb - before_kb) / 1024.0 - file_bytes / 1048576.0, 1) AS "growth beyond file MB", seconds
FROM bench.memory ORDER BY lines;
\\echo 'history rows at the end: bulk_job_items ' `psql -At -c "SELECT count(*) FROM bulkorder.bulk_job_items"` ', bulk_jobs ' `psql -At -c "SELECT count(*) FROM bulkorder.bulk_jobs"` ', notifications ' `psql -At -c "SELECT count(*) FROM bulkorder.notifications"`
SQL
echo
cat "$report"
# Both sides of a pair must have changed the same rows in every run.
bad=$(psql -At -c "SELECT string_agg(DISTINCT path || '/' || contender, ' ') FROM bench.results r
  WHERE round > 0 AND changed <> (SELECT max(changed) FROM bench.results x WHERE x.path = r.path AND x.round > 0)")
[ -z "$bad" ] || { echo "bench: runs that did not change the same rows: $bad" >&2; exit 1; }
