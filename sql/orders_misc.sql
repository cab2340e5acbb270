-- Orders page: 定期注文自動生成エラー解除 (clear_autogen_error), 配送方法
-- (delivery_method), 出荷完了メールステータス変更 (ship_mail_status) and
-- ブラックリスト (blacklist).
CREATE EXTENSION bulkorder;
\set VERBOSITY default
\set SHOW_CONTEXT never
\i test/fixtures/shop.sql
\i test/helpers/orders.sql

-------------------------------------------------------------------------------
-- 定期注文自動生成エラー解除 (clear_autogen_error): the order and its master
-------------------------------------------------------------------------------
UPDATE bulkorder.subscriptions SET autogen_error_reason = '在庫切れ' WHERE course_order_no = 504;
UPDATE bulkorder.subscriptions SET autogen_error = true, autogen_error_reason = '決済エラー'
WHERE course_order_no IN (502, 503);
INSERT INTO bulkorder.orders (order_no, customer_id, course_order_no, course_seq, status,
                              payment_method, autogen_error, deleted_at) VALUES
    (3201, 1, NULL, NULL, 'awaiting_shipment', 'credit_card', true, NULL),   -- a one-off order
    (3202, 1, 501, 3, 'awaiting_shipment', 'credit_card', true, NULL),       -- master 501 has no error
    (3203, 2, 502, 1, 'cancelled', 'np_atobarai', true, NULL),               -- two orders of master 502,
    (3204, 2, 502, 2, 'shipped', 'np_atobarai', true, NULL),                 --   any status
    (3205, 3, 503, 1, 'awaiting_shipment', 'cod', false, NULL),              -- master 503: order has no error
    (3206, 3, 503, 2, 'awaiting_shipment', 'cod', true, '2026-11-01');       -- deleted

SELECT pg_temp.preview('clear_autogen_error', '{2003,1001,3201,3202,3203,3204,3205,3206}');
SELECT bulkorder.bulk_clear_autogen_error('{2003,1001,3201,3202,3203,3204,3205,3206}') AS job \gset
SELECT * FROM pg_temp.items(:job);
SELECT order_no, autogen_error FROM bulkorder.orders
WHERE order_no IN (2003, 1001, 3201, 3202, 3203, 3204, 3205, 3206) ORDER BY order_no;
-- masters of the cleared orders are cleared (with their reason); 503's
-- stays: its order had no error and the deleted one is invisible
SELECT course_order_no, status, autogen_error, autogen_error_reason, next_ship_date
FROM bulkorder.subscriptions ORDER BY course_order_no;
-- again: nothing left to clear
SELECT bulkorder.bulk_clear_autogen_error('{2003}') AS job \gset
SELECT target, ok, error_code, message FROM bulkorder.bulk_job_items WHERE job_id = :job;
SELECT * FROM pg_temp.try($$SELECT bulkorder.run_bulk('orders', 'clear_autogen_error', '{2003}', '{"master": false}')$$);

-------------------------------------------------------------------------------
-- 配送方法 (delivery_method): method and time slot; the master is not touched
-------------------------------------------------------------------------------
-- wrong for the whole job: rejected, nothing recorded
SELECT count(*) AS jobs_before FROM bulkorder.bulk_jobs \gset
SELECT * FROM pg_temp.try($$SELECT bulkorder.bulk_delivery_method('{1001}', 'ups', NULL)$$);
SELECT * FROM pg_temp.try($$SELECT bulkorder.bulk_delivery_method('{1001}', 'sagawa', '14-16')$$);
SELECT * FROM pg_temp.try($$SELECT bulkorder.bulk_delivery_method('{1001}', 'nekopos', 'am')$$);
SELECT * FROM pg_temp.try($$SELECT bulkorder.bulk_delivery_method('{1001}', 'yamato', 'evening')$$);
SELECT * FROM pg_temp.try($$SELECT bulkorder.bulk_delivery_method('{1001}', NULL, NULL)$$);
SELECT * FROM pg_temp.try($$SELECT bulkorder.run_bulk('orders', 'delivery_method', '{1001}', '{"delivery_method": "yamato"}')$$);
SELECT count(*) = :jobs_before AS nothing_recorded FROM bulkorder.bulk_jobs;

SELECT pg_temp.preview('delivery_method', '{1001,1008,2003,1002,1003,1004,1005,1012}',
                       '{"delivery_method": "sagawa", "time_slot": "18-21"}');
SELECT bulkorder.bulk_delivery_method('{1001,1008,2003,1002,1003,1004,1005,1012}', 'sagawa', '18-21') AS job \gset
SELECT * FROM pg_temp.items(:job);
-- 2003's master 504 keeps yamato / 19-21
SELECT course_order_no, delivery_method, delivery_time_slot FROM bulkorder.subscriptions
WHERE course_order_no = 504;
-- NULL time slot = 指定なし; a method without slots
SELECT pg_temp.preview('delivery_method', '{1001,1011}', '{"delivery_method": "nekopos", "time_slot": null}');
SELECT bulkorder.bulk_delivery_method('{1001,1011}', 'nekopos', NULL) AS job \gset
SELECT * FROM pg_temp.items(:job);
-- the same setting again succeeds
SELECT bulkorder.bulk_delivery_method('{1001}', 'nekopos', NULL) AS job \gset
SELECT target, ok, error_code, before, after FROM bulkorder.bulk_job_items WHERE job_id = :job;
SELECT order_no, delivery_method, delivery_time_slot FROM bulkorder.orders
WHERE order_no IN (1001, 1002, 1008, 1011, 2003) ORDER BY order_no;

-------------------------------------------------------------------------------
-- 出荷完了メールステータス変更 (ship_mail_status): only before shipping
-------------------------------------------------------------------------------
SELECT * FROM pg_temp.try($$SELECT bulkorder.run_bulk('orders', 'ship_mail_status', '{1001}', '{}')$$);
SELECT * FROM pg_temp.try($$SELECT bulkorder.run_bulk('orders', 'ship_mail_status', '{1001}', '{"sent": "yes"}')$$);
SELECT pg_temp.preview('ship_mail_status', '{1001,1002,1003,1004,1005,1012}', '{"sent": true}');
SELECT bulkorder.bulk_ship_mail_status('{1001,1002,1003,1004,1005,1012}', true) AS job \gset
SELECT * FROM pg_temp.items(:job);
-- set again: succeeds; and back to unsent
SELECT bulkorder.bulk_ship_mail_status('{1001}', true) AS job \gset
SELECT target, ok, before, after FROM bulkorder.bulk_job_items WHERE job_id = :job;
SELECT pg_temp.preview('ship_mail_status', '{1002,1003}', '{"sent": false}');
SELECT bulkorder.bulk_ship_mail_status('{1002,1003}', false) AS job \gset
SELECT * FROM pg_temp.items(:job);
SELECT order_no, status, ship_mail_sent FROM bulkorder.orders WHERE order_no BETWEEN 1001 AND 1005 ORDER BY order_no;

-------------------------------------------------------------------------------
-- ブラックリスト (blacklist): the order's customer
-------------------------------------------------------------------------------
SELECT * FROM pg_temp.try($$SELECT bulkorder.bulk_blacklist('{1001}', 'ban')$$);
SELECT * FROM pg_temp.try($$SELECT bulkorder.bulk_blacklist('{1001}', 'blacklisted')$$);
SELECT * FROM pg_temp.try($$SELECT bulkorder.bulk_blacklist('{1001}', NULL)$$);
-- any order, whatever its status; two orders of customer 1 both show it
SELECT pg_temp.preview('blacklist', '{1001,1002,1004,1012,999999}', '{"action": "blacklist"}');
SELECT bulkorder.bulk_blacklist('{1001,1002,1004,1012,999999}', 'blacklist') AS job \gset
SELECT * FROM pg_temp.items(:job);
SELECT customer_id, blacklist_status FROM bulkorder.customers ORDER BY customer_id;
-- ブラックリスト候補
SELECT pg_temp.preview('blacklist', '{1006,1009}', '{"action": "candidate"}');
SELECT bulkorder.bulk_blacklist('{1006,1009}', 'candidate') AS job \gset
SELECT * FROM pg_temp.items(:job);
-- ブラックリスト・ブラックリスト候補から外す, and again (already none: succeeds)
SELECT pg_temp.preview('blacklist', '{1001,1003,1006}', '{"action": "remove"}');
SELECT bulkorder.bulk_blacklist('{1001,1003,1006}', 'remove') AS job \gset
SELECT * FROM pg_temp.items(:job);
SELECT bulkorder.bulk_blacklist('{1002}', 'remove') AS job \gset
SELECT target, ok, error_code, before, after FROM bulkorder.bulk_job_items WHERE job_id = :job;
SELECT customer_id, blacklist_status FROM bulkorder.customers ORDER BY customer_id;
-- the list page shows it
SELECT order_no, customer_id, blacklist_status FROM bulkorder.order_list
WHERE order_no IN (1001, 1004, 1009) ORDER BY order_no;

-- English messages
SET bulkorder.language = 'en';
SELECT * FROM bulkorder.preview_bulk('orders', 'clear_autogen_error', '{1001}', '{}');
SELECT * FROM bulkorder.preview_bulk('orders', 'delivery_method', '{1003}', '{"delivery_method": "yamato", "time_slot": "am"}');
SELECT * FROM bulkorder.preview_bulk('orders', 'ship_mail_status', '{1003}', '{"sent": true}');
RESET bulkorder.language;

-- the shop's tables outlive DROP EXTENSION: dropping the schema leaves nothing
SET client_min_messages = warning;
DROP SCHEMA bulkorder CASCADE;
