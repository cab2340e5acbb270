#!/usr/bin/env bash
# `make demo`: a local PostgreSQL 15 cluster (data in .pg/demo, git-ignored)
# with two demo shops in database bulkorder_demo (default, and cosme at a
# quarter of its size), a walkthrough of the seed's workflow in psql, and
# the server left running.  `make stop` stops it.
# Run it again at any time: the cluster is re-created from scratch.
#   DEMO_ORDERS=100000 make demo   (default 20000 orders)
#   DEMO_SEED=7 make demo          (default seed 42)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
orders=${DEMO_ORDERS:-20000}
seed=${DEMO_SEED:-42}
db=bulkorder_demo
case "$orders$seed" in
  *[!0-9]*|'') echo "demo: DEMO_ORDERS and DEMO_SEED must be whole numbers" >&2; exit 2 ;;
esac

echo "demo: starting the demo cluster"
eval "$(bash tools/pg.sh start demo)"
psql() { PGOPTIONS="-c client_min_messages=warning" command psql -X -q -v ON_ERROR_STOP=1 "$@"; }

psql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
psql -d "$db" -c "CREATE EXTENSION bulkorder"

echo "demo: loading a demo shop of $orders orders (seed $seed)"
t0=$(date +%s%N)
psql -d "$db" -v orders="$orders" -v seed="$seed" -f tools/demo-data.sql
t1=$(date +%s%N)
echo "demo: loaded in $(( (t1 - t0) / 1000000 )) ms"
# a second shop in the same database: its own keys, its own operator
echo "demo: a second shop, cosme, of $((orders / 4)) orders (seed $((seed + 1)))"
psql -d "$db" -c "UPDATE bulkorder.shops SET name = '健康食品の定期便' WHERE code = 'default'" \
              -c "SELECT bulkorder.create_shop('cosme', 'コスメの定期便')" >/dev/null
PGOPTIONS="-c client_min_messages=warning -c bulkorder.shop=cosme" \
  command psql -X -q -v ON_ERROR_STOP=1 -d "$db" -v orders="$((orders / 4))" -v seed="$((seed + 1))" -f tools/demo-data.sql
command psql -X -d "$db" -v ON_ERROR_STOP=1 -P footer=off -c "
SELECT s.code AS shop, s.name,
       (SELECT count(*) FROM bulkorder.customers x WHERE x.shop_id = s.shop_id) AS customers,
       (SELECT count(*) FROM bulkorder.products x WHERE x.shop_id = s.shop_id) AS products,
       (SELECT count(*) FROM bulkorder.subscriptions x WHERE x.shop_id = s.shop_id) AS subscriptions,
       (SELECT count(*) FROM bulkorder.orders x WHERE x.shop_id = s.shop_id) AS orders,
       (SELECT count(*) FROM bulkorder.order_items x WHERE x.shop_id = s.shop_id) AS order_lines
FROM bulkorder.shops s ORDER BY s.shop_id"
command psql -X -d "$db" -v ON_ERROR_STOP=1 -P footer=off -c "
SELECT status, count(*) AS orders FROM bulkorder.order_list WHERE shop_id = 1 GROUP BY status ORDER BY count(*) DESC"

command psql -X -q -d "$db" -v ON_ERROR_STOP=1 -f tools/demo-walkthrough.sql

cat <<EOF

================================================================================
The demo server is running (data in $PGHOST/data).  Connect with:

  psql -h $PGHOST -p $PGPORT -U $PGUSER $db

or, in this folder:  eval "\$(bash tools/pg.sh env demo)" && psql $db

Walk through the workflow again (from this folder):  psql -h $PGHOST -p $PGPORT -U $PGUSER -d $db -f tools/demo-walkthrough.sql
Stop the server:                  make stop
================================================================================
EOF
