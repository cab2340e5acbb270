#!/usr/bin/env bash
# Upgrading a shop in place (README, "Upgrading and uninstalling"):
#  1. a cluster runs bulkorder 1.0 as released — its install script
#     (extension/sql/releases/bulkorder--1.0.sql) and its library, built from
#     the 1.0 commit — with a demo shop, jobs of every page (sync and async),
#     a CSV upload and a shipment import;
#  2. the new library replaces it (as a package upgrade would), the server
#     restarts, and ALTER EXTENSION bulkorder UPDATE runs;
#  3. the upgraded database equals a fresh install of the new version in the
#     same cluster: every object, extension members included, with owners and
#     grants (pg_dump --binary-upgrade --schema-only, normalised), the
#     catalogue's rows and the extension's dump configuration;
#  4. every row of the shop survived (a checksum per table over the columns
#     1.0 had), and jobs of every page run afterwards, sync and async;
#  5. pg_dump/pg_restore of the upgraded shop gives the same schema and rows.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
# the released 1.0: the commit whose build is 1.0 (README, "Releases")
v10_commit=e9bc9fe14215697b3871c206eb4c1773b83783a8
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
fail() { echo "FAIL: $*"; [ -f "$log" ] && { echo "---- server log (tail)"; tail -30 "$log"; }; exit 1; }
q() { local db=$1; shift; psql -X -A -t -q -v ON_ERROR_STOP=1 -d "$db" "$@"; }
pg_ctl_() { as_pg "$bin/pg_ctl" -D "$data" -l "$log" -w "$@" >/dev/null; }

# ---- 1. bulkorder 1.0, library and scripts, in a private copy of PostgreSQL
mkdir -p "$work/src10" "$tree/usr/lib/postgresql" "$tree/usr/share/postgresql"
cp -a /usr/lib/postgresql/15 "$tree/usr/lib/postgresql/"
cp -a /usr/share/postgresql/15 "$tree/usr/share/postgresql/"
# a shallow clone may lack the 1.0 commit: fetch it if the origin has it
git -C "$top" cat-file -e "$v10_commit^{commit}" 2>/dev/null ||
  git -C "$top" fetch -q origin "$v10_commit" 2>/dev/null || true
have_v10=false
if git -C "$top" cat-file -e "$v10_commit^{commit}" 2>/dev/null; then
  have_v10=true
  git -C "$top" archive "$v10_commit" | tar -x -C "$work/src10"
  make -C "$work/src10" -s with_llvm=no PG_CONFIG=$sysbin/pg_config >/dev/null
  make -C "$work/src10" -s with_llvm=no PG_CONFIG=$sysbin/pg_config install DESTDIR="$tree" >/dev/null
  # the released install script is the one 1.0 shipped
  cmp -s "$work/src10/bulkorder--1.0.sql" "$top/extension/sql/releases/bulkorder--1.0.sql" ||
    fail "extension/sql/releases/bulkorder--1.0.sql differs from what the 1.0 commit builds"
  echo "ok - built bulkorder 1.0 from $v10_commit; its script equals extension/sql/releases/bulkorder--1.0.sql"
else
  # without the history only 1.0's script can be installed (by the new
  # library, which then refuses to run 1.0's jobs): the shop is loaded, its
  # jobs are not run before the update
  make -C "$top" -s install DESTDIR="$tree" >/dev/null
  echo "note: the 1.0 commit $v10_commit is not in this clone: 1.0 is installed from its script only, and its jobs are not run before the update"
fi

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

q postgres -c "CREATE DATABASE shop" -c "CREATE DATABASE fresh"
q shop -c "CREATE EXTENSION bulkorder VERSION '1.0'"
q shop -v orders=3000 -v seed=11 -f "$top/tools/demo-data.sql" >/dev/null

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
if $have_v10; then
  run_jobs shop v10
  echo "ok - 1.0: $(q shop -c "SELECT count(*) FROM bulkorder.bulk_jobs") jobs of every page done (sync and async), a CSV upload"
fi

# checksums of every shop table over the columns it has now
checksum_sql=$(q shop <<'SQL'
SELECT string_agg(format('SELECT %L, count(*), md5(coalesce(string_agg(r, %L ORDER BY r), %L)) FROM (SELECT (%s)::text AS r FROM %s x) s',
                         c.relname, E'\n', '', 'ROW(' || cols || ')', c.oid::regclass), E' UNION ALL\n' ORDER BY c.relname)
FROM pg_class c
CROSS JOIN LATERAL (SELECT string_agg('x.' || quote_ident(a.attname), ', ' ORDER BY a.attnum) AS cols
                    FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) a
WHERE c.relnamespace = 'bulkorder'::regnamespace AND c.relkind = 'r'
SQL
)
before=$(q shop -c "$checksum_sql ORDER BY 1")
[ "$(echo "$before" | wc -l)" -ge 20 ] || fail "expected the shop's tables, got: $before"

# ---- 2. the new library, a restart, ALTER EXTENSION UPDATE
pg_ctl_ stop -m fast
make -C "$top" -s install DESTDIR="$tree" >/dev/null
pg_ctl_ start
# until the update, the new library refuses the old objects, saying what to do
$have_v10 || q shop -c "SELECT 1" >/dev/null
set +e
out=$(psql -X -q -d shop -v VERBOSITY=verbose -c "SELECT bulkorder.run_bulk('orders', 'tags',
        ARRAY(SELECT order_no FROM bulkorder.orders ORDER BY order_no LIMIT 3), '{\"add\": [\"early\"]}')" 2>&1)
set -e
echo "$out" | grep -q 55000 && echo "$out" | grep -q "ALTER EXTENSION bulkorder UPDATE" ||
  fail "a job before the update: expected 55000 with the hint to update, got: $out"
echo "ok - before ALTER EXTENSION UPDATE the new library refuses jobs on 1.0's objects (55000, with the hint)"
q shop -c "ALTER EXTENSION bulkorder UPDATE"
got=$(q shop -c "SELECT extversion FROM pg_extension WHERE extname = 'bulkorder'")
[ "$got" = "$new_version" ] || fail "extension version after the update: $got, expected $new_version"
echo "ok - ALTER EXTENSION bulkorder UPDATE: 1.0 -> $got"

# ---- 3. the upgraded database equals a fresh install
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
schema_of fresh > "$work/fresh.schema"; schema_of shop > "$work/shop.schema"
diff -u "$work/fresh.schema" "$work/shop.schema" > "$work/schema.diff" ||
  fail "the upgraded schema differs from a fresh $new_version install:
$(head -60 "$work/schema.diff")"
[ "$(grep -c 'CREATE TABLE bulkorder.orders' "$work/fresh.schema")" = 1 ] || fail "schema dump has no bulkorder.orders"
echo "ok - upgraded = fresh $new_version: schema, members, owners, grants ($(wc -l < "$work/fresh.schema") normalised lines)"
catalogue_of fresh > "$work/fresh.cat"; catalogue_of shop > "$work/shop.cat"
diff -u "$work/fresh.cat" "$work/shop.cat" > "$work/cat.diff" ||
  fail "the upgraded catalogue differs from a fresh install:
$(head -40 "$work/cat.diff")"
echo "ok - upgraded = fresh $new_version: catalogue rows ($(grep -c . "$work/fresh.cat") lines) and dump configuration"

# ---- 4. every row survived; jobs run afterwards
after=$(q shop -c "$checksum_sql ORDER BY 1")
[ "$before" = "$after" ] || fail "rows changed by the upgrade:
$(diff <(echo "$before") <(echo "$after"))"
echo "ok - every row of $(echo "$before" | wc -l) shop tables survived the upgrade"
run_jobs shop v11
echo "ok - after the upgrade: jobs of every page run (sync and async), a CSV upload, a shipment import"

# ---- 5. pg_dump/pg_restore of the upgraded shop
as_pg "$bin/pg_dump" -h "$work" -p "$port" -U postgres -Fc -d shop -f "$work/shop.dump"
q postgres -c "CREATE DATABASE restored"
as_pg "$bin/pg_restore" -h "$work" -p "$port" -U postgres --exit-on-error -d restored "$work/shop.dump" ||
  fail "pg_restore of the upgraded shop failed"
schema_of restored > "$work/restored.schema"
diff -u "$work/shop.schema" "$work/restored.schema" > "$work/restore.diff" ||
  fail "the restored schema differs from the upgraded one:
$(head -60 "$work/restore.diff")"
full_checksums=$(q shop <<'SQL'
SELECT string_agg(format('SELECT %L, count(*), md5(coalesce(string_agg(x::text, %L ORDER BY x::text), %L)) FROM %s x',
                         c.relname, E'\n', '', c.oid::regclass), E' UNION ALL\n' ORDER BY c.relname)
FROM pg_class c WHERE c.relnamespace = 'bulkorder'::regnamespace AND c.relkind = 'r'
SQL
)
[ "$(q shop -c "$full_checksums ORDER BY 1")" = "$(q restored -c "$full_checksums ORDER BY 1")" ] ||
  fail "the restored rows differ from the upgraded shop's"
echo "ok - pg_dump/pg_restore of the upgraded shop: the same schema and every row"
q restored -c "SELECT bulkorder.run_bulk('orders', 'tags', ARRAY(SELECT order_no FROM bulkorder.order_list ORDER BY order_no LIMIT 5),
                                         '{\"add\": [\"restored\"]}')" >/dev/null
echo "ok - the restored shop runs a job"
pg_ctl_ stop -m fast
