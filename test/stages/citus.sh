#!/usr/bin/env bash
# Stage: bulkorder on a Citus cluster (docs/citus.md).
#
# Skipped (exit 0, saying so) where ../shared/vendor beside the checkout is
# absent.  Otherwise Citus 13.2.2 is built and installed into the system's
# PostgreSQL 15 once (../shared/vendor/build-citus.sh, about 4 minutes) and
# copied into tools/pg.sh's private tree, from which four clusters run: a
# Citus coordinator and two workers (over TCP on 127.0.0.1), and a single
# node to compare with.
#
# Both get bulkorder, three shops with demo data and the same connector
# roles; the coordinator then runs bulkorder.distribute_shops().  The same
# workload (test/citus/workload.sh: every operation of every page, sync and
# async, preview, retry, revert, cancel, CSV upload, the shipment import,
# both connectors, order generation) runs on both, and everything it leaves
# behind (test/citus/dump.sql) and everything its calls returned must be
# identical.  Then, from the workers' own statistics, each shop's chunks ran
# on the node that holds the shop and only there; a shop moved between two
# jobs (citus_move_shard_placement) has its second job run on the new node;
# a job submitted by pg_cron on the coordinator runs; and a shop created
# after distribute_shops() is distributed too.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/test/citus/cluster.sh"
if ! citus_vendor_present; then
  echo "skipped: ../shared/vendor is absent (the Citus sources the stage builds from)"
  exit 0
fi
fail() { echo "FAIL: $*"; exit 1; }
t_start=$SECONDS
citus_install

# --- four clusters
nodes=(citus_coord citus_w1 citus_w2 citus_one)
out=$(mktemp -d)
chmod 755 "$out"
cleanup() {
  local rc=$?
  if [ $rc -ne 0 ]; then
    for n in "${nodes[@]}"; do
      [ -f "${dir[$n]:-/nonexistent}/server.log" ] && { echo "---- $n server.log (tail)"; tail -15 "${dir[$n]}/server.log"; }
    done
  fi
  if [ "${BULKORDER_KEEP_CLUSTERS:-0}" = 1 ]; then   # for a look afterwards
    echo "# kept: $(for n in "${nodes[@]}"; do printf '%s PGHOST=%s PGPORT=%s; ' "$n" "${dir[$n]:-}" "${port[$n]:-}"; done) outputs in $out"
    exit $rc
  fi
  for n in "${nodes[@]}"; do bash "$top/tools/pg.sh" stop "$n"; done
  for n in "${nodes[@]}"; do [ -n "${dir[$n]:-}" ] && rm -rf "${dir[$n]}"; done
  rm -rf "$out"
  exit $rc
}
trap cleanup EXIT
# the nodes count the calls of every function (where the chunks ran)
citus_start citus_coord coordinator "track_functions = 'all'"
citus_start citus_w1 worker "track_functions = 'all'"
citus_start citus_w2 worker "track_functions = 'all'"
citus_start citus_one single
export PGOPTIONS="-c client_min_messages=warning"
sql() { csql "$@"; }
q() { sql citus_coord -c "$1"; }
check() {  # check LABEL SQL EXPECTED (on the coordinator)
  local got; got=$(q "$2" 2>&1) || fail "$1: $got"
  [ "$got" = "$3" ] || fail "$1: expected '$3', got '$got'"
  echo "ok - $1"
}

# the recipe of docs/citus.md, as it is written
. "$top/test/lib/docs.sh"
for b in nodes install distribute job connector; do
  [ -n "$(doc_block docs/citus.md $b)" ] || fail "docs/citus.md has no block '$b'"
done
for n in citus_coord citus_w1 citus_w2; do sql $n -c "CREATE EXTENSION citus"; done
sql citus_coord -v coordinator_host=127.0.0.1 -v coordinator_port="${port[citus_coord]}" \
    -v worker1_host=127.0.0.1 -v worker1_port="${port[citus_w1]}" \
    -v worker2_host=127.0.0.1 -v worker2_port="${port[citus_w2]}" <<< "$(doc_block docs/citus.md nodes)" >/dev/null
check "a coordinator and two active workers" "SELECT count(*) FROM citus_get_active_worker_nodes()" 2

# --- bulkorder, three shops with demo data, connector roles: on both
for n in citus_coord citus_one; do
  PGOPTIONS="$PGOPTIONS -c citus.enable_ddl_propagation=off" sql $n -c "CREATE EXTENSION pg_cron"
  sql $n <<< "$(doc_block docs/citus.md install)" >/dev/null
  seed=3
  for shop in default kenko cosme; do
    PGOPTIONS="$PGOPTIONS -c bulkorder.shop=$shop" sql $n -v orders=300 -v seed=$seed -f "$top/tools/demo-data.sql" >/dev/null 2>&1 \
      || fail "$n: tools/demo-data.sql did not load shop $shop"
    seed=$((seed + 2))
  done
  sql $n -c "CREATE ROLE bo_citus_payments LOGIN" -c "CREATE ROLE bo_citus_mails LOGIN" \
         -c "SELECT bulkorder.grant_payment_connector('bo_citus_payments', s), bulkorder.grant_mail_connector('bo_citus_mails', s)
             FROM unnest(ARRAY['default', 'kenko', 'cosme']) s" >/dev/null
done
check "bulkorder $(q "SELECT extversion FROM pg_extension WHERE extname = 'bulkorder'") is on both workers" \
  "SELECT string_agg(result, ',') FROM run_command_on_workers(\$\$SELECT extversion FROM pg_extension WHERE extname = 'bulkorder'\$\$)" \
  "$(q "SELECT extversion FROM pg_extension WHERE extname = 'bulkorder'"),$(q "SELECT extversion FROM pg_extension WHERE extname = 'bulkorder'")"

# --- distribute_shops(): refused without Citus, idempotent with it
err=$(sql citus_one -c "SELECT bulkorder.distribute_shops()" 2>&1) && fail "distribute_shops() ran on a single node"
grep -q "this database has no Citus" <<<"$err" || fail "distribute_shops() without Citus: $err"
code=$(sql citus_one -c "\\set VERBOSITY sqlstate" -c "SELECT bulkorder.distribute_shops()" 2>&1 | grep -o '[0-9A-Z]\{5\}' | tail -1 || true)
[ "$code" = 0A000 ] || fail "distribute_shops() without Citus gave SQLSTATE '$code', not 0A000"
echo "ok - distribute_shops() is refused on a single node (0A000, with a hint)"
before=$(sql citus_coord -f "$top/test/citus/dump.sql" | sort | md5sum)
where=$(sql citus_coord <<< "$(doc_block docs/citus.md distribute)" | sed '/^$/d')
q "SELECT bulkorder.distribute_shops()" >/dev/null
after=$(sql citus_coord -f "$top/test/citus/dump.sql" | sort | md5sum)
[ "$before" = "$after" ] || fail "distributing changed the shops' rows"
echo "ok - distribute_shops(), twice: every row is where it was (the same dump)"
check "shops and shop_roles are reference tables, every other shop table is distributed by shop_id, co-located with orders" \
  "SELECT count(*) FILTER (WHERE partmethod = 'n') || ' ' || count(*) FILTER (WHERE partmethod = 'h'
            AND column_to_column_name(logicalrelid, partkey) = 'shop_id'
            AND colocationid = (SELECT colocationid FROM pg_dist_partition WHERE logicalrelid = 'bulkorder.orders'::regclass))
          || ' ' || (SELECT count(*) FROM pg_class WHERE relnamespace = 'bulkorder'::regnamespace AND relkind = 'r')
     FROM pg_dist_partition WHERE logicalrelid::text LIKE 'bulkorder.%'" \
  "2 25 27"
check "the chunk functions are distributed, delegated by the shop" \
  "SELECT string_agg(p.proname, ',' ORDER BY p.proname) FROM pg_dist_object o JOIN pg_proc p ON p.oid = o.objid
    WHERE o.classid = 'pg_proc'::regclass AND o.distribution_argument_index = 0 AND o.force_delegation" \
  "preview_chunk,run_chunk,settle_payment_request,take_mails_in_shop,take_payment_requests_in_shop"
declare -A node_of
for shop in default kenko cosme; do
  node_of[$shop]=$(q "SELECT nodeport FROM citus_shards WHERE table_name = 'bulkorder.orders'::regclass
                        AND shardid = get_shard_id_for_distribution_column('bulkorder.orders',
                                        (SELECT shop_id FROM bulkorder.shops WHERE code = '$shop'))")
done
echo "# shops: default on ${node_of[default]}, kenko on ${node_of[kenko]}, cosme on ${node_of[cosme]} (workers ${port[citus_w1]}, ${port[citus_w2]})"
[ "$(tr '\n' ' ' <<<"$where")" = "default|127.0.0.1|${node_of[default]} kenko|127.0.0.1|${node_of[kenko]} cosme|127.0.0.1|${node_of[cosme]} " ] \
  || fail "docs/citus.md's query of where the shops are gave: $where"
# docs/citus.md's job, on both
for n in citus_coord citus_one; do
  got=$(sql $n <<< "$(doc_block docs/citus.md job)")
  [ "$got" = "done|3|0" ] || fail "$n: docs/citus.md's job gave '$got'"
done
echo "ok - docs/citus.md's recipe: the nodes, CREATE EXTENSION, distribute_shops() and where the shops are, a job (done, 3 changed)"

# --- the workload, on both
. "$top/test/citus/workload.sh"
between_jobs() {  # on Citus: move cosme's shards to the other worker
  [ "$1" = citus_coord ] || return 0
  local from=${node_of[cosme]} to shard
  to=$([ "$from" = "${port[citus_w1]}" ] && echo "${port[citus_w2]}" || echo "${port[citus_w1]}")
  shard=$(q "SELECT get_shard_id_for_distribution_column('bulkorder.orders', (SELECT shop_id FROM bulkorder.shops WHERE code = 'cosme'))")
  q "SELECT citus_move_shard_placement($shard, '127.0.0.1', $from, '127.0.0.1', $to, shard_transfer_mode => 'block_writes')" >/dev/null
  echo "$to" > "$out/moved_to"
  reset_calls
}
after_move() {  # on Citus: the second job's chunks ran on the node cosme moved to
  [ "$1" = citus_coord ] || return 0
  echo "moved: $(calls_by_node)" > "$out/moved"
}
# the delegated calls each node ran since reset_calls, from its own
# statistics (pg_stat_user_functions, track_functions = all): run_chunk on
# the coordinator, worker 1, worker 2.  A node's backends report when they
# end: the coordinator's sessions ended, their connections to the workers
# close; wait for the counts to settle.
reset_calls() {
  local n
  for n in citus_coord citus_w1 citus_w2; do sql $n -c "SELECT pg_stat_reset()" >/dev/null; done
}
calls_by_node() {
  local n c prev='' now='' tries=0
  while [ $tries -lt 40 ]; do
    now=''
    for n in citus_coord citus_w1 citus_w2; do
      c=$(sql $n -c "SELECT coalesce(sum(calls), 0) FROM pg_stat_user_functions
                     WHERE schemaname = 'bulkorder_catalog' AND funcname = 'run_chunk'")
      now="$now $c"
    done
    [ "$now" = "$prev" ] && [ $tries -ge 4 ] && break
    prev=$now tries=$((tries + 1))
    sleep 0.5
  done
  echo "${now# }"
}
t0=$SECONDS
# each in a job of its own, where set -e stops it at the first failure
workload citus_one > "$out/one.log" 2>&1 & one=$!
workload citus_coord > "$out/coord.log" 2>&1 & coord=$!
wait $coord || { tail -20 "$out/coord.log"; fail "the workload failed on the Citus coordinator"; }
wait $one || { tail -20 "$out/one.log"; fail "the workload failed on the single node"; }
node_of[cosme]=$(cat "$out/moved_to")
echo "ok - the workload ran on both ($((SECONDS - t0)) s): $(q "SELECT count(*) FROM bulkorder.bulk_jobs") jobs"
if ! diff <(cat "$out/citus_one.calls") <(cat "$out/citus_coord.calls") > "$out/calls.diff"; then
  head -40 "$out/calls.diff"; fail "the calls returned other results on Citus"
fi
echo "ok - every call returned the same on Citus as on one node ($(wc -l < "$out/citus_one.calls") lines: previews, polls, upload errors…)"
sql citus_one -f "$top/test/citus/dump.sql" | sort > "$out/one.dump"
sql citus_coord -f "$top/test/citus/dump.sql" | sort > "$out/coord.dump"
if ! diff "$out/one.dump" "$out/coord.dump" > "$out/dump.diff"; then
  head -40 "$out/dump.diff"; fail "the rows differ on Citus"
fi
echo "ok - the same rows on Citus as on one node: $(cut -d'|' -f1 "$out/one.dump" | sort | uniq -c | awk '{printf "%s %s, ", $2, $1}' | sed 's/, $//')"

# docs/citus.md's connector transaction on Citus, on both
for n in citus_coord citus_one; do
  sql $n -U bo_citus_payments <<< "$(doc_block docs/citus.md connector)" >> "$out/$n.readme" \
    || fail "$n: docs/citus.md's connector transaction failed"
done
diff "$out/citus_one.readme" "$out/citus_coord.readme" >/dev/null || fail "docs/citus.md's connector transaction answered otherwise on Citus"

# --- where the chunks ran, from the nodes' own statistics
read -r c_coord c_w1 c_w2 < <(sed 's/^moved: //' "$out/moved")
moved_to=${node_of[cosme]}
[ "$c_coord" = 0 ] || fail "the coordinator ran $c_coord chunks itself after the move"
if [ "$moved_to" = "${port[citus_w1]}" ]; then got="$c_w1 $c_w2"; else got="$c_w2 $c_w1"; fi
[ "${got#* }" = 0 ] && [ "${got% *}" -gt 0 ] \
  || fail "the job after cosme's move ran its chunks on '$got' (new node, old node)"
echo "ok - cosme moved to $moved_to (citus_move_shard_placement) between two jobs: the second job's ${got% *} delegated chunks ran there, none on its old node or the coordinator"
# one job per shop, with a number of chunks of its own (1, 2, 4: each
# node's count tells which shops ran there)
reset_calls
declare -A chunks=([default]=1 [kenko]=2 [cosme]=4)
for shop in default kenko cosme; do
  sql citus_coord -c "SET bulkorder.chunk_size = 4" \
      -c "SELECT bulkorder.run_bulk('orders', 'tags', $(keys_of $shop orders shipped 0 $((chunks[$shop] * 4))),
                                    '{\"add\": [\"probe\"]}', '{\"shop\": \"$shop\"}')" >/dev/null
done
# the same jobs on the single node, to compare
for shop in default kenko cosme; do
  sql citus_one -c "SET bulkorder.chunk_size = 4" \
      -c "SELECT bulkorder.run_bulk('orders', 'tags', $(keys_of $shop orders shipped 0 $((chunks[$shop] * 4))),
                                    '{\"add\": [\"probe\"]}', '{\"shop\": \"$shop\"}')" >/dev/null
done
read -r c_coord c_w1 c_w2 < <(calls_by_node)
want_w1=0 want_w2=0
for shop in default kenko cosme; do
  if [ "${node_of[$shop]}" = "${port[citus_w1]}" ]; then want_w1=$((want_w1 + chunks[$shop])); else want_w2=$((want_w2 + chunks[$shop])); fi
done
[ "$c_coord $c_w1 $c_w2" = "0 $want_w1 $want_w2" ] \
  || fail "delegated chunks per node (coordinator, worker 1, worker 2): '$c_coord $c_w1 $c_w2', expected '0 $want_w1 $want_w2'"
echo "ok - from the workers' pg_stat_user_functions: each shop's chunks ran on its node only (run_chunk calls: coordinator 0, ${port[citus_w1]} $c_w1, ${port[citus_w2]} $c_w2 = default 1 + kenko 2 + cosme 4 where they are)"
err=$(sql citus_w1 -c "SELECT * FROM bulkorder_catalog.run_chunk((SELECT shop_id FROM bulkorder.shops WHERE code = '$(
        for shop in default kenko cosme; do [ "${node_of[$shop]}" != "${port[citus_w1]}" ] && { echo $shop; break; }; done)'),
        0, 'orders', 'tags', '{\"add\": [\"x\"], \"remove\": []}', '{1}', 'apply', 'ja', 0)" 2>&1) \
  && fail "a chunk ran on a node that does not hold its shop"
grep -q "is not on this node" <<<"$err" || fail "a chunk on the wrong node: $err"
echo "ok - a chunk sent to a node that does not hold its shop is refused (40001), never run against the distributed tables"
check "the shop created after distribute_shops() is on a worker, with its rows" \
  "SELECT count(*) FROM citus_shards WHERE table_name = 'bulkorder.orders'::regclass
      AND shardid = get_shard_id_for_distribution_column('bulkorder.orders', (SELECT shop_id FROM bulkorder.shops WHERE code = 'late'))
      AND nodeport IN (${port[citus_w1]}, ${port[citus_w2]})" 1

# define_operation on the coordinator: a fragment that reads a table of the
# coordinator only is told of (its chunks could not run on the shops' nodes)
q "CREATE TABLE public.coordinator_only (order_no bigint)"
warn=$(sql citus_coord -c "SELECT bulkorder.define_operation('orders', 'citus_local',
    name_ja => 'x', name_en => 'x', wrapper => 'bulk_citus_local', params => '{}', changed_columns => '{remarks}',
    set_clause => \$\$remarks = 'x'\$\$,
    rules => '[{\"code\": \"listed\", \"condition\": \"t.order_no IN (SELECT order_no FROM public.coordinator_only)\",
                \"message_ja\": \"x\", \"message_en\": \"x\"}]')" 2>&1 >/dev/null)
grep -q 'reads table public.coordinator_only, which is not on every node' <<<"$warn" \
  || fail "define_operation did not warn of a table on the coordinator only: $warn"
q "SELECT bulkorder.drop_operation('orders', 'citus_local')" >/dev/null
check "the shop's own operation is on every worker, the dropped one on none" \
  "SELECT string_agg(result, ',') FROM run_command_on_workers(\$\$SELECT string_agg(operation, '+' ORDER BY operation)
     FROM bulkorder_catalog.operations WHERE NOT shipped\$\$)" "citus_note,citus_note"
echo "ok - define_operation on the coordinator warns of a fragment reading a table that is not on every node"

# --- pg_cron on the coordinator (and on the single node, to compare)
for n in citus_coord citus_one; do
  sql $n -c "SELECT cron.schedule('bulkorder-citus', '* * * * *', \$cmd\$
    SELECT bulkorder.run_bulk('orders', 'shipping_hold', $(keys_of kenko orders awaiting_shipment 0 6), '{\"hold\": true}',
                              '{\"shop\": \"kenko\", \"async\": true, \"source\": \"pg_cron\", \"request_key\": \"cron-hold\"}')
  \$cmd\$)" >/dev/null
done
deadline=$((SECONDS + 150))
for n in citus_coord citus_one; do
  until [ "$(sql $n -c "SELECT count(*) FROM bulkorder.bulk_jobs WHERE request_key = 'cron-hold' AND status = 'done'")" = 1 ]; do
    [ $SECONDS -lt $deadline ] || fail "$n: pg_cron's job did not run within 150 s"
    sleep 1
  done
  sql $n -c "SELECT cron.unschedule('bulkorder-citus')" >/dev/null
done
check "pg_cron submitted a job on the coordinator, which ran" \
  "SELECT source || ' ' || status || ' ' || success_count FROM bulkorder.bulk_jobs WHERE request_key = 'cron-hold'" \
  "$(sql citus_one -c "SELECT source || ' ' || status || ' ' || success_count FROM bulkorder.bulk_jobs WHERE request_key = 'cron-hold'")"

# everything compared again
sql citus_one -f "$top/test/citus/dump.sql" | sort > "$out/one.dump"
sql citus_coord -f "$top/test/citus/dump.sql" | sort > "$out/coord.dump"
if ! diff "$out/one.dump" "$out/coord.dump" > "$out/dump.diff"; then
  head -40 "$out/dump.diff"; fail "the rows differ on Citus after the probes and pg_cron's job"
fi
echo "ok - still the same rows on both, pg_cron's job included"

echo "citus: all checks passed ($((SECONDS - t_start)) s)"
