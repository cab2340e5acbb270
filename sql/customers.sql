-- Customers page (顧客一覧): blacklist (with the shipping hold of the
-- customer's awaiting orders), tags, mail_opt_in, rank, remarks, points.
-- Every eligible and failing case, preview = run, and the jobs on the
-- customers history page only.
CREATE EXTENSION bulkorder;
\set VERBOSITY default
\i test/fixtures/shop.sql

-- Extra rows: a customer near the limits (points, remarks), and orders of
-- customer 1 that the blacklist must leave alone (already held, deleted).
INSERT INTO bulkorder.customers (customer_id, name, email, points, remarks) VALUES
    (5, '伊藤 健', 'ken.ito@example.jp', 2147483600, repeat('あ', 3995));
INSERT INTO bulkorder.orders
    (order_no, customer_id, status, payment_method, delivery_method, shipping_hold) VALUES
    (1014, 1, 'awaiting_shipment', 'credit_card', 'yamato', true),    -- already held
    (1015, 1, 'awaiting_shipment', 'credit_card', 'yamato', false);   -- deleted below
UPDATE bulkorder.orders SET deleted_at = '2026-11-02' WHERE order_no = 1015;

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

-- the catalogue: six operations on the customers page, each with its wrapper
SELECT operation, name_ja, wrapper, params, rules FROM bulkorder.operation_catalog
WHERE page = 'customers' ORDER BY operation;
SELECT p.proname, pg_get_function_arguments(p.oid)
FROM pg_proc p
WHERE p.pronamespace = 'bulkorder'::regnamespace
  AND p.proname IN ('bulk_customer_blacklist', 'bulk_customer_tags', 'bulk_customer_mail_opt_in',
                    'bulk_customer_rank', 'bulk_customer_remarks', 'bulk_customer_points')
ORDER BY 1;

---------------------------------------------------------------------------
-- blacklist (ブラックリスト)
---------------------------------------------------------------------------
SELECT pg_temp.rejected(q) FROM (VALUES
    ($q$SELECT bulkorder.bulk_customer_blacklist('{1}', 'ban')$q$),
    ($q$SELECT bulkorder.bulk_customer_blacklist('{1}', NULL)$q$),
    ($q$SELECT bulkorder.run_bulk('customers', 'blacklist', '{1}', '{}')$q$),
    ($q$SELECT bulkorder.run_bulk('customers', 'blacklist', '{1}', '{"action": "blacklist", "hold": false}')$q$)
) AS v(q);
SELECT count(*) AS jobs FROM bulkorder.bulk_jobs;

-- candidate (ブラックリスト候補に入れる): the status only, no order is held
CREATE TEMP TABLE pv AS SELECT * FROM bulkorder.preview_bulk('customers', 'blacklist', '{3,99}',
                                                             '{"action": "candidate"}');
SELECT * FROM pv ORDER BY target;
SELECT bulkorder.bulk_customer_blacklist('{3,99}', 'candidate') AS job \gset
SELECT pg_temp.same_as_preview(:job) AS same_as_preview;
DROP TABLE pv;
SELECT target, ok, error_code, before, after FROM bulkorder.bulk_job_items WHERE job_id = :job ORDER BY target;
SELECT order_no, status, shipping_hold FROM bulkorder.orders WHERE customer_id = 3 ORDER BY 1;

-- blacklist (ブラックリストに入れる): the status, and the customer's orders
-- awaiting shipment are held in the same statement; the item records which.
-- Customer 1: 1001 is held; 1014 was already held, 1015 is deleted, 1002 and
-- 1010 are being shipped, 2001/2002 shipped: none of them is touched.
-- Customer 3 (a candidate until now): 1006 and 1007 are held.
CREATE TEMP TABLE pv AS SELECT * FROM bulkorder.preview_bulk('customers', 'blacklist', '{1,3,99}',
                                                             '{"action": "blacklist"}');
SELECT * FROM pv ORDER BY target;
SELECT bulkorder.bulk_customer_blacklist('{1,3,99}', 'blacklist') AS job \gset
SELECT pg_temp.same_as_preview(:job) AS same_as_preview;
DROP TABLE pv;
SELECT target, ok, error_code, message, before, after
FROM bulkorder.bulk_job_items WHERE job_id = :job ORDER BY target;
SELECT customer_id, blacklist_status FROM bulkorder.customers ORDER BY 1;
SELECT order_no, customer_id, status, shipping_hold, deleted_at IS NOT NULL AS deleted
FROM bulkorder.orders WHERE customer_id IN (1, 3) ORDER BY 1;
-- other customers' orders were not held
SELECT count(*) AS held_elsewhere FROM bulkorder.orders
WHERE customer_id NOT IN (1, 3) AND shipping_hold;

-- blacklisting again succeeds and holds nothing new (an order that became
-- awaiting since is held now)
UPDATE bulkorder.orders SET status = 'awaiting_shipment' WHERE order_no = 1002;
SELECT bulkorder.bulk_customer_blacklist('{1,3}', 'blacklist') AS job \gset
SELECT target, ok, before, after FROM bulkorder.bulk_job_items WHERE job_id = :job ORDER BY target;
SELECT order_no, shipping_hold FROM bulkorder.orders WHERE order_no IN (1001, 1002, 1014) ORDER BY 1;

-- remove (外す): the status goes back to none, the holds stay (released on
-- the orders page); a customer who was never listed succeeds too
CREATE TEMP TABLE pv AS SELECT * FROM bulkorder.preview_bulk('customers', 'blacklist', '{1,4,99}',
                                                             '{"action": "remove"}');
SELECT bulkorder.bulk_customer_blacklist('{1,4,99}', 'remove') AS job \gset
SELECT pg_temp.same_as_preview(:job) AS same_as_preview;
DROP TABLE pv;
SELECT target, ok, error_code, before, after FROM bulkorder.bulk_job_items WHERE job_id = :job ORDER BY target;
SELECT customer_id, blacklist_status FROM bulkorder.customers WHERE customer_id IN (1, 4) ORDER BY 1;
SELECT order_no, shipping_hold FROM bulkorder.orders WHERE order_no IN (1001, 1002, 1014) ORDER BY 1;

---------------------------------------------------------------------------
-- tags (タグ設定): the orders page's rule and checks
---------------------------------------------------------------------------
SELECT pg_temp.rejected(q) FROM (VALUES
    ($q$SELECT bulkorder.bulk_customer_tags('{1}')$q$),
    ($q$SELECT bulkorder.bulk_customer_tags('{1}', '{VIP}', '{VIP}')$q$),
    ($q$SELECT bulkorder.bulk_customer_tags('{1}', '{""}')$q$),
    ($q$SELECT bulkorder.bulk_customer_tags('{1}', ARRAY[repeat('x', 51)])$q$),
    ($q$SELECT bulkorder.bulk_customer_tags('{1}', ARRAY[NULL]::text[])$q$),
    ($q$SELECT bulkorder.run_bulk('customers', 'tags', '{1}', '{"add": "VIP"}')$q$)
) AS v(q);

-- add: no duplicate (customer 2 has VIP already)
CREATE TEMP TABLE pv AS SELECT * FROM bulkorder.preview_bulk('customers', 'tags', '{1,2,99}',
                                                             '{"add": ["VIP", "優良顧客"]}');
SELECT * FROM pv ORDER BY target;
SELECT bulkorder.bulk_customer_tags('{1,2,99}', '{VIP,優良顧客}') AS job \gset
SELECT pg_temp.same_as_preview(:job) AS same_as_preview;
DROP TABLE pv;
SELECT target, ok, error_code, before, after FROM bulkorder.bulk_job_items WHERE job_id = :job ORDER BY target;
-- remove and add at once; removing a tag a customer lacks succeeds
SELECT bulkorder.bulk_customer_tags('{1,2,3}', '{要注意}', '{VIP}') AS job \gset
SELECT target, ok, before, after FROM bulkorder.bulk_job_items WHERE job_id = :job ORDER BY target;
SELECT customer_id, tags FROM bulkorder.customers ORDER BY 1;

---------------------------------------------------------------------------
-- mail_opt_in (メルマガ購読)
---------------------------------------------------------------------------
SELECT pg_temp.rejected(q) FROM (VALUES
    ($q$SELECT bulkorder.run_bulk('customers', 'mail_opt_in', '{1}', '{"opt_in": "no"}')$q$),
    ($q$SELECT bulkorder.run_bulk('customers', 'mail_opt_in', '{1}', '{}')$q$),
    ($q$SELECT bulkorder.bulk_customer_mail_opt_in('{1}', NULL)$q$)
) AS v(q);
CREATE TEMP TABLE pv AS SELECT * FROM bulkorder.preview_bulk('customers', 'mail_opt_in', '{1,4,99}',
                                                             '{"opt_in": false}');
SELECT * FROM pv ORDER BY target;
SELECT bulkorder.bulk_customer_mail_opt_in('{1,4,99}', false) AS job \gset
SELECT pg_temp.same_as_preview(:job) AS same_as_preview;
DROP TABLE pv;
SELECT target, ok, error_code, before, after FROM bulkorder.bulk_job_items WHERE job_id = :job ORDER BY target;
-- opting in again, and opting in a customer who already is
SELECT bulkorder.bulk_customer_mail_opt_in('{1,2}', true) AS job \gset
SELECT target, ok, before, after FROM bulkorder.bulk_job_items WHERE job_id = :job ORDER BY target;
SELECT customer_id, mail_opt_in FROM bulkorder.customers ORDER BY 1;

---------------------------------------------------------------------------
-- rank (会員ランク): a code of customer_ranks, or null to clear
---------------------------------------------------------------------------
SELECT pg_temp.rejected(q) FROM (VALUES
    ($q$SELECT bulkorder.bulk_customer_rank('{1}', 'platinum')$q$),
    ($q$SELECT bulkorder.bulk_customer_rank('{1}', 'Gold')$q$),
    ($q$SELECT bulkorder.run_bulk('customers', 'rank', '{1}', '{}')$q$),
    ($q$SELECT bulkorder.run_bulk('customers', 'rank', '{1}', '{"rank": 3}')$q$)
) AS v(q);
CREATE TEMP TABLE pv AS SELECT * FROM bulkorder.preview_bulk('customers', 'rank', '{1,3,4,99}',
                                                             '{"rank": "gold"}');
SELECT * FROM pv ORDER BY target;
SELECT bulkorder.bulk_customer_rank('{1,3,4,99}', 'gold') AS job \gset
SELECT pg_temp.same_as_preview(:job) AS same_as_preview;
DROP TABLE pv;
SELECT target, ok, error_code, before, after FROM bulkorder.bulk_job_items WHERE job_id = :job ORDER BY target;
-- null clears the rank; clearing a customer without one succeeds
SELECT bulkorder.bulk_customer_rank('{2,5}', NULL) AS job \gset
SELECT target, ok, before, after FROM bulkorder.bulk_job_items WHERE job_id = :job ORDER BY target;
SELECT customer_id, rank FROM bulkorder.customers ORDER BY 1;

---------------------------------------------------------------------------
-- remarks (備考欄), declared with the other text fields
---------------------------------------------------------------------------
SELECT pg_temp.rejected(q) FROM (VALUES
    ($q$SELECT bulkorder.bulk_customer_remarks('{1}', repeat('x', 4001), 'overwrite')$q$),
    ($q$SELECT bulkorder.bulk_customer_remarks('{1}', 'メモ', 'prepend')$q$),
    ($q$SELECT bulkorder.run_bulk('customers', 'remarks', '{1}', '{"text": "メモ"}')$q$),
    ($q$SELECT bulkorder.bulk_customer_remarks('{1}', NULL, 'append')$q$)
) AS v(q);
-- append: to NULL the text alone; customer 5's would pass 4000 characters
CREATE TEMP TABLE pv AS SELECT * FROM bulkorder.preview_bulk('customers', 'remarks', '{1,5,99}',
                                                             '{"text": "電話で本人確認済み", "mode": "append"}');
SELECT * FROM pv ORDER BY target;
SELECT bulkorder.bulk_customer_remarks('{1,5,99}', '電話で本人確認済み', 'append') AS job \gset
SELECT pg_temp.same_as_preview(:job) AS same_as_preview;
DROP TABLE pv;
SELECT target, ok, error_code, message, before, after FROM bulkorder.bulk_job_items
WHERE job_id = :job AND target <> 5 ORDER BY target;
SELECT target, ok, error_code, message, length(before->>'remarks') AS before_length, after
FROM bulkorder.bulk_job_items WHERE job_id = :job AND target = 5;
-- append again: on a new line
SELECT bulkorder.bulk_customer_remarks('{1}', '住所変更あり', 'append') AS job \gset
SELECT target, ok, after FROM bulkorder.bulk_job_items WHERE job_id = :job;
-- overwrite: always fits
SELECT bulkorder.bulk_customer_remarks('{1,5}', '要確認', 'overwrite') AS job \gset
SELECT target, ok, error_code, after FROM bulkorder.bulk_job_items WHERE job_id = :job ORDER BY target;
SELECT customer_id, remarks FROM bulkorder.customers WHERE customer_id IN (1, 5) ORDER BY 1;

---------------------------------------------------------------------------
-- points (ポイント): a non-zero delta
---------------------------------------------------------------------------
SELECT pg_temp.rejected(q) FROM (VALUES
    ($q$SELECT bulkorder.bulk_customer_points('{1}', 0)$q$),
    ($q$SELECT bulkorder.bulk_customer_points('{1}', NULL)$q$),
    ($q$SELECT bulkorder.run_bulk('customers', 'points', '{1}', '{"delta": 1.5}')$q$),
    ($q$SELECT bulkorder.run_bulk('customers', 'points', '{1}', '{"delta": 3000000000}')$q$),
    ($q$SELECT bulkorder.run_bulk('customers', 'points', '{1}', '{"delta": "10"}')$q$),
    ($q$SELECT bulkorder.run_bulk('customers', 'points', '{1}', '{}')$q$)
) AS v(q);
SELECT count(*) AS jobs FROM bulkorder.bulk_jobs WHERE operation = 'points';

-- add: customer 5 would pass the integer maximum and keeps the balance
CREATE TEMP TABLE pv AS SELECT * FROM bulkorder.preview_bulk('customers', 'points', '{1,2,5,99}',
                                                             '{"delta": 50}');
SELECT * FROM pv ORDER BY target;
SELECT bulkorder.bulk_customer_points('{1,2,5,99}', 50) AS job \gset
SELECT pg_temp.same_as_preview(:job) AS same_as_preview;
DROP TABLE pv;
SELECT target, ok, error_code, before, after FROM bulkorder.bulk_job_items WHERE job_id = :job ORDER BY target;

-- take: 1 (150) goes to 50, 2 (50) and 3 (50) would go below zero and keep
-- their balance, 4 (1000) to 900
CREATE TEMP TABLE pv AS SELECT * FROM bulkorder.preview_bulk('customers', 'points', '{1,2,3,4}',
                                                             '{"delta": -100}');
SELECT * FROM pv ORDER BY target;
SELECT bulkorder.bulk_customer_points('{1,2,3,4}', -100) AS job \gset
SELECT pg_temp.same_as_preview(:job) AS same_as_preview;
DROP TABLE pv;
SELECT target, ok, error_code, message, before, after
FROM bulkorder.bulk_job_items WHERE job_id = :job ORDER BY target;
-- exactly to zero is fine
SELECT bulkorder.bulk_customer_points('{3}', -50) AS job \gset
SELECT target, ok, before, after FROM bulkorder.bulk_job_items WHERE job_id = :job;
SELECT customer_id, points FROM bulkorder.customers ORDER BY 1;

---------------------------------------------------------------------------
-- history: every job of this file is on the customers history page only,
-- the blacklist's order holds included
---------------------------------------------------------------------------
SELECT operation, params, status, total_count, processed_count, success_count, failure_count, source
FROM bulkorder.customer_bulk_history ORDER BY job_id;
SELECT (SELECT count(*) FROM bulkorder.customer_bulk_history) AS customers,
       (SELECT count(*) FROM bulkorder.order_bulk_history) AS orders,
       (SELECT count(*) FROM bulkorder.shipment_bulk_history) AS shipments,
       (SELECT count(*) FROM bulkorder.subscription_bulk_history) AS subscriptions,
       (SELECT count(*) FROM bulkorder.bulk_jobs) AS all_jobs;
-- the failures of the points jobs, and one job's notifications
SELECT j.params, f.target, f.error_code, f.message
FROM bulkorder.customer_bulk_history j JOIN bulkorder.bulk_job_failures f USING (job_id)
WHERE j.operation = 'points' ORDER BY j.job_id, f.target;
SELECT regexp_replace(n.message, '#[0-9]+', '#N') AS message
FROM bulkorder.notifications n JOIN bulkorder.customer_bulk_history j USING (job_id)
WHERE j.operation = 'points' AND j.params = '{"delta": -100}' ORDER BY n.notification_id;

-- English messages
SET bulkorder.language = 'en';
SELECT * FROM bulkorder.preview_bulk('customers', 'points', '{2,5,99}', '{"delta": 2147483647}');
SELECT * FROM bulkorder.preview_bulk('customers', 'points', '{2}', '{"delta": -51}');
UPDATE bulkorder.customers SET remarks = repeat('あ', 4000) WHERE customer_id = 5;
SELECT * FROM bulkorder.preview_bulk('customers', 'remarks', '{1,5}', '{"text": "x", "mode": "append"}');
RESET bulkorder.language;

-- the shop's tables outlive DROP EXTENSION: dropping the schema leaves nothing
SET client_min_messages = warning;
DROP SCHEMA bulkorder CASCADE;
