-- Orders page, order lines: 商品を一括追加 (add_products) and 商品を一括削除
-- (remove_products).  Only price-0 products; added only where the product
-- allows the order's payment and delivery method, never twice, only on
-- orders awaiting shipment.
CREATE EXTENSION bulkorder;
\set VERBOSITY default
\set SHOW_CONTEXT never
\i test/fixtures/shop.sql
\i test/helpers/orders.sql

-- 203: a free gift only 佐川 delivers; 204: a free, non-public gift
INSERT INTO bulkorder.products (product_id, name, price, is_public) VALUES
    (203, '保冷バッグ', 0, true),
    (204, '非公開ノベルティ', 0, false);
INSERT INTO bulkorder.product_payment_methods (product_id, payment_method)
SELECT p, m.code FROM unnest(ARRAY[203, 204]) p, bulkorder.payment_methods m;
INSERT INTO bulkorder.product_delivery_methods (product_id, delivery_method) VALUES
    (203, 'sagawa'), (204, 'yamato'), (204, 'sagawa'), (204, 'nekopos');
-- 3101: no delivery method yet; 3102: a promotional line of 101 at price 0
INSERT INTO bulkorder.orders (order_no, customer_id, status, payment_method, delivery_method) VALUES
    (3101, 1, 'awaiting_shipment', 'credit_card', NULL),
    (3102, 2, 'awaiting_shipment', 'credit_card', 'yamato');
INSERT INTO bulkorder.order_items (order_no, product_id, quantity, unit_price) VALUES
    (3102, 101, 2, 0);

-------------------------------------------------------------------------------
-- 商品を一括追加 (add_products)
-------------------------------------------------------------------------------
-- wrong for the whole job: rejected, nothing recorded
SELECT * FROM pg_temp.try($$SELECT bulkorder.bulk_add_products('{1001}', 999)$$);
SELECT * FROM pg_temp.try($$SELECT bulkorder.bulk_add_products('{1001}', 101)$$);
SELECT * FROM pg_temp.try($$SELECT bulkorder.bulk_add_products('{1001}', 301)$$);
SELECT * FROM pg_temp.try($$SELECT bulkorder.bulk_add_products('{1001}', 202, 0)$$);
SELECT * FROM pg_temp.try($$SELECT bulkorder.bulk_add_products('{1001}', 202, 10000)$$);
SELECT * FROM pg_temp.try($$SELECT bulkorder.bulk_add_products('{1001}', NULL)$$);
SELECT * FROM pg_temp.try($$SELECT bulkorder.run_bulk('orders', 'add_products', '{1001}', '{"quantity": 2}')$$);
SELECT * FROM pg_temp.try($$SELECT bulkorder.run_bulk('orders', 'add_products', '{1001}', '{"product_id": "202"}')$$);
SELECT * FROM pg_temp.try($$SELECT bulkorder.run_bulk('orders', 'add_products', '{1001}', '{"product_id": 202, "quantity": 1.5}')$$);
SELECT count(*) AS jobs, (SELECT count(*) FROM bulkorder.order_items) AS lines FROM bulkorder.bulk_jobs;

-- 202 (the booklet) allows credit_card and cod only, every delivery method
SELECT pg_temp.preview('add_products', '{1001,1011,1006,2003,1002,1003,1004,3101,1012,999999}',
                       '{"product_id": 202}');
SELECT bulkorder.bulk_add_products('{1001,1011,1006,2003,1002,1003,1004,3101,1012,999999}', 202) AS job \gset
SELECT * FROM pg_temp.items(:job);
-- 1001 (card) and 1011 (cod) get the line, quantity 1 by default, price 0;
-- 3101 has no delivery method, so nothing allows it
SELECT order_no, product_id, quantity, unit_price FROM bulkorder.order_items
WHERE product_id = 202 ORDER BY order_no;

-- 203 only goes by 佐川: 1008 (GMO, sagawa) yes, 1001 (yamato) no;
-- 1001 already has 201: never twice; a quantity is taken as given
SELECT pg_temp.preview('add_products', '{1008,1001}', '{"product_id": 203, "quantity": 3}');
SELECT bulkorder.bulk_add_products('{1008,1001}', 203, 3) AS job \gset
SELECT * FROM pg_temp.items(:job);
SELECT pg_temp.preview('add_products', '{1001,1011,3102}', '{"product_id": 201}');
SELECT bulkorder.bulk_add_products('{1001,1011,3102}', 201) AS job \gset
SELECT * FROM pg_temp.items(:job);
-- a status failure comes first, whatever else is wrong
SELECT target, ok, error_code FROM bulkorder.preview_bulk('orders', 'add_products', '{1003,1004}', '{"product_id": 203}');
-- a free product need not be public (the page picks from the shop's free items)
SELECT bulkorder.bulk_add_products('{1011}', 204) AS job \gset
SELECT target, ok, error_code, after FROM bulkorder.bulk_job_items WHERE job_id = :job;
-- a second run of the same addition fails: already in the order
SELECT bulkorder.bulk_add_products('{1001,1011}', 202) AS job \gset
SELECT target, ok, error_code FROM bulkorder.bulk_job_items WHERE job_id = :job ORDER BY target;
SELECT order_no, product_id, quantity, unit_price FROM bulkorder.order_items
WHERE order_no IN (1001, 1008, 1011, 3102) ORDER BY order_no, product_id;

-------------------------------------------------------------------------------
-- 商品を一括削除 (remove_products)
-------------------------------------------------------------------------------
SELECT * FROM pg_temp.try($$SELECT bulkorder.bulk_remove_products('{1001}', 999)$$);
SELECT * FROM pg_temp.try($$SELECT bulkorder.run_bulk('orders', 'remove_products', '{1001}', '{}')$$);
SELECT * FROM pg_temp.try($$SELECT bulkorder.run_bulk('orders', 'remove_products', '{1001}', '{"product_id": 202, "quantity": 1}')$$);

-- 202 is in 1001 and 1011 at price 0; not in 1006; 1002 is being shipped
UPDATE bulkorder.orders SET status = 'shipping' WHERE order_no = 1011;
SELECT pg_temp.preview('remove_products', '{1001,1011,1006,1002,1012}', '{"product_id": 202}');
SELECT bulkorder.bulk_remove_products('{1001,1011,1006,1002,1012}', 202) AS job \gset
SELECT * FROM pg_temp.items(:job);
UPDATE bulkorder.orders SET status = 'awaiting_shipment' WHERE order_no = 1011;
-- the price is the line's: 101 is sold at 3980 in 1001 (kept) and given
-- away at 0 in 3102 (removed)
SELECT pg_temp.preview('remove_products', '{1001,3102}', '{"product_id": 101}');
SELECT bulkorder.bulk_remove_products('{1001,3102}', 101) AS job \gset
SELECT * FROM pg_temp.items(:job);
SELECT order_no, product_id, quantity, unit_price FROM bulkorder.order_items
WHERE order_no IN (1001, 1011, 3102) ORDER BY order_no, product_id;
-- removing again: not in the order any more
SELECT bulkorder.bulk_remove_products('{1001}', 202) AS job \gset
SELECT target, ok, error_code FROM bulkorder.bulk_job_items WHERE job_id = :job;

-- English messages
SET bulkorder.language = 'en';
SELECT * FROM bulkorder.preview_bulk('orders', 'add_products', '{1001,1002,1006,1011}', '{"product_id": 203}');
SELECT * FROM bulkorder.preview_bulk('orders', 'add_products', '{1001}', '{"product_id": 201}');
SELECT * FROM bulkorder.preview_bulk('orders', 'add_products', '{1006}', '{"product_id": 202}');
SELECT * FROM bulkorder.preview_bulk('orders', 'remove_products', '{1001}', '{"product_id": 203}');
SELECT * FROM bulkorder.preview_bulk('orders', 'remove_products', '{1001,1002,1006}', '{"product_id": 101}');
RESET bulkorder.language;

-- the shop's tables outlive DROP EXTENSION: dropping the schema leaves nothing
SET client_min_messages = warning;
DROP SCHEMA bulkorder CASCADE;
