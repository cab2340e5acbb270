-- The engine: input validation, dedup, not_found, preview = run, history,
-- notifications, request keys, rollback.
CREATE EXTENSION bulkorder;
\set VERBOSITY default
-- after CREATE EXTENSION only the payment methods and mail templates hold rows
CREATE FUNCTION pg_temp.tables_with_rows() RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
    t regclass;
    found boolean;
BEGIN
    FOR t IN SELECT c.oid FROM pg_class c
             WHERE c.relnamespace = 'bulkorder'::regnamespace AND c.relkind IN ('r', 'p')
             ORDER BY c.relname
    LOOP
        EXECUTE format('SELECT EXISTS (SELECT FROM %s)', t) INTO found;
        IF found THEN
            RETURN NEXT t::text;
        END IF;
    END LOOP;
END
$$;
SELECT * FROM pg_temp.tables_with_rows();
\set ECHO none
\i test/fixtures/shop.sql
\set ECHO all

-- bad input rejects the whole call with an SQLSTATE
\set VERBOSITY sqlstate
SELECT bulkorder.run_bulk('orders', 'cancel', NULL, '{"void_payment": false}');
SELECT bulkorder.run_bulk('orders', 'cancel', ARRAY[1001, NULL], '{"void_payment": false}');
SELECT bulkorder.run_bulk('orders', 'cancel', '{{1001,1002},{1003,1006}}', '{"void_payment": false}');
SELECT bulkorder.run_bulk(NULL, 'cancel', '{1001}', '{"void_payment": false}');
SELECT bulkorder.run_bulk('orders', 'cancel', '{1001}', NULL);
\set VERBOSITY default
SELECT bulkorder.run_bulk('invoices', 'cancel', '{1001}', '{}');
SELECT bulkorder.run_bulk('orders', 'explode', '{1001}', '{}');
SELECT bulkorder.run_bulk('orders', 'cancel', '{1001}', '{}');
SELECT bulkorder.run_bulk('orders', 'cancel', '{1001}', '{"void_payment": "yes"}');
SELECT bulkorder.run_bulk('orders', 'cancel', '{1001}', '{"void_payment": null}');
SELECT bulkorder.run_bulk('orders', 'cancel', '{1001}', '{"void_payment": true, "colour": "red"}');
SELECT bulkorder.run_bulk('orders', 'cancel', '{1001}', '[true]');
SELECT bulkorder.run_bulk('orders', 'cancel', '{1001}', '{"void_payment": true}', '{"asynch": true}');
SELECT bulkorder.run_bulk('orders', 'cancel', '{1001}', '{"void_payment": true}', '{"operator": 7}');
SET bulkorder.max_targets = 3;
SELECT bulkorder.run_bulk('orders', 'cancel', '{1,2,3,4}', '{"void_payment": true}');
RESET bulkorder.max_targets;
-- nothing was recorded by any of the rejected calls
SELECT count(*) AS jobs FROM bulkorder.bulk_jobs;

-- an empty array makes a clean, empty job
SELECT bulkorder.run_bulk('orders', 'cancel', '{}', '{"void_payment": false}') AS job \gset
SELECT status, total_count, processed_count, success_count, failure_count
FROM bulkorder.bulk_jobs WHERE job_id = :job;

-- preview: per target, in key order, duplicates once, unknown and deleted not_found
SELECT * FROM bulkorder.preview_bulk('orders', 'cancel', '{1006,1001,1003,1001,999999,1012}',
                                     '{"void_payment": true}');
-- preview changed nothing
SELECT order_no, status FROM bulkorder.orders WHERE order_no IN (1001, 1006) ORDER BY 1;

-- run: the same outcome per target as the preview
SELECT bulkorder.run_bulk('orders', 'cancel', '{1006,1001,1003,1001,999999,1012}',
                          '{"void_payment": true}',
                          '{"operator": "tanaka", "source": "checkbox"}') AS job \gset
SELECT target, ok, error_code, message, before, after
FROM bulkorder.bulk_job_items WHERE job_id = :job ORDER BY target;
SELECT page, operation, params, status, total_count, processed_count, success_count,
       failure_count, requested_by, operator, source, started_at IS NOT NULL AS started,
       finished_at IS NOT NULL AS finished
FROM bulkorder.bulk_jobs WHERE job_id = :job;
SELECT job_id = :job AS this_job, target, error_code, message
FROM bulkorder.bulk_job_failures WHERE job_id = :job ORDER BY target;
SELECT message, read_at FROM bulkorder.notifications WHERE job_id = :job ORDER BY notification_id;
SELECT order_no, payment_method, kind, status, job_id = :job AS this_job
FROM bulkorder.payment_requests ORDER BY request_id;
-- the job shows on the orders history page only
SELECT (SELECT count(*) FROM bulkorder.order_bulk_history WHERE job_id = :job) AS orders,
       (SELECT count(*) FROM bulkorder.shipment_bulk_history WHERE job_id = :job) AS shipments,
       (SELECT count(*) FROM bulkorder.subscription_bulk_history WHERE job_id = :job) AS subscriptions,
       (SELECT count(*) FROM bulkorder.customer_bulk_history WHERE job_id = :job) AS customers;

-- a request key makes a second call of the same request (targets as a set)
-- a no-op returning the first job; another request with it is refused
SELECT bulkorder.run_bulk('orders', 'shipping_hold', '{1011}', '{"hold": true}',
                          '{"request_key": "click-42"}') AS first \gset
SELECT bulkorder.run_bulk('orders', 'shipping_hold', '{1011,1011}', '{"hold": true}',
                          '{"request_key": "click-42"}') = :first AS same_job;
SELECT bulkorder.run_bulk('orders', 'shipping_hold', '{1011,1002}', '{"hold": true}',
                          '{"request_key": "click-42"}');
SELECT count(*) FROM bulkorder.bulk_jobs WHERE request_key = 'click-42';
SELECT total_count FROM bulkorder.bulk_jobs WHERE job_id = :first;

-- a rollback leaves no trace
BEGIN;
SELECT bulkorder.bulk_cancel('{1011}', true) IS NOT NULL AS ran;
ROLLBACK;
SELECT status FROM bulkorder.orders WHERE order_no = 1011;
SELECT count(*) FROM bulkorder.bulk_jobs WHERE operation = 'cancel' AND total_count = 1;

-- English messages on request
SET bulkorder.language = 'en';
SELECT * FROM bulkorder.preview_bulk('orders', 'return', '{1001,1003,424242}', '{"void_payment": false}');
RESET bulkorder.language;

-- chunking gives the same result as one chunk
SET bulkorder.chunk_size = 2;
SELECT bulkorder.bulk_tags('{1001,1002,1003,1005,1007,1008,1009}', '{chunked}') AS job \gset
SELECT total_count, success_count, failure_count FROM bulkorder.bulk_jobs WHERE job_id = :job;
RESET bulkorder.chunk_size;
SELECT count(*) FROM bulkorder.orders WHERE 'chunked' = ANY (tags);

-- chunks mixing changes, failures and unknown keys: the run records each
-- target once, as the preview said, whichever chunk it falls in
BEGIN;
SET LOCAL bulkorder.chunk_size = 3;
CREATE TEMP TABLE said ON COMMIT DROP AS
SELECT * FROM bulkorder.preview_bulk('orders', 'shipping_hold', '{1010,1001,1003,424242,1002,1005,1001,1006,1008}',
                                     '{"hold": true}');
SELECT bulkorder.run_bulk('orders', 'shipping_hold', '{1010,1001,1003,424242,1002,1005,1001,1006,1008}',
                          '{"hold": true}') AS mixed \gset
SELECT i.target, i.ok, i.error_code, i.before, i.after,
       (i.ok, i.error_code, i.message) IS NOT DISTINCT FROM (s.ok, s.error_code, s.message) AS as_said
FROM bulkorder.bulk_job_items i FULL JOIN said s ON s.target = i.target
WHERE i.job_id = :mixed OR i.job_id IS NULL ORDER BY coalesce(i.target, s.target);
SELECT total_count, success_count, failure_count FROM bulkorder.bulk_jobs WHERE job_id = :mixed;
ROLLBACK;

-- a target that passes every rule but is not changed (here a shop's trigger
-- skips the UPDATE) is the engine's error, and the job leaves no trace
CREATE FUNCTION pg_temp.skip_1002() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RETURN CASE WHEN OLD.order_no = 1002 THEN NULL ELSE NEW END;
END
$$;
CREATE TRIGGER skip_1002 BEFORE UPDATE ON bulkorder.orders
    FOR EACH ROW EXECUTE FUNCTION pg_temp.skip_1002();
SELECT max(job_id) AS last_job FROM bulkorder.bulk_jobs \gset
SELECT bulkorder.bulk_shipping_hold('{1001,1002,1003}', true);
SELECT count(*) AS new_jobs FROM bulkorder.bulk_jobs WHERE job_id > :last_job;
DROP TRIGGER skip_1002 ON bulkorder.orders;

-- deleting a job (a DBA's clean-up) deletes its items too
SELECT count(*) AS items_before FROM bulkorder.bulk_job_items WHERE job_id = :job;
DELETE FROM bulkorder.bulk_jobs WHERE job_id = :job;
SELECT count(*) AS items_after FROM bulkorder.bulk_job_items WHERE job_id = :job;

-- the shop's tables outlive DROP EXTENSION: dropping the schema leaves nothing
SET client_min_messages = warning;
DROP SCHEMA bulkorder CASCADE;
