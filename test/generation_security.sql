-- generate_subscription_orders: its signature and result, SECURITY DEFINER
-- with a pinned search_path, set-based (no loop), nothing for PUBLIC, and a
-- role granted only EXECUTE can run it (as pg_cron's job owner would).
BEGIN;
CREATE EXTENSION bulkorder;
SELECT plan(10);

SELECT has_function('bulkorder', 'generate_subscription_orders', ARRAY['date', 'text']);
SELECT function_returns('bulkorder', 'generate_subscription_orders', ARRAY['date', 'text'], 'bulkorder.generation_result');
SELECT is_definer('bulkorder', 'generate_subscription_orders', ARRAY['date', 'text']);
SELECT is((SELECT proconfig FROM pg_proc WHERE oid = 'bulkorder.generate_subscription_orders(date, text)'::regprocedure),
          ARRAY['search_path=pg_catalog, pg_temp'], 'search_path is pinned');
-- set-based: one statement over a shop's due masters; the only loop is the
-- fallback that runs it again master by master after it failed (one_by_one)
SELECT ok((SELECT prosrc !~* '\mFOREACH\M|\mcursor\M'
                  AND (SELECT count(*) FROM regexp_matches(prosrc, '\mLOOP\M', 'gi')) = 2
                  AND prosrc ~ 'IF one_by_one THEN'
           FROM pg_proc WHERE oid = 'bulkorder_catalog.generate_shop_orders(bigint, date)'::regprocedure),
          'no per-row loop but the per-master fallback: set-based statements');
SELECT columns_are('bulkorder', 'generation_result', ARRAY['created', 'failed']);

CREATE ROLE bulkorder_tap_nobody;
CREATE ROLE bulkorder_tap_cron;
GRANT USAGE ON SCHEMA bulkorder TO bulkorder_tap_nobody, bulkorder_tap_cron;
GRANT EXECUTE ON FUNCTION bulkorder.generate_subscription_orders(date, text) TO bulkorder_tap_cron;

INSERT INTO bulkorder.customers (customer_id, name) VALUES (1, 'x');
INSERT INTO bulkorder.frequencies (frequency_id, kind, every) VALUES (1, 'weeks', 1);
INSERT INTO bulkorder.products (product_id, price, is_public) VALUES (101, 100, true);
INSERT INTO bulkorder.product_payment_methods VALUES (101, 'cod');
INSERT INTO bulkorder.product_frequencies VALUES (101, 1);
INSERT INTO bulkorder.subscriptions (course_order_no, customer_id, status, payment_method, frequency_id,
                                     next_ship_date, next_delivery_date)
VALUES (501, 1, 'active', 'cod', 1, '2026-12-01', '2026-12-02');
INSERT INTO bulkorder.subscription_items VALUES (501, 101, 1);

SET LOCAL ROLE bulkorder_tap_nobody;
SELECT throws_ok($$SELECT bulkorder.generate_subscription_orders('2026-12-01')$$, '42501', NULL,
                 'a role without EXECUTE is refused');
RESET ROLE;
SET LOCAL ROLE bulkorder_tap_cron;
SELECT throws_ok($$SELECT count(*) FROM bulkorder.orders$$, '42501', NULL,
                 'the generating role cannot read the tables itself');
SELECT results_eq($$SELECT created, failed FROM bulkorder.generate_subscription_orders('2026-12-01')$$,
                  $$VALUES (1, 0)$$, 'but it can generate through the function');
RESET ROLE;
SELECT results_eq($$SELECT course_seq, scheduled_ship_date, auth_status FROM bulkorder.orders$$,
                  $$VALUES (1, '2026-12-01'::date, 'not_required')$$, 'the order was made');

SELECT * FROM finish();
ROLLBACK;
