#!/usr/bin/env bash
# CSV upload benchmark: a 100,000-line and a 1,000,000-line upload resolved
# to keys against 1,000,000 orders, each in a fresh backend, printing the
# seconds and the backend's peak private memory (RssAnon, sampled from
# /proc every 10 ms while the call runs) to show that memory is bounded:
# beyond the file's own bytes (which the bytea argument holds), the peak
# does not grow with the number of lines.  Also times the operator's psql
# path (file -> base64 -> \set -> decode -> upload_csv) for the big file.
#
#   bash bench/csv.sh            (run by `make bench`; needs `make` first)
#
# Runs on its own throwaway cluster (tools/pg.sh, name "bench").
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
work=$(mktemp -d)
chmod 755 "$work"
eval "$(bash tools/pg.sh start bench)"
trap 'bash tools/pg.sh stop bench; rm -rf "$work"' EXIT
export PGDATABASE=postgres
q() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }

echo "== CSV upload benchmark ($(nproc) cores, PostgreSQL $(q -At -c 'SHOW server_version'))"
q -c "CREATE EXTENSION bulkorder" \
  -c "SET session_replication_role = replica" \
  -c "INSERT INTO bulkorder.customers (customer_id, name) VALUES (1, 'bench')" \
  -c "INSERT INTO bulkorder.orders (order_no, customer_id, status, payment_method)
      SELECT g, 1, 'awaiting_shipment', 'credit_card' FROM generate_series(1, 1000000) g" \
  -c "UPDATE bulkorder.orders SET deleted_at = now() WHERE order_no % 100000 = 0" \
  -c "VACUUM ANALYZE bulkorder.orders" \
  -c "CREATE TABLE bench_files (name text PRIMARY KEY, lines integer, content bytea)"

# Files as Excel saves them: a header, CRLF; the keys in random order, with
# a few errors (not a number, repeats; deleted orders are not_found).
make_file() {  # make_file NAME LINES
  local name=$1 lines=$2 f="$work/$1.csv"
  { printf '注文番号,お名前\r\n'
    shuf -i 1-1000000 -n $((lines - 1 - lines / 1000)) | awk '{printf "%s,テスト\r\n", $1}'
    for ((i = 0; i < lines / 2000; i++)); do printf 'abc,bad\r\n12345,repeat\r\n'; done
  } > "$f"
  q <<SQL
\\set content \`base64 -w0 $f\`
INSERT INTO bench_files VALUES ('$name', $lines, decode(:'content', 'base64'));
SQL
}
make_file 100k 100000
make_file 1m 1000000

# One upload in a fresh backend; samples its RssAnon until the call ends.
run_upload() {  # run_upload NAME
  local name=$1 pidfile="$work/pid" out="$work/out" peak=0 base pid kb
  rm -f "$pidfile"
  q -At > "$out" <<SQL &
SELECT pg_backend_pid() \\g $pidfile
SELECT pg_sleep(0.3);
SELECT extract(epoch FROM clock_timestamp()) AS t0 \\gset
SELECT bulkorder.upload_csv('orders', content) AS upload FROM bench_files WHERE name = '$name' \\gset
SELECT extract(epoch FROM clock_timestamp()) AS t1 \\gset
SELECT format('%s %s %s %s %s %s', :upload, lines, length(content), round((:t1 - :t0)::numeric, 2),
              u.key_count, u.error_count)
FROM bench_files, bulkorder.uploads u WHERE name = '$name' AND u.upload_id = :upload;
SQL
  local job=$!
  while [ ! -s "$pidfile" ]; do sleep 0.01; done
  pid=$(tr -dc '0-9' < "$pidfile")
  base=$(awk '/^RssAnon/ {print $2}' /proc/$pid/status)
  while kill -0 $job 2>/dev/null; do
    kb=$(awk '/^RssAnon/ {print $2}' /proc/$pid/status 2>/dev/null || echo 0)
    [ -n "$kb" ] && [ "$kb" -gt "$peak" ] && peak=$kb
    sleep 0.01
  done
  wait $job
  read -r upload lines bytes secs keys errors < <(tail -1 "$out")
  # the keys as run_bulk takes them, in another backend
  tsecs=$(q -At <<SQL
SELECT extract(epoch FROM clock_timestamp()) AS t0 \\gset
SELECT cardinality(bulkorder.upload_targets($upload)) AS n \\gset
SELECT round((extract(epoch FROM clock_timestamp()) - :t0)::numeric, 2);
SQL
)
  awk -v n="$name" -v l="$lines" -v b="$bytes" -v s="$secs" -v t="$tsecs" -v k="$keys" \
      -v e="$errors" -v base="$base" -v peak="$peak" 'BEGIN {
    printf "upload_csv %-4s %8d lines %6.1f MB file: %5.2f s (upload_targets %4.2f s, %d keys, %d error lines)\n", n, l, b/1048576, s, t, k, e;
    printf "                 backend RssAnon %6.1f MB before, peak %6.1f MB: +%5.1f MB = file %5.1f MB + %5.1f MB\n", base/1024, peak/1024, (peak-base)/1024, b/1048576, (peak-base)/1024 - b/1048576 }'
}
run_upload 100k
run_upload 1m

# The operator's psql path for the big file, end to end.
start=$(date +%s.%N)
q -At >/dev/null <<SQL
\\set content \`base64 -w0 $work/1m.csv\`
SELECT bulkorder.upload_csv('orders', decode(:'content', 'base64'), '{"encoding": "UTF8"}');
SQL
end=$(date +%s.%N)
awk -v s="$start" -v e="$end" 'BEGIN { printf "psql path (base64 -w0 | \\set | decode | upload_csv), 1m file: %.2f s end to end\n", e - s }'
