#!/usr/bin/env bash
# A Citus cluster on this machine, for test/stages/citus.sh and
# bench/citus.sh (sourced; $top is the checkout).  Citus 13.2.2 comes from
# ../shared/vendor beside the checkout: built and installed into the
# system's PostgreSQL 15 once (build-citus.sh, about 4 minutes, as root),
# then copied into tools/pg.sh's private tree, from which the clusters run.
#
#   citus_vendor_present     false where ../shared/vendor is absent
#   citus_install            build if needed, copy into the private tree
#   citus_start NAME ROLE    start a cluster: ROLE coordinator (citus,
#                            pg_cron, bulkorder preloaded), worker (citus),
#                            single (pg_cron, bulkorder: no Citus);
#                            sets dir[NAME], port[NAME]
#   citus_join COORD W…      CREATE EXTENSION citus on each, the coordinator
#                            registered, the workers added
#   csql NAME psql-args…     psql on NAME's postgres database (unaligned,
#                            tuples only, stop on error)
citus_vendor="$top/../shared/vendor"
declare -A dir port

citus_vendor_present() { [ -d "$citus_vendor" ]; }

citus_install() {
  local sys_config=/usr/lib/postgresql/15/bin/pg_config sys_lib sys_share t0 apt_conf tree tree_lib tree_ext
  sys_lib=$($sys_config --pkglibdir) sys_share=$($sys_config --sharedir)
  if [ ! -f "$sys_lib/citus.so" ]; then
    [ "$(id -u)" -eq 0 ] || { echo "FAIL: Citus is not installed and building it needs root: sudo bash $citus_vendor/build-citus.sh"; return 1; }
    echo "# building Citus (../shared/vendor/build-citus.sh, about 4 minutes)"
    t0=$SECONDS
    # its apt-get waits for the package manager's locks as tools/deps.sh does
    apt_conf=$(mktemp)
    echo "DPkg::Lock::Timeout \"${BULKORDER_APT_LOCK_TIMEOUT:-600}\";" > "$apt_conf"
    APT_CONFIG=$apt_conf PG_CONFIG=$sys_config bash "$citus_vendor/build-citus.sh" || { echo "FAIL: building Citus failed"; return 1; }
    rm -f "$apt_conf"
    [ -f "$sys_lib/citus.so" ] || { echo "FAIL: build-citus.sh ran but $sys_lib/citus.so is missing"; return 1; }
    echo "ok - Citus built and installed ($((SECONDS - t0)) s)"
  fi
  bash "$top/tools/pg.sh" install citus
  tree=$(eval "$(bash "$top/tools/pg.sh" env citus)"; cd "$(dirname "$(command -v pg_ctl)")/../../../../.." && pwd)
  tree_lib="$tree$sys_lib" tree_ext="$tree$sys_share/extension"
  if ! cmp -s "$sys_lib/citus.so" "$tree_lib/citus.so"; then
    cp -a "$sys_lib"/citus* "$tree_lib/"
    cp -a "$sys_share/extension"/citus* "$sys_share/extension"/columnar* "$tree_ext/"
  fi
  echo "ok - Citus $(sed -n "s/^default_version = '\(.*\)'/\1/p" "$tree_ext/citus.control") in the private tree"
}

citus_start() {  # citus_start NAME ROLE [EXTRA-CONF]
  local name=$1 role=$2 extra=${3:-} conf
  case $role in
    coordinator) conf="shared_preload_libraries = 'citus,pg_cron,bulkorder'" ;;   # Citus first
    worker) conf="shared_preload_libraries = 'citus'" ;;
    single) conf="shared_preload_libraries = 'pg_cron,bulkorder'" ;;
  esac
  eval "$(BULKORDER_PG_CONF="$conf
listen_addresses = '127.0.0.1'
max_connections = 200
jit = off
$extra" bash "$top/tools/pg.sh" start "$name")"
  dir[$name]=$PGHOST port[$name]=$PGPORT
}

csql() { local n=$1; shift
         PGHOST=${dir[$n]} PGPORT=${port[$n]} PGUSER=${PGUSER:-postgres} psql -X -A -t -q -v ON_ERROR_STOP=1 -d postgres "$@"; }

citus_join() {  # citus_join COORD WORKER…
  local coord=$1 n; shift
  for n in "$coord" "$@"; do csql "$n" -c "CREATE EXTENSION citus"; done
  csql "$coord" -c "SELECT citus_set_coordinator_host('127.0.0.1', ${port[$coord]})" >/dev/null
  for n in "$@"; do csql "$coord" -c "SELECT citus_add_node('127.0.0.1', ${port[$n]})" >/dev/null; done
}
