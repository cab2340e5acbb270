#!/usr/bin/env bash
# The README's psql examples run as written: every ```sql block, in order,
# in one psql session against a fresh database holding the demo shop.  The
# connectors' blocks run in test/stages/connectors.sh (they need their own
# login roles), the Citus section's in test/stages/citus.sh (a cluster).  The CSV examples read files "on the operator's machine":
# this script writes them first, in Shift_JIS as Excel saves them.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
db=bulkorder_readme
work=$(mktemp -d)
roles="shop_operator bi_reader kenko_op cosme_op"
q() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }
cleanup() {
  for r in $roles; do
    q -d "$db" -c "DROP OWNED BY $r" >/dev/null 2>&1 || true
    q -d postgres -c "DROP ROLE IF EXISTS $r" >/dev/null 2>&1 || true
  done
  q -d postgres -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
cleanup; work=$(mktemp -d)
q -d postgres -c "CREATE DATABASE $db"
q -d "$db" -c "CREATE EXTENSION bulkorder"
q -d "$db" -v orders=3000 -v seed=42 -f "$top/tools/demo-data.sql" >/dev/null

# the operator's files: a list of orders and a carrier's shipment file (real
# tracking numbers: eleven digits and their 7DR check digit, as the demo's
# carriers issue them)
q -d "$db" -At -c "
  SELECT '注文番号,お名前' UNION ALL
  (SELECT order_no || ',' || customer_name FROM bulkorder.order_list
   WHERE status = 'awaiting_shipment' ORDER BY order_no DESC LIMIT 20)
  UNION ALL SELECT '99999999,不明'" | sed 's/$/\r/' | iconv -f UTF-8 -t CP932 > "$work/注文一覧.csv"
q -d "$db" -At -c "
  SELECT '注文番号,送り状番号' UNION ALL
  (SELECT order_no || ',' || t || (t::bigint % 7) FROM bulkorder.order_list,
          LATERAL (SELECT (40000000000 + order_no)::text AS t) d
   WHERE status = 'awaiting_shipment' ORDER BY order_no LIMIT 20)" \
  | sed 's/$/\r/' | iconv -f UTF-8 -t CP932 > "$work/出荷実績.csv"

script="$work/readme.sql"
awk '
  /^## / { skip = ($0 == "## Payment and mail connectors" || $0 == "## More than one machine: Citus") }
  /^```sql$/ { on = !skip; n += on; next }
  /^```$/ { on = 0 }
  on { print }
  END { print "readme: " n " sql blocks" > "/dev/stderr" }
' "$top/README.md" > "$script"
echo "\\echo README examples: done" >> "$script"
status=0
(cd "$work" && psql -X -v ON_ERROR_STOP=1 -d "$db" -f "$script") > "$work/out.txt" 2>&1 || status=$?
if [ $status -ne 0 ]; then
  tail -25 "$work/out.txt"
  echo "FAILED: a README example failed"
  exit 1
fi
grep -q "README examples: done" "$work/out.txt" || { echo "FAILED: the README script did not finish"; exit 1; }
# the shipment file's tracking numbers are real ones: the import shipped
# orders, and refused none for its tracking number
got=$(q -d "$db" -At -c "SELECT j.success_count > 0 AND NOT EXISTS
         (SELECT FROM bulkorder.bulk_job_failures f WHERE f.job_id = j.job_id
          AND f.error_code NOT IN ('not_awaiting_shipment', 'shipping_hold'))
       FROM bulkorder.bulk_jobs j WHERE j.operation = 'import_shipments' ORDER BY j.job_id LIMIT 1")
[ "$got" = t ] || { echo "FAILED: the README's shipment import did not ship its tracking numbers ($got)"; exit 1; }
echo "readme: every sql example of README.md ran"
