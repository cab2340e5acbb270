# Helpers shared by bench/run.sh and bench/profile.sh (sourced; needs $top).

# The released 1.1, built from its commit (test/stages/upgrade.sh builds it
# the same way): the bench measures the current engine beside it.
v11_commit=af5d373f6a7874103fc581ad10994a122ae65cbd
sysbin=/usr/lib/postgresql/15/bin

# floor_sql NAME KEYS JOB [TAG] [FILE]: the hand-written statement(s) of
# bench/floors/NAME.sql with its placeholders filled in: @KEYS@ an
# expression giving the targets (bigint[]), @JOB@ the history job id,
# @TAG@ a text literal, @FILE@ a file path literal, and @SHOP(alias,table)@
# "alias.shop_id = N AND " when table has a shop column (FLOOR_SHOP_TABLES,
# space-separated; N is FLOOR_SHOP_ID: bench.shop of that cluster), else
# nothing; likewise @SHOPCOL(table)@ "shop_id," and @SHOPVAL(table)@ "N,"
# in an INSERT's column and value lists.
floor_sql() {
  local esc=() v t shop=()
  for v in "$2" "$3" "${4:-}" "${5:-}"; do
    esc+=("$(printf '%s' "$v" | sed -e 's/[\\|&]/\\&/g')")
  done
  for t in ${FLOOR_SHOP_TABLES:-}; do
    shop+=(-e "s|@SHOP(\([a-z_]*\),$t)@|\1.shop_id = ${FLOOR_SHOP_ID:?} AND|g"
           -e "s|@SHOPCOL($t)@|shop_id,|g" -e "s|@SHOPVAL($t)@|${FLOOR_SHOP_ID:?},|g")
  done
  sed -e "s|@KEYS@|${esc[0]}|g" -e "s|@JOB@|${esc[1]}|g" -e "s|@TAG@|${esc[2]}|g" \
      -e "s|@FILE@|${esc[3]}|g" "${shop[@]}" -e 's|@SHOP([a-z_]*,[a-z_]*)@ ||g' \
      -e 's#@SHOP\(COL\|VAL\)([a-z_]*)@ ##g' "$top/bench/floors/$1.sql"
}

# v11_tree DIR: a private copy of Debian's PostgreSQL 15 tree in DIR with
# 1.1's library and scripts installed, built from its commit (kept between
# runs: rebuilt when the system's PostgreSQL changes).  Prints DIR's bin.
v11_tree() {
  local dir=$1 stamp src
  stamp="$($sysbin/postgres --version) $v11_commit"
  if [ ! -f "$dir/.stamp" ] || [ "$(cat "$dir/.stamp")" != "$stamp" ]; then
    git -C "$top" cat-file -e "$v11_commit^{commit}" 2>/dev/null ||
      git -C "$top" fetch -q origin "$v11_commit" 2>/dev/null || true
    git -C "$top" cat-file -e "$v11_commit^{commit}" 2>/dev/null || {
      echo "bench: the 1.1 commit $v11_commit is not in this clone" >&2; return 1; }
    rm -rf "$dir"
    src="$dir/src"
    mkdir -p "$src" "$dir/tree/usr/lib/postgresql" "$dir/tree/usr/share/postgresql"
    git -C "$top" archive "$v11_commit" | tar -x -C "$src"
    make -C "$src" -s with_llvm=no PG_CONFIG=$sysbin/pg_config >/dev/null
    cp -a /usr/lib/postgresql/15 "$dir/tree/usr/lib/postgresql/"
    cp -a /usr/share/postgresql/15 "$dir/tree/usr/share/postgresql/"
    rm -f "$dir/tree/usr/lib/postgresql/15/bin/pg_config"
    make -C "$src" -s with_llvm=no PG_CONFIG=$sysbin/pg_config install DESTDIR="$dir/tree" >/dev/null
    chmod 755 "$dir"
    echo "$stamp" > "$dir/.stamp"
  fi
  echo "$dir/tree/usr/lib/postgresql/15/bin"
}

as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

# v11_demo_data FILE: 1.1's tools/demo-data.sql, its tracking numbers
# written as the current script writes them (eleven digits and their 7DR
# check digit, issue 24), so that both clusters hold the same orders, column
# for column (run.sh checks it).  Nothing else of the orders differs.
v11_demo_data() {
  local old="lpad((1 + pg_temp.ri(n.u, 319, 999999999))::text, 12, '4')"
  local new="(SELECT d || (d::bigint % 7) FROM (SELECT lpad((1 + pg_temp.ri(n.u, 319, 999999999))::text, 11, '4') AS d) t)"
  git -C "$top" show "$v11_commit:tools/demo-data.sql" > "$1"
  grep -qF "$old" "$1" || { echo "bench: 1.1's demo-data.sql no longer has its tracking-number expression" >&2; return 1; }
  OLD=$old NEW=$new perl -0pi -e 's/\Q$ENV{OLD}\E/$ENV{NEW}/g' "$1"
}

# import_csv_awk: the awk program writing the import's shipment file from its
# keys (one a line), as a warehouse system writes it: header line, CRLF, a
# tracking number per key.  The demo's carriers issue jp12 numbers: eleven
# digits (4 and the key) and their 7DR check digit, which the import checks
# (exact in awk's doubles: < 2^53).  run.sh and profile.sh both use it.
import_csv_awk='BEGIN { printf "注文番号,送り状番号\r\n" }
                { d = 40000000000 + $1; printf "%s,%.0f%d\r\n", $1, d, d % 7 }'

# upload_csv_awk: the awk program writing an upload's CSV file as Excel
# saves it: a header, CRLF, n keys drawn at random (seed) between lo and hi,
# then a few errors (bad lines: not a number, and repeats of one key, one
# pair per 2,000 lines; deleted orders are not_found).  Variables: lines,
# lo, hi, seed.  run.sh and profile.sh both use it.
upload_csv_awk='BEGIN { printf "注文番号,お名前\r\n"; n = lines - 1 - int(lines / 1000); srand(seed);
                       for (i = 0; i < n; i++) printf "%d,テスト\r\n", lo + int(rand() * (hi - lo + 1));
                       for (i = 0; i < int(lines / 2000); i++) printf "abc,bad\r\n12345,repeat\r\n" }'
