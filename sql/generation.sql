-- Subscription order generation (定期注文の自動生成): what is due, what the
-- order holds, course_seq after deletes, repeat runs, every error reason,
-- and how the next dates advance.
CREATE EXTENSION bulkorder;
\set VERBOSITY default
SET DateStyle = ISO;
\i test/fixtures/shop.sql

-- The orders of a master, without the generated (sequence) order numbers.
CREATE FUNCTION pg_temp.orders_of(master bigint)
RETURNS TABLE (course_seq integer, status text, payment_method text, auth_status text,
               delivery text, ship date, delivery_date date, items text, deleted boolean)
LANGUAGE sql AS $$
    SELECT o.course_seq, o.status, o.payment_method, o.auth_status,
           o.delivery_method || coalesce('/' || o.delivery_time_slot, ''),
           o.scheduled_ship_date, o.scheduled_delivery_date,
           (SELECT string_agg(format('%s×%s@%s', i.product_id, i.quantity, i.unit_price), ', '
                              ORDER BY i.product_id)
            FROM bulkorder.order_items i WHERE i.order_no = o.order_no),
           o.deleted_at IS NOT NULL
    FROM bulkorder.orders o WHERE o.course_order_no = master
    ORDER BY o.scheduled_ship_date, o.course_seq
$$;
CREATE FUNCTION pg_temp.masters(VARIADIC keys bigint[])
RETURNS TABLE (course_order_no bigint, status text, next_ship_date date, next_delivery_date date,
               anchor_day integer, autogen_error boolean, autogen_error_reason text)
LANGUAGE sql AS $$
    SELECT s.course_order_no, s.status, s.next_ship_date, s.next_delivery_date, s.anchor_day,
           s.autogen_error, s.autogen_error_reason
    FROM bulkorder.subscriptions s WHERE s.course_order_no = ANY (keys) ORDER BY 1
$$;

-- The result: how many orders were made and how many masters could not get one.
SELECT a.attname, format_type(a.atttypid, a.atttypmod)
FROM pg_attribute a WHERE a.attrelid = 'bulkorder.generation_result'::regclass AND a.attnum > 0
ORDER BY a.attnum;

----------------------------------------------------------- what is due
-- 501 (active) ships 12-01; 502 is paused, 503 ended, 504 has an error
SELECT * FROM bulkorder.generate_subscription_orders('2026-11-30');
SELECT count(*) AS orders FROM bulkorder.orders;

-- the notes of the master: the customer's standing instructions, the
-- shop's remarks and the integration text go on every order, the reply does not
UPDATE bulkorder.subscriptions
SET customer_message = '置き配希望', reply_message = '承知しました', remarks = '毎回同梱: 冊子',
    integration_text = 'WMS:A-12'
WHERE course_order_no = 501;

-- delete 501's 2nd order: the next generated order is the 2nd again
SELECT bulkorder.bulk_delete('{2002}', false) IS NOT NULL AS deleted;
SELECT * FROM bulkorder.generate_subscription_orders('2026-12-01');
SELECT * FROM pg_temp.orders_of(501);
SELECT customer_id, customer_message, reply_message, remarks, integration_text, autogen_error,
       shipping_hold, tags, ship_report_status
FROM bulkorder.orders WHERE course_order_no = 501 AND course_seq = 2 AND deleted_at IS NULL;
-- the generated order is on the order list
SELECT count(*) FROM bulkorder.order_list WHERE course_order_no = 501;
-- the master moved one month on
SELECT * FROM pg_temp.masters(501, 502, 503, 504);

-- run twice for the same day: nothing more
SELECT * FROM bulkorder.generate_subscription_orders('2026-12-01');
SELECT * FROM bulkorder.generate_subscription_orders('2026-12-31');
SELECT count(*) AS orders_of_501 FROM bulkorder.orders WHERE course_order_no = 501;

-- order numbers come after every explicit one (the fixture's go up to 2003,
-- an admin tool adds 9000)
SELECT min(order_no) > 2003 AS after_explicit_keys FROM bulkorder.orders
WHERE course_order_no = 501 AND scheduled_ship_date >= '2026-12-01';
INSERT INTO bulkorder.orders (order_no, customer_id, status, payment_method) VALUES (9000, 1, 'awaiting_shipment', 'cod');

-- the next month: the 3rd order, at today's price of the product
UPDATE bulkorder.products SET price = 4180 WHERE product_id = 101;
SELECT * FROM bulkorder.generate_subscription_orders('2027-01-01');
SELECT * FROM bulkorder.generate_subscription_orders('2027-01-01');
SELECT * FROM pg_temp.orders_of(501);
SELECT order_no > 9000 AS after_explicit_keys FROM bulkorder.orders
WHERE course_order_no = 501 AND scheduled_ship_date = '2027-01-01';
SELECT * FROM pg_temp.masters(501);

-- as_of is required
SELECT bulkorder.generate_subscription_orders(NULL);

------------------------------------------------------------ error reasons
INSERT INTO bulkorder.customers (customer_id, name, blacklist_status) VALUES
    (5, '黒田 次郎', 'blacklisted'), (6, '灰田 三郎', 'candidate');
INSERT INTO bulkorder.subscriptions
    (course_order_no, customer_id, status, payment_method, delivery_method, delivery_time_slot,
     frequency_id, next_ship_date, next_delivery_date) VALUES
    (510, 5, 'active', 'credit_card', 'yamato', NULL, 1, '2027-01-10', '2027-01-12'),  -- blacklisted
    (511, 6, 'active', 'cod', 'yamato', '14-16', 1, '2027-01-10', '2027-01-12'),       -- a candidate is fine
    (512, 1, 'active', 'credit_card', 'yamato', NULL, NULL, '2027-01-10', '2027-01-12'), -- no frequency
    (513, 1, 'active', 'credit_card', 'yamato', NULL, 1, '2027-01-10', '2027-01-12'),  -- no products
    (514, 1, 'active', 'credit_card', 'yamato', NULL, 1, '2027-01-10', '2027-01-12'),  -- a product not public
    (515, 2, 'active', 'np_atobarai', 'yamato', NULL, 1, '2027-01-10', '2027-01-12'),  -- 冊子: no NP後払い
    (516, 1, 'active', 'credit_card', 'nekopos', NULL, 1, '2027-01-10', '2027-01-12'), -- プロテイン: no ネコポス
    (517, 5, 'active', 'credit_card', 'nekopos', NULL, 1, '2027-01-10', '2027-01-12'), -- several at once
    (518, 1, 'active', 'credit_card', 'yamato', NULL, 1, '2027-01-16', '2027-01-18'),  -- not due yet
    (519, 1, 'active', 'credit_card', 'yamato', NULL, 1, NULL, NULL),                  -- no dates: never due
    (520, 3, 'active', 'bank_transfer', NULL, NULL, 4, '2027-01-10', NULL);            -- no delivery date/method
INSERT INTO bulkorder.subscription_items (course_order_no, product_id, quantity) VALUES
    (510, 101, 1), (511, 101, 1), (512, 101, 1), (514, 101, 1), (514, 301, 2), (515, 101, 1),
    (515, 202, 1), (516, 103, 1), (517, 301, 1), (517, 103, 1), (518, 101, 1), (519, 101, 1),
    (520, 102, 1);
-- 504 (プロテイン every 2 weeks) had its error cleared by an operator
SELECT bulkorder.bulk_subscription_clear_autogen_error('{504}') IS NOT NULL AS cleared;

SELECT * FROM bulkorder.generate_subscription_orders('2027-01-15');
SELECT * FROM pg_temp.masters(504, 510, 511, 512, 513, 514, 515, 516, 517, 518, 519, 520);
SELECT course_order_no, count(*) AS orders FROM bulkorder.orders
WHERE course_order_no >= 504 GROUP BY 1 ORDER BY 1;
SELECT * FROM pg_temp.orders_of(511);
SELECT * FROM pg_temp.orders_of(520);

-- each run that made or refused something told the operators; empty runs did not
SELECT recipient, message, read_at FROM bulkorder.notifications WHERE job_id IS NULL ORDER BY notification_id;

-- a master with an error is not due until the error is cleared
SELECT * FROM bulkorder.generate_subscription_orders('2027-01-15');

-- fix 514 (swap the old package for the public one), clear its error: it is generated
SELECT bulkorder.bulk_subscription_swap_product('{514}', 301, 102) IS NOT NULL AS swapped;
SELECT bulkorder.bulk_subscription_clear_autogen_error('{514,515}') IS NOT NULL AS cleared;
SELECT * FROM bulkorder.generate_subscription_orders('2027-01-15');
SELECT * FROM pg_temp.masters(514, 515);
SELECT * FROM pg_temp.orders_of(514);

--------------------------------------------------- advancing the next dates
-- everything so far out of the way
UPDATE bulkorder.subscriptions SET status = 'paused' WHERE status = 'active';
INSERT INTO bulkorder.subscriptions
    (course_order_no, customer_id, status, payment_method, delivery_method, frequency_id,
     next_ship_date, next_delivery_date) VALUES
    (530, 1, 'active', 'credit_card', 'yamato', 1, '2027-01-05', '2027-01-07'),  -- monthly, 31st via next_dates
    (531, 1, 'active', 'credit_card', 'yamato', 5, '2027-01-29', '2027-01-31'),  -- monthly on the 31st
    (532, 1, 'active', 'credit_card', 'yamato', 3, '2027-01-29', '2027-01-31'),  -- every 2 weeks
    (533, 1, 'active', 'credit_card', 'yamato', 4, '2027-01-29', '2027-01-31'),  -- every 10 days
    (534, 1, 'active', 'credit_card', 'yamato', 1, '2027-12-29', '2027-12-31'),  -- monthly, into a leap year
    (535, 1, 'active', 'credit_card', 'yamato', 1, '2026-12-29', '2026-12-31');  -- December → January
INSERT INTO bulkorder.subscription_items (course_order_no, product_id, quantity)
SELECT k, 101, 1 FROM generate_series(530, 535) k;
-- an operator moves 530 to the 31st: the cycle is anchored there
SELECT bulkorder.bulk_subscription_next_dates('{530}', '2027-01-29', '2027-01-31') IS NOT NULL AS moved;

-- (532 and 533 come round more often than these monthly calls: they get
-- one order per call, each for its own cycle)
SELECT * FROM bulkorder.generate_subscription_orders('2027-01-29');
SELECT * FROM pg_temp.masters(530, 531, 532, 533, 534, 535);
SELECT * FROM bulkorder.generate_subscription_orders('2027-02-28');
SELECT * FROM pg_temp.masters(530, 531, 532, 533, 534, 535);
SELECT * FROM bulkorder.generate_subscription_orders('2027-03-31');
SELECT * FROM pg_temp.masters(530, 531, 532, 533, 534, 535);
-- each order carries the dates of its cycle
SELECT * FROM pg_temp.orders_of(530);
SELECT * FROM pg_temp.orders_of(531);

-- into a leap year: 534 monthly from 12-31 (its own day: no anchor stored yet)
UPDATE bulkorder.subscriptions SET status = 'paused' WHERE course_order_no <> 534;
SELECT * FROM bulkorder.generate_subscription_orders('2027-12-29');
SELECT * FROM pg_temp.masters(534);
SELECT * FROM bulkorder.generate_subscription_orders('2028-01-29');
SELECT * FROM pg_temp.masters(534);
SELECT * FROM bulkorder.generate_subscription_orders('2028-02-27');
SELECT * FROM pg_temp.masters(534);
SELECT * FROM pg_temp.orders_of(534);
UPDATE bulkorder.subscriptions SET status = 'paused' WHERE course_order_no = 534;

-- a date written straight into the table (an admin tool) re-anchors the cycle
UPDATE bulkorder.subscriptions SET status = 'active', next_ship_date = '2027-05-13', next_delivery_date = '2027-05-15'
WHERE course_order_no = 530;
SELECT * FROM pg_temp.masters(530);
SELECT * FROM bulkorder.generate_subscription_orders('2027-05-13');
SELECT * FROM pg_temp.masters(530);
UPDATE bulkorder.subscriptions SET status = 'paused' WHERE course_order_no = 530;

-- a master more than one cycle behind catches up one order per call, each
-- for its own cycle: never the same cycle twice
UPDATE bulkorder.subscriptions SET status = 'active', next_ship_date = '2027-06-01', next_delivery_date = '2027-06-03'
WHERE course_order_no = 533;
SELECT * FROM bulkorder.generate_subscription_orders('2027-06-15');
SELECT * FROM pg_temp.masters(533);
SELECT * FROM bulkorder.generate_subscription_orders('2027-06-15');
SELECT * FROM pg_temp.masters(533);
SELECT * FROM bulkorder.generate_subscription_orders('2027-06-15');
SELECT ship, delivery_date, count(*) FROM pg_temp.orders_of(533)
WHERE ship >= '2027-06-01' GROUP BY 1, 2 ORDER BY 1;

-- the product rules are checked on the newest data: a product that stops
-- allowing the frequency stops the master
DELETE FROM bulkorder.product_frequencies WHERE product_id = 101 AND frequency_id = 1;
UPDATE bulkorder.subscriptions SET status = 'active' WHERE course_order_no = 535;
SELECT * FROM bulkorder.generate_subscription_orders('2027-05-31');
SELECT * FROM pg_temp.masters(535);

-- the shop's tables outlive DROP EXTENSION: dropping the schema leaves nothing
SET client_min_messages = warning;
DROP SCHEMA bulkorder CASCADE;
