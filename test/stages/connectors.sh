#!/usr/bin/env bash
# The payment and mail connectors of the README ("Payment and mail
# connectors"), run for real: their own login roles with only the grants the
# README gives, committed transactions, FOR UPDATE SKIP LOCKED polling and
# the reports back.  Exits 0 when every check passed.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
db=bulkorder_stage_connectors
export PGUSER=${PGUSER:-postgres}
q() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }
cleanup() {
  q -d postgres -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
  q -d postgres -c "DROP ROLE IF EXISTS payment_connector" -c "DROP ROLE IF EXISTS mail_connector" >/dev/null 2>&1 || true
}
trap cleanup EXIT
. "$top/test/lib/readme.sh"
section='## Payment and mail connectors'
for i in 1 2 3 4 5; do
  [ -n "$(readme_block "$section" $i)" ] || { echo "FAILED: README block $i of '$section' is missing"; exit 1; }
done
cleanup
q -d postgres -c "CREATE DATABASE $db"

# the shop, a re-authorization job and a 代引き自動変更 job
q -d $db -c "CREATE EXTENSION bulkorder" -f "$top/test/fixtures/shop.sql" >/dev/null
q -d $db -c "SELECT bulkorder.bulk_reauthorize('{1006,1008,2003}')" \
         -c "SELECT bulkorder.bulk_payment_method('{1007}', 'cod')" >/dev/null

# README: the roles (as the extension's owner, once)
q -d $db <<< "$(readme_block "$section" 1)"

# README: one poll of the payment connector (one request, psql variables)
q -d $db -U payment_connector <<< "$(readme_block "$section" 2)"

# README: a batch poll: answers reported, a provider that did not answer
# leaves its request pending with the try counted
q -d $db -U payment_connector <<< "$(readme_block "$section" 3)"

# README: the short-transaction (lease) variant.  1006 was refused with
# NG999 above, so 一括再与信 queues request 4; request 3 was tried a moment
# ago and is left alone for five minutes.
q -d $db -c "SELECT bulkorder.bulk_reauthorize('{1006}')" >/dev/null
claimed=$(q -d $db -U payment_connector -At <<< "$(readme_block "$section" 4)" | awk 'NR == 1')
[ "$claimed" = "4|1006|np_atobarai|reauthorize" ] || { echo "FAILED: lease claim gave: $claimed"; exit 1; }

# A revert withdraws what no connector has taken (docs/connectors.md): a
# reauthorize request and a 代引き自動変更 mail, both reverted before any
# poll.  The README's polls never take them.
q -d $db -c "INSERT INTO bulkorder.orders (order_no, customer_id, status, payment_method, auth_status, delivery_method)
             VALUES (1090, 1, 'awaiting_shipment', 'gmo_ps_atobarai', 'ng', 'yamato'),
                    (1091, 1, 'awaiting_shipment', 'gmo_ps_atobarai', 'ng', 'yamato')" \
         -c "SELECT bulkorder.revert_job(bulkorder.bulk_reauthorize('{1091}'))" \
         -c "SELECT bulkorder.revert_job(bulkorder.bulk_payment_method('{1090}', 'cod'))" >/dev/null
reclaimed=$(q -d $db -U payment_connector -At <<< "$(readme_block "$section" 4)")
if grep -q '|1091|' <<< "$reclaimed"; then
  echo "FAILED: the lease poll took a withdrawn request: $reclaimed"; exit 1
fi

# README: the mail connector
polled=$(q -d $db -U mail_connector -At <<< "$(readme_block "$section" 5)")
if grep -q '|1090|' <<< "$polled"; then
  echo "FAILED: the mail poll took a withdrawn mail: $polled"; exit 1
fi
grep -q '|1007|' <<< "$polled" || { echo "FAILED: the mail poll missed mail 1: $polled"; exit 1; }

# what the connectors may not do: settle a request by hand, read the shop
for sql in "UPDATE bulkorder.payment_requests SET status = 'ok' WHERE request_id = 3" \
           "SELECT count(*) FROM bulkorder.orders" \
           "SELECT bulkorder.bulk_reauthorize('{3}')" \
           "SELECT count(*) FROM bulkorder.mail_outbox"; do
  if q -d $db -U payment_connector -c "$sql" >/dev/null 2>&1; then
    echo "FAILED: payment_connector could run: $sql"; exit 1
  fi
done
for sql in "UPDATE bulkorder.mail_outbox SET subject = 'x'" \
           "SELECT count(*) FROM bulkorder.customers" \
           "SELECT bulkorder.complete_payment_request(3, true, NULL, NULL)"; do
  if q -d $db -U mail_connector -c "$sql" >/dev/null 2>&1; then
    echo "FAILED: mail_connector could run: $sql"; exit 1
  fi
done

# the outcome
got=$(q -d $db -At -F' ' <<'SQL'
SELECT r.request_id, r.order_no, r.status, r.attempts, o.auth_status, coalesce(o.auth_message, '-')
FROM bulkorder.payment_requests r JOIN bulkorder.orders o USING (order_no)
ORDER BY r.request_id;
SELECT m.mail_id, m.order_no, m.sent_at IS NOT NULL FROM bulkorder.mail_outbox m ORDER BY m.mail_id;
SQL
)
want="1 1006 ng 0 ok -
2 1008 ok 0 ok -
3 2003 pending 1 pending スコア後払い 与信NG
4 1006 ok 1 ok -
5 1091 withdrawn 0 ng -
1 1007 t
2 1090 f"
if [ "$got" != "$want" ]; then
  echo "FAILED: connectors outcome"; echo "--- want"; echo "$want"; echo "--- got"; echo "$got"; exit 1
fi
echo "connectors: payment and mail connectors polled, reported and were refused what they may not do"
