#!/usr/bin/env bash
# `make demo`: a local PostgreSQL 15 cluster (data in .pg/demo, git-ignored)
# with a demo shop in database bulkorder_demo, a walkthrough of the seed's
# workflow in psql, and the server left running.  `make stop` stops it.
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
command psql -X -d "$db" -v ON_ERROR_STOP=1 -P footer=off -c "
SELECT (SELECT count(*) FROM bulkorder.customers) AS customers,
       (SELECT count(*) FROM bulkorder.products) AS products,
       (SELECT count(*) FROM bulkorder.subscriptions) AS subscriptions,
       (SELECT count(*) FROM bulkorder.orders) AS orders,
       (SELECT count(*) FROM bulkorder.order_items) AS order_lines"
command psql -X -d "$db" -v ON_ERROR_STOP=1 -P footer=off -c "
SELECT status, count(*) AS orders FROM bulkorder.order_list GROUP BY status ORDER BY count(*) DESC"

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
