#!/usr/bin/env bash
# A throwaway PostgreSQL 15 for this checkout: `pg.sh start NAME`, `pg.sh stop NAME`,
# `pg.sh env NAME` (prints the PG* exports).
#
# The server runs from a private copy of Debian's PostgreSQL tree (.pg/tree)
# into which `make install DESTDIR=…` puts this checkout's build: the system's
# PostgreSQL is never touched, and two checkouts never overwrite each other's
# bulkorder.so.  Data lives in .pg/NAME (git-ignored).  As root, the server
# runs as the postgres user; when it cannot enter the checkout (a home
# directory), .pg lives under /tmp instead.  BULKORDER_PG_CONF: lines a new
# cluster's postgresql.conf gets after the defaults (later lines win).
set -euo pipefail
cmd=${1:?usage: pg.sh start|stop|env|install NAME}
name=${2:-demo}
top=$(cd "$(dirname "$0")/.." && pwd)
sysbin=/usr/lib/postgresql/15/bin

as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

root="$top/.pg"
if [ "$(id -u)" -eq 0 ] && ! runuser -u postgres -- test -x "$top" 2>/dev/null; then
  root="/tmp/bulkorder-pg-$(echo "$top" | cksum | cut -d' ' -f1)"
fi
tree="$root/tree"
bin="$tree/usr/lib/postgresql/15/bin"
data="$root/$name"
# one port per checkout and cluster name, so parallel checkouts never meet
port=${BULKORDER_PORT:-$((50000 + $(echo "$top/$name" | cksum | cut -d' ' -f1) % 10000))}

make_tree() {
  local stamp; stamp=$($sysbin/postgres --version)
  if [ ! -f "$tree/.stamp" ] || [ "$(cat "$tree/.stamp")" != "$stamp" ]; then
    rm -rf "$tree"
    mkdir -p "$tree/usr/lib/postgresql" "$tree/usr/share/postgresql"
    cp -a /usr/lib/postgresql/15 "$tree/usr/lib/postgresql/"
    cp -a /usr/share/postgresql/15 "$tree/usr/share/postgresql/"
    echo "$stamp" > "$tree/.stamp"
  fi
  chmod 755 "$root"
  # No pg_config in the tree: `pg.sh env` puts the tree's bin first on the
  # PATH, and the Makefile takes the first pg_config there; a copy in the
  # tree answers with paths inside the tree, where the server headers are
  # not (make would not compile) and where DESTDIR would apply twice.
  rm -f "$bin/pg_config"
  make -C "$top" -s install DESTDIR="$tree" PG_CONFIG="$sysbin/pg_config" >/dev/null
}

print_env() {
  echo "export PGHOST=$data PGPORT=$port PGUSER=postgres PATH=$bin:\$PATH"
}

case "$cmd" in
  install)
    mkdir -p "$root"; make_tree ;;
  start)
    mkdir -p "$root"; make_tree
    if [ -f "$data/data/postmaster.pid" ] && as_pg "$bin/pg_ctl" -D "$data/data" status >/dev/null 2>&1; then
      as_pg "$bin/pg_ctl" -D "$data/data" -m fast -w stop >/dev/null
    fi
    if [ "${BULKORDER_KEEP_DATA:-0}" != 1 ] || [ ! -d "$data/data" ]; then
      rm -rf "$data"; mkdir -p "$data"
      [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$data"
      as_pg "$bin/initdb" -D "$data/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 --no-sync >/dev/null
      cat >> "$data/data/postgresql.conf" <<CONF
port = $port
unix_socket_directories = '$data'
listen_addresses = ''
fsync = off
synchronous_commit = off
full_page_writes = off
shared_preload_libraries = 'pg_cron,bulkorder'
cron.database_name = 'postgres'
cron.host = '$data'
max_worker_processes = 32
log_min_messages = warning
${BULKORDER_PG_CONF:-}
CONF
    fi
    as_pg "$bin/pg_ctl" -D "$data/data" -l "$data/server.log" -w start >/dev/null
    print_env ;;
  stop)
    if [ -d "$data/data" ]; then as_pg "$bin/pg_ctl" -D "$data/data" -m fast -w stop >/dev/null 2>&1 || true; fi ;;
  env)
    print_env ;;
  *) echo "usage: pg.sh start|stop|env|install NAME" >&2; exit 2 ;;
esac
