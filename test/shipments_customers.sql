-- pgTAP: the shipments and customers pages' catalogue, wrappers and the
-- decisions written in docs/operations.md (blacklist holds, delivery_dates and the
-- master), checked through the public API.
BEGIN;
CREATE EXTENSION bulkorder;
\i test/fixtures/shop.sql
SELECT plan(24);

-- the ten operations and their typed wrappers
SELECT results_eq(
    $$SELECT page || '/' || operation || ' ' || wrapper FROM bulkorder_catalog.operations
      WHERE page IN ('shipments', 'customers') ORDER BY page, operation$$,
    ARRAY['customers/blacklist bulk_customer_blacklist', 'customers/mail_opt_in bulk_customer_mail_opt_in',
          'customers/points bulk_customer_points', 'customers/rank bulk_customer_rank',
          'customers/remarks bulk_customer_remarks', 'customers/tags bulk_customer_tags',
          'shipments/delivery_dates bulk_shipment_delivery_dates',
          'shipments/delivery_method bulk_shipment_delivery_method',
          'shipments/import_shipments bulk_shipment_import_shipments',
          'shipments/revert_to_awaiting bulk_shipment_revert_to_awaiting'],
    'ten operations on the shipments and customers pages (import_shipments: sql/shipment_import.sql)');
SELECT has_function('bulkorder', 'bulk_shipment_delivery_dates', ARRAY['bigint[]', 'date', 'date', 'boolean']);
SELECT has_function('bulkorder', 'bulk_shipment_revert_to_awaiting', ARRAY['bigint[]']);
SELECT has_function('bulkorder', 'bulk_shipment_delivery_method', ARRAY['bigint[]', 'text', 'text']);
SELECT has_function('bulkorder', 'bulk_customer_blacklist', ARRAY['bigint[]', 'text']);
SELECT has_function('bulkorder', 'bulk_customer_tags', ARRAY['bigint[]', 'text[]', 'text[]']);
SELECT has_function('bulkorder', 'bulk_customer_mail_opt_in', ARRAY['bigint[]', 'boolean']);
SELECT has_function('bulkorder', 'bulk_customer_rank', ARRAY['bigint[]', 'text']);
SELECT has_function('bulkorder', 'bulk_customer_remarks', ARRAY['bigint[]', 'text', 'text']);
SELECT has_function('bulkorder', 'bulk_customer_points', ARRAY['bigint[]', 'integer']);
SELECT results_eq(
    $$SELECT page || '/' || operation || ' ' || error_code FROM bulkorder_catalog.operation_rules
      WHERE page IN ('shipments', 'customers') ORDER BY page, operation, position$$,
    ARRAY['customers/points insufficient_points', 'customers/points points_overflow',
          'customers/remarks text_too_long',
          'shipments/delivery_dates not_awaiting_shipment',
          'shipments/delivery_dates subscription_frequency_missing',
          'shipments/delivery_method not_awaiting_shipment',
          'shipments/import_shipments not_awaiting_shipment',
          'shipments/import_shipments shipping_hold',
          'shipments/import_shipments rounded_number',
          'shipments/import_shipments formula_text',
          'shipments/import_shipments currency_format',
          'shipments/import_shipments negative_number',
          'shipments/import_shipments not_an_integer',
          'shipments/import_shipments missing_tracking_no',
          'shipments/import_shipments tracking_no_conflict',
          'shipments/import_shipments tracking_no_too_long',
          'shipments/import_shipments invalid_tracking_no',
          'shipments/revert_to_awaiting not_shipped'],
    'the error codes of the two pages');

-- whole-call rejections
SELECT throws_ok($$SELECT bulkorder.bulk_shipment_delivery_dates('{1001}', '2026-12-12', '2026-12-11', false)$$,
                 '22023', NULL, 'ship_date after delivery_date rejects the call');
SELECT throws_ok($$SELECT bulkorder.bulk_shipment_delivery_method('{1001}', 'sagawa', '19-21')$$,
                 '22023', NULL, 'a slot of another method rejects the call');
SELECT throws_ok($$SELECT bulkorder.bulk_customer_rank('{1}', 'diamond')$$,
                 '22023', NULL, 'an unknown rank rejects the call');
SELECT throws_ok($$SELECT bulkorder.bulk_customer_points('{1}', 0)$$,
                 '22023', NULL, 'a zero delta rejects the call');
SELECT is((SELECT count(*) FROM bulkorder.bulk_jobs), 0::bigint, 'no rejected call left a job');

-- blacklisting holds the awaiting orders (and only those)
SELECT lives_ok($$SELECT bulkorder.bulk_customer_blacklist('{3}', 'blacklist')$$, 'blacklist customer 3');
SELECT results_eq($$SELECT order_no, shipping_hold FROM bulkorder.orders WHERE customer_id = 3 ORDER BY 1$$,
                  $$VALUES (1005::bigint, false), (1006::bigint, true), (1007::bigint, true)$$,
                  'its awaiting orders are held, the returned one is not');
SELECT is((SELECT after->'held_orders' FROM bulkorder.customer_bulk_history j
           JOIN bulkorder.bulk_job_items i USING (job_id) WHERE i.target = 3),
          '[1006, 1007]'::jsonb, 'the item records the held orders');

-- delivery_dates with update_subscription moves the master by its frequency
SELECT lives_ok($$SELECT bulkorder.bulk_shipment_delivery_dates('{2003}', '2027-01-10', '2027-01-12', true)$$,
                'delivery dates of 2003 with its master');
SELECT results_eq($$SELECT next_ship_date, next_delivery_date FROM bulkorder.subscriptions WHERE course_order_no = 504$$,
                  $$VALUES ('2027-01-24'::date, '2027-01-26'::date)$$,
                  'master 504 (every 2 weeks) moved from the new dates');

-- points below zero fail and keep the balance
SELECT is((SELECT error_code FROM bulkorder.preview_bulk('customers', 'points', '{3}', '{"delta": -51}')),
          'insufficient_points', 'customer 3 (50 points) cannot lose 51');
SELECT lives_ok($$SELECT bulkorder.bulk_customer_points('{3}', -51)$$, 'the job runs');
SELECT is((SELECT points FROM bulkorder.customers WHERE customer_id = 3), 50, 'and the balance is kept');

SELECT * FROM finish();
ROLLBACK;
