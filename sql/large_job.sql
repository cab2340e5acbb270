-- A million targets in one call: a clean job, chunk by chunk, every key
-- accounted for (most of them unknown here), duplicates counted once.
CREATE EXTENSION bulkorder;
INSERT INTO bulkorder.customers (customer_id, name) VALUES (1, '山田 太郎');
INSERT INTO bulkorder.orders (order_no, customer_id, status, payment_method)
SELECT g, 1, CASE WHEN g % 3 = 0 THEN 'shipped' ELSE 'awaiting_shipment' END, 'credit_card'
FROM generate_series(1, 20000) g;
SELECT bulkorder.bulk_cancel(ARRAY(SELECT g FROM generate_series(1000000, 1, -1) g) || '{5,6,7}'::bigint[], false) AS job \gset
SELECT status, total_count, processed_count, success_count, failure_count
FROM bulkorder.bulk_jobs WHERE job_id = :job;
SELECT error_code, count(*) FROM bulkorder.bulk_job_items WHERE job_id = :job GROUP BY 1 ORDER BY 1;
SELECT count(*) FILTER (WHERE status = 'cancelled') AS cancelled,
       count(*) FILTER (WHERE status = 'shipped') AS shipped
FROM bulkorder.orders;
-- the shop's tables outlive DROP EXTENSION: dropping the schema leaves nothing
SET client_min_messages = warning;
DROP SCHEMA bulkorder CASCADE;
