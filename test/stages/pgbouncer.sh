#!/usr/bin/env bash
# Stage: two shops' clients through PgBouncer in transaction mode, as an
# admin tool reaches the database (README; docs/security.md).
# One role serves both shops; eight clients (four a shop) share a pool of
# two server connections, so every client's transactions run on server
# connections another shop's clients used just before.  Half the clients
# name their shop with options.shop, half with SET LOCAL bulkorder.shop in
# the transaction.  No call may act on the wrong shop: every job, every
# tag it wrote and every row a client read must be its own shop's.
# Uses the test cluster of tools/test.sh (PGHOST/PGPORT), or starts one.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
db=bulkorder_pooler
role=bulkorder_pool_app
rounds=${POOLER_ROUNDS:-15}
fail() { echo "FAIL: $*"; echo "replay: bash test/stages/pgbouncer.sh (POOLER_ROUNDS=$rounds)"; exit 1; }
command -v pgbouncer >/dev/null || PATH=$PATH:/usr/sbin
command -v pgbouncer >/dev/null || fail "pgbouncer is not installed (tools/deps.sh installs Debian's pgbouncer)"
if [ -z "${BULKORDER_TEST_HOST:-}" ]; then
  eval "$(bash tools/pg.sh start pooler)"
  own_cluster=1
fi
q() { PGOPTIONS="-c client_min_messages=warning" psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
work=$(mktemp -d /tmp/bulkorder-pgbouncer.XXXXXX)
chmod 755 "$work"
bport=$((40000 + $(echo "$top/pgbouncer" | cksum | cut -d' ' -f1) % 10000))
cleanup() {
  [ -f "$work/pgbouncer.pid" ] && kill "$(cat "$work/pgbouncer.pid")" 2>/dev/null
  sleep 0.3
  q -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  q -d postgres -c "DROP ROLE IF EXISTS $role" >/dev/null 2>&1 || true
  [ -n "${own_cluster:-}" ] && bash tools/pg.sh stop pooler
  rm -rf "$work"
}
trap cleanup EXIT

# two shops of 300 orders each, the same order numbers in both
q -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db"
q -d postgres -c "DROP ROLE IF EXISTS $role" -c "CREATE ROLE $role LOGIN"
q -d $db -c "CREATE EXTENSION bulkorder" -c "SELECT bulkorder.create_shop('kenko', '健康食品'), bulkorder.create_shop('cosme', 'コスメ')" >/dev/null
for s in kenko cosme; do
  PGOPTIONS="-c client_min_messages=warning -c bulkorder.shop=$s" psql -X -q -v ON_ERROR_STOP=1 -d $db \
    -v orders=300 -v seed=5 -f tools/demo-data.sql >/dev/null
done
q -d $db -c "SELECT bulkorder.grant_operator('$role', 'kenko'), bulkorder.grant_operator('$role', 'cosme')" >/dev/null
[ "$(q -d $db -c "SELECT count(DISTINCT shop_id) FROM bulkorder.orders WHERE order_no = (SELECT min(order_no) FROM bulkorder.orders)")" = 2 ] ||
  fail "the two shops do not share their order numbers"
echo "ok - two shops (kenko, cosme) of 300 orders each, the same order numbers; one role granted both"

# PgBouncer, transaction pooling, a pool of two server connections
cat > "$work/pgbouncer.ini" <<INI
[databases]
$db = host=$PGHOST port=$PGPORT dbname=$db
[pgbouncer]
listen_addr =
unix_socket_dir = $work
listen_port = $bport
auth_type = trust
auth_file = $work/users.txt
pool_mode = transaction
default_pool_size = 2
max_client_conn = 50
pidfile = $work/pgbouncer.pid
logfile = $work/pgbouncer.log
admin_users = postgres
INI
printf '"%s" ""\n"postgres" ""\n' "$role" > "$work/users.txt"
[ "$(id -u)" -eq 0 ] && chown -R postgres "$work"
if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- pgbouncer -d "$work/pgbouncer.ini"; else pgbouncer -d "$work/pgbouncer.ini"; fi
for _ in $(seq 50); do [ -S "$work/.s.PGSQL.$bport" ] && break; sleep 0.1; done
[ -S "$work/.s.PGSQL.$bport" ] || fail "pgbouncer did not start: $(tail -5 "$work/pgbouncer.log" 2>/dev/null)"
pooled() { psql -X -q -At -v ON_ERROR_STOP=1 -h "$work" -p "$bport" -U "$role" -d $db "$@"; }
echo "ok - pgbouncer $(pgbouncer --version | head -1 | awk '{print $2}'): transaction pooling, default_pool_size = 2, 8 clients"

# client N of a shop: every round a job on three of its orders, tagged with
# the client and the round, then a read of the order list
client() {  # client SHOP N STYLE
  local shop=$1 n=$2 style=$3 r tag sql
  for r in $(seq "$rounds"); do
    tag="$shop-c$n-r$r"
    if [ "$style" = option ]; then
      sql="SELECT bulkorder.run_bulk('orders', 'tags',
             ARRAY(SELECT order_no FROM bulkorder.order_list WHERE shop_id = (SELECT shop_id FROM bulkorder.shops WHERE code = '$shop')
                   ORDER BY order_no OFFSET $(( (n * rounds + r) % 290 )) LIMIT 3),
             '{\"add\": [\"$tag\"]}', '{\"shop\": \"$shop\", \"request_key\": \"$tag\", \"operator\": \"$tag\"}');"
    else
      sql="BEGIN;
           SET LOCAL bulkorder.shop = '$shop';
           SELECT bulkorder.run_bulk('orders', 'tags',
             ARRAY(SELECT order_no FROM bulkorder.order_list ORDER BY order_no OFFSET $(( (n * rounds + r) % 290 )) LIMIT 3),
             '{\"add\": [\"$tag\"]}', '{\"request_key\": \"$tag\", \"operator\": \"$tag\"}');
           SELECT 'read:' || count(*) FILTER (WHERE s.code <> '$shop') FROM bulkorder.order_list o JOIN bulkorder.shops s USING (shop_id);
           COMMIT;"
    fi
    pooled -c "$sql" >> "$work/client-$shop-$n.out" 2>&1 || { echo "client $shop $n round $r failed" >> "$work/errors"; }
  done
}
pids=()
for n in 1 2 3 4; do
  style=option; [ $((n % 2)) -eq 0 ] && style=setlocal
  client kenko $n $style & pids+=($!)
  client cosme $n $style & pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
[ ! -s "$work/errors" ] || fail "$(cat "$work/errors") -- $(cat "$work"/client-*.out | grep -m3 ERROR)"
echo "ok - 8 clients x $rounds rounds through the pool of 2: every call answered"

expected=$((8 * rounds))
check() {  # check LABEL SQL EXPECTED
  local got; got=$(q -d $db -c "$2")
  [ "$got" = "$3" ] || fail "$1: expected $3, got $got"
  echo "ok - $1"
}
check "$expected jobs, each done" \
  "SELECT count(*) FILTER (WHERE status = 'done' AND success_count = 3) FROM bulkorder.bulk_jobs WHERE operation = 'tags'" "$expected"
check "every job is the shop its client named (job, operator and tag agree)" \
  "SELECT count(*) FROM bulkorder.bulk_jobs j JOIN bulkorder.shops s USING (shop_id)
    WHERE j.operation = 'tags' AND (split_part(j.operator, '-', 1) <> s.code OR j.params->'add'->>0 <> j.operator)" 0
check "every tag is on its own shop's orders, three a job" \
  "SELECT count(*) FROM bulkorder.orders o JOIN bulkorder.shops s USING (shop_id), unnest(o.tags) t
    WHERE t ~ '-c[0-9]+-r[0-9]+$' AND split_part(t, '-', 1) <> s.code" 0
check "the tags written: three for each job" \
  "SELECT count(*) FROM bulkorder.orders o, unnest(o.tags) t WHERE t ~ '-c[0-9]+-r[0-9]+$'" "$((expected * 3))"
check "items and notifications are the job's shop's" \
  "SELECT (SELECT count(*) FROM bulkorder.bulk_job_items i JOIN bulkorder.bulk_jobs j USING (job_id) WHERE i.shop_id <> j.shop_id)
        + (SELECT count(*) FROM bulkorder.notifications n JOIN bulkorder.bulk_jobs j USING (job_id) WHERE n.shop_id <> j.shop_id)" 0
reads=$(cat "$work"/client-*-{2,4}.out | grep -c '^read:0$' || true)
[ "$reads" = "$((4 * rounds))" ] || fail "the SET LOCAL clients read another shop's orders: $(cat "$work"/client-*-{2,4}.out | grep '^read:' | sort | uniq -c)"
echo "ok - with SET LOCAL bulkorder.shop every read of order_list showed its own shop alone ($reads reads)"
# the pool really was shared: fewer server connections than clients
servers=$(psql -X -At -h "$work" -p "$bport" -U postgres -d pgbouncer -c "SHOW POOLS" | awk -F'|' -v d=$db -v u=$role '$1 == d && $2 == u {print $5 + $6 + $7 + $8}')
[ -n "$servers" ] && [ "$servers" -le 2 ] || fail "server connections of the pool: ${servers:-none} (expected at most 2)"
echo "ok - the pool held at most 2 server connections for 8 clients"
echo "pgbouncer: all checks passed"
