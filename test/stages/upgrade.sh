#!/usr/bin/env bash
# Upgrading a shop in place, along every released path:
#  1. a cluster runs bulkorder 1.0 as released — its install script
#     (extension/sql/releases/bulkorder--1.0.sql) and its library, built from
#     the 1.0 commit — with a demo shop (database shop10), jobs of every page
#     (sync and async), a CSV upload and a shipment import;
#  2. the 1.1 library, built from the 1.1 commit, replaces it; shop10 is
#     updated to 1.1 and runs the jobs again, and database shop11 is a fresh
#     1.1 with its own demo shop and jobs;
#  3. the new library replaces that, the server restarts, and ALTER EXTENSION
#     bulkorder UPDATE takes both databases to the new version
#     (1.0 → 1.1 → new and 1.1 → new);
#  4. each upgraded database equals a fresh install of the new version in the
#     same cluster: every object, extension members included, with owners and
#     grants (pg_dump --binary-upgrade --schema-only, normalised), the
#     catalogue's rows and the extension's dump configuration;
#  5. every row of each shop survived (a checksum per table over the columns
#     it had before), every row is in shop 1, and jobs of every page run
#     afterwards, sync and async;
#  6. pg_dump/pg_restore of an upgraded shop gives the same schema and rows.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
# the released versions: the commits whose builds they are (CHANGELOG.md)
v10_commit=e9bc9fe14215697b3871c206eb4c1773b83783a8
v11_commit=af5d373f6a7874103fc581ad10994a122ae65cbd
new_version=$(sed -n "s/^default_version *= *'\(.*\)'/\1/p" "$top/bulkorder.control")
sysbin=/usr/lib/postgresql/15/bin
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

work=$(mktemp -d /tmp/bulkorder-upgrade.XXXXXX)
chmod 755 "$work"
tree="$work/tree"
bin="$tree/usr/lib/postgresql/15/bin"
data="$work/data"
log="$work/server.log"
port=$((50000 + $(echo "$top/upgrade-stage" | cksum | cut -d' ' -f1) % 10000))
export PGHOST=$work PGPORT=$port PGUSER=postgres
cleanup() {
  [ -f "$data/postmaster.pid" ] && as_pg "$bin/pg_ctl" -D "$data" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; echo "replay: bash test/stages/upgrade.sh (work dir $work is removed on exit)"; [ -f "$log" ] && { echo "---- server log (tail)"; tail -30 "$log"; }; exit 1; }
q() { local db=$1; shift; psql -X -A -t -q -v ON_ERROR_STOP=1 -d "$db" "$@"; }
pg_ctl_() { as_pg "$bin/pg_ctl" -D "$data" -l "$log" -w "$@" >/dev/null; }

mkdir -p "$tree/usr/lib/postgresql" "$tree/usr/share/postgresql"
cp -a /usr/lib/postgresql/15 "$tree/usr/lib/postgresql/"
cp -a /usr/share/postgresql/15 "$tree/usr/share/postgresql/"

# install_release VERSION COMMIT: that release's library and scripts, built
# from its commit, into the private tree; false when this clone lacks the
# commit (a shallow clone: fetched from the origin when it has it)
install_release() {
  local v=$1 commit=$2 src="$work/src$1" f
  git -C "$top" cat-file -e "$commit^{commit}" 2>/dev/null ||
    git -C "$top" fetch -q origin "$commit" 2>/dev/null || true
  git -C "$top" cat-file -e "$commit^{commit}" 2>/dev/null || return 1
  mkdir -p "$src"
  git -C "$top" archive "$commit" | tar -x -C "$src"
  make -C "$src" -s with_llvm=no PG_CONFIG=$sysbin/pg_config >/dev/null
  make -C "$src" -s with_llvm=no PG_CONFIG=$sysbin/pg_config install DESTDIR="$tree" >/dev/null
  # the scripts a release built are the ones frozen under releases/
  for f in "$src"/bulkorder--*"$v".sql; do
    cmp -s "$f" "$top/extension/sql/releases/$(basename "$f")" ||
      fail "extension/sql/releases/$(basename "$f") differs from what the $v commit builds"
  done
  echo "ok - built bulkorder $v from $commit; its scripts equal extension/sql/releases/"
}
install_new() { make -C "$top" -s install DESTDIR="$tree" >/dev/null; }
restart() { pg_ctl_ stop -m fast; pg_ctl_ start; }

have_v10=true have_v11=true
install_release 1.0 $v10_commit || {
  have_v10=false
  # without the history only the released scripts can be installed (by the
  # new library, which refuses to run their jobs): the shops are loaded,
  # their jobs are not run before the update to the new version
  install_new
  echo "note: the 1.0 commit $v10_commit is not in this clone: 1.0 and 1.1 are installed from their scripts only, and their jobs are not run before the update"
}

[ "$(id -u)" -eq 0 ] && chown -R postgres:postgres "$work"
as_pg "$bin/initdb" -D "$data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 --no-sync >/dev/null
cat >> "$data/postgresql.conf" <<CONF
port = $port
unix_socket_directories = '$work'
listen_addresses = ''
fsync = off
synchronous_commit = off
shared_preload_libraries = 'bulkorder'
max_worker_processes = 16
log_min_messages = warning
CONF
pg_ctl_ start

# demo_shop DB COMMIT: the demo shop of that release (its demo-data.sql)
demo_shop() {
  local db=$1 commit=$2 f="$work/demo-data-$2.sql"
  git -C "$top" show "$commit:tools/demo-data.sql" > "$f" 2>/dev/null || cp "$top/tools/demo-data.sql" "$f"
  q "$db" -v orders=3000 -v seed=11 -f "$f" >/dev/null
}

q postgres -c "CREATE DATABASE shop10" -c "CREATE DATABASE shop11" -c "CREATE DATABASE fresh"
q shop10 -c "CREATE EXTENSION bulkorder VERSION '1.0'"
demo_shop shop10 $v10_commit

wait_jobs() {  # wait_jobs DB: every job finished (bounded)
  local deadline=$((SECONDS + 60))
  until [ "$(q "$1" -c "SELECT count(*) = 0 FROM bulkorder.bulk_jobs WHERE status IN ('queued', 'running')")" = t ]; do
    [ $SECONDS -ge "$deadline" ] && fail "jobs of $1 did not finish in 60 s"
    sleep 0.2
  done
}
# jobs of every page, sync and async, a CSV upload and a shipment import
run_jobs() {  # run_jobs DB TAG
  local db=$1 tag=$2
  q "$db" <<SQL >/dev/null
SELECT bulkorder.run_bulk('orders', 'cancel',
    ARRAY(SELECT order_no FROM bulkorder.order_list WHERE status = 'awaiting_shipment' ORDER BY order_no LIMIT 15),
    '{"void_payment": true}');
SELECT bulkorder.run_bulk('orders', 'tags',
    ARRAY(SELECT order_no FROM bulkorder.order_list ORDER BY order_no DESC LIMIT 400),
    jsonb_build_object('add', jsonb_build_array('$tag')), '{"async": true}');
SELECT bulkorder.run_bulk('subscriptions', 'remarks',
    ARRAY(SELECT course_order_no FROM bulkorder.subscription_list ORDER BY course_order_no LIMIT 30),
    jsonb_build_object('text', '$tag', 'mode', 'append'));
SELECT bulkorder.run_bulk('shipments', 'delivery_method',
    ARRAY(SELECT order_no FROM bulkorder.shipment_list WHERE status = 'awaiting_shipment' ORDER BY order_no LIMIT 20),
    jsonb_build_object('delivery_method', (SELECT code FROM bulkorder.delivery_methods ORDER BY code LIMIT 1),
                       'time_slot', NULL));
SELECT bulkorder.run_bulk('customers', 'points',
    ARRAY(SELECT customer_id FROM bulkorder.customer_list ORDER BY customer_id LIMIT 50), '{"delta": 10}',
    '{"async": true}');
SELECT bulkorder.upload_csv('orders',
    convert_to(E'注文番号\n' || (SELECT string_agg(order_no::text, E'\n') FROM
                                   (SELECT order_no FROM bulkorder.orders ORDER BY order_no LIMIT 25) o), 'UTF8'));
SELECT bulkorder.import_shipments(
    convert_to((SELECT string_agg(order_no || ',$tag-' || order_no, E'\n') FROM
                  (SELECT order_no FROM bulkorder.shipment_list WHERE status = 'awaiting_shipment'
                   ORDER BY order_no DESC LIMIT 10) o), 'UTF8'));
SQL
  wait_jobs "$db"
  local bad
  bad=$(q "$db" -c "SELECT count(*) FROM bulkorder.bulk_jobs WHERE status <> 'done' OR success_count = 0")
  [ "$bad" = 0 ] || fail "$db: $bad jobs not done or with no success: $(q "$db" -c "SELECT job_id, page, operation, status, success_count, failure_count, error_message FROM bulkorder.bulk_jobs")"
}
# ---- 1. 1.0 with its jobs
if $have_v10; then
  run_jobs shop10 v10
  echo "ok - 1.0: $(q shop10 -c "SELECT count(*) FROM bulkorder.bulk_jobs") jobs of every page done (sync and async), a CSV upload"
fi

# ---- 2. 1.1: shop10 updated, shop11 fresh
if $have_v10; then
  install_release 1.1 $v11_commit || have_v11=false
  restart
fi
$have_v10 && $have_v11 || have_v11=false
q shop10 -c "ALTER EXTENSION bulkorder UPDATE TO '1.1'"
q shop11 -c "CREATE EXTENSION bulkorder VERSION '1.1'"
demo_shop shop11 $v11_commit
if $have_v11; then
  run_jobs shop10 v11
  run_jobs shop11 v11
  echo "ok - 1.1: shop10 updated from 1.0 and shop11 installed fresh; jobs of every page done in both"
fi

# checksums of every shop table over the columns it has now
checksums() {  # checksums DB
  q "$1" -c "$(q "$1" <<'SQL'
SELECT string_agg(format('SELECT %L, count(*), md5(coalesce(string_agg(r, %L ORDER BY r), %L)) FROM (SELECT (%s)::text AS r FROM %s x) s',
                         c.relname, E'\n', '', 'ROW(' || cols || ')', c.oid::regclass), E' UNION ALL\n' ORDER BY c.relname)
FROM pg_class c
CROSS JOIN LATERAL (SELECT string_agg('x.' || quote_ident(a.attname), ', ' ORDER BY a.attnum) AS cols
                    FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) a
WHERE c.relnamespace = 'bulkorder'::regnamespace AND c.relkind = 'r'
SQL
) ORDER BY 1"
}
# the columns of every shop table, as table.column, comma-separated
columns() {  # columns DB
  q "$1" -c "SELECT string_agg(c.relname || '.' || a.attname, ',' ORDER BY c.relname, a.attnum)
             FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
             WHERE c.relnamespace = 'bulkorder'::regnamespace AND c.relkind = 'r'"
}
before10=$(checksums shop10)
before11=$(checksums shop11)
columns10=$(columns shop10)
columns11=$(columns shop11)
[ "$(echo "$before10" | wc -l)" -ge 20 ] || fail "expected the shop's tables, got: $before10"
# checksums_as_before DB BEFORE COLUMNS: the same sums, over the columns the
# tables had then (an upgrade adds columns: shop_id, tracking_format, …)
checksums_as_before() {  # checksums_as_before DB BEFORE COLUMNS
  local db=$1 tables
  tables=$(echo "$2" | cut -d'|' -f1 | sed "s/.*/'&'/" | paste -sd,)
  q "$db" -c "$(q "$db" -v cols="$3" <<SQL
SELECT string_agg(format('SELECT %L, count(*), md5(coalesce(string_agg(r, %L ORDER BY r), %L)) FROM (SELECT (%s)::text AS r FROM %s x) s',
                         c.relname, E'\n', '', 'ROW(' || cols || ')', c.oid::regclass), E' UNION ALL\n' ORDER BY c.relname)
FROM pg_class c
CROSS JOIN LATERAL (SELECT string_agg('x.' || quote_ident(a.attname), ', ' ORDER BY a.attnum) AS cols
                    FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
                      AND a.attname <> 'shop_id'
                      AND c.relname || '.' || a.attname = ANY (string_to_array(:'cols', ','))) a
WHERE c.relnamespace = 'bulkorder'::regnamespace AND c.relkind = 'r' AND c.relname IN ($tables)
SQL
) ORDER BY 1"
}

# ---- 3. the new library, a restart, ALTER EXTENSION UPDATE of both
install_new
restart
# until the update, the new library refuses the old objects, saying what to do
set +e
out=$(psql -X -q -d shop11 -v VERBOSITY=verbose -c "SELECT bulkorder.run_bulk('orders', 'tags',
        ARRAY(SELECT order_no FROM bulkorder.orders ORDER BY order_no LIMIT 3), '{\"add\": [\"early\"]}')" 2>&1)
set -e
echo "$out" | grep -q 55000 && echo "$out" | grep -q "ALTER EXTENSION bulkorder UPDATE" ||
  fail "a job before the update: expected 55000 with the hint to update, got: $out"
echo "ok - before ALTER EXTENSION UPDATE the new library refuses jobs on 1.1's objects (55000, with the hint)"
for db in shop10 shop11; do
  q $db -c "ALTER EXTENSION bulkorder UPDATE"
  got=$(q $db -c "SELECT extversion FROM pg_extension WHERE extname = 'bulkorder'")
  [ "$got" = "$new_version" ] || fail "$db: extension version after the update: $got, expected $new_version"
done
echo "ok - ALTER EXTENSION bulkorder UPDATE: 1.0 -> 1.1 -> $new_version (shop10) and 1.1 -> $new_version (shop11)"

# ---- 4. each upgraded database equals a fresh install
q fresh -c "CREATE EXTENSION bulkorder"
schema_of() {  # every object, members included; OIDs and dump noise removed
  as_pg "$bin/pg_dump" -h "$work" -p "$port" -U postgres --binary-upgrade --schema-only -d "$1" |
    grep -v -e 'binary_upgrade_set_' -e 'binary_upgrade_create_empty_extension' \
            -e "^WHERE oid = '[0-9]*';" -e '^SET relfrozenxid' -e '^SELECT pg_catalog.setval(' -e '^\\restrict' -e '^\\unrestrict' -e '^--' -e '^$'
}
catalogue_of() {  # the catalogue's rows and the extension's dump configuration
  q "$1" <<'SQL'
SELECT c.relname || ': ' || (SELECT coalesce(string_agg(r, E'\n' ORDER BY r), '')
                              FROM (SELECT x::text AS r FROM bulkorder_catalog.pages x WHERE c.relname = 'pages'
                                    UNION ALL SELECT x::text FROM bulkorder_catalog.operations x WHERE c.relname = 'operations'
                                    UNION ALL SELECT x::text FROM bulkorder_catalog.operation_rules x WHERE c.relname = 'operation_rules'
                                    UNION ALL SELECT x::text FROM bulkorder_catalog.operation_param_checks x
                                              WHERE c.relname = 'operation_param_checks') s)
FROM pg_class c WHERE c.relnamespace = 'bulkorder_catalog'::regnamespace AND c.relkind = 'r'
  AND c.relname IN ('pages', 'operations', 'operation_rules', 'operation_param_checks')
UNION ALL
SELECT 'extconfig: ' || coalesce((SELECT string_agg(cfg::regclass::text || ' ' || coalesce(cond, ''), ', ' ORDER BY cfg::regclass::text)
                                  FROM unnest(extconfig, extcondition) AS u(cfg, cond)), '')
FROM pg_extension WHERE extname = 'bulkorder'
ORDER BY 1
SQL
}
other_catalogue_tables=$(q fresh -c "SELECT string_agg(relname, ' ') FROM pg_class WHERE relnamespace = 'bulkorder_catalog'::regnamespace
                                      AND relkind = 'r' AND relname NOT IN ('pages', 'operations', 'operation_rules', 'operation_param_checks')")
[ -z "$other_catalogue_tables" ] || fail "catalogue tables this stage does not compare yet: $other_catalogue_tables (add them to catalogue_of)"
schema_of fresh > "$work/fresh.schema"
[ "$(grep -c 'CREATE TABLE bulkorder.orders' "$work/fresh.schema")" = 1 ] || fail "schema dump has no bulkorder.orders"
catalogue_of fresh > "$work/fresh.cat"
for db in shop10 shop11; do
  schema_of $db > "$work/$db.schema"
  diff -u "$work/fresh.schema" "$work/$db.schema" > "$work/schema.diff" ||
    fail "the upgraded schema of $db differs from a fresh $new_version install:
$(head -60 "$work/schema.diff")"
  catalogue_of $db > "$work/$db.cat"
  diff -u "$work/fresh.cat" "$work/$db.cat" > "$work/cat.diff" ||
    fail "the upgraded catalogue of $db differs from a fresh install:
$(head -40 "$work/cat.diff")"
done
echo "ok - upgraded = fresh $new_version (both paths): schema, members, owners, grants ($(wc -l < "$work/fresh.schema") normalised lines)"
echo "ok - upgraded = fresh $new_version (both paths): catalogue rows ($(grep -c . "$work/fresh.cat") lines) and dump configuration"

# ---- 5. every row survived, in shop 1; jobs run afterwards
for db in shop10 shop11; do
  if [ $db = shop10 ]; then before=$before10 cols=$columns10; else before=$before11 cols=$columns11; fi
  after=$(checksums_as_before $db "$before" "$cols")
  [ "$before" = "$after" ] || fail "$db: rows changed by the upgrade:
$(diff <(echo "$before") <(echo "$after"))"
  if [ -n "$(q $db -c "SELECT 1 FROM pg_attribute WHERE attrelid = 'bulkorder.orders'::regclass AND attname = 'shop_id'")" ]; then
    others=$(q $db -c "SELECT sum(n) FROM ($(q $db <<'SQL'
SELECT string_agg(format('SELECT count(*) FROM %s WHERE shop_id IS DISTINCT FROM 1', c.oid::regclass), ' UNION ALL ')
FROM pg_class c WHERE c.relnamespace = 'bulkorder'::regnamespace AND c.relkind = 'r'
  AND EXISTS (SELECT FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'shop_id')
SQL
)) s(n)")
    [ "$others" = 0 ] || fail "$db: $others rows are not in shop 1 after the upgrade"
  fi
  echo "ok - $db: every row of $(echo "$before" | wc -l) shop tables survived the upgrade, in shop 1"
  run_jobs $db v12
  echo "ok - $db after the upgrade: jobs of every page run (sync and async), a CSV upload, a shipment import"
done

# ---- 6. pg_dump/pg_restore of an upgraded shop
as_pg "$bin/pg_dump" -h "$work" -p "$port" -U postgres -Fc -d shop10 -f "$work/shop.dump"
q postgres -c "CREATE DATABASE restored"
as_pg "$bin/pg_restore" -h "$work" -p "$port" -U postgres --exit-on-error -d restored "$work/shop.dump" ||
  fail "pg_restore of the upgraded shop failed"
schema_of restored > "$work/restored.schema"
diff -u "$work/shop10.schema" "$work/restored.schema" > "$work/restore.diff" ||
  fail "the restored schema differs from the upgraded one:
$(head -60 "$work/restore.diff")"
full_checksums=$(q shop10 <<'SQL'
SELECT string_agg(format('SELECT %L, count(*), md5(coalesce(string_agg(x::text, %L ORDER BY x::text), %L)) FROM %s x',
                         c.relname, E'\n', '', c.oid::regclass), E' UNION ALL\n' ORDER BY c.relname)
FROM pg_class c WHERE c.relnamespace = 'bulkorder'::regnamespace AND c.relkind = 'r'
SQL
)
[ "$(q shop10 -c "$full_checksums ORDER BY 1")" = "$(q restored -c "$full_checksums ORDER BY 1")" ] ||
  fail "the restored rows differ from the upgraded shop's"
echo "ok - pg_dump/pg_restore of the upgraded shop: the same schema and every row"
q restored -c "SELECT bulkorder.run_bulk('orders', 'tags', ARRAY(SELECT order_no FROM bulkorder.order_list ORDER BY order_no LIMIT 5),
                                         '{\"add\": [\"restored\"]}')" >/dev/null
echo "ok - the restored shop runs a job"
pg_ctl_ stop -m fast
