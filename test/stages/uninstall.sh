#!/usr/bin/env bash
# The shop's data outlives the extension (docs/administration.md), tried as
# a DBA would on a shop with orders and history:
#  - DROP EXTENSION bulkorder is refused (2BP01) and changes nothing;
#  - DROP EXTENSION bulkorder CASCADE removes the engine and keeps every
#    table and row;
#  - CREATE EXTENSION bulkorder then takes the tables back: the rows stay,
#    keys go on, jobs run (sync and async);
#  - the tables of another version, or tables bulkorder did not make, are
#    refused with a clear error and nothing is touched;
#  - a schema "bulkorder" made empty beforehand by a DBA gets a fresh install.
set -euo pipefail
db=bulkorder_uninstall
top=$(cd "$(dirname "$0")/../.." && pwd)
export PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning"
q() { psql -X -A -t -q -v ON_ERROR_STOP=1 -d "$db" "$@"; }
fail() { echo "FAIL: $*"; exit 1; }
cleanup() { psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true; }
trap cleanup EXIT
cleanup
psql -X -q -d postgres -c "CREATE DATABASE $db"
q -c "CREATE EXTENSION bulkorder"
q -v orders=800 -v seed=3 -f "$top/tools/demo-data.sql" >/dev/null
q -c "SELECT bulkorder.bulk_cancel(ARRAY(SELECT order_no FROM bulkorder.order_list
                                        WHERE status = 'awaiting_shipment' ORDER BY order_no LIMIT 5), true)" >/dev/null

checksums="SELECT string_agg(format('SELECT %L, count(*), md5(coalesce(string_agg(x::text, %L ORDER BY x::text), %L)) FROM %s x',
                                   c.relname, E'\n', '', c.oid::regclass), E' UNION ALL\n' ORDER BY c.relname)
           FROM pg_class c WHERE c.relnamespace = 'bulkorder'::regnamespace AND c.relkind = 'r'"
rows() { q -c "$(q -c "$checksums") ORDER BY 1"; }
before=$(rows)
[ "$(echo "$before" | wc -l)" -ge 20 ] || fail "expected the shop's tables, got: $before"
orders=$(q -c "SELECT count(*) FROM bulkorder.orders")

# DROP EXTENSION without CASCADE: refused, nothing changes
set +e
out=$(psql -X -q -d "$db" -v ON_ERROR_STOP=1 -v VERBOSITY=verbose -c "DROP EXTENSION bulkorder" 2>&1); rc=$?
set -e
[ $rc -ne 0 ] || fail "DROP EXTENSION bulkorder succeeded"
echo "$out" | grep -q "2BP01" || fail "DROP EXTENSION: expected SQLSTATE 2BP01, got: $out"
[ "$(rows)" = "$before" ] || fail "a refused DROP EXTENSION changed rows"
echo "ok - DROP EXTENSION bulkorder is refused (2BP01: the shop's tables use the engine) and changes nothing"

# DROP EXTENSION ... CASCADE: the engine goes, every table and row stays
q -c "DROP EXTENSION bulkorder CASCADE"
[ "$(q -c "SELECT count(*) FROM pg_extension WHERE extname = 'bulkorder'")" = 0 ] || fail "the extension is still there"
[ "$(q -c "SELECT to_regprocedure('bulkorder.run_bulk(text,text,bigint[],jsonb,jsonb)') IS NULL")" = t ] ||
  fail "run_bulk outlived the extension"
[ "$(rows)" = "$before" ] || fail "DROP EXTENSION ... CASCADE changed rows"
[ "$(q -c "SELECT count(*) FROM bulkorder.order_list")" -gt 0 ] || fail "the list views did not stay"
echo "ok - DROP EXTENSION bulkorder CASCADE: the engine is gone, $(echo "$before" | wc -l) tables and their rows stay ($orders orders)"

# CREATE EXTENSION takes the tables back
q -c "CREATE EXTENSION bulkorder"
[ "$(rows)" = "$before" ] || fail "CREATE EXTENSION over the kept tables changed rows"
[ "$(q -c "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'bulkorder.bulk_jobs'::regclass AND tgname = 'bulk_jobs_delete_items'")" = 1 ] ||
  fail "the history trigger was not put back"
members=$(q -c "SELECT count(*) FROM pg_depend d JOIN pg_class c ON c.oid = d.objid
                WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'bulkorder') AND d.deptype = 'e'
                  AND c.relnamespace = 'bulkorder'::regnamespace AND c.relname <> 'operation_catalog'")
[ "$members" = 0 ] || fail "$members shop relations became extension members again"
job=$(q -c "SELECT bulkorder.bulk_tags(ARRAY(SELECT order_no FROM bulkorder.order_list ORDER BY order_no LIMIT 4), '{back}')")
ajob=$(q -c "SELECT bulkorder.run_bulk('orders', 'tags', ARRAY(SELECT order_no FROM bulkorder.order_list ORDER BY order_no DESC LIMIT 30),
                                       '{\"add\": [\"async-back\"]}', '{\"async\": true}')")
deadline=$((SECONDS + 60))
until [ "$(q -c "SELECT status FROM bulkorder.bulk_jobs WHERE job_id = $ajob")" = done ]; do
  [ $SECONDS -ge $deadline ] && fail "async job $ajob did not finish after CREATE EXTENSION"
  sleep 0.2
done
[ "$(q -c "SELECT success_count FROM bulkorder.bulk_jobs WHERE job_id IN ($job, $ajob) ORDER BY job_id" | tr '\n' ' ')" = "4 30 " ] ||
  fail "jobs after CREATE EXTENSION did not change the orders"
newc=$(q -c "INSERT INTO bulkorder.customers (name) VALUES ('新規') RETURNING customer_id > (SELECT max(customer_id) - 1 FROM bulkorder.customers)")
[ "$newc" = t ] || fail "the key sequence did not go on"
echo "ok - CREATE EXTENSION bulkorder takes the tables back: rows kept, trigger back, keys go on, jobs $job and $ajob (async) ran"

# the tables of another version: refused, nothing touched
q -c "DROP EXTENSION bulkorder CASCADE"
q -c "COMMENT ON SCHEMA bulkorder IS 'bulkorder 0.9: the shop''s tables'"
before=$(rows)
set +e
out=$(psql -X -q -d "$db" -v VERBOSITY=verbose -c "CREATE EXTENSION bulkorder" 2>&1); rc=$?
set -e
[ $rc -ne 0 ] || fail "CREATE EXTENSION over tables of 0.9 succeeded"
echo "$out" | grep -q "55000" && echo "$out" | grep -q "VERSION '0.9'" ||
  fail "expected 55000 with a hint naming version 0.9, got: $out"
[ "$(rows)" = "$before" ] || fail "a refused CREATE EXTENSION changed rows"
echo "ok - CREATE EXTENSION over another version's tables is refused (55000, the hint says how to update them)"

# tables bulkorder did not make: refused
q -c "COMMENT ON SCHEMA bulkorder IS NULL"
set +e
out=$(psql -X -q -d "$db" -v VERBOSITY=verbose -c "CREATE EXTENSION bulkorder" 2>&1); rc=$?
set -e
[ $rc -ne 0 ] && echo "$out" | grep -q "42P07" || fail "expected 42P07 for a schema holding foreign tables, got: $out"
echo "ok - CREATE EXTENSION over tables bulkorder did not make is refused (42P07)"

# a DBA's empty schema "bulkorder": a fresh install
q -c "DROP SCHEMA bulkorder CASCADE" -c "CREATE SCHEMA bulkorder" -c "CREATE EXTENSION bulkorder"
[ "$(q -c "SELECT count(*) FROM bulkorder.payment_methods")" -gt 0 ] && [ "$(q -c "SELECT count(*) FROM bulkorder.orders")" = 0 ] ||
  fail "CREATE EXTENSION in an empty schema did not make the shop's tables"
echo "ok - CREATE EXTENSION in a DBA's empty schema bulkorder makes the shop's tables"
