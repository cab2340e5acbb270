-- The payment connector's way back in (docs/connectors.md).
--
-- A connector process takes pending rows of bulkorder.payment_requests with
-- FOR UPDATE SKIP LOCKED (so several connectors never take the same one),
-- asks the provider, and reports the answer here in the same transaction.
-- Taking a row lock needs an UPDATE privilege on some column: a connector
-- role is granted UPDATE (attempts, last_attempt_at) only, which it uses to
-- record a try that got no answer, so the status itself moves only through
-- complete_payment_request.

-- complete_payment_request(request_id, ok, result_code, message) RETURNS boolean
--   Settles a pending request with the provider's answer and moves its order on:
--     reauthorize  order.auth_status → ok / ng, order.auth_message → message
--     ship_report  ok: order.ship_report_status → ok and a shipping order → shipped
--                  ng: order.ship_report_status → ng (the order stays shipping,
--                      so 一括再出荷報告 can try again)
--     void         the request only
--   Returns true when this call settled the request, false when the request
--   was already settled with exactly this answer (a connector retrying after
--   a lost COMMIT acknowledgement): the call is idempotent.
--   Errors: NULL request_id or ok (22004); an unknown request_id, or one of a
--   shop the calling role is not granted (22023); a
--   different answer for a request already settled (55000).
CREATE OR REPLACE FUNCTION bulkorder.complete_payment_request(request_id bigint, ok boolean,
                                                   result_code text, message text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_shop bigint;
    settled boolean;
BEGIN
    IF complete_payment_request.request_id IS NULL OR complete_payment_request.ok IS NULL THEN
        RAISE EXCEPTION 'request_id and ok must not be NULL'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    -- The request's shop (request ids are unique across shops).  A request
    -- of a shop the connector is not granted is one it cannot know: the
    -- same answer as an unknown id.
    SELECT r.shop_id INTO v_shop
    FROM bulkorder.payment_requests r
    WHERE r.request_id = complete_payment_request.request_id;
    IF NOT FOUND OR NOT bulkorder_catalog.shop_granted(v_shop) THEN
        RAISE EXCEPTION 'payment request % does not exist', complete_payment_request.request_id
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF bulkorder_catalog.citus_distributed() THEN
        -- on Citus, where the shop is: one delegated call (code/80_citus.sql)
        EXECUTE pg_catalog.format('SELECT s FROM bulkorder_catalog.settle_payment_request(%s, $1, $2, $3, $4) s',
                                  v_shop)
        INTO settled
        USING complete_payment_request.request_id, complete_payment_request.ok,
              complete_payment_request.result_code, complete_payment_request.message;
        RETURN settled;
    END IF;
    RETURN bulkorder_catalog.settle_payment_request(v_shop, complete_payment_request.request_id,
                                                    complete_payment_request.ok,
                                                    complete_payment_request.result_code,
                                                    complete_payment_request.message);
END
$fn$;

-- What complete_payment_request does once it knows the request's shop,
-- where the shop's rows are: settle the request and move its order on.
CREATE OR REPLACE FUNCTION bulkorder_catalog.settle_payment_request(shop bigint, request_id bigint, ok boolean,
                                                                    result_code text, message text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    req bulkorder.payment_requests;
    new_status text;
BEGIN
    new_status := CASE WHEN settle_payment_request.ok THEN 'ok' ELSE 'ng' END;

    -- the request first, then its order: the same order every caller takes
    SELECT r.* INTO req
    FROM bulkorder.payment_requests r
    WHERE r.shop_id = settle_payment_request.shop AND r.request_id = settle_payment_request.request_id
    FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'payment request % does not exist', settle_payment_request.request_id
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    IF req.status <> 'pending' THEN
        IF req.status = new_status
           AND req.result_code IS NOT DISTINCT FROM settle_payment_request.result_code
           AND req.message IS NOT DISTINCT FROM settle_payment_request.message THEN
            RETURN false;       -- the same report again: nothing to do
        END IF;
        RAISE EXCEPTION 'payment request % is already settled', req.request_id
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = bulkorder_catalog.message('REQUEST_SETTLED',
                                  req.status, coalesce(req.result_code, 'none'), req.completed_at::text,
                                  new_status, coalesce(settle_payment_request.result_code, 'none')),
                  HINT = bulkorder_catalog.message('REQUEST_SETTLED_ONCE');
    END IF;

    UPDATE bulkorder.payment_requests r
    SET status = new_status,
        result_code = settle_payment_request.result_code,
        message = settle_payment_request.message,
        completed_at = now()
    WHERE r.shop_id = req.shop_id AND r.order_no = req.order_no AND r.request_id = req.request_id;

    IF req.kind = 'reauthorize' THEN
        UPDATE bulkorder.orders o
        SET auth_status = new_status,
            auth_message = settle_payment_request.message
        WHERE o.shop_id = req.shop_id AND o.order_no = req.order_no;
    ELSIF req.kind = 'ship_report' THEN
        UPDATE bulkorder.orders o
        SET ship_report_status = new_status,
            status = CASE WHEN settle_payment_request.ok AND o.status = 'shipping'
                          THEN 'shipped' ELSE o.status END
        WHERE o.shop_id = req.shop_id AND o.order_no = req.order_no;
    END IF;
    RETURN true;
END
$fn$;
REVOKE ALL ON FUNCTION bulkorder_catalog.settle_payment_request(bigint, bigint, boolean, text, text) FROM PUBLIC;

COMMENT ON FUNCTION bulkorder.complete_payment_request(bigint, boolean, text, text) IS
'A payment connector reports the provider''s answer to a request: true when settled now, false for a repeated identical report';

-- The connectors' polls as calls (1.2).  A connector on one node may read
-- and lock the outboxes itself, as docs/connectors.md's polls do; these calls take
-- the same rows the same way, one shop at a time, and on a Citus cluster
-- they are how a connector polls: the lock of a distributed table's rows
-- must be taken on the node that holds them, and every statement of the
-- connector's transaction must run as one role there (one connection: its
-- own lock never stands in its own way).  The shop: options.shop, else
-- bulkorder.shop, else the role's only shop (as for every call).
--   take_payment_requests(max_rows, options)  pending requests, oldest first,
--       locked FOR UPDATE SKIP LOCKED until the transaction ends
--   payment_requests_tried(request_ids, options)  a try without an answer:
--       attempts + 1, last_attempt_at (pending requests only); the count
--   take_mails(max_rows, options)  mails not yet sent nor withdrawn, locked
--   mark_mails_sent(mail_ids, options)  sent_at; the count
-- A payment connector may call the first two, a mail connector the last
-- two (grant_payment_connector, grant_mail_connector).

-- The shop of a connector's call, and its right to act as kind there.
CREATE OR REPLACE FUNCTION bulkorder_catalog.connector_shop(options jsonb, kind text)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    who text := coalesce(nullif(current_setting('role'), 'none'), session_user);
    shop bigint;
BEGIN
    -- a connector's only option is shop (an operator is the admin tool's)
    IF jsonb_typeof(options) = 'object' AND options ? 'operator' THEN
        RAISE EXCEPTION 'unknown option "operator"' USING ERRCODE = '22023',
            HINT = bulkorder_catalog.message('CONNECTOR_OPTION_UNKNOWN', 'operator');
    END IF;
    shop := (bulkorder_catalog.call_options(options, 'CONNECTOR_OPTION_UNKNOWN')).shop_id;
    IF NOT (CASE kind WHEN 'payment_connector'
                      THEN has_column_privilege(who, 'bulkorder.payment_requests', 'attempts', 'UPDATE')
                      ELSE has_column_privilege(who, 'bulkorder.mail_outbox', 'sent_at', 'UPDATE') END) THEN
        RAISE EXCEPTION 'permission denied: % is not a % of this shop', who, replace(kind, '_', ' ')
            USING ERRCODE = 'insufficient_privilege',
                  HINT = bulkorder_catalog.message('CONNECTOR_NOT_GRANTED', kind);
    END IF;
    RETURN shop;
END
$fn$;

CREATE OR REPLACE FUNCTION bulkorder_catalog.take_payment_requests_in_shop(shop bigint, max_rows integer)
RETURNS TABLE (request_id bigint, order_no bigint, payment_method text, kind text,
               attempts integer, last_attempt_at timestamptz)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    RETURN QUERY
    SELECT r.request_id, r.order_no, r.payment_method, r.kind, r.attempts, r.last_attempt_at
    FROM bulkorder.payment_requests r
    WHERE r.shop_id = take_payment_requests_in_shop.shop AND r.status = 'pending'
    ORDER BY r.request_id
    LIMIT take_payment_requests_in_shop.max_rows
    FOR UPDATE OF r SKIP LOCKED;
END
$fn$;

CREATE OR REPLACE FUNCTION bulkorder_catalog.take_mails_in_shop(shop bigint, max_rows integer)
RETURNS TABLE (mail_id bigint, template_code text, order_no bigint, customer_id bigint,
               to_address text, subject text, body text)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    RETURN QUERY
    SELECT m.mail_id, m.template_code, m.order_no, m.customer_id, m.to_address, m.subject, m.body
    FROM bulkorder.mail_outbox m
    WHERE m.shop_id = take_mails_in_shop.shop AND m.sent_at IS NULL AND m.withdrawn_at IS NULL
    ORDER BY m.mail_id
    LIMIT take_mails_in_shop.max_rows
    FOR UPDATE OF m SKIP LOCKED;
END
$fn$;

CREATE OR REPLACE FUNCTION bulkorder.take_payment_requests(max_rows integer DEFAULT 1,
                                                           options jsonb DEFAULT '{}')
RETURNS TABLE (request_id bigint, order_no bigint, payment_method text, kind text,
               attempts integer, last_attempt_at timestamptz)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    shop bigint := bulkorder_catalog.connector_shop(options, 'payment_connector');
BEGIN
    -- SELECT … FROM f(<the shop>): on Citus, a call delegated to the shop's node
    RETURN QUERY EXECUTE pg_catalog.format(
        'SELECT * FROM bulkorder_catalog.take_payment_requests_in_shop(%s, $1)', shop)
    USING greatest(coalesce(max_rows, 1), 0);
END
$fn$;

CREATE OR REPLACE FUNCTION bulkorder.payment_requests_tried(request_ids bigint[], options jsonb DEFAULT '{}')
RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    shop bigint := bulkorder_catalog.connector_shop(options, 'payment_connector');
    n integer;
BEGIN
    UPDATE bulkorder.payment_requests r
    SET attempts = r.attempts + 1, last_attempt_at = now()
    WHERE r.shop_id = shop AND r.request_id = ANY (request_ids) AND r.status = 'pending';
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$fn$;

CREATE OR REPLACE FUNCTION bulkorder.take_mails(max_rows integer DEFAULT 50, options jsonb DEFAULT '{}')
RETURNS TABLE (mail_id bigint, template_code text, order_no bigint, customer_id bigint,
               to_address text, subject text, body text)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    shop bigint := bulkorder_catalog.connector_shop(options, 'mail_connector');
BEGIN
    RETURN QUERY EXECUTE pg_catalog.format(
        'SELECT * FROM bulkorder_catalog.take_mails_in_shop(%s, $1)', shop)
    USING greatest(coalesce(max_rows, 50), 0);
END
$fn$;

CREATE OR REPLACE FUNCTION bulkorder.mark_mails_sent(mail_ids bigint[], options jsonb DEFAULT '{}')
RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    shop bigint := bulkorder_catalog.connector_shop(options, 'mail_connector');
    n integer;
BEGIN
    UPDATE bulkorder.mail_outbox m
    SET sent_at = now()
    WHERE m.shop_id = shop AND m.mail_id = ANY (mail_ids) AND m.sent_at IS NULL;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$fn$;

REVOKE ALL ON FUNCTION bulkorder_catalog.connector_shop(jsonb, text),
                       bulkorder_catalog.take_payment_requests_in_shop(bigint, integer),
                       bulkorder_catalog.take_mails_in_shop(bigint, integer)
    FROM PUBLIC;

-- The connectors' roles, granted like grant_operator / grant_reader (run as
-- the extension's owner): exactly what docs/connectors.md's loops need.
-- A payment connector reads the requests, locks them (FOR UPDATE needs an
-- UPDATE privilege: it gets attempts and last_attempt_at only, to record a
-- try without an answer) and reports through complete_payment_request.  A
-- mail connector reads the outbox and sets sent_at.  Neither reads the
-- shop's tables nor runs jobs.
CREATE OR REPLACE FUNCTION bulkorder.grant_payment_connector(role_name name, shop text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    PERFORM bulkorder_catalog.grant_shop_role(role_name, shop, 'payment_connector');
    EXECUTE format('GRANT SELECT, UPDATE (attempts, last_attempt_at) ON bulkorder.payment_requests TO %I',
                   role_name);
    EXECUTE format('GRANT EXECUTE ON FUNCTION bulkorder.complete_payment_request(bigint, boolean, text, text),'
                   ' bulkorder.take_payment_requests(integer, jsonb), bulkorder.payment_requests_tried(bigint[], jsonb)'
                   ' TO %I', role_name);
END
$fn$;

CREATE OR REPLACE FUNCTION bulkorder.grant_mail_connector(role_name name, shop text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    PERFORM bulkorder_catalog.grant_shop_role(role_name, shop, 'mail_connector');
    EXECUTE format('GRANT SELECT, UPDATE (sent_at) ON bulkorder.mail_outbox TO %I', role_name);
    EXECUTE format('GRANT EXECUTE ON FUNCTION bulkorder.take_mails(integer, jsonb),'
                   ' bulkorder.mark_mails_sent(bigint[], jsonb) TO %I', role_name);
END
$fn$;
