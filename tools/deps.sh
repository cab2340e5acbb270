#!/usr/bin/env bash
# Install what the project needs from Debian's packages, when it is missing.
set -euo pipefail
pkgs=(postgresql-15 postgresql-server-dev-15 postgresql-15-pgtap postgresql-15-cron
      libtap-parser-sourcehandler-pgtap-perl libipc-run-perl make gcc python3 pgbouncer)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# the server and its headers must be the same minor version
srv=$(dpkg-query -W -f='${Version}' postgresql-15 2>/dev/null || true)
dev=$(dpkg-query -W -f='${Version}' postgresql-server-dev-15 2>/dev/null || true)
[ -n "$srv" ] && [ "$srv" != "$dev" ] && missing+=(postgresql-15 postgresql-server-dev-15)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "deps: missing packages: ${missing[*]} (run as root, or install them)" >&2
  exit 1
fi
echo "deps: installing ${missing[*]}"
# another install (unattended-upgrades, a second checkout's make deps) holds
# the package manager's locks: wait for them instead of failing at once
lock_wait=(-o "DPkg::Lock::Timeout=${BULKORDER_APT_LOCK_TIMEOUT:-600}")
apt-get "${lock_wait[@]}" update -qq
DEBIAN_FRONTEND=noninteractive apt-get "${lock_wait[@]}" install -y -qq --no-install-recommends \
  postgresql-15 postgresql-server-dev-15 "${missing[@]}" >/dev/null
