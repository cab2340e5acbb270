#!/usr/bin/env bash
# `make bench`, the Citus path (`make bench-citus` alone): the same jobs on
# a Citus coordinator with two workers and on a single node, in the same
# run, on the same machine, with the same data, the two taking turns.
#
#   tags     a 100,000-target tags job of one shop (10 chunks of 10,000)
#   cancel   a cancel of every order of one shop awaiting shipment
#   chunks   a 1,000-target tags job in chunks of 10 (100 delegated calls):
#            what one chunk's delegation costs, (Citus - one node) / 100
#   one      a 1-target tags job: what a job costs the coordinator beyond
#            its chunks (the job's row, notifications, one delegated call)
#
# Each run is timed in a session that has just run a job of the same
# operation on a key no order has (untimed): its connections to the
# workers are open and the operation's plans are ready on both sides, as
# for an admin tool behind a connection pool.
#
# The shop of the jobs has BENCH_CITUS_ORDERS demo orders (300,000); two
# other shops of 1,000 orders share the cluster.  Each figure is the median
# of BENCH_CITUS_ROUNDS counted rounds (3) after a warm-up round; every run
# is followed by an untimed reset (the cancel's orders back to awaiting
# shipment), VACUUM (ANALYZE) of what it wrote and a CHECKPOINT on every
# node.  The ratio the spec asks for: Citus / one node ≤ 1.3 for tags and
# cancel.  Skipped where ../shared/vendor is absent.  Results also go to
# bench/out/citus.txt.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
. "$top/test/citus/cluster.sh"
if ! citus_vendor_present; then
  echo "bench citus: skipped, ../shared/vendor is absent"
  exit 0
fi
orders=${BENCH_CITUS_ORDERS:-300000}
rounds=${BENCH_CITUS_ROUNDS:-3}
case "$orders$rounds" in
  *[!0-9]*) echo "bench citus: BENCH_CITUS_ORDERS and BENCH_CITUS_ROUNDS must be whole numbers" >&2; exit 2 ;;
esac
out=$top/bench/out
mkdir -p "$out"
load_start=$(cat /proc/loadavg)
started=$SECONDS
citus_install

nodes=(citusbench_coord citusbench_w1 citusbench_w2 citusbench_one)
cleanup() {
  for n in "${nodes[@]}"; do bash "$top/tools/pg.sh" stop "$n"; done
  for n in "${nodes[@]}"; do [ -n "${dir[$n]:-}" ] && rm -rf "${dir[$n]}"; done
}
trap cleanup EXIT
# sized as bench/run.sh sizes its cluster: the shop fits in shared_buffers
conf="shared_buffers = '512MB'
max_wal_size = '4GB'"
citus_start citusbench_coord coordinator "$conf"
citus_start citusbench_w1 worker "$conf"
citus_start citusbench_w2 worker "$conf"
citus_start citusbench_one single "$conf"
export PGOPTIONS="-c client_min_messages=warning"
citus_join citusbench_coord citusbench_w1 citusbench_w2

echo "bench citus: $orders demo orders in shop default (and 1,000 in kenko and cosme), on both"
for n in citusbench_coord citusbench_one; do
  csql $n -c "CREATE EXTENSION bulkorder" \
          -c "SELECT bulkorder.create_shop('kenko', 'kenko'), bulkorder.create_shop('cosme', 'cosme')" >/dev/null
  PGOPTIONS="-c client_min_messages=error -c bulkorder.shop=default" csql $n -v orders="$orders" -v seed=42 -f tools/demo-data.sql >/dev/null
  for shop in kenko cosme; do
    PGOPTIONS="-c client_min_messages=error -c bulkorder.shop=$shop" csql $n -v orders=1000 -v seed=7 -f tools/demo-data.sql >/dev/null
  done
done
t0=$SECONDS
csql citusbench_coord -c "SELECT bulkorder.distribute_shops()" >/dev/null
distribute_s=$((SECONDS - t0))
shop_node=$(csql citusbench_coord -c "SELECT nodeport FROM citus_shards WHERE table_name = 'bulkorder.orders'::regclass
                                        AND shardid = get_shard_id_for_distribution_column('bulkorder.orders', 1)")
echo "bench citus: distribute_shops() took $distribute_s s; shop default is on the worker at port $shop_node"
for n in "${nodes[@]}"; do csql $n -c "VACUUM (FREEZE, ANALYZE)"; done

# the targets of each path, kept on each node (a local table on the coordinator)
for n in citusbench_coord citusbench_one; do
  csql $n -c "CREATE TABLE bench_keys AS
              SELECT 'tags' AS path, ARRAY(SELECT order_no FROM bulkorder.orders WHERE shop_id = 1
                                           ORDER BY order_no LIMIT 100000) AS keys
              UNION ALL
              SELECT 'cancel', ARRAY(SELECT order_no FROM bulkorder.orders WHERE shop_id = 1
                                       AND status = 'awaiting_shipment' AND deleted_at IS NULL ORDER BY order_no)
              UNION ALL
              SELECT 'chunks', ARRAY(SELECT order_no FROM bulkorder.orders WHERE shop_id = 1 ORDER BY order_no LIMIT 1000)
              UNION ALL
              SELECT 'one', ARRAY(SELECT min(order_no) FROM bulkorder.orders WHERE shop_id = 1)"
done
cancelled=$(csql citusbench_one -c "SELECT cardinality(keys) FROM bench_keys WHERE path = 'cancel'")

# run NODE PATH ROUND: the job, timed in the session; then the untimed reset
results=$(mktemp)
run() {
  local node=$1 path=$2 r=$3 sql ms n
  local k="(SELECT keys FROM bench_keys WHERE path = '$path')" op=tags warm
  [ "$path" = cancel ] && op=cancel
  # untimed, in the same session: a job of the operation on a key no order
  # has, so that the session's connections to the workers and the plans of
  # the operation (here and there) are ready, as in a pooled admin tool
  warm="SELECT bulkorder.run_bulk('orders', '$op', '{0}', '$([ $op = cancel ] && echo '{"void_payment": false}' || echo '{"add": ["w"]}')', '{\"shop\": \"default\"}') \\gset"
  case $path in
    tags) sql="SELECT bulkorder.run_bulk('orders', 'tags', $k, '{\"add\": [\"r$r\"]}', '{\"shop\": \"default\"}')" ;;
    cancel) sql="SELECT bulkorder.run_bulk('orders', 'cancel', $k, '{\"void_payment\": false}', '{\"shop\": \"default\"}')" ;;
    chunks) sql="SET bulkorder.chunk_size = 10;
SELECT bulkorder.run_bulk('orders', 'tags', $k, '{\"add\": [\"c$r\"]}', '{\"shop\": \"default\"}')" ;;
    one) sql="SELECT bulkorder.run_bulk('orders', 'tags', $k, '{\"add\": [\"o$r\"]}', '{\"shop\": \"default\"}')" ;;
  esac
  for n in "${nodes[@]}"; do csql "$n" -c "CHECKPOINT"; done
  ms=$(csql "$node" <<SQL
$warm
SELECT clock_timestamp() AS t0 \\gset
$sql \\gset
SELECT round(extract(epoch FROM clock_timestamp() - :'t0'::timestamptz)::numeric * 1000, 1);
SQL
)
  if [ "$path" = cancel ]; then
    csql "$node" -c "UPDATE bulkorder.orders SET status = 'awaiting_shipment'
                     WHERE shop_id = 1 AND order_no = ANY ($k::bigint[]) AND status = 'cancelled'" >/dev/null
  fi
  csql "$node" -c "VACUUM (ANALYZE) bulkorder.orders, bulkorder.bulk_job_items, bulkorder.bulk_jobs, bulkorder.notifications" >/dev/null
  if [ "$r" -gt 0 ]; then echo "$path $node $r $ms" >> "$results"; fi
  echo "bench citus: $path round $r $node: $ms ms"
}
for r in $(seq 0 "$rounds"); do
  for path in tags cancel chunks one; do
    if [ $((r % 2)) -eq 0 ]; then pair="citusbench_one citusbench_coord"; else pair="citusbench_coord citusbench_one"; fi
    for n in $pair; do run "$n" "$path" "$r"; done
  done
done

median() {  # median PATH NODE
  awk -v p="$1" -v n="$2" '$1 == p && $2 == n { print $4 }' "$results" | mid
}
mid() { sort -n | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
paired() {  # paired PATH: the median of each round's Citus / one node (the two ran back to back)
  awk -v p="$1" '$1 == p { t[$3, $2] = $4; r[$3] = 1 }
                 END { for (k in r) printf "%.3f\n", t[k, "citusbench_coord"] / t[k, "citusbench_one"] }' "$results" | mid
}
{
  echo "bulkorder on Citus: coordinator + 2 workers vs one node, same run, same machine ($(nproc) cores)"
  echo "load average at start: $load_start; at end: $(cat /proc/loadavg)"
  echo "shop default: $orders demo orders; medians of $rounds rounds after a warm-up (paired: the median of the rounds' own ratios); distribute_shops(): $distribute_s s"
  printf '%-8s %-44s %12s %12s %8s %8s\n' path job "one node ms" "Citus ms" ratio paired
  for path in tags cancel chunks one; do
    a=$(median "$path" citusbench_one) b=$(median "$path" citusbench_coord)
    case $path in
      tags) what="tags, 100,000 targets (10 chunks)" ;;
      cancel) what="cancel, the shop's $cancelled awaiting orders" ;;
      chunks) what="tags, 1,000 targets in 100 chunks of 10" ;;
      one) what="tags, 1 target" ;;
    esac
    printf '%-8s %-44s %12s %12s %8s %8s\n' "$path" "$what" "$a" "$b" \
      "$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2f", b / a }')" "$(awk '{ printf "%.2f", $1 }' <<< "$(paired "$path")")"
  done
  a=$(median chunks citusbench_one) b=$(median chunks citusbench_coord)
  echo "per-chunk overhead of delegation: ($b - $a) ms / 100 chunks = $(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2f", (b - a) / 100 }') ms a chunk"
  a=$(median one citusbench_one) b=$(median one citusbench_coord)
  echo "a job's overhead on the coordinator (1 target, 1 chunk): $(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.1f", b - a }') ms"
  echo "bench citus: $((SECONDS - started)) s"
} | tee "$out/citus.txt"
rm -f "$results"
