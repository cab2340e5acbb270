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
    req bulkorder.payment_requests;
    new_status text;
BEGIN
    IF complete_payment_request.request_id IS NULL OR complete_payment_request.ok IS NULL THEN
        RAISE EXCEPTION 'request_id and ok must not be NULL'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    new_status := CASE WHEN complete_payment_request.ok THEN 'ok' ELSE 'ng' END;

    -- the request first, then its order: the same order every caller takes.
    -- A request of a shop the connector is not granted is one it cannot
    -- know: the same answer as an unknown id.
    SELECT r.* INTO req
    FROM bulkorder.payment_requests r
    WHERE r.request_id = complete_payment_request.request_id
    FOR UPDATE;
    IF NOT FOUND OR NOT bulkorder_catalog.shop_granted(req.shop_id) THEN
        RAISE EXCEPTION 'payment request % does not exist', complete_payment_request.request_id
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    IF req.status <> 'pending' THEN
        IF req.status = new_status
           AND req.result_code IS NOT DISTINCT FROM complete_payment_request.result_code
           AND req.message IS NOT DISTINCT FROM complete_payment_request.message THEN
            RETURN false;       -- the same report again: nothing to do
        END IF;
        RAISE EXCEPTION 'payment request % is already settled', req.request_id
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = bulkorder_catalog.message('REQUEST_SETTLED',
                                  req.status, coalesce(req.result_code, 'none'), req.completed_at::text,
                                  new_status, coalesce(complete_payment_request.result_code, 'none')),
                  HINT = bulkorder_catalog.message('REQUEST_SETTLED_ONCE');
    END IF;

    UPDATE bulkorder.payment_requests r
    SET status = new_status,
        result_code = complete_payment_request.result_code,
        message = complete_payment_request.message,
        completed_at = now()
    WHERE r.shop_id = req.shop_id AND r.order_no = req.order_no AND r.request_id = req.request_id;

    IF req.kind = 'reauthorize' THEN
        UPDATE bulkorder.orders o
        SET auth_status = new_status,
            auth_message = complete_payment_request.message
        WHERE o.shop_id = req.shop_id AND o.order_no = req.order_no;
    ELSIF req.kind = 'ship_report' THEN
        UPDATE bulkorder.orders o
        SET ship_report_status = new_status,
            status = CASE WHEN complete_payment_request.ok AND o.status = 'shipping'
                          THEN 'shipped' ELSE o.status END
        WHERE o.shop_id = req.shop_id AND o.order_no = req.order_no;
    END IF;
    RETURN true;
END
$fn$;

COMMENT ON FUNCTION bulkorder.complete_payment_request(bigint, boolean, text, text) IS
'A payment connector reports the provider''s answer to a request: true when settled now, false for a repeated identical report';

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
    EXECUTE format('GRANT EXECUTE ON FUNCTION bulkorder.complete_payment_request(bigint, boolean, text, text) TO %I',
                   role_name);
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
END
$fn$;
