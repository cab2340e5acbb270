-- Asynchronous jobs: queued submission, the background worker, results equal
-- to a synchronous run, cancel, failure, retry, overlapping jobs.
CREATE EXTENSION bulkorder;
\i test/fixtures/shop.sql

-- more orders for chunked jobs: 100001-100500, awaiting shipment
INSERT INTO bulkorder.orders (order_no, customer_id, status, payment_method)
SELECT g, 1 + g % 4, 'awaiting_shipment', 'credit_card' FROM generate_series(100001, 100500) g;

-- wait (at most 60 s) for a job to leave queued/running
CREATE FUNCTION pg_temp.wait_job(job bigint) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    s text;
BEGIN
    FOR i IN 1..6000 LOOP
        SELECT status INTO s FROM bulkorder.bulk_jobs WHERE job_id = job;
        IF s NOT IN ('queued', 'running') THEN
            RETURN s;
        END IF;
        PERFORM pg_sleep(0.01);
    END LOOP;
    RETURN 'timeout: ' || s;
END
$$;

-- the option must be a boolean; false runs synchronously
\set VERBOSITY sqlstate
SELECT bulkorder.run_bulk('orders', 'tags', '{1001}', '{"add": ["a"]}', '{"async": "yes"}');
\set VERBOSITY default
SELECT bulkorder.run_bulk('orders', 'tags', '{1001}', '{"add": ["sync"]}', '{"async": false}') AS job \gset
SELECT status, is_async, processed_count FROM bulkorder.bulk_jobs WHERE job_id = :job;

-- a synchronous run of a job, kept in psql variables and rolled back ...
SET bulkorder.chunk_size = 3;
\set targets '{1012,1001,1003,1006,1001,999999,1011,1002,1008,2003,1004,1007}'
BEGIN;
SELECT bulkorder.run_bulk('orders', 'cancel', :'targets', '{"void_payment": true}') AS sync_job \gset
SELECT jsonb_agg(to_jsonb(i) - 'job_id' ORDER BY target) AS sync_items
FROM bulkorder.bulk_job_items i WHERE job_id = :sync_job \gset
SELECT jsonb_agg(jsonb_build_object('order_no', order_no, 'status', status) ORDER BY order_no) AS sync_orders
FROM bulkorder.orders \gset
SELECT jsonb_agg(jsonb_build_object('order_no', order_no, 'method', payment_method, 'kind', kind,
                                    'status', status) ORDER BY order_no, kind) AS sync_requests
FROM bulkorder.payment_requests WHERE job_id = :sync_job \gset
SELECT jsonb_build_object('total', total_count, 'processed', processed_count, 'ok', success_count,
                          'ng', failure_count, 'status', status) AS sync_counts
FROM bulkorder.bulk_jobs WHERE job_id = :sync_job \gset
ROLLBACK;

-- ... then the same job asynchronously, three targets per chunk (looked at
-- before the submission commits: its worker starts at the commit)
BEGIN;
SELECT bulkorder.run_bulk('orders', 'cancel', :'targets', '{"void_payment": true}',
                          '{"async": true, "operator": "tanaka", "source": "checkbox"}') AS job \gset
-- queued at once, with what the worker needs: sorted distinct targets, the
-- normalized params, the submitter's chunk size and language
SELECT status, is_async, total_count, processed_count, params, effective_params, chunk_size, language
FROM bulkorder.bulk_jobs WHERE job_id = :job;
SELECT array_agg(target ORDER BY target) FROM bulkorder.bulk_job_targets WHERE job_id = :job;
COMMIT;
SELECT pg_temp.wait_job(:job);
SELECT status, total_count, processed_count, success_count, failure_count, last_target,
       operator, source, started_at >= requested_at AS started, finished_at >= started_at AS finished,
       error_message
FROM bulkorder.bulk_jobs WHERE job_id = :job;
SELECT target, ok, error_code, message, before, after
FROM bulkorder.bulk_job_items WHERE job_id = :job ORDER BY target;
-- the same items, the same orders, the same payment requests, the same counts
SELECT (SELECT jsonb_agg(to_jsonb(i) - 'job_id' ORDER BY target)
          FROM bulkorder.bulk_job_items i WHERE job_id = :job) = :'sync_items'::jsonb AS same_items,
       (SELECT jsonb_agg(jsonb_build_object('order_no', order_no, 'status', status) ORDER BY order_no)
          FROM bulkorder.orders) = :'sync_orders'::jsonb AS same_orders,
       (SELECT jsonb_agg(jsonb_build_object('order_no', order_no, 'method', payment_method, 'kind', kind,
                                            'status', status) ORDER BY order_no, kind)
          FROM bulkorder.payment_requests WHERE job_id = :job) = :'sync_requests'::jsonb AS same_requests,
       (SELECT jsonb_build_object('total', total_count, 'processed', processed_count, 'ok', success_count,
                                  'ng', failure_count, 'status', status)
          FROM bulkorder.bulk_jobs WHERE job_id = :job) = :'sync_counts'::jsonb AS same_counts;
-- acceptance and completion notifications, to the operator
SELECT recipient, message FROM bulkorder.notifications WHERE job_id = :job ORDER BY notification_id;
SELECT job_id = :job AS this_job, target, error_code FROM bulkorder.bulk_job_failures
WHERE job_id = :job ORDER BY target;
-- a finished job cannot be cancelled, and nothing changes
SELECT bulkorder.cancel_job(:job);
SELECT status, processed_count, cancel_requested FROM bulkorder.bulk_jobs WHERE job_id = :job;
SELECT count(*) AS notifications FROM bulkorder.notifications WHERE job_id = :job;

-- a synchronous job has always finished by the time anyone can name it
SELECT bulkorder.run_bulk('orders', 'tags', '{1001}', '{"add": ["s2"]}') AS sjob \gset
SELECT bulkorder.cancel_job(:sjob);
-- an unknown job is an error (22023, as in every function that takes a
-- job id); NULL gives NULL
SELECT bulkorder.cancel_job(-1);
\set VERBOSITY sqlstate
SELECT bulkorder.cancel_job(-1);
SELECT bulkorder.cancel_job(-1, '{"operator": "tanaka"}');
\set VERBOSITY default
SELECT bulkorder.cancel_job(NULL) IS NULL AS null_in_null_out;

-- an empty asynchronous job finishes with nothing done
SELECT bulkorder.run_bulk('orders', 'tags', '{}', '{"add": ["x"]}', '{"async": true}') AS job \gset
SELECT pg_temp.wait_job(:job);
SELECT total_count, processed_count, last_target IS NULL AS no_cursor FROM bulkorder.bulk_jobs WHERE job_id = :job;
SELECT message FROM bulkorder.notifications WHERE job_id = :job ORDER BY notification_id;

-- the request key holds for asynchronous jobs too
SELECT bulkorder.run_bulk('orders', 'shipping_hold', '{1011}', '{"hold": true}',
                          '{"async": true, "request_key": "async-click-1"}') AS first \gset
SELECT bulkorder.run_bulk('orders', 'shipping_hold', '{1011}', '{"hold": true}',
                          '{"async": true, "request_key": "async-click-1"}') = :first AS same_job;
\set VERBOSITY sqlstate
SELECT bulkorder.run_bulk('orders', 'shipping_hold', '{1011,1001}', '{"hold": true}',
                          '{"async": true, "request_key": "async-click-1"}');
\set VERBOSITY default
SELECT pg_temp.wait_job(:first);
SELECT count(*) AS jobs, sum(total_count) AS targets FROM bulkorder.bulk_jobs WHERE request_key = 'async-click-1';
SELECT count(*) AS stored_targets FROM bulkorder.bulk_job_targets WHERE job_id = :first;

-- cancel a queued job: in the submitting transaction the worker cannot
-- have started it yet (it is started when this transaction commits)
BEGIN;
SELECT bulkorder.run_bulk('orders', 'tags', '{100001,100002,100003}', '{"add": ["never"]}',
                          '{"async": true}') AS job \gset
SELECT status FROM bulkorder.bulk_jobs WHERE job_id = :job;
SELECT count(*) AS workers_while_open FROM pg_stat_activity
WHERE backend_type = 'bulkorder worker' AND datname = current_database();
SELECT bulkorder.cancel_job(:job);
SELECT status, processed_count, cancel_requested, finished_at IS NOT NULL AS finished,
       cancelled_by, cancelled_by_operator
FROM bulkorder.bulk_jobs WHERE job_id = :job;
SELECT bulkorder.cancel_job(:job) AS again;
COMMIT;
-- a later job finishing shows the worker has been through the queue
SELECT bulkorder.run_bulk('orders', 'tags', '{100004}', '{"add": ["later"]}', '{"async": true}') AS later \gset
SELECT pg_temp.wait_job(:later);
SELECT status, processed_count, success_count, failure_count FROM bulkorder.bulk_jobs WHERE job_id = :job;
SELECT count(*) AS items FROM bulkorder.bulk_job_items WHERE job_id = :job;
SELECT count(*) AS tagged FROM bulkorder.orders WHERE 'never' = ANY (tags);
SELECT message FROM bulkorder.notifications WHERE job_id = :job ORDER BY notification_id;

-- who cancelled: the role and the operator, named in the notification (en
-- here, the job's language); options are checked like run_bulk's
SET bulkorder.language = 'en';
BEGIN;
SELECT bulkorder.run_bulk('orders', 'tags', '{100001}', '{"add": ["never"]}', '{"async": true}') AS job \gset
SELECT bulkorder.cancel_job(:job, '{"operator": "鈴木"}');
COMMIT;
RESET bulkorder.language;
SELECT status, cancelled_by, cancelled_by_operator FROM bulkorder.bulk_jobs WHERE job_id = :job;
SELECT message FROM bulkorder.notifications WHERE job_id = :job ORDER BY notification_id;
-- operator: 1 to 200 characters, not bytes (200 × お is 600 bytes)
BEGIN;
SELECT bulkorder.run_bulk('orders', 'tags', '{100001}', '{"add": ["never"]}', '{"async": true}') AS job \gset
SELECT bulkorder.cancel_job(:job, jsonb_build_object('operator', repeat('お', 200)));
SELECT char_length(cancelled_by_operator) FROM bulkorder.bulk_jobs WHERE job_id = :job;
ROLLBACK;
SELECT bulkorder.run_bulk('orders', 'tags', '{1001}', '{"add": ["long-name"]}',
                          jsonb_build_object('operator', repeat('お', 200))) AS job \gset
SELECT char_length(operator) FROM bulkorder.bulk_jobs WHERE job_id = :job;
\set VERBOSITY sqlstate
SELECT bulkorder.cancel_job(:job, jsonb_build_object('operator', repeat('お', 201)));
SELECT bulkorder.cancel_job(:job, '{"operator": ""}');
SELECT bulkorder.cancel_job(:job, '{"operator": 7}');
SELECT bulkorder.cancel_job(:job, '{"who": "x"}');
SELECT bulkorder.cancel_job(:job, '[]');
SELECT bulkorder.run_bulk('orders', 'tags', '{1001}', '{"add": ["x"]}',
                          jsonb_build_object('operator', repeat('お', 201)));
\set VERBOSITY default
-- NULL options are no options
SELECT bulkorder.cancel_job(:job, NULL) AS finished_job;

-- who marked a notification read: the role (SET ROLE counts) and the
-- operator; a notification read before keeps who read it first
SELECT min(notification_id) AS n1, max(notification_id) AS n2
FROM bulkorder.notifications WHERE job_id = :job \gset
SELECT bulkorder.mark_notifications_read(ARRAY[:n1]::bigint[]);
CREATE ROLE bulkorder_async_reader;
SELECT bulkorder.grant_operator('bulkorder_async_reader');
SET ROLE bulkorder_async_reader;
SELECT bulkorder.mark_notifications_read(ARRAY[:n1, :n2]::bigint[], '{"operator": "山田"}');
\set VERBOSITY sqlstate
SELECT bulkorder.mark_notifications_read(ARRAY[:n1]::bigint[], '{"operator": ""}');
SELECT bulkorder.mark_notifications_read(ARRAY[:n1]::bigint[], '{"reader": "x"}');
SELECT bulkorder.mark_notifications_read(ARRAY[:n1]::bigint[], '"x"');
-- bulkorder.chunk_size is a superuser setting, and so are the worker's lock
-- wait and its give-up time (a role could otherwise make a worker wait for
-- its own open transaction)
SET bulkorder.chunk_size = 1;
SET bulkorder.lock_timeout = '1h';
SET bulkorder.lock_give_up = 0;
\set VERBOSITY default
RESET ROLE;
SELECT notification_id = :n1 AS first, read_by, read_by_operator, read_at IS NOT NULL AS read
FROM bulkorder.notifications WHERE notification_id IN (:n1, :n2) ORDER BY notification_id;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA bulkorder FROM bulkorder_async_reader;
REVOKE ALL ON ALL TABLES IN SCHEMA bulkorder FROM bulkorder_async_reader;
REVOKE ALL ON SCHEMA bulkorder FROM bulkorder_async_reader;
DROP ROLE bulkorder_async_reader;

SELECT name, setting, unit, context FROM pg_settings
WHERE name IN ('bulkorder.lock_timeout', 'bulkorder.lock_give_up') ORDER BY name;

-- a rolled-back submission leaves nothing and starts no worker
BEGIN;
SELECT bulkorder.run_bulk('orders', 'tags', '{100005}', '{"add": ["ghost"]}', '{"async": true}') IS NOT NULL AS queued;
ROLLBACK;
SELECT bulkorder.run_bulk('orders', 'tags', '{100006}', '{"add": ["after-ghost"]}', '{"async": true}') AS later \gset
SELECT pg_temp.wait_job(:later);
SELECT count(*) AS ghost_jobs FROM bulkorder.bulk_jobs j WHERE j.params @> '{"add": ["ghost"]}';
SELECT count(*) AS ghost_tags FROM bulkorder.orders WHERE 'ghost' = ANY (tags);

-- the submitter's language is the job's language
SET bulkorder.language = 'en';
SELECT bulkorder.run_bulk('orders', 'return', '{1003,1001,424242}', '{"void_payment": false}',
                          '{"async": true}') AS job \gset
RESET bulkorder.language;
SELECT language FROM bulkorder.bulk_jobs WHERE job_id = :job;
SELECT pg_temp.wait_job(:job);
SELECT target, ok, error_code, message FROM bulkorder.bulk_job_items WHERE job_id = :job ORDER BY target;
SELECT message FROM bulkorder.notifications WHERE job_id = :job ORDER BY notification_id;

-- any page: an asynchronous job on the customers page gives what the
-- final confirmation (preview) said, target by target
SELECT jsonb_agg(to_jsonb(p) ORDER BY target) AS preview
FROM bulkorder.preview_bulk('customers', 'points', '{4,3,2,1,99}', '{"delta": -60}') p \gset
SELECT bulkorder.run_bulk('customers', 'points', '{4,3,2,1,99}', '{"delta": -60}', '{"async": true}') AS job \gset
SELECT pg_temp.wait_job(:job);
SELECT (SELECT jsonb_agg(jsonb_build_object('target', target, 'ok', ok, 'error_code', error_code,
                                            'message', message) ORDER BY target)
          FROM bulkorder.bulk_job_items WHERE job_id = :job) = :'preview'::jsonb AS as_previewed;
SELECT customer_id, points FROM bulkorder.customers ORDER BY customer_id;
SELECT target, ok, error_code, before, after FROM bulkorder.bulk_job_items WHERE job_id = :job ORDER BY target;

-- a job that breaks off: status failed with the error; the chunks committed
-- before the error stay, the chunk in flight left nothing
CREATE FUNCTION public.async_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'order % is locked by the warehouse system', NEW.order_no;
END
$$;
CREATE TRIGGER async_refuse BEFORE UPDATE ON bulkorder.orders
    FOR EACH ROW WHEN (NEW.order_no = 100250) EXECUTE FUNCTION public.async_refuse();
SET bulkorder.chunk_size = 50;
SELECT bulkorder.run_bulk('orders', 'tags', ARRAY(SELECT generate_series(100001, 100500))::bigint[],
                          '{"add": ["t1"]}', '{"async": true}') AS job \gset
SELECT pg_temp.wait_job(:job);
SELECT status, total_count, processed_count, success_count, failure_count, last_target, error_message,
       finished_at IS NOT NULL AS finished
FROM bulkorder.bulk_jobs WHERE job_id = :job;
SELECT count(*) AS items, min(target), max(target) FROM bulkorder.bulk_job_items WHERE job_id = :job;
SELECT count(*) FILTER (WHERE 't1' = ANY (tags)) AS tagged,
       count(*) FILTER (WHERE 't1' = ANY (tags) AND order_no > 100200) AS tagged_after_cursor
FROM bulkorder.orders WHERE order_no BETWEEN 100001 AND 100500;
SELECT message FROM bulkorder.notifications WHERE job_id = :job ORDER BY notification_id;
SELECT bulkorder.cancel_job(:job) AS cancel_failed;
DROP TRIGGER async_refuse ON bulkorder.orders;

-- a deadlock or serialization failure redoes the chunk (up to three tries)
CREATE TABLE public.async_knobs (deadlocks integer NOT NULL, seen integer NOT NULL DEFAULT 0);
INSERT INTO public.async_knobs VALUES (2);
CREATE FUNCTION public.async_deadlock() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- the attempt count must survive the rollback of the attempt: a sequence
    IF nextval('public.async_attempts') <= (SELECT deadlocks FROM public.async_knobs) THEN
        RAISE EXCEPTION 'simulated deadlock' USING ERRCODE = 'deadlock_detected';
    END IF;
    RETURN NEW;
END
$$;
CREATE SEQUENCE public.async_attempts;
CREATE TRIGGER async_deadlock BEFORE UPDATE ON bulkorder.orders
    FOR EACH ROW WHEN (NEW.order_no = 100300) EXECUTE FUNCTION public.async_deadlock();
SELECT bulkorder.run_bulk('orders', 'tags', ARRAY(SELECT generate_series(100251, 100350))::bigint[],
                          '{"add": ["t2"]}', '{"async": true}') AS job \gset
SELECT pg_temp.wait_job(:job);
SELECT status, processed_count, success_count, failure_count, error_message FROM bulkorder.bulk_jobs WHERE job_id = :job;
SELECT last_value AS attempts FROM public.async_attempts;
SELECT count(*) AS items FROM bulkorder.bulk_job_items WHERE job_id = :job;
-- three in a row: the job fails
ALTER SEQUENCE public.async_attempts RESTART;
UPDATE public.async_knobs SET deadlocks = 3;
SELECT bulkorder.run_bulk('orders', 'tags', ARRAY(SELECT generate_series(100251, 100350))::bigint[],
                          '{"add": ["t3"]}', '{"async": true}') AS job \gset
SELECT pg_temp.wait_job(:job);
SELECT status, processed_count, error_message FROM bulkorder.bulk_jobs WHERE job_id = :job;
SELECT last_value AS attempts FROM public.async_attempts;
DROP TRIGGER async_deadlock ON bulkorder.orders;
DROP FUNCTION public.async_deadlock();
DROP FUNCTION public.async_refuse();
DROP TABLE public.async_knobs;
DROP SEQUENCE public.async_attempts;

-- start_worker starts a worker that finds nothing to do and exits
SELECT bulkorder.start_worker();

-- two overlapping jobs at once (two workers, ten targets per chunk): rows
-- are locked in key order, so no deadlock and no lost update
SET bulkorder.chunk_size = 10;
BEGIN;
SELECT bulkorder.run_bulk('orders', 'tags', ARRAY(SELECT generate_series(100001, 100300))::bigint[],
                          '{"add": ["left"]}', '{"async": true}') AS job_a \gset
SELECT bulkorder.run_bulk('orders', 'tags', ARRAY(SELECT generate_series(100101, 100400))::bigint[],
                          '{"add": ["right"], "remove": ["t1"]}', '{"async": true}') AS job_b \gset
COMMIT;
SELECT pg_temp.wait_job(:job_a) AS a, pg_temp.wait_job(:job_b) AS b;
SELECT job_id = :job_a AS is_a, processed_count, success_count, failure_count
FROM bulkorder.bulk_jobs WHERE job_id IN (:job_a, :job_b) ORDER BY job_id;
SELECT count(*) FILTER (WHERE 'left' = ANY (tags) AND 'right' = ANY (tags)) AS both_tags,
       count(*) FILTER (WHERE 'left' = ANY (tags) AND NOT 'right' = ANY (tags)) AS left_only,
       count(*) FILTER (WHERE 'right' = ANY (tags) AND NOT 'left' = ANY (tags)) AS right_only,
       count(*) FILTER (WHERE 't1' = ANY (tags) AND order_no > 100100) AS t1_left_after_b
FROM bulkorder.orders WHERE order_no BETWEEN 100001 AND 100500;
SELECT count(*) AS items, count(*) FILTER (WHERE ok) AS ok FROM bulkorder.bulk_job_items
WHERE job_id IN (:job_a, :job_b);

-- nothing is granted to PUBLIC
CREATE ROLE bulkorder_async_nobody;
SET ROLE bulkorder_async_nobody;
\set VERBOSITY sqlstate
SELECT bulkorder.cancel_job(1);
SELECT bulkorder.start_worker();
SELECT count(*) FROM bulkorder.bulk_job_targets;
\set VERBOSITY default
RESET ROLE;
DROP ROLE bulkorder_async_nobody;

-- a chunk's targets are stored uncompressed (compressing them was most of
-- a large submission's time): 500 targets, 4 KB, past the point where
-- PostgreSQL would compress them; rolled back, so no worker runs it
BEGIN;
SET LOCAL bulkorder.chunk_size = 500;
SELECT bulkorder.run_bulk('orders', 'tags', ARRAY(SELECT generate_series(100001, 100500)::bigint),
                          '{"add": ["stored"]}', '{"async": true}') AS job \gset
SELECT count(*) AS chunks, min(pg_column_size(targets)) > 4000 AS past_toast_threshold,
       bool_and(pg_column_compression(targets) IS NULL) AS uncompressed
FROM bulkorder.bulk_job_chunks WHERE job_id = :job;
ROLLBACK;

-- no job left open before the extension goes
SELECT count(*) AS open_jobs FROM bulkorder.bulk_jobs WHERE status IN ('queued', 'running');
-- the shop's tables outlive DROP EXTENSION: dropping the schema leaves nothing
SET client_min_messages = warning;
DROP SCHEMA bulkorder CASCADE;
