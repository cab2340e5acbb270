-- Orders page, payments: 一括再与信 (reauthorize), 決済方法 (payment_method),
-- 一括再出荷報告 (reship_report), the outbox rows they queue, and
-- complete_payment_request, the connector's way back in.
CREATE EXTENSION bulkorder;
\set VERBOSITY default
\set SHOW_CONTEXT never
\i test/fixtures/shop.sql

\i test/helpers/orders.sql

-- More orders with every payment method's situation (3001-3099).
INSERT INTO bulkorder.orders (order_no, customer_id, status, payment_method, auth_status, auth_message,
                              ship_report_status, delivery_method) VALUES
    -- re-authorization
    (3001, 1, 'awaiting_shipment', 'np_atobarai_realtime', 'ng', 'NPの与信がNGになりました。NG999。', 'not_required', 'yamato'),
    (3002, 1, 'awaiting_shipment', 'np_atobarai_realtime', 'ng', 'NPの与信がNGになりました。NG002。', 'not_required', 'yamato'),
    (3003, 2, 'awaiting_shipment', 'dsk_atobarai', 'ng', 'DSK 審査NG', 'not_required', 'yamato'),
    (3004, 2, 'awaiting_shipment', 'subsc_atobarai_eco', 'ng', NULL, 'not_required', 'yamato'),
    (3005, 3, 'awaiting_shipment', 'credit_card', 'ng', 'カードの与信がNGです', 'not_required', 'yamato'),
    (3006, 3, 'awaiting_shipment', 'cod', 'ng', NULL, 'not_required', 'yamato'),
    (3007, 3, 'awaiting_shipment', 'np_atobarai', 'ng', NULL, 'not_required', 'yamato'),
    (3008, 3, 'awaiting_shipment', 'np_atobarai', 'ng', 'NPの与信がNGになりました。NG999。 ', 'not_required', 'yamato'),
    (3009, 1, 'cancelled', 'gmo_ps_atobarai', 'ng', 'GMO NG', 'not_required', 'yamato'),
    (3010, 1, 'awaiting_shipment', 'np_atobarai', 'pending', 'NPの与信がNGになりました。NG999。', 'not_required', 'yamato'),
    (3011, 1, 'awaiting_shipment', 'bank_transfer', 'ng', NULL, 'not_required', 'yamato'),
    -- shipment reports
    (3021, 1, 'shipping', 'np_atobarai', 'ok', NULL, 'ng', 'yamato'),
    (3022, 2, 'shipping', 'np_atobarai_realtime', 'ok', NULL, 'ng', 'yamato'),
    (3023, 3, 'shipping', 'subsc_atobarai_eco', 'ok', NULL, 'ng', 'yamato'),
    (3024, 3, 'shipping', 'dsk_atobarai', 'ok', NULL, 'pending', 'yamato'),
    (3025, 1, 'shipping', 'score_atobarai', 'ok', NULL, 'ng', 'yamato'),
    (3026, 1, 'shipping', 'credit_card', 'ok', NULL, 'ng', 'yamato'),
    (3027, 2, 'shipped', 'np_atobarai', 'ok', NULL, 'ng', 'yamato'),
    (3028, 2, 'awaiting_shipment', 'dsk_atobarai', 'ok', NULL, 'ng', 'yamato'),
    (3029, 2, 'shipping', 'np_atobarai', 'ok', NULL, 'ok', 'yamato'),
    -- payment method
    (3041, 1, 'shipped', 'np_atobarai', 'ng', 'NPの与信がNGになりました。NG999。', 'not_required', 'yamato'),
    (3042, 2, 'awaiting_shipment', 'gmo_ps_atobarai', 'pending', NULL, 'not_required', 'yamato'),
    (3043, 1, 'awaiting_shipment', 'score_atobarai', 'ng', 'スコア NG', 'not_required', 'yamato'),
    (3044, 2, 'awaiting_shipment', 'gmo_ps_atobarai', 'ng', 'GMO NG', 'not_required', 'yamato');
-- a subscription's order of customer 4 (who has no e-mail address)
INSERT INTO bulkorder.orders (order_no, customer_id, course_order_no, course_seq, status, payment_method,
                              auth_status, auth_message, delivery_method, tracking_no) VALUES
    (3045, 4, 504, 2, 'awaiting_shipment', 'score_atobarai', 'ng', 'スコア NG', 'yamato', 'T-3045');

-------------------------------------------------------------------------------
-- 一括再与信 (reauthorize)
-------------------------------------------------------------------------------
-- the NP rule is data: the two NP methods carry the exact refusal message
SELECT code, reauthorizable, needs_ship_report, reauth_message
FROM bulkorder.payment_methods ORDER BY code;

SELECT pg_temp.preview('reauthorize',
    '{1001,1006,1007,1008,2003,3001,3002,3003,3004,3005,3006,3007,3008,3009,3010,3011,1012,999999}');
SELECT bulkorder.bulk_reauthorize(
    '{1001,1006,1007,1008,2003,3001,3002,3003,3004,3005,3006,3007,3008,3009,3010,3011,1012,999999}') AS job \gset
SELECT * FROM pg_temp.items(:job);
-- eligible: NP NG999 (1006), NP realtime NG999 (3001), GMO (1008, and 3009
-- whatever its status), score (2003), DSK (3003) and サブスク後払いECO (3004)
-- whatever their message; failing: auth not ng (1001, 3010), NP with another
-- code, no message or a trailing space (1007, 3002, 3007, 3008), methods that
-- cannot be re-authorized (credit_card 3005, cod 3006, bank_transfer 3011)
SELECT order_no, auth_status, auth_message FROM bulkorder.orders
WHERE order_no IN (1006, 1007, 1008, 2003, 3001, 3003, 3004, 3009) ORDER BY order_no;
-- one reauthorize request per changed order, with the order's method and the job
SELECT order_no, payment_method, kind, status, result_code, message, job_id = :job AS this_job,
       attempts, completed_at IS NULL AS open
FROM bulkorder.payment_requests ORDER BY order_no;
SELECT total_count, success_count, failure_count FROM bulkorder.bulk_jobs WHERE job_id = :job;
-- a second run finds them pending: nothing queued twice
SELECT bulkorder.bulk_reauthorize('{1006,1008}') AS job \gset
SELECT target, ok, error_code FROM bulkorder.bulk_job_items WHERE job_id = :job ORDER BY target;
SELECT count(*) AS requests FROM bulkorder.payment_requests;

-- the rule follows the data: a shop that also lets GMO retry only one code
BEGIN;
UPDATE bulkorder.payment_methods SET reauth_message = 'GMO NG' WHERE code = 'gmo_ps_atobarai';
SELECT target, ok, error_code FROM bulkorder.preview_bulk('orders', 'reauthorize', '{3044,1008}', '{}');
UPDATE bulkorder.orders SET auth_message = 'GMO NG2' WHERE order_no = 3044;
SELECT target, ok, error_code FROM bulkorder.preview_bulk('orders', 'reauthorize', '{3044}', '{}');
ROLLBACK;

-- no parameters: any given is rejected
SELECT * FROM pg_temp.try($$SELECT bulkorder.run_bulk('orders', 'reauthorize', '{1006}', '{"force": true}')$$);

-------------------------------------------------------------------------------
-- complete_payment_request: re-authorization answers
-------------------------------------------------------------------------------
SELECT request_id AS r1006 FROM bulkorder.payment_requests WHERE order_no = 1006 \gset
SELECT request_id AS r1008 FROM bulkorder.payment_requests WHERE order_no = 1008 \gset
SELECT request_id AS r3003 FROM bulkorder.payment_requests WHERE order_no = 3003 \gset
SELECT request_id AS r3009 FROM bulkorder.payment_requests WHERE order_no = 3009 \gset
-- ok: the order's auth ok, its old refusal message replaced by the provider's (none)
SELECT bulkorder.complete_payment_request(:r1008, true, 'OK', NULL) AS settled;
SELECT order_no, auth_status, auth_message FROM bulkorder.orders WHERE order_no = 1008;
SELECT status, result_code, message, completed_at IS NOT NULL AS completed
FROM bulkorder.payment_requests WHERE request_id = :r1008;
-- the same report again: idempotent, returns false, changes nothing
SELECT bulkorder.complete_payment_request(:r1008, true, 'OK', NULL) AS settled;
SELECT order_no, auth_status, auth_message FROM bulkorder.orders WHERE order_no = 1008;
-- a different report for a settled request is refused
SELECT * FROM pg_temp.try(format('SELECT bulkorder.complete_payment_request(%s, false, %L, %L)',
                                 :r1008, 'NG', 'no'));
SELECT * FROM pg_temp.try(format('SELECT bulkorder.complete_payment_request(%s, true, %L, NULL)',
                                 :r1008, 'OK2'));
SELECT * FROM pg_temp.try(format('SELECT bulkorder.complete_payment_request(%s, true, %L, %L)',
                                 :r1008, 'OK', 'a message'));
SELECT status, result_code, message FROM bulkorder.payment_requests WHERE request_id = :r1008;
-- ng with NP's retryable refusal: the order is ng with that message, so
-- 一括再与信 can take it again
SELECT bulkorder.complete_payment_request(:r1006, false, 'NG999', 'NPの与信がNGになりました。NG999。') AS settled;
SELECT order_no, auth_status, auth_message FROM bulkorder.orders WHERE order_no = 1006;
SELECT bulkorder.complete_payment_request(:r1006, false, 'NG999', 'NPの与信がNGになりました。NG999。') AS settled;
SELECT target, ok, error_code FROM bulkorder.preview_bulk('orders', 'reauthorize', '{1006}', '{}');
-- ng with another answer: the message is kept and the order is ng
SELECT bulkorder.complete_payment_request(:r3003, false, 'E42', 'DSK: 限度額超過') AS settled;
SELECT order_no, auth_status, auth_message FROM bulkorder.orders WHERE order_no = 3003;
-- the answer is recorded even on an order cancelled meanwhile
SELECT bulkorder.complete_payment_request(:r3009, true, 'OK', '与信OK') AS settled;
SELECT order_no, status, auth_status, auth_message FROM bulkorder.orders WHERE order_no = 3009;
-- unknown request, NULL arguments
SELECT * FROM pg_temp.try('SELECT bulkorder.complete_payment_request(424242, true, NULL, NULL)');
SELECT * FROM pg_temp.try('SELECT bulkorder.complete_payment_request(NULL, true, NULL, NULL)');
SELECT * FROM pg_temp.try(format('SELECT bulkorder.complete_payment_request(%s, NULL, NULL, NULL)', :r3003));
-- function properties: SECURITY DEFINER, pinned search_path, nothing for PUBLIC
SELECT p.prosecdef, p.proconfig, has_function_privilege('public', p.oid, 'EXECUTE') AS public_can_run
FROM pg_proc p WHERE p.oid = 'bulkorder.complete_payment_request(bigint, boolean, text, text)'::regprocedure;

-------------------------------------------------------------------------------
-- 一括再出荷報告 (reship_report)
-------------------------------------------------------------------------------
SELECT pg_temp.preview('reship_report', '{1009,1010,1002,1001,3021,3022,3023,3024,3025,3026,3027,3028,3029,1012}');
SELECT bulkorder.bulk_reship_report('{1009,1010,1002,1001,3021,3022,3023,3024,3025,3026,3027,3028,3029,1012}') AS job \gset
SELECT * FROM pg_temp.items(:job);
-- eligible: shipping + ng + a method that reports (DSK 1009, NP 3021, NP
-- realtime 3022, ECO 3023); failing: not shipping (1001, 3027 shipped,
-- 3028 awaiting), report not ng (1002, 3024 pending, 3029 ok), methods
-- without shipment reports (GMO 1010, score 3025, card 3026)
SELECT order_no, status, ship_report_status FROM bulkorder.orders
WHERE order_no IN (1009, 3021, 3022, 3023) ORDER BY order_no;
SELECT order_no, payment_method, kind, status, job_id = :job AS this_job
FROM bulkorder.payment_requests WHERE kind = 'ship_report' ORDER BY order_no;

-------------------------------------------------------------------------------
-- complete_payment_request: shipment report answers and voids
-------------------------------------------------------------------------------
SELECT request_id AS s1009 FROM bulkorder.payment_requests WHERE order_no = 1009 AND kind = 'ship_report' \gset
SELECT request_id AS s3021 FROM bulkorder.payment_requests WHERE order_no = 3021 AND kind = 'ship_report' \gset
SELECT request_id AS s3022 FROM bulkorder.payment_requests WHERE order_no = 3022 AND kind = 'ship_report' \gset
-- ok: report ok and the order shipped
SELECT bulkorder.complete_payment_request(:s1009, true, 'OK', NULL) AS settled;
-- ng: report ng, the order stays shipping (and can be reported again)
SELECT bulkorder.complete_payment_request(:s3021, false, 'E01', '出荷報告エラー') AS settled;
SELECT bulkorder.complete_payment_request(:s3021, false, 'E01', '出荷報告エラー') AS settled;
SELECT * FROM pg_temp.try(format('SELECT bulkorder.complete_payment_request(%s, true, %L, NULL)', :s3021, 'OK'));
-- ok for an order no longer shipping: the report is recorded, the status is not forced
UPDATE bulkorder.orders SET status = 'awaiting_shipment' WHERE order_no = 3022;
SELECT bulkorder.complete_payment_request(:s3022, true, 'OK', NULL) AS settled;
SELECT order_no, status, ship_report_status, auth_status, auth_message FROM bulkorder.orders
WHERE order_no IN (1009, 3021, 3022) ORDER BY order_no;
SELECT target, ok, error_code FROM bulkorder.preview_bulk('orders', 'reship_report', '{1009,3021}', '{}');
-- a void request only settles
SELECT bulkorder.bulk_cancel('{1001}', true) AS job \gset
SELECT request_id AS v1001 FROM bulkorder.payment_requests WHERE order_no = 1001 AND kind = 'void' \gset
SELECT bulkorder.complete_payment_request(:v1001, true, 'VOIDED', '取消完了') AS settled;
SELECT order_no, status, auth_status, auth_message, ship_report_status FROM bulkorder.orders WHERE order_no = 1001;
SELECT kind, status, result_code, message FROM bulkorder.payment_requests WHERE request_id = :v1001;

-------------------------------------------------------------------------------
-- 決済方法 (payment_method): only to cod, only awaiting_shipment with auth ng
-------------------------------------------------------------------------------
-- any other method rejects the whole call, and nothing is recorded
SELECT count(*) AS jobs_before FROM bulkorder.bulk_jobs \gset
SELECT * FROM pg_temp.try($$SELECT bulkorder.bulk_payment_method('{1007}', 'credit_card')$$);
SELECT * FROM pg_temp.try($$SELECT bulkorder.bulk_payment_method('{1007}', NULL)$$);
SELECT * FROM pg_temp.try($$SELECT bulkorder.run_bulk('orders', 'payment_method', '{1007}', '{}')$$);
SELECT * FROM pg_temp.try($$SELECT bulkorder.run_bulk('orders', 'payment_method', '{1007}', '{"payment_method": "COD"}')$$);
SELECT count(*) = :jobs_before AS nothing_recorded FROM bulkorder.bulk_jobs;

SELECT pg_temp.preview('payment_method', '{1001,1002,1003,1007,1008,1011,3041,3042,3043,1012}',
                       '{"payment_method": "cod"}');
SELECT bulkorder.bulk_payment_method('{1001,1002,1003,1007,1008,1011,3041,3042,3043,1012}', 'cod') AS job \gset
SELECT * FROM pg_temp.items(:job);
-- eligible 1007, 3043; failing: not awaiting (1001 cancelled above, 1002,
-- 1003, 3041 shipped though ng), auth not ng (1011 not_required, 3042
-- pending, 1008 ok since the answer above)
SELECT order_no, payment_method, auth_status, auth_message FROM bulkorder.orders
WHERE order_no IN (1007, 1008, 3043) ORDER BY order_no;
-- one 代引き自動変更 mail per changed order (none for the failed ones),
-- rendered from the template: the customer's name and the order number
-- filled in, sent to the customer's address
SELECT template_code, order_no, customer_id, to_address, subject, body, job_id = :job AS this_job,
       sent_at IS NULL AS unsent
FROM bulkorder.mail_outbox ORDER BY order_no;
-- exactly the rendered template
SELECT bool_and(m.subject = bulkorder.render_mail(t.subject, o.order_no, c.name, o.tracking_no, pm.name, o.course_order_no)
                AND m.body = bulkorder.render_mail(t.body, o.order_no, c.name, o.tracking_no, pm.name, o.course_order_no)) AS rendered_from_template
FROM bulkorder.mail_outbox m
JOIN bulkorder.mail_templates t ON t.code = m.template_code
JOIN bulkorder.orders o ON o.order_no = m.order_no
JOIN bulkorder.customers c ON c.customer_id = o.customer_id
JOIN bulkorder.payment_methods pm ON pm.code = o.payment_method;
-- render_mail is inlined into the statements that call it (no SET clause,
-- no sub-SELECT): the plan shows its replace() calls, not a function call
SET compute_query_id = off;
EXPLAIN (VERBOSE, COSTS OFF)
SELECT bulkorder.render_mail(t.subject, 1, 'x', 'y', 'z', 2) FROM bulkorder.mail_templates t;
RESET compute_query_id;

-- the template is rendered with the changed order: a shop's own wording
-- that names the new method shows 代引き.  Customer 4 has no e-mail
-- address: the mail is still queued (to_address NULL) and the mail
-- connector decides (docs/connectors.md).
UPDATE bulkorder.mail_templates
SET subject = '{{order_no}}: {{payment_method}}へ変更',
    body = '{{customer_name}} / {{order_no}} / {{payment_method}} / {{course_order_no}} / {{tracking_no}}'
WHERE code = 'cod_auto_change';
SELECT bulkorder.bulk_payment_method('{3045}', 'cod') AS job \gset
SELECT template_code, order_no, customer_id, to_address, subject, body
FROM bulkorder.mail_outbox WHERE job_id = :job;

-- template disabled: the change happens, no mail is queued
UPDATE bulkorder.mail_templates SET enabled = false WHERE code = 'cod_auto_change';
SELECT count(*) AS mails_before FROM bulkorder.mail_outbox \gset
SELECT pg_temp.preview('payment_method', '{3044,3005}', '{"payment_method": "cod"}');
SELECT bulkorder.bulk_payment_method('{3044,3005}', 'cod') AS job \gset
SELECT * FROM pg_temp.items(:job);
SELECT count(*) - :mails_before AS new_mails FROM bulkorder.mail_outbox;
-- enabled again: mails again
UPDATE bulkorder.mail_templates SET enabled = true WHERE code = 'cod_auto_change';
SELECT bulkorder.bulk_payment_method('{3006}', 'cod') AS job \gset
SELECT order_no, to_address, subject FROM bulkorder.mail_outbox WHERE job_id = :job;
-- the already changed ones fail on a second run (now not_required)
SELECT bulkorder.bulk_payment_method('{1007,3044}', 'cod') AS job \gset
SELECT target, ok, error_code FROM bulkorder.bulk_job_items WHERE job_id = :job ORDER BY target;

-- a rollback leaves neither the change nor the mail nor the request
BEGIN;
SELECT bulkorder.bulk_payment_method('{3011}', 'cod') IS NOT NULL AS ran;
SELECT bulkorder.bulk_reauthorize('{3001}') IS NOT NULL AS ran;
ROLLBACK;
SELECT (SELECT payment_method FROM bulkorder.orders WHERE order_no = 3011) AS method_3011,
       (SELECT count(*) FROM bulkorder.mail_outbox WHERE order_no = 3011) AS mails_3011;

-- English messages
SET bulkorder.language = 'en';
SELECT * FROM bulkorder.preview_bulk('orders', 'reauthorize', '{1001,3011,3002}', '{}');
SELECT * FROM bulkorder.preview_bulk('orders', 'payment_method', '{1002,1011}', '{"payment_method": "cod"}');
SELECT * FROM bulkorder.preview_bulk('orders', 'reship_report', '{1001,1002,1010}', '{}');
RESET bulkorder.language;

-- the shop's tables outlive DROP EXTENSION: dropping the schema leaves nothing
SET client_min_messages = warning;
DROP SCHEMA bulkorder CASCADE;
