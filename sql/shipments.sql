-- Shipments page (出荷一覧): delivery_dates, revert_to_awaiting,
-- delivery_method.  Every eligible and failing case, preview = run, and the
-- jobs on the shipments history page only.
CREATE EXTENSION bulkorder;
\set VERBOSITY default
\i test/fixtures/shop.sql

-- Extra rows: masters of every kind, each with an order awaiting shipment.
INSERT INTO bulkorder.subscriptions
    (course_order_no, customer_id, status, payment_method, delivery_method, frequency_id,
     next_ship_date, next_delivery_date) VALUES
    (505, 3, 'active', 'credit_card', 'yamato', NULL, '2026-12-15', '2026-12-17'),  -- no frequency
    (506, 1, 'active', 'credit_card', 'yamato', 5, '2026-12-31', '2026-12-31');     -- on the 31st
INSERT INTO bulkorder.orders
    (order_no, customer_id, course_order_no, course_seq, status, payment_method, delivery_method,
     scheduled_ship_date, scheduled_delivery_date) VALUES
    (2004, 1, 501, 3, 'awaiting_shipment', 'credit_card', 'yamato', '2026-12-01', '2026-12-03'),
    (2005, 1, 501, 4, 'awaiting_shipment', 'credit_card', 'yamato', '2027-01-01', '2027-01-03'),
    (2101, 2, 502, 1, 'awaiting_shipment', 'np_atobarai', 'sagawa', '2026-12-10', '2026-12-12'),  -- paused master
    (2102, 3, 503, 1, 'awaiting_shipment', 'cod', 'yamato', '2026-12-10', '2026-12-12'),          -- ended master
    (2103, 3, 505, 1, 'awaiting_shipment', 'credit_card', 'yamato', '2026-12-15', '2026-12-17'),  -- master without frequency
    (2104, 1, 506, 1, 'awaiting_shipment', 'credit_card', 'yamato', '2026-12-31', '2026-12-31'),
    (1013, 1, NULL, NULL, 'awaiting_shipment', 'credit_card', 'yamato', '2026-12-01', '2026-12-03');
UPDATE bulkorder.orders SET deleted_at = '2026-11-02' WHERE order_no = 1013;   -- deleted, awaiting
UPDATE bulkorder.orders SET tracking_no = 'TRK-1003', ship_mail_sent = true WHERE order_no = 1003;

-- preview = run: the preview taken before a run has the run's outcome per
-- target (pv is created before each run, hence no body check here)
SET check_function_bodies = off;
CREATE FUNCTION pg_temp.same_as_preview(job bigint) RETURNS boolean LANGUAGE sql AS $$
    SELECT coalesce((SELECT array_agg(row(target, ok, error_code, message)::text ORDER BY target)
                     FROM pv), '{}')
         = coalesce((SELECT array_agg(row(target, ok, error_code, message)::text ORDER BY target)
                     FROM bulkorder.bulk_job_items i WHERE i.job_id = same_as_preview.job), '{}')
$$;
RESET check_function_bodies;
-- a call rejected as a whole: its SQLSTATE and message
CREATE FUNCTION pg_temp.rejected(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE q;
    RETURN 'accepted';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;

-- the catalogue: the operations of the shipments page, each with its wrapper
SELECT operation, name_ja, wrapper, rules FROM bulkorder.operation_catalog
WHERE page = 'shipments' ORDER BY operation;
SELECT p.proname, pg_get_function_arguments(p.oid)
FROM pg_proc p WHERE p.pronamespace = 'bulkorder'::regnamespace AND p.proname LIKE 'bulk_shipment%'
ORDER BY 1;

---------------------------------------------------------------------------
-- delivery_dates (配送関連日程)
---------------------------------------------------------------------------
-- parameters wrong for the whole job reject the call
SELECT pg_temp.rejected(q) FROM (VALUES
    ($q$SELECT bulkorder.bulk_shipment_delivery_dates('{1001}', '2026-12-12', '2026-12-10', false)$q$),
    ($q$SELECT bulkorder.run_bulk('shipments', 'delivery_dates', '{1001}',
        '{"ship_date": "2026-12-10", "delivery_date": "2026-12-12"}')$q$),
    ($q$SELECT bulkorder.run_bulk('shipments', 'delivery_dates', '{1001}',
        '{"ship_date": "2026-13-01", "delivery_date": "2026-12-12", "update_subscription": false}')$q$),
    ($q$SELECT bulkorder.run_bulk('shipments', 'delivery_dates', '{1001}',
        '{"ship_date": null, "delivery_date": "2026-12-12", "update_subscription": false}')$q$),
    ($q$SELECT bulkorder.bulk_shipment_delivery_dates('{1001}', '2026-12-10', NULL, false)$q$),
    ($q$SELECT bulkorder.run_bulk('shipments', 'delivery_dates', '{1001}',
        '{"ship_date": "2026-12-10", "delivery_date": 20261212, "update_subscription": false}')$q$),
    ($q$SELECT bulkorder.run_bulk('shipments', 'delivery_dates', '{1001}',
        '{"ship_date": "2026-12-10", "delivery_date": "2026-12-12", "update_subscription": "yes"}')$q$),
    ($q$SELECT bulkorder.run_bulk('shipments', 'delivery_dates', '{1001}',
        '{"ship_date": "2026-12-10", "delivery_date": "2026-12-12", "update_subscription": false, "time_slot": "am"}')$q$),
    ($q$SELECT * FROM bulkorder.preview_bulk('shipments', 'delivery_dates', '{1001}',
        '{"ship_date": "2026-12-12", "delivery_date": "2026-12-10", "update_subscription": true}')$q$)
) AS v(q);
SELECT count(*) AS jobs FROM bulkorder.bulk_jobs;

-- ship date = delivery date is fine; without update_subscription only the
-- orders change: awaiting ones (one-off, subscription, even one whose master
-- has no frequency) succeed, the rest fail with their reason
CREATE TEMP TABLE pv AS SELECT * FROM bulkorder.preview_bulk('shipments', 'delivery_dates',
    '{1001,2004,2103,1002,1003,1004,1005,2001,1013,424242}',
    '{"ship_date": "2026-12-20", "delivery_date": "2026-12-20", "update_subscription": false}');
SELECT * FROM pv ORDER BY target;
SELECT bulkorder.bulk_shipment_delivery_dates('{1001,2004,2103,1002,1003,1004,1005,2001,1013,424242}',
                                              '2026-12-20', '2026-12-20', false) AS job \gset
SELECT pg_temp.same_as_preview(:job) AS same_as_preview;
DROP TABLE pv;
SELECT target, ok, error_code, before, after FROM bulkorder.bulk_job_items WHERE job_id = :job ORDER BY target;
SELECT order_no, status, scheduled_ship_date, scheduled_delivery_date FROM bulkorder.orders
WHERE order_no IN (1001, 2004, 2103, 1002, 1013) ORDER BY 1;
-- the masters did not move
SELECT course_order_no, next_ship_date, next_delivery_date FROM bulkorder.subscriptions
WHERE course_order_no IN (501, 505) ORDER BY 1;

-- with update_subscription: the order's dates, and its master's next dates
-- recomputed from them by its frequency.  501 monthly (from the 31st:
-- February's last day), two of its orders in the job; 502 paused, every 2
-- months; 504 every 2 weeks; 506 on day 31; 503 ended: order only; 1011
-- one-off: order only; 505 without frequency: the order fails and keeps its
-- dates; 2001 shipped fails first for its status.
CREATE TEMP TABLE pv AS SELECT * FROM bulkorder.preview_bulk('shipments', 'delivery_dates',
    '{2004,2005,2101,2003,2104,2102,1011,2103,2001}',
    '{"ship_date": "2027-01-31", "delivery_date": "2027-02-02", "update_subscription": true}');
SELECT * FROM pv ORDER BY target;
SELECT bulkorder.bulk_shipment_delivery_dates('{2004,2005,2101,2003,2104,2102,1011,2103,2001}',
                                              '2027-01-31', '2027-02-02', true) AS job \gset
SELECT pg_temp.same_as_preview(:job) AS same_as_preview;
DROP TABLE pv;
SELECT target, ok, error_code, message, before, after
FROM bulkorder.bulk_job_items WHERE job_id = :job ORDER BY target;
SELECT order_no, scheduled_ship_date, scheduled_delivery_date FROM bulkorder.orders
WHERE order_no IN (2004, 2005, 2101, 2003, 2104, 2102, 1011, 2103, 2001) ORDER BY 1;
SELECT course_order_no, status, frequency_id, next_ship_date, next_delivery_date
FROM bulkorder.subscriptions ORDER BY 1;
-- the master's next delivery is frequency_next_date of the new delivery date,
-- its next ship date keeps the order's lead time (2 days)
SELECT s.course_order_no,
       s.next_ship_date = bulkorder.frequency_next_date('2027-02-02'::date, s.frequency_id) - 2 AS ship_ok,
       s.next_delivery_date = bulkorder.frequency_next_date('2027-02-02'::date, s.frequency_id) AS delivery_ok
FROM bulkorder.subscriptions s WHERE s.course_order_no IN (501, 502, 504, 506) ORDER BY 1;

-- chunked (one target per chunk, two orders of one master in two chunks):
-- the same outcome
SET bulkorder.chunk_size = 1;
SELECT bulkorder.bulk_shipment_delivery_dates('{2004,2005,2103}', '2027-03-01', '2027-03-03', true) AS job \gset
RESET bulkorder.chunk_size;
SELECT total_count, success_count, failure_count FROM bulkorder.bulk_jobs WHERE job_id = :job;
SELECT target, ok, error_code, after FROM bulkorder.bulk_job_items WHERE job_id = :job ORDER BY target;
SELECT next_ship_date, next_delivery_date FROM bulkorder.subscriptions WHERE course_order_no = 501;

---------------------------------------------------------------------------
-- revert_to_awaiting (注文ステータス)
---------------------------------------------------------------------------
SELECT pg_temp.rejected($q$SELECT bulkorder.run_bulk('shipments', 'revert_to_awaiting', '{1003}',
                                                 '{"status": "awaiting_shipment"}')$q$);

CREATE TEMP TABLE pv AS SELECT * FROM bulkorder.preview_bulk('shipments', 'revert_to_awaiting',
    '{1003,2001,1001,1002,1004,1005,1012,424242}', '{}');
SELECT * FROM pv ORDER BY target;
SELECT bulkorder.bulk_shipment_revert_to_awaiting('{1003,2001,1001,1002,1004,1005,1012,424242}') AS job \gset
SELECT pg_temp.same_as_preview(:job) AS same_as_preview;
DROP TABLE pv;
SELECT target, ok, error_code, before, after FROM bulkorder.bulk_job_items WHERE job_id = :job ORDER BY target;
-- only the status moved: tracking number and mail flag are kept
SELECT order_no, status, tracking_no, ship_mail_sent, ship_report_status, deleted_at IS NOT NULL AS deleted
FROM bulkorder.orders WHERE order_no IN (1003, 2001, 1002, 1004, 1005, 1012) ORDER BY 1;
-- a second revert fails: the order is no longer shipped
SELECT error_code FROM bulkorder.preview_bulk('shipments', 'revert_to_awaiting', '{1003}', '{}');

---------------------------------------------------------------------------
-- delivery_method (配送方法)
---------------------------------------------------------------------------
-- unknown method, a slot of another method, an unknown slot, a missing or
-- null parameter: the call is rejected
SELECT pg_temp.rejected(q) FROM (VALUES
    ($q$SELECT bulkorder.bulk_shipment_delivery_method('{1001}', 'ups', NULL)$q$),
    ($q$SELECT bulkorder.bulk_shipment_delivery_method('{1001}', 'yamato', '18-21')$q$),
    ($q$SELECT bulkorder.bulk_shipment_delivery_method('{1001}', 'nekopos', 'am')$q$),
    ($q$SELECT bulkorder.bulk_shipment_delivery_method('{1001}', 'sagawa', 'pm')$q$),
    ($q$SELECT bulkorder.bulk_shipment_delivery_method('{1001}', NULL, NULL)$q$),
    ($q$SELECT bulkorder.run_bulk('shipments', 'delivery_method', '{1001}', '{"delivery_method": "sagawa"}')$q$),
    ($q$SELECT bulkorder.run_bulk('shipments', 'delivery_method', '{1001}',
        '{"delivery_method": "sagawa", "time_slot": 18}')$q$),
    ($q$SELECT * FROM bulkorder.preview_bulk('shipments', 'delivery_method', '{1001}',
        '{"delivery_method": "ups", "time_slot": null}')$q$)
) AS v(q);
SELECT count(*) AS jobs FROM bulkorder.bulk_jobs WHERE operation = 'delivery_method';

-- awaiting orders change (1008 already sagawa/am: re-applying succeeds;
-- 2003's master keeps its method); the others fail
CREATE TEMP TABLE pv AS SELECT * FROM bulkorder.preview_bulk('shipments', 'delivery_method',
    '{1001,1008,2003,1002,1005,2002,1012,424242}', '{"delivery_method": "sagawa", "time_slot": "am"}');
SELECT * FROM pv ORDER BY target;
SELECT bulkorder.bulk_shipment_delivery_method('{1001,1008,2003,1002,1005,2002,1012,424242}', 'sagawa', 'am') AS job \gset
SELECT pg_temp.same_as_preview(:job) AS same_as_preview;
DROP TABLE pv;
SELECT target, ok, error_code, before, after FROM bulkorder.bulk_job_items WHERE job_id = :job ORDER BY target;
SELECT order_no, delivery_method, delivery_time_slot FROM bulkorder.orders
WHERE order_no IN (1001, 1008, 2003, 1002) ORDER BY 1;
SELECT course_order_no, delivery_method, delivery_time_slot FROM bulkorder.subscriptions WHERE course_order_no = 504;

-- NULL time slot = 指定なし
SELECT bulkorder.bulk_shipment_delivery_method('{1001,1011}', 'yamato', NULL) AS job \gset
SELECT target, ok, before, after FROM bulkorder.bulk_job_items WHERE job_id = :job ORDER BY target;

---------------------------------------------------------------------------
-- history: every job of this file is on the shipments history page only
---------------------------------------------------------------------------
SELECT operation, params, status, total_count, processed_count, success_count, failure_count, source
FROM bulkorder.shipment_bulk_history ORDER BY job_id;
SELECT (SELECT count(*) FROM bulkorder.shipment_bulk_history) AS shipments,
       (SELECT count(*) FROM bulkorder.order_bulk_history) AS orders,
       (SELECT count(*) FROM bulkorder.subscription_bulk_history) AS subscriptions,
       (SELECT count(*) FROM bulkorder.customer_bulk_history) AS customers,
       (SELECT count(*) FROM bulkorder.bulk_jobs) AS all_jobs;
-- the failure list of the revert job, and its notifications
SELECT j.job_id IS NOT NULL AS found, f.target, f.error_code, f.message
FROM bulkorder.shipment_bulk_history j JOIN bulkorder.bulk_job_failures f USING (job_id)
WHERE j.operation = 'revert_to_awaiting' ORDER BY f.target;
SELECT regexp_replace(n.message, '#[0-9]+', '#N') AS message FROM bulkorder.notifications n
JOIN bulkorder.shipment_bulk_history j USING (job_id)
WHERE j.operation = 'revert_to_awaiting' ORDER BY n.notification_id;

-- English messages
SET bulkorder.language = 'en';
SELECT * FROM bulkorder.preview_bulk('shipments', 'delivery_dates', '{1002,2103}',
    '{"ship_date": "2027-01-31", "delivery_date": "2027-02-02", "update_subscription": true}');
SELECT * FROM bulkorder.preview_bulk('shipments', 'revert_to_awaiting', '{1001}', '{}');
SELECT * FROM bulkorder.preview_bulk('shipments', 'delivery_method', '{1002}', '{"delivery_method": "yamato", "time_slot": null}');
RESET bulkorder.language;

-- the shop's tables outlive DROP EXTENSION: dropping the schema leaves nothing
SET client_min_messages = warning;
DROP SCHEMA bulkorder CASCADE;
