-- The connectors' roles: grant_payment_connector / grant_mail_connector give
-- exactly what the polls of docs/connectors.md need, and nothing of the shop.
BEGIN;
CREATE EXTENSION bulkorder;
\set ECHO none
\i test/fixtures/shop.sql
SELECT plan(27);

CREATE ROLE bo_payments NOLOGIN;
CREATE ROLE bo_mails NOLOGIN;
CREATE ROLE bo_nobody NOLOGIN;
GRANT USAGE ON SCHEMA bulkorder TO bo_nobody;
SELECT bulkorder.grant_payment_connector('bo_payments');
SELECT bulkorder.grant_mail_connector('bo_mails');
SELECT bulkorder.bulk_reauthorize('{1006,1008}');
SELECT bulkorder.bulk_payment_method('{1007}', 'cod');

SELECT ok(NOT has_function_privilege('public', 'bulkorder.grant_payment_connector(name, text)', 'EXECUTE')
          AND NOT has_function_privilege('public', 'bulkorder.grant_mail_connector(name, text)', 'EXECUTE'),
          'PUBLIC cannot run the grant functions');

-- a role without grants
SET ROLE bo_nobody;
SELECT throws_ok($$SELECT bulkorder.complete_payment_request(1, true, NULL, NULL)$$, '42501', NULL,
                 'a role without grants cannot report payments');
SELECT throws_ok($$SELECT request_id FROM bulkorder.payment_requests FOR UPDATE SKIP LOCKED$$, '42501', NULL,
                 'nor take requests');
RESET ROLE;

-- the payment connector
SET ROLE bo_payments;
SELECT results_eq(
    $$SELECT request_id, order_no, kind FROM bulkorder.payment_requests
      WHERE status = 'pending' ORDER BY request_id LIMIT 10 FOR UPDATE SKIP LOCKED$$,
    $$VALUES (1::bigint, 1006::bigint, 'reauthorize'::text), (2, 1008, 'reauthorize')$$,
    'the payment connector takes pending requests with FOR UPDATE SKIP LOCKED');
SELECT is(bulkorder.complete_payment_request(1, false, 'NG999', 'NPの与信がNGになりました。NG999。'), true,
          'it reports an answer');
SELECT is(bulkorder.complete_payment_request(1, false, 'NG999', 'NPの与信がNGになりました。NG999。'), false,
          'a repeated identical report is a no-op');
SELECT throws_ok($$SELECT bulkorder.complete_payment_request(1, true, 'OK', NULL)$$, '55000', NULL,
                 'a conflicting report is refused');
SELECT throws_ok($$SELECT bulkorder.complete_payment_request(99, true, 'OK', NULL)$$, '22023', NULL,
                 'an unknown request is refused (22023, as a request of a shop it is not granted)');
SELECT lives_ok($$UPDATE bulkorder.payment_requests SET attempts = attempts + 1, last_attempt_at = now()
                  WHERE request_id = 2$$, 'it records a try that got no answer');
SELECT throws_ok($$UPDATE bulkorder.payment_requests SET status = 'ok' WHERE request_id = 2$$, '42501', NULL,
                 'it cannot settle a request by hand');
SELECT throws_ok($$INSERT INTO bulkorder.payment_requests (order_no, payment_method, kind)
                   VALUES (1001, 'credit_card', 'void')$$, '42501', NULL, 'nor queue requests');
SELECT throws_ok($$SELECT count(*) FROM bulkorder.orders$$, '42501', NULL, 'nor read the orders');
SELECT throws_ok($$SELECT bulkorder.bulk_reauthorize('{1006}')$$, '42501', NULL, 'nor run jobs');
SELECT throws_ok($$SELECT count(*) FROM bulkorder.mail_outbox$$, '42501', NULL, 'nor read mails');
-- the same poll as calls (docs/connectors.md, "Polling through calls")
SELECT results_eq($$SELECT request_id, order_no, kind, attempts FROM bulkorder.take_payment_requests(10)$$,
                  $$VALUES (2::bigint, 1008::bigint, 'reauthorize'::text, 1)$$,
                  'take_payment_requests takes the pending requests, oldest first');
SELECT is(bulkorder.payment_requests_tried('{1,2}'), 1,
          'payment_requests_tried counts a try of the pending request only');
SELECT throws_ok($$SELECT * FROM bulkorder.take_payment_requests(1, '{"operator": "x"}')$$, '22023', NULL,
                 'a connector''s call takes no operator');
RESET ROLE;
SELECT is((SELECT auth_status || ' ' || auth_message FROM bulkorder.orders WHERE order_no = 1006),
          'ng NPの与信がNGになりました。NG999。', 'the report moved the order on');

-- the mail connector
SET ROLE bo_mails;
SELECT results_eq(
    $$SELECT mail_id, order_no, to_address FROM bulkorder.mail_outbox
      WHERE sent_at IS NULL ORDER BY mail_id LIMIT 50 FOR UPDATE SKIP LOCKED$$,
    $$VALUES (1::bigint, 1007::bigint, 'ichiro.suzuki@example.jp'::text)$$,
    'the mail connector takes unsent mails with FOR UPDATE SKIP LOCKED');
SELECT results_eq($$SELECT mail_id, order_no, to_address FROM bulkorder.take_mails(50)$$,
                  $$VALUES (1::bigint, 1007::bigint, 'ichiro.suzuki@example.jp'::text)$$,
                  'take_mails takes the same unsent mails');
SELECT lives_ok($$UPDATE bulkorder.mail_outbox SET sent_at = now() WHERE mail_id = 1$$, 'it marks a mail sent');
SELECT throws_ok($$UPDATE bulkorder.mail_outbox SET body = 'spam' WHERE mail_id = 1$$, '42501', NULL,
                 'it cannot rewrite a mail');
SELECT throws_ok($$SELECT count(*) FROM bulkorder.customers$$, '42501', NULL, 'nor read customers');
SELECT throws_ok($$SELECT bulkorder.complete_payment_request(2, true, NULL, NULL)$$, '42501', NULL,
                 'nor report payments');
SELECT is(bulkorder.mark_mails_sent('{1}'), 0, 'mark_mails_sent leaves a mail already sent alone');
SELECT throws_ok($$SELECT * FROM bulkorder.take_mails(1, '{"bogus": 1}')$$, '22023', NULL,
                 'a connector''s call takes no option but shop');
SELECT throws_ok($$SELECT * FROM bulkorder.take_payment_requests(1)$$, '42501', NULL,
                 'a mail connector cannot take payment requests');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
