-- Many shops in one database: the shop of a call, keys per shop, operators
-- kept inside their shop, every statement of a job confined to its shop.
CREATE EXTENSION bulkorder;
\set VERBOSITY default

-- CREATE EXTENSION makes shop 1, code default, with the starting rows
SELECT shop_id, code, name FROM bulkorder.shops;
SELECT shop_id, count(*) FROM bulkorder.payment_methods GROUP BY 1;
SELECT shop_id, count(*) FROM bulkorder.mail_templates GROUP BY 1;

-- a single-shop database: every call acts on its only shop, as in 1.1
\set ECHO none
\i test/fixtures/shop.sql
\set ECHO all
SELECT bulkorder.run_bulk('orders', 'tags', ARRAY[1001, 1002], '{"add": ["one-shop"]}') AS job1 \gset
SELECT shop_id, status, success_count FROM bulkorder.bulk_jobs WHERE job_id = :job1;
SELECT DISTINCT shop_id FROM bulkorder.bulk_job_items WHERE job_id = :job1;

-- create_shop: a code of 1-63 lower-case letters, digits, - or _
\set VERBOSITY sqlstate
SELECT bulkorder.create_shop(NULL, 'x');
SELECT bulkorder.create_shop('x', NULL);
SELECT bulkorder.create_shop('', 'x');
SELECT bulkorder.create_shop('Kenko', 'x');
SELECT bulkorder.create_shop('kenko shop', 'x');
SELECT bulkorder.create_shop(repeat('a', 64), 'x');
SELECT bulkorder.create_shop('kenko', ' ');
SELECT bulkorder.create_shop('default', 'again');
\set VERBOSITY default
SELECT bulkorder.create_shop('kenko', '健康ショップ') AS kenko \gset
SELECT bulkorder.create_shop('cosme', 'コスメショップ') AS cosme \gset
SELECT shop_id = :kenko AS kenko, code, name FROM bulkorder.shops ORDER BY shop_id;
-- a new shop starts as a fresh install does: payment methods, mail templates
SELECT s.code, (SELECT count(*) FROM bulkorder.payment_methods p WHERE p.shop_id = s.shop_id) AS payment_methods,
       (SELECT count(*) FROM bulkorder.mail_templates m WHERE m.shop_id = s.shop_id) AS mail_templates,
       (SELECT count(*) FROM bulkorder.orders o WHERE o.shop_id = s.shop_id) AS orders
FROM bulkorder.shops s ORDER BY s.shop_id;

-- with several shops, a call must name its shop
SELECT bulkorder.run_bulk('orders', 'tags', ARRAY[1001], '{"add": ["x"]}');
SELECT * FROM bulkorder.preview_bulk('orders', 'tags', ARRAY[1001], '{"add": ["x"]}');
INSERT INTO bulkorder.customer_ranks (code, name) VALUES ('x', 'x');
SELECT bulkorder.run_bulk('orders', 'tags', ARRAY[1001], '{"add": ["x"]}', '{"shop": "nosuch"}');
SELECT bulkorder.run_bulk('orders', 'tags', ARRAY[1001], '{"add": ["x"]}', '{"shop": "Kenko"}');
SELECT bulkorder.run_bulk('orders', 'tags', ARRAY[1001], '{"add": ["x"]}', '{"shop": ""}');
SELECT bulkorder.run_bulk('orders', 'tags', ARRAY[1001], '{"add": ["x"]}', '{"shop": 7}');
BEGIN;
SET LOCAL bulkorder.shop = 'cosme';
SELECT bulkorder.run_bulk('orders', 'tags', ARRAY[1001], '{"add": ["x"]}', '{"shop": "kenko"}');
ROLLBACK;
BEGIN;
SET LOCAL bulkorder.shop = 'No Such';
SELECT bulkorder.run_bulk('orders', 'tags', ARRAY[1001], '{"add": ["x"]}');
ROLLBACK;

-- the same keys in two shops are two rows: load the fixture into kenko and
-- cosme too (rows inserted without shop_id go to the session's shop)
BEGIN;
SET LOCAL bulkorder.shop = 'kenko';
\set ECHO none
\i test/fixtures/shop.sql
\set ECHO all
COMMIT;
BEGIN;
SET LOCAL bulkorder.shop = 'cosme';
\set ECHO none
\i test/fixtures/shop.sql
\set ECHO all
-- cosme's order 1001 is shipped: the same key, another order
UPDATE bulkorder.orders SET status = 'shipped' WHERE shop_id = bulkorder.session_shop_id() AND order_no = 1001;
COMMIT;
SELECT s.code, o.order_no, o.status FROM bulkorder.orders o JOIN bulkorder.shops s USING (shop_id)
WHERE o.order_no = 1001 ORDER BY s.shop_id;

-- a job acts on its shop's rows only: options.shop, or SET LOCAL bulkorder.shop
SELECT bulkorder.run_bulk('orders', 'cancel', ARRAY[1001, 1006], '{"void_payment": true}',
                          '{"shop": "kenko"}') AS kenko_job \gset
BEGIN;
SET LOCAL bulkorder.shop = 'cosme';
SELECT bulkorder.run_bulk('orders', 'cancel', ARRAY[1001, 1006], '{"void_payment": true}') AS cosme_job \gset
SELECT * FROM bulkorder.preview_bulk('orders', 'cancel', ARRAY[1001, 1006], '{"void_payment": true}');
COMMIT;
SELECT s.code, o.order_no, o.status FROM bulkorder.orders o JOIN bulkorder.shops s USING (shop_id)
WHERE o.order_no IN (1001, 1006) ORDER BY s.shop_id, o.order_no;
SELECT j.job_id = :kenko_job AS kenko_job, s.code, i.target, i.ok, i.error_code
FROM bulkorder.bulk_job_items i JOIN bulkorder.bulk_jobs j USING (shop_id, job_id) JOIN bulkorder.shops s USING (shop_id)
WHERE i.job_id IN (:kenko_job, :cosme_job) ORDER BY s.shop_id, i.target;
-- outbox rows and notifications are the job's shop's
SELECT s.code, r.order_no, r.kind FROM bulkorder.payment_requests r JOIN bulkorder.shops s USING (shop_id)
WHERE r.job_id IN (:kenko_job, :cosme_job) ORDER BY s.shop_id, r.order_no;
SELECT s.code, count(*) FROM bulkorder.notifications n JOIN bulkorder.shops s USING (shop_id)
WHERE n.job_id IN (:kenko_job, :cosme_job) GROUP BY s.shop_id, s.code ORDER BY s.shop_id;
-- a request key belongs to its shop
SELECT bulkorder.run_bulk('orders', 'tags', ARRAY[1002], '{"add": ["k"]}', '{"shop": "kenko", "request_key": "same"}')
     = bulkorder.run_bulk('orders', 'tags', ARRAY[1002], '{"add": ["k"]}', '{"shop": "kenko", "request_key": "same"}') AS kenko_once,
       bulkorder.run_bulk('orders', 'tags', ARRAY[1002], '{"add": ["k"]}', '{"shop": "cosme", "request_key": "same"}')
    <> bulkorder.run_bulk('orders', 'tags', ARRAY[1002], '{"add": ["k"]}', '{"shop": "kenko", "request_key": "same"}') AS per_shop;

-- retry, revert and their previews find the job in the call's shop only
SELECT bulkorder.revert_job(:kenko_job, '{"shop": "cosme"}');
SELECT * FROM bulkorder.preview_revert(:kenko_job);
SELECT bulkorder.retry_failed(:kenko_job, '{"shop": "cosme"}');
SELECT bulkorder.cancel_job(:kenko_job, '{"shop": "cosme"}');
SELECT bulkorder.revert_job(:kenko_job, '{"shop": "kenko"}') AS kenko_revert \gset
SELECT s.code, o.order_no, o.status FROM bulkorder.orders o JOIN bulkorder.shops s USING (shop_id)
WHERE o.order_no IN (1001, 1006) ORDER BY s.shop_id, o.order_no;
SELECT r.status FROM bulkorder.payment_requests r WHERE r.job_id = :kenko_job ORDER BY r.order_no;

-- a fragment that never names shop_id is still confined to the job's
-- shop: a rule reading the next order (1002 in every shop), an effect
-- writing the outbox, a set clause reading another table
SELECT bulkorder.define_operation('orders', 'neighbour_note',
    name_ja => '隣の注文メモ', name_en => 'neighbour note', wrapper => 'bulk_neighbour_note',
    changed_columns => '{remarks}',
    set_clause => $$remarks = (SELECT string_agg(c.name || ':' || n.status, ',' ORDER BY n.order_no)
                               FROM bulkorder.orders n JOIN bulkorder.customers c ON c.customer_id = n.customer_id
                               WHERE n.order_no = t.order_no + 1)$$,
    effects => ARRAY[$$INSERT INTO bulkorder.mail_outbox (order_no, customer_id, subject, job_id)
                       SELECT a.target, o.customer_id, 'neighbour', $3 FROM applied a
                       JOIN bulkorder.orders o ON o.order_no = a.target$$],
    rules => '[{"code": "no_neighbour", "condition": "EXISTS (SELECT 1 FROM bulkorder.orders n WHERE n.order_no = t.order_no + 1)",
                "message_ja": "次の注文がありません", "message_en": "no next order"}]');
UPDATE bulkorder.orders SET status = 'returned' WHERE shop_id = 1 AND order_no = 1002;
DELETE FROM bulkorder.order_items WHERE shop_id = (SELECT shop_id FROM bulkorder.shops WHERE code = 'cosme') AND order_no = 1011;
DELETE FROM bulkorder.orders WHERE shop_id = (SELECT shop_id FROM bulkorder.shops WHERE code = 'cosme') AND order_no = 1011;
SELECT bulkorder.run_bulk('orders', 'neighbour_note', ARRAY[1001, 1010], '{}', '{"shop": "cosme"}') AS note_job \gset
SELECT target, ok, error_code, after FROM bulkorder.bulk_job_items WHERE job_id = :note_job ORDER BY target;
SELECT s.code, m.order_no, m.subject FROM bulkorder.mail_outbox m JOIN bulkorder.shops s USING (shop_id)
WHERE m.job_id = :note_job;
-- a fragment that writes another shop's id is refused
SELECT bulkorder.define_operation('orders', 'escape',
    name_ja => '脱出', name_en => 'escape', wrapper => 'bulk_escape',
    changed_columns => '{remarks}', set_clause => $$remarks = 'x', shop_id = 1$$);
SELECT bulkorder.run_bulk('orders', 'escape', ARRAY[1001], '{}', '{"shop": "cosme"}');
SELECT bulkorder.drop_operation('orders', 'escape');
SELECT bulkorder.drop_operation('orders', 'neighbour_note');

-- operators: each granted one shop
CREATE ROLE bulkorder_shop_op_a;
CREATE ROLE bulkorder_shop_op_b;
CREATE ROLE bulkorder_shop_op_both;
CREATE ROLE bulkorder_shop_conn;
SELECT bulkorder.grant_operator('bulkorder_shop_op_a');
SELECT bulkorder.grant_operator('bulkorder_shop_op_a', 'nosuch');
SELECT bulkorder.grant_operator(NULL, 'kenko');
SELECT bulkorder.grant_operator('bulkorder_no_such_role', 'kenko');
SELECT bulkorder.grant_operator('bulkorder_shop_op_a', 'kenko');
SELECT bulkorder.grant_operator(role => 'bulkorder_shop_op_b', shop => 'cosme');
SELECT bulkorder.grant_operator('bulkorder_shop_op_both', 'kenko');
SELECT bulkorder.grant_operator('bulkorder_shop_op_both', 'cosme');
SELECT bulkorder.grant_payment_connector('bulkorder_shop_conn', 'kenko');
SELECT s.code, g.role, g.kind FROM bulkorder.shop_roles g JOIN bulkorder.shops s USING (shop_id)
ORDER BY s.shop_id, g.role::text, g.kind;

SET ROLE bulkorder_shop_op_a;
-- its only shop: no need to name it
SELECT bulkorder.run_bulk('orders', 'tags', ARRAY[1003, 1011], '{"add": ["a"]}') AS a_job \gset
SELECT s.code, o.order_no, o.tags FROM bulkorder.order_list o JOIN bulkorder.shops s USING (shop_id)
WHERE o.order_no IN (1003, 1011) ORDER BY o.shop_id, o.order_no;
-- every view and history view: its shop's rows only
SELECT DISTINCT shop_id FROM bulkorder.order_list;
SELECT DISTINCT shop_id FROM bulkorder.subscription_list;
SELECT DISTINCT shop_id FROM bulkorder.shipment_list;
SELECT DISTINCT shop_id FROM bulkorder.customer_list;
SELECT DISTINCT shop_id FROM bulkorder.order_bulk_history;
SELECT DISTINCT shop_id FROM bulkorder.bulk_jobs;
SELECT DISTINCT shop_id FROM bulkorder.bulk_job_items;
SELECT DISTINCT shop_id FROM bulkorder.bulk_job_failures;
SELECT DISTINCT shop_id FROM bulkorder.notifications;
SELECT DISTINCT shop_id FROM bulkorder.payment_methods;
SELECT code FROM bulkorder.shops;
-- another shop: 42501; another shop's job: unknown (22023)
\set VERBOSITY sqlstate
SELECT bulkorder.run_bulk('orders', 'tags', ARRAY[1003], '{"add": ["a"]}', '{"shop": "cosme"}');
SELECT bulkorder.run_bulk('orders', 'tags', ARRAY[1003], '{"add": ["a"]}', '{"shop": "default"}');
SELECT bulkorder.revert_job(:cosme_job);
SELECT bulkorder.retry_failed(:cosme_job);
SELECT bulkorder.cancel_job(:cosme_job);
SELECT * FROM bulkorder.preview_revert(:cosme_job);
SELECT bulkorder.mark_notifications_read(ARRAY(SELECT notification_id FROM bulkorder.notifications), '{"shop": "cosme"}');
\set VERBOSITY default
RESET ROLE;

-- uploads: keys resolved in the call's shop; another shop's upload is unknown
SELECT bulkorder.upload_csv('orders', convert_to(E'1001\n1011\n', 'UTF8'), '{"shop": "cosme"}') AS cosme_upload \gset
BEGIN;
SET LOCAL bulkorder.shop = 'cosme';
SELECT * FROM bulkorder.upload_errors(:cosme_upload);
COMMIT;
SET ROLE bulkorder_shop_op_a;
\set VERBOSITY sqlstate
SELECT bulkorder.upload_targets(:cosme_upload);
SELECT * FROM bulkorder.upload_errors(:cosme_upload);
\set VERBOSITY default
SELECT bulkorder.upload_targets(bulkorder.upload_csv('orders', convert_to(E'1001\n1011\n', 'UTF8')));
RESET ROLE;

-- an operator of both shops names the shop of each call
SET ROLE bulkorder_shop_op_both;
SELECT bulkorder.run_bulk('orders', 'tags', ARRAY[1003], '{"add": ["both"]}');
SELECT bulkorder.run_bulk('orders', 'tags', ARRAY[1003], '{"add": ["both"]}', '{"shop": "cosme"}') > 0 AS ran;
SELECT count(DISTINCT shop_id) AS shops_seen FROM bulkorder.order_list;
RESET ROLE;

-- a connector completes the requests of the shops it is granted; another
-- shop's request is unknown to it (22023), as an unknown id is
SELECT bulkorder.run_bulk('orders', 'cancel', ARRAY[1008], '{"void_payment": true}', '{"shop": "kenko"}') > 0 AS kenko_void;
SELECT r.request_id AS cosme_request FROM bulkorder.payment_requests r JOIN bulkorder.shops s USING (shop_id)
WHERE s.code = 'cosme' AND r.status = 'pending' ORDER BY r.request_id LIMIT 1 \gset
SET ROLE bulkorder_shop_conn;
SELECT DISTINCT shop_id FROM bulkorder.payment_requests;
SELECT bulkorder.complete_payment_request(
    (SELECT min(request_id) FROM bulkorder.payment_requests WHERE status = 'pending'), true, 'OK', NULL) AS settled;
\set VERBOSITY sqlstate
SELECT bulkorder.complete_payment_request(:cosme_request, true, 'OK', NULL);
SELECT bulkorder.complete_payment_request(987654321, true, 'OK', NULL);
\set VERBOSITY default
RESET ROLE;
SELECT status FROM bulkorder.payment_requests WHERE request_id = :cosme_request;

-- order generation: one shop, or every shop each on its own
SELECT * FROM bulkorder.generate_subscription_orders('2026-12-01', 'kenko');
SELECT s.code, count(o.*) AS orders_of_501
FROM bulkorder.shops s LEFT JOIN bulkorder.orders o ON o.shop_id = s.shop_id AND o.course_order_no = 501
GROUP BY s.shop_id, s.code ORDER BY s.shop_id;
SELECT * FROM bulkorder.generate_subscription_orders('2026-12-01');
SELECT s.code, count(o.*) AS orders_of_501
FROM bulkorder.shops s LEFT JOIN bulkorder.orders o ON o.shop_id = s.shop_id AND o.course_order_no = 501
GROUP BY s.shop_id, s.code ORDER BY s.shop_id;
\set VERBOSITY sqlstate
SELECT * FROM bulkorder.generate_subscription_orders('2026-12-01', 'nosuch');
\set VERBOSITY default

-- revoke_operator: the shop goes; with its last shop, the privileges too
\set VERBOSITY sqlstate
SELECT bulkorder.revoke_operator('bulkorder_shop_op_both', NULL);
\set VERBOSITY default
SELECT bulkorder.revoke_operator('bulkorder_shop_op_both', 'kenko');
SELECT has_function_privilege('bulkorder_shop_op_both', 'bulkorder.run_bulk(text, text, bigint[], jsonb, jsonb)', 'EXECUTE') AS can_run;
SELECT bulkorder.revoke_operator('bulkorder_shop_op_both', 'cosme');
SELECT has_function_privilege('bulkorder_shop_op_both', 'bulkorder.run_bulk(text, text, bigint[], jsonb, jsonb)', 'EXECUTE') AS can_run;
-- nothing granted to PUBLIC: create_shop is a superuser's
SELECT has_function_privilege('bulkorder_shop_op_a', 'bulkorder.create_shop(text, text)', 'EXECUTE') AS op_creates_shops;

DROP OWNED BY bulkorder_shop_op_a, bulkorder_shop_op_b, bulkorder_shop_op_both, bulkorder_shop_conn;
DROP ROLE bulkorder_shop_op_a, bulkorder_shop_op_b, bulkorder_shop_op_both, bulkorder_shop_conn;

-- the shop's tables outlive DROP EXTENSION: dropping the schema leaves nothing
SET client_min_messages = warning;
DROP SCHEMA bulkorder CASCADE;
