#!/usr/bin/env bash
# Stage: the documents' SQL runs as written.  Every ```sql block of
# README.md and docs/*.md is accounted for (test/lib/docs.py says how):
# this stage runs each document's blocks in order, in one psql session, on
# a fresh demo database shaped like `make demo`'s (two shops, default and
# cosme), together with the checks of what the text claims; blocks marked
# for another stage run there (the connectors as their own login roles,
# pg_cron's schedules); a block nobody runs is marked so, with its reason.
# It fails on an SQL block no test accounts for, on a failed block or
# check, on a link or a repository path a document names that does not
# exist, and on a role a document creates that is still there afterwards.
# The CSV examples read files "on the operator's machine": this script
# writes them first, in Shift_JIS as Excel saves them.
#   bash test/stages/docs.sh [docs/csv.md ...]   (default: every document)
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
export PGHOST=${BULKORDER_TEST_HOST:-${PGHOST:-}} PGPORT=${BULKORDER_TEST_PORT:-${PGPORT:-}} PGUSER=${PGUSER:-postgres}
if [ -z "$PGHOST" ]; then
  eval "$(bash tools/pg.sh start test)"
fi
db=bulkorder_docs
logs="$top/.pg/logs"
mkdir -p "$logs"
work=$(mktemp -d /tmp/bulkorder-docs.XXXXXX)
chmod 755 "$work"
q() { PGOPTIONS="-c client_min_messages=warning" psql -X -q -v ON_ERROR_STOP=1 "$@"; }
all_roles=""
drop_roles() {
  for r in $1; do
    q -d "$db" -c "DROP OWNED BY $r" >/dev/null 2>&1 || true
    q -d postgres -c "DROP ROLE IF EXISTS $r" >/dev/null 2>&1 || true
  done
}
cleanup() {
  q -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  drop_roles "$all_roles"
  rm -rf "$work"
}
trap cleanup EXIT

# 1. every sql block accounted for; links and paths point into the repository
if ! python3 test/lib/docs.py account > "$work/account.txt"; then
  grep -v '^  ' "$work/account.txt"
  echo "FAILED: documents: see the ERROR lines"
  exit 1
fi
grep -v '^  ' "$work/account.txt"
cp "$work/account.txt" "$logs/docs-account.txt"

# 2. each document's blocks, on a fresh demo database
fresh_demo() {
  q -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db"
  q -d "$db" -c "CREATE EXTENSION bulkorder"
  # as tools/demo.sh: the default shop, then cosme at a quarter of its size
  q -d "$db" -v orders=3000 -v seed=42 -f tools/demo-data.sql >/dev/null
  q -d "$db" -c "UPDATE bulkorder.shops SET name = '健康食品の定期便' WHERE code = 'default'" \
             -c "SELECT bulkorder.create_shop('cosme', 'コスメの定期便')" >/dev/null
  PGOPTIONS="-c client_min_messages=warning -c bulkorder.shop=cosme" \
    psql -X -q -v ON_ERROR_STOP=1 -d "$db" -v orders=750 -v seed=43 -f tools/demo-data.sql >/dev/null
  # the operator's files: a list of orders and a carrier's shipment file
  # (real tracking numbers: eleven digits and their 7DR check digit, as the
  # demo's carriers issue them)
  q -d "$db" -At -c "
    SELECT '注文番号,お名前' UNION ALL
    (SELECT order_no || ',' || customer_name FROM bulkorder.order_list
     WHERE shop_id = 1 AND status = 'awaiting_shipment' ORDER BY order_no DESC LIMIT 20)
    UNION ALL SELECT '99999999,不明'" | sed 's/$/\r/' | iconv -f UTF-8 -t CP932 > "$work/注文一覧.csv"
  q -d "$db" -At -c "
    SELECT '注文番号,送り状番号' UNION ALL
    (SELECT order_no || ',' || t || (t::bigint % 7) FROM bulkorder.order_list,
            LATERAL (SELECT (40000000000 + order_no)::text AS t) d
     WHERE shop_id = 1 AND status = 'awaiting_shipment' ORDER BY order_no LIMIT 20)" \
    | sed 's/$/\r/' | iconv -f UTF-8 -t CP932 > "$work/出荷実績.csv"
}

# waits for an asynchronous job to end (<!-- wait-job: :var -->)
preamble='
CREATE FUNCTION pg_temp.doc_wait_job(job bigint, seconds integer DEFAULT 180) RETURNS boolean
LANGUAGE plpgsql AS $f$
DECLARE t0 timestamptz := clock_timestamp();
BEGIN
  LOOP
    IF (SELECT status IN ('"'done', 'cancelled', 'failed'"') FROM bulkorder.bulk_jobs WHERE job_id = job) THEN
      RETURN true;
    END IF;
    IF clock_timestamp() > t0 + make_interval(secs => seconds) THEN RETURN false; END IF;
    PERFORM pg_sleep(0.1);
  END LOOP;
END $f$;'

if [ $# -gt 0 ]; then docs=("$@"); else mapfile -t docs < <(python3 test/lib/docs.py documents); fi
status=0
for doc in "${docs[@]}"; do
  name=$(echo "$doc" | tr '/.' '__')
  python3 test/lib/docs.py script "$doc" > "$work/$name.sql"
  if ! grep -q '^\\echo .#doc ' "$work/$name.sql"; then
    echo "docs: $doc: no block to run here"
    continue
  fi
  roles=$(python3 test/lib/docs.py roles "$doc" | tr '\n' ' ')
  all_roles="$all_roles $roles"
  drop_roles "$roles"
  fresh_demo
  t0=$SECONDS
  rc=0
  { echo '\set ON_ERROR_STOP 1'; echo "$preamble"; cat "$work/$name.sql"; echo "\\echo '#doc done'"; } > "$work/$name.run.sql"
  (cd "$work" && psql -X -v ON_ERROR_STOP=1 -d "$db" -f "$name.run.sql") > "$logs/docs-$name.out" 2>&1 || rc=$?
  if [ $rc -ne 0 ] || ! grep -q '^#doc done' "$logs/docs-$name.out"; then
    echo "FAILED: $doc: the last block or check begun:"
    grep -E '^#(doc|check|wait) ' "$logs/docs-$name.out" | tail -1
    tail -25 "$logs/docs-$name.out"
    echo "(whole output: $logs/docs-$name.out)"
    status=1
  else
    echo "ok - $doc: $(grep -c '^#doc .*:' "$logs/docs-$name.out") blocks, $(grep -c '^#check ' "$logs/docs-$name.out") checks ($((SECONDS - t0)) s)"
  fi
  q -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null
  drop_roles "$roles"
  for r in $roles; do
    if [ "$(q -d postgres -At -c "SELECT count(*) FROM pg_roles WHERE rolname = '$r'")" != 0 ]; then
      echo "FAILED: $doc: role $r is still there after the cleanup"; status=1
    fi
  done
done
[ $status -eq 0 ] || { echo "FAILED: docs: a document's SQL failed (replay: bash test/stages/docs.sh DOC)"; exit 1; }
echo "docs: every sql block of every document ran or is accounted for"
