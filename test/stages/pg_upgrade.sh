#!/usr/bin/env bash
# Stage: a shop with bulkorder survives pg_upgrade (docs/administration.md).
#
# Two clusters of its own (tools/pg.sh: bulkorder preloaded, from this
# checkout's private tree): the old one gets the extension, a small demo
# shop, synchronous and asynchronous jobs and a CSV upload, and is stopped;
# pg_upgrade (PostgreSQL 15 to 15, --link) moves it into a freshly initdb'd
# new one.  pg_upgrade starts both servers in binary-upgrade mode with
# shared_preload_libraries as configured, so this also proves that the
# library's _PG_init starts no launcher there.  Then, on the new cluster:
# every table of the shop's schemas has the same rows (count and an md5 of
# the rows in text form), every sequence the same state, the extension the
# same version, the launcher runs, and jobs submitted after the upgrade
# (synchronous, and asynchronous to `done`) work and get new job ids.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
old=pg_upgrade_old new=pg_upgrade_new db=bulkorder_upgrade
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

eval "$(bash "$top/tools/pg.sh" env $old)"
old_dir=$PGHOST old_port=$PGPORT
eval "$(bash "$top/tools/pg.sh" env $new)"
new_dir=$PGHOST new_port=$PGPORT
work="$(dirname "$old_dir")/pg_upgrade_work"

show_logs() {
  for f in "$old_dir/server.log" "$new_dir/server.log"; do
    [ -f "$f" ] && { echo "---- $f (tail)"; tail -20 "$f"; }
  done
  for f in $(find "$new_dir/data/pg_upgrade_output.d" -name '*.log' 2>/dev/null); do
    echo "---- $f (tail)"; tail -20 "$f"
  done
  [ -f "$work/pg_upgrade.out" ] && { echo "---- pg_upgrade output (tail)"; tail -30 "$work/pg_upgrade.out"; }
  return 0
}
cleanup() {
  local rc=$?
  [ $rc -ne 0 ] && show_logs
  bash "$top/tools/pg.sh" stop $old
  bash "$top/tools/pg.sh" stop $new
  rm -rf "$old_dir" "$new_dir" "$work"
  exit $rc
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }

# q DIR PORT SQL…: psql against one of the two clusters
q() { local dir=$1 port=$2; shift 2
      PGHOST=$dir PGPORT=$port psql -X -A -t -q -v ON_ERROR_STOP=1 -d $db "$@"; }
qo() { q "$old_dir" "$old_port" "$@"; }
qn() { q "$new_dir" "$new_port" "$@"; }
wait_for() {  # wait_for DIR PORT SECONDS SQL: until the query returns t
  local deadline=$((SECONDS + $3))
  until [ "$(q "$1" "$2" -c "$4" 2>/dev/null)" = t ]; do
    [ $SECONDS -ge "$deadline" ] && fail "timeout ($3 s) waiting for: $4"
    sleep 0.2
  done
}

# Every table and sequence of the shop's schemas: rows and an md5 of them.
# Lines are "name|rows|md5" and "name|last_value|is_called", in name order.
snapshot() {
  "$@" <<'SQL'
SELECT format('SELECT %L, count(*), md5(coalesce(string_agg(x::text, E''\n'' ORDER BY x::text), '''')) FROM %s x',
              c.oid::regclass, c.oid::regclass)
  FROM pg_class c
 WHERE c.relnamespace IN ('bulkorder'::regnamespace, 'bulkorder_catalog'::regnamespace)
   AND c.relkind IN ('r', 'p')
 ORDER BY c.oid::regclass::text \gexec
SELECT format('SELECT %L, last_value, is_called FROM %s', c.oid::regclass, c.oid::regclass)
  FROM pg_class c
 WHERE c.relnamespace IN ('bulkorder'::regnamespace, 'bulkorder_catalog'::regnamespace)
   AND c.relkind = 'S'
 ORDER BY c.oid::regclass::text \gexec
SQL
}

echo "# the old cluster: a shop, jobs, an upload"
bash "$top/tools/pg.sh" start $old >/dev/null
bin=$(dirname "$(command -v pg_ctl)")   # the private tree's bindir (pg.sh env put it first on the PATH)
bash "$top/tools/pg.sh" stop $new   # a cluster left by an earlier run
PGHOST=$old_dir PGPORT=$old_port psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "CREATE DATABASE $db"
qo -c "CREATE EXTENSION bulkorder"
qo -v orders=2000 -v seed=11 -f "$top/tools/demo-data.sql" >/dev/null
layout=$(qo -c "SELECT CASE WHEN EXISTS (SELECT FROM pg_depend WHERE refclassid = 'pg_extension'::regclass
                  AND deptype = 'e' AND objid = 'bulkorder.orders'::regclass)
                THEN 'the extension owns the shop''s tables' ELSE 'the shop''s tables are plain tables' END")
echo "# layout: $layout"
# synchronous jobs: a cancel with payment voids, tags
qo -c "SELECT bulkorder.bulk_cancel(ARRAY(SELECT order_no FROM bulkorder.order_list
                                          WHERE status = 'awaiting_shipment' ORDER BY order_no LIMIT 7), true)" >/dev/null
qo -c "SELECT bulkorder.bulk_tags(ARRAY(SELECT order_no FROM bulkorder.order_list ORDER BY order_no LIMIT 50), '{before_upgrade}')" >/dev/null
# an asynchronous job, run by a background worker
job=$(qo -c "SELECT bulkorder.run_bulk('orders', 'tags', ARRAY(SELECT order_no FROM bulkorder.order_list ORDER BY order_no DESC LIMIT 300),
                                       '{\"add\": [\"async_before\"]}', '{\"async\": true}')")
wait_for "$old_dir" "$old_port" 60 "SELECT status = 'done' FROM bulkorder.bulk_jobs WHERE job_id = $job"
# a CSV upload (with a header, a bad line and a repeat) and a run over its keys
keys=$(qo -c "SELECT string_agg(order_no::text, E'\n' ORDER BY order_no) FROM
                (SELECT order_no FROM bulkorder.order_list ORDER BY order_no LIMIT 5) o")
csv=$(printf '注文番号,備考\n%s\nabc\n%s\n' "$keys" "${keys%%$'\n'*}" | base64 -w0)
upload=$(qo -c "SELECT bulkorder.upload_csv('orders', decode('$csv', 'base64'), '{\"operator\": \"tanaka\"}')")
qo -c "SELECT bulkorder.run_bulk('orders', 'tags', bulkorder.upload_targets($upload), '{\"add\": [\"csv\"]}',
                                 '{\"source\": \"csv\"}')" >/dev/null
got=$(qo -c "SELECT key_count || ' ' || error_count FROM bulkorder.upload_list WHERE upload_id = $upload")
[ "$got" = "5 2" ] || fail "upload $upload: expected 5 keys and 2 errors, got '$got'"
got=$(qo -c "SELECT count(*) || ' ' || count(*) FILTER (WHERE is_async) || ' ' || count(*) FILTER (WHERE status = 'done')
               FROM bulkorder.bulk_jobs")
[ "$got" = "4 1 4" ] || fail "expected 4 jobs (1 async), all done; got '$got'"
echo "ok - old cluster: 2000 orders, 4 jobs done (1 asynchronous), upload $upload with 5 keys and 2 errors"

before=$(snapshot qo)
version=$(qo -c "SELECT extversion FROM pg_extension WHERE extname = 'bulkorder'")
old_max_job=$(qo -c "SELECT max(job_id) FROM bulkorder.bulk_jobs")
for t in orders order_items customers subscriptions bulk_jobs bulk_job_items bulk_job_chunks payment_requests \
         notifications uploads upload_lines; do
  grep -qE "^bulkorder\.$t\|[1-9]" <<<"$before" || fail "the old cluster's bulkorder.$t is empty: nothing to compare"
done
bash "$top/tools/pg.sh" stop $old

echo "# pg_upgrade into a new cluster"
bash "$top/tools/pg.sh" start $new >/dev/null   # initdb, with the same settings
bash "$top/tools/pg.sh" stop $new
rm -rf "$work"; mkdir -p "$work"
[ "$(id -u)" -eq 0 ] && chown postgres:postgres "$work"
t0=$SECONDS
# --retain keeps pg_upgrade's logs; at debug1 its servers log every
# background worker they register
debug="-c log_min_messages=debug1"
if ! (cd "$work" && as_pg "$bin/pg_upgrade" --link --retain -U postgres -b "$bin" -B "$bin" \
        -d "$old_dir/data" -D "$new_dir/data" -p "$old_port" -P "$new_port" -s "$work" \
        -o "$debug" -O "$debug" > "$work/pg_upgrade.out" 2>&1); then
  fail "pg_upgrade failed"
fi
grep -q "Upgrade Complete" "$work/pg_upgrade.out" || fail "pg_upgrade did not say 'Upgrade Complete'"
echo "ok - pg_upgrade --link ($((SECONDS - t0)) s)"
server_log=$(find "$new_dir/data/pg_upgrade_output.d" -name pg_upgrade_server.log)
[ -n "$server_log" ] && [ "$(grep -c 'DEBUG: ' $server_log)" -gt 0 ] \
  || fail "no debug1 server log from pg_upgrade: cannot tell whether a launcher ran"
if grep -E 'background worker "?bulkorder' $server_log; then
  fail "a bulkorder background worker was registered or started in binary-upgrade mode"
fi
echo "ok - in binary-upgrade mode bulkorder registered no launcher and started no worker" \
     "($(grep -c 'DEBUG: ' $server_log) debug lines of pg_upgrade's servers)"

BULKORDER_KEEP_DATA=1 bash "$top/tools/pg.sh" start $new >/dev/null
after=$(snapshot qn)
if [ "$before" != "$after" ]; then
  diff <(echo "$before") <(echo "$after") || true
  fail "tables or sequences differ after pg_upgrade"
fi
echo "ok - $(grep -c '|.*|[0-9a-f]\{32\}$' <<<"$after") tables: same row counts and checksums" \
     "(orders $(grep '^bulkorder\.orders|' <<<"$after" | cut -d'|' -f2) rows," \
     "bulk_job_items $(grep '^bulkorder\.bulk_job_items|' <<<"$after" | cut -d'|' -f2))"
echo "ok - $(grep -cE '\|(t|f)$' <<<"$after") sequences: same state"
got=$(qn -c "SELECT extversion FROM pg_extension WHERE extname = 'bulkorder'")
[ "$got" = "$version" ] || fail "extension version $got after the upgrade, $version before"
echo "ok - extension version $got, as before"
wait_for "$new_dir" "$new_port" 30 \
  "SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'bulkorder launcher'"
echo "ok - the launcher runs on the new cluster"

echo "# the upgraded shop goes on"
sync_job=$(qn -c "SELECT bulkorder.bulk_tags(ARRAY(SELECT order_no FROM bulkorder.order_list ORDER BY order_no LIMIT 20), '{after_upgrade}')")
[ "$sync_job" -gt "$old_max_job" ] || fail "job id $sync_job after the upgrade is not past $old_max_job"
got=$(qn -c "SELECT status || ' ' || success_count FROM bulkorder.bulk_jobs WHERE job_id = $sync_job")
[ "$got" = "done 20" ] || fail "synchronous job $sync_job: expected 'done 20', got '$got'"
echo "ok - a synchronous job after the upgrade: job $sync_job done, 20 changed"
job=$(qn -c "SELECT bulkorder.run_bulk('orders', 'tags', ARRAY(SELECT order_no FROM bulkorder.order_list ORDER BY order_no LIMIT 500),
                                      '{\"add\": [\"async_after\"]}', '{\"async\": true}')")
wait_for "$new_dir" "$new_port" 60 "SELECT status = 'done' FROM bulkorder.bulk_jobs WHERE job_id = $job"
got=$(qn -c "SELECT total_count || ' ' || success_count || ' ' || failure_count FROM bulkorder.bulk_jobs WHERE job_id = $job")
[ "$got" = "500 500 0" ] || fail "async job $job: expected 500 done, got '$got'"
got=$(qn -c "SELECT count(*) FROM bulkorder.orders WHERE 'async_after' = ANY (tags)")
[ "$got" = 500 ] || fail "async job $job: $got orders tagged, expected 500"
echo "ok - an asynchronous job after the upgrade: job $job done, 500 orders tagged"
echo "pg_upgrade: all checks passed"
