-- Hardening (issue 13 F3, F4, F8, F9 and the minor findings; issue 12's
-- whole-call errors in Japanese): every reproduction of the issue, refused
-- or fixed.
CREATE EXTENSION bulkorder;
\i test/fixtures/shop.sql
SET DateStyle = ISO;

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

-- The SQLSTATE and message of a call, or 'ok'.
CREATE FUNCTION pg_temp.try(sql text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE sql;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;

------------------------------------------------------------------------
-- F8: what the preview accepts, the run accepts.  Integer params take
-- integers only, in preview_bulk, run_bulk and an async submission alike.
------------------------------------------------------------------------
SELECT p AS params,
       pg_temp.try(format($$SELECT * FROM bulkorder.preview_bulk('orders', 'add_products', '{1011}', %L)$$, p)) AS preview,
       pg_temp.try(format($$SELECT bulkorder.run_bulk('orders', 'add_products', '{1011}', %L)$$, p)) AS run,
       pg_temp.try(format($$SELECT bulkorder.run_bulk('orders', 'add_products', '{1011}', %L, '{"async": true}')$$, p)) AS async
FROM unnest(ARRAY[
    '{"product_id": 201, "quantity": 1.0}',
    '{"product_id": 201.0}',
    '{"product_id": 201, "quantity": 1.5}',
    '{"product_id": 201, "quantity": "1"}',
    '{"product_id": 201, "quantity": true}',
    '{"product_id": 201, "quantity": 2147483648}',
    '{"product_id": 201, "quantity": 0}',
    '{"product_id": 201, "quantity": 10000}',
    '{"product_id": 9223372036854775808}',
    '{"product_id": 201, "quantity": 1e400}'
]) AS p;
SELECT p AS params,
       pg_temp.try(format($$SELECT bulkorder.run_bulk('customers', 'points', '{1}', %L)$$, p)) AS run
FROM unnest(ARRAY['{"delta": 1.0}', '{"delta": -1e1}', '{"delta": 3000000000}']) AS p;
-- no async job was accepted by any of the refused calls above
SELECT count(*) AS jobs FROM bulkorder.bulk_jobs;
-- 1e3 is stored by jsonb as 1000: that integer (the jsonb cannot tell it
-- from 1000); within the bounds it runs
SELECT '{"quantity": 1e1}'::jsonb AS as_jsonb_stores_it;
SELECT bulkorder.run_bulk('orders', 'add_products', '{1011}', '{"product_id": 201, "quantity": 1e1}') AS job \gset
SELECT product_id, quantity FROM bulkorder.order_items WHERE order_no = 1011 AND product_id = 201;
-- the whole-call errors: English errmsg, Japanese detail by default ...
\set VERBOSITY default
SELECT bulkorder.run_bulk('orders', 'add_products', '{1011}', '{"product_id": 202, "quantity": 1.0}');
SELECT bulkorder.run_bulk('customers', 'points', '{1}', '{"delta": 3000000000}');
-- ... and English detail (where there is one) with bulkorder.language = 'en'
SET bulkorder.language = 'en';
SELECT bulkorder.run_bulk('orders', 'add_products', '{1011}', '{"product_id": 202, "quantity": 1.0}');
SELECT bulkorder.run_bulk('customers', 'points', '{1}', '{"delta": 3000000000}');
RESET bulkorder.language;

-- A catalogue row without a "type" (written by hand) is a clear error, not
-- a crash (check_value used to strcmp a NULL type).
BEGIN;
UPDATE bulkorder_catalog.operations SET params = '{"delta": {"position": 1}}'
WHERE page = 'customers' AND operation = 'points';
SELECT pg_temp.try($$SELECT bulkorder.run_bulk('customers', 'points', '{1}', '{"delta": 1}')$$);
UPDATE bulkorder_catalog.operations SET params = '{"delta": "integer"}'
WHERE page = 'customers' AND operation = 'points';
SELECT pg_temp.try($$SELECT bulkorder.run_bulk('customers', 'points', '{1}', '{"delta": 1}')$$);
ROLLBACK;

------------------------------------------------------------------------
-- F3: dates are real dates.  Every date parameter refuses infinity and
-- dates outside 1900-01-01 .. 2199-12-31 (22008), before anything changes.
------------------------------------------------------------------------
BEGIN;   -- the two valid edge dates would change rows: undone below
SELECT d AS date_given,
       pg_temp.try(format($$SELECT bulkorder.run_bulk('subscriptions', 'next_dates', '{501}', %L)$$,
                          jsonb_build_object('next_ship_date', d))) AS next_dates,
       pg_temp.try(format($$SELECT bulkorder.run_bulk('shipments', 'delivery_dates', '{1001}', %L)$$,
                          jsonb_build_object('ship_date', '2030-01-01', 'delivery_date', d,
                                             'update_subscription', false))) AS delivery_dates
FROM unnest(ARRAY['infinity', '-infinity', '1899-12-31', '2200-01-01', '5874897-01-01',
                  '1900-01-01', '2199-12-31', 'not a date']) AS d;
ROLLBACK;
-- the wrapper too (bulk_subscription_next_dates, the issue's reproduction)
SELECT pg_temp.try($$SELECT bulkorder.bulk_subscription_next_dates('{501}', '2020-01-01', 'infinity')$$);
SELECT next_ship_date, next_delivery_date FROM bulkorder.subscriptions WHERE course_order_no = 501;
SELECT scheduled_ship_date, scheduled_delivery_date FROM bulkorder.orders WHERE order_no = 1001;
SELECT bulkorder.run_bulk('subscriptions', 'next_dates', '{501}', '{"next_delivery_date": "infinity"}');

------------------------------------------------------------------------
-- F9: a job means what it meant when it was accepted.  Dates are read in
-- the caller's DateStyle at submission and stored as ISO dates; relative
-- words are resolved then; the worker runs exactly those.
------------------------------------------------------------------------
INSERT INTO bulkorder.orders (order_no, customer_id, status, payment_method, delivery_method)
VALUES (1101, 1, 'awaiting_shipment', 'credit_card', 'yamato'),
       (1102, 1, 'awaiting_shipment', 'credit_card', 'yamato'),
       (1103, 1, 'awaiting_shipment', 'credit_card', 'yamato');
SET DateStyle = 'ISO, DMY';
SELECT bulkorder.run_bulk('shipments', 'delivery_dates', '{1101}',
    '{"ship_date": "01/02/2030", "delivery_date": "03/02/2030", "update_subscription": false}') AS sync_job \gset
SELECT bulkorder.run_bulk('shipments', 'delivery_dates', '{1102}',
    '{"ship_date": "01/02/2030", "delivery_date": "03/02/2030", "update_subscription": false}',
    '{"async": true}') AS async_job \gset
SELECT bulkorder.run_bulk('shipments', 'delivery_dates', '{1103}',
    '{"ship_date": "today", "delivery_date": "tomorrow", "update_subscription": false}',
    '{"async": true}') AS relative_job \gset
RESET DateStyle;
SET DateStyle = ISO;
SELECT pg_temp.wait_job(:async_job) AS async, pg_temp.wait_job(:relative_job) AS relative;
-- the job keeps what the caller gave (params) and what it ran (effective_params)
SELECT job_id = :sync_job AS sync, is_async, params, effective_params
FROM bulkorder.bulk_jobs WHERE job_id IN (:sync_job, :async_job) ORDER BY job_id;
SELECT order_no, scheduled_ship_date, scheduled_delivery_date
FROM bulkorder.orders WHERE order_no IN (1101, 1102) ORDER BY order_no;
SELECT effective_params->>'ship_date' = current_date::text AS today_resolved,
       effective_params->>'delivery_date' = (current_date + 1)::text AS tomorrow_resolved
FROM bulkorder.bulk_jobs WHERE job_id = :relative_job;
SELECT scheduled_ship_date = current_date AS ship_today, scheduled_delivery_date = current_date + 1 AS tomorrow
FROM bulkorder.orders WHERE order_no = 1103;

------------------------------------------------------------------------
-- Minor: the operator option counts characters, not bytes; an empty or
-- blank tag is refused (22023).
------------------------------------------------------------------------
SELECT bulkorder.run_bulk('orders', 'tags', '{1001}', '{"add": ["x"]}',
                          jsonb_build_object('operator', repeat('お', 200))) > 0 AS kana_200_accepted;
SELECT pg_temp.try(format($$SELECT bulkorder.run_bulk('orders', 'tags', '{1001}', '{"add": ["x"]}', %L)$$,
                          jsonb_build_object('operator', repeat('お', 201)))) AS kana_201;
SELECT operator = repeat('お', 200) FROM bulkorder.bulk_jobs WHERE operator LIKE 'お%';
SELECT p AS params,
       pg_temp.try(format($$SELECT bulkorder.run_bulk('orders', 'tags', '{1001}', %L)$$, p)) AS orders,
       pg_temp.try(format($$SELECT bulkorder.run_bulk('customers', 'tags', '{1}', %L)$$, p)) AS customers
FROM unnest(ARRAY['{"remove": [""]}', '{"add": ["  "]}', E'{"add": ["\u3000"]}',
                  E'{"remove": ["a", "\u3000 \u3000"]}', '{"add": ["\t"]}']) AS p;
SELECT order_no, tags FROM bulkorder.orders WHERE order_no = 1001;

------------------------------------------------------------------------
-- F4: request keys are idempotency keys, scoped to page and calling role.
------------------------------------------------------------------------
CREATE ROLE regress_bulk_cron;
CREATE ROLE regress_bulk_op2;
SELECT bulkorder.grant_operator('regress_bulk_cron'), bulkorder.grant_operator('regress_bulk_op2');
-- operator 2 takes the cron job's key first (the issue's reproduction) ...
SET ROLE regress_bulk_op2;
SELECT bulkorder.run_bulk('orders', 'tags', '{}', '{"add": ["noop"]}',
                          '{"request_key": "hold-ng-2026-01-02 02:00"}') AS op2_job \gset
-- ... the cron role's call still makes its own job and holds the order
SET ROLE regress_bulk_cron;
SELECT bulkorder.run_bulk('orders', 'shipping_hold', '{1006,1007}', '{"hold": true}',
                          '{"request_key": "hold-ng-2026-01-02 02:00"}') AS cron_job \gset
SELECT :cron_job <> :op2_job AS own_job;
-- the same request again (targets as a set, in any order, given twice; the
-- same params): the first job, nothing done
SELECT bulkorder.run_bulk('orders', 'shipping_hold', '{1007,1006,1007}', '{"hold": true}',
                          '{"request_key": "hold-ng-2026-01-02 02:00", "source": "pg_cron"}') = :cron_job AS same_job;
-- another request with the key: refused, naming the first job
\set VERBOSITY default
SELECT bulkorder.run_bulk('orders', 'shipping_hold', '{1006,1007,1008}', '{"hold": true}',
                          '{"request_key": "hold-ng-2026-01-02 02:00"}');
SET bulkorder.language = 'en';
SELECT bulkorder.run_bulk('orders', 'shipping_hold', '{1006,1007}', '{"hold": false}',
                          '{"request_key": "hold-ng-2026-01-02 02:00"}');
SELECT bulkorder.run_bulk('orders', 'cancel', '{1006,1007}', '{"void_payment": false}',
                          '{"request_key": "hold-ng-2026-01-02 02:00"}');
RESET bulkorder.language;
RESET ROLE;
SELECT requested_by, operation, total_count, request_hash IS NOT NULL AS fingerprinted
FROM bulkorder.bulk_jobs WHERE request_key = 'hold-ng-2026-01-02 02:00' ORDER BY job_id;
SELECT order_no, shipping_hold, status FROM bulkorder.orders WHERE order_no IN (1006, 1007, 1008) ORDER BY 1;
-- params compare after normalisation: defaults filled in, dates as ISO dates
-- in whichever DateStyle they were written
SELECT bulkorder.run_bulk('orders', 'tags', '{1002}', '{"add": ["k"]}', '{"request_key": "norm-1"}') AS norm_job \gset
SELECT bulkorder.run_bulk('orders', 'tags', '{1002}', '{"add": ["k"], "remove": []}',
                          '{"request_key": "norm-1"}') = :norm_job AS defaults_same;
SET DateStyle = 'ISO, DMY';
SELECT bulkorder.run_bulk('subscriptions', 'next_dates', '{502}', '{"next_ship_date": "01/02/2030"}',
                          '{"request_key": "dates-1"}') AS date_job \gset
SET DateStyle = ISO;
SELECT bulkorder.run_bulk('subscriptions', 'next_dates', '{502}', '{"next_ship_date": "2030-02-01"}',
                          '{"request_key": "dates-1"}') = :date_job AS iso_same;
SELECT pg_temp.try($$SELECT bulkorder.run_bulk('subscriptions', 'next_dates', '{502}',
                     '{"next_ship_date": "2030-01-02"}', '{"request_key": "dates-1"}')$$) AS other_date;
-- a job of 1.0 has no fingerprint: its key cannot be reused (docs/api.md)
UPDATE bulkorder.bulk_jobs SET request_hash = NULL WHERE job_id = :norm_job;
SELECT bulkorder.run_bulk('orders', 'tags', '{1002}', '{"add": ["k"]}', '{"request_key": "norm-1"}');
-- async submissions hold to it as well
SELECT bulkorder.run_bulk('orders', 'tags', '{1003}', '{"add": ["a"]}',
                          '{"request_key": "async-1", "async": true}') AS async_key_job \gset
SELECT bulkorder.run_bulk('orders', 'tags', '{1003}', '{"add": ["a"]}',
                          '{"request_key": "async-1", "async": true}') = :async_key_job AS same_async;
SELECT pg_temp.try($$SELECT bulkorder.run_bulk('orders', 'tags', '{1003}', '{"add": ["b"]}',
                     '{"request_key": "async-1", "async": true}')$$) AS other_async;
SELECT pg_temp.wait_job(:async_key_job);
SELECT count(*) AS jobs FROM bulkorder.bulk_jobs WHERE request_key = 'async-1';
-- import_shipments: the request is the file and how it is read; the key
-- is the role's own
SELECT bulkorder.import_shipments(convert_to(E'1011,T-1\n', 'UTF8'), '{"request_key": "imp-1"}') AS imp_job \gset
SELECT bulkorder.import_shipments(convert_to(E'1011,T-1\n', 'UTF8'), '{"request_key": "imp-1"}') = :imp_job AS same_file;
SELECT pg_temp.try($$SELECT bulkorder.import_shipments(convert_to(E'1011,T-2\n', 'UTF8'), '{"request_key": "imp-1"}')$$) AS other_file;
SELECT pg_temp.try($$SELECT bulkorder.import_shipments(convert_to(E'1011,T-1\n', 'UTF8'),
                     '{"request_key": "imp-1", "encoding": "SJIS"}')$$) AS other_encoding;
SET ROLE regress_bulk_op2;
SELECT bulkorder.import_shipments(convert_to(E'1011,T-1\n', 'UTF8'), '{"request_key": "imp-1"}') <> :imp_job AS own_job;
RESET ROLE;
SELECT count(*) AS uploads FROM bulkorder.uploads;
-- the index: page, role, key
SELECT indexdef FROM pg_indexes WHERE indexname = 'bulk_jobs_request_key_idx';

------------------------------------------------------------------------
-- F3: one master's data never stops generate_subscription_orders.
------------------------------------------------------------------------
SELECT pg_temp.try($$SELECT bulkorder.generate_subscription_orders('infinity')$$) AS as_of_infinity,
       pg_temp.try($$SELECT bulkorder.generate_subscription_orders('2200-01-01')$$) AS as_of_2200;
\set VERBOSITY default
SELECT bulkorder.generate_subscription_orders('-infinity');
\set VERBOSITY terse
-- the fixture's master 501 has fixed dates: paused here, so that whether it
-- comes due again within 30 days does not depend on the day the test runs
UPDATE bulkorder.subscriptions SET status = 'paused' WHERE course_order_no = 501;
-- five active masters due today: two sound, two with a date no operation
-- accepts any more (written by a DBA), one that a shop trigger refuses
INSERT INTO bulkorder.subscriptions
    (course_order_no, customer_id, status, payment_method, delivery_method, frequency_id,
     next_ship_date, next_delivery_date)
SELECT k, 1, 'active', 'credit_card', 'yamato', 1, current_date, current_date + 2
FROM unnest(ARRAY[601, 602, 603, 604, 605]) k;
INSERT INTO bulkorder.subscription_items (course_order_no, product_id, quantity)
SELECT k, 101, 1 FROM unnest(ARRAY[601, 602, 603, 604, 605]) k;
UPDATE bulkorder.subscriptions SET next_ship_date = 'infinity', next_delivery_date = NULL
WHERE course_order_no = 602;
UPDATE bulkorder.subscriptions SET next_ship_date = '2020-01-01', next_delivery_date = 'infinity'
WHERE course_order_no = 603;
CREATE FUNCTION public.regress_refuse_604() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.course_order_no = 604 THEN
        RAISE EXCEPTION 'the warehouse refuses master 604';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER regress_refuse_604 BEFORE INSERT ON bulkorder.orders
    FOR EACH ROW EXECUTE FUNCTION public.regress_refuse_604();
SELECT * FROM bulkorder.generate_subscription_orders(current_date + 30);
SELECT s.course_order_no, s.autogen_error, s.autogen_error_reason,
       (SELECT count(*) FROM bulkorder.orders o WHERE o.course_order_no = s.course_order_no
          AND o.scheduled_ship_date >= current_date) AS new_orders,
       CASE WHEN isfinite(s.next_ship_date) THEN (s.next_ship_date > current_date)::text
            ELSE s.next_ship_date::text END AS advanced
FROM bulkorder.subscriptions s WHERE s.course_order_no BETWEEN 601 AND 605 ORDER BY 1;
SELECT regexp_replace(message, '\(.*発送分まで\)', '(…)') AS message
FROM bulkorder.notifications WHERE job_id IS NULL ORDER BY notification_id DESC LIMIT 1;
-- a second run: the flagged masters wait for clear_autogen_error, the sound
-- ones are not due again
SELECT * FROM bulkorder.generate_subscription_orders(current_date + 30);
DROP TRIGGER regress_refuse_604 ON bulkorder.orders;
DROP FUNCTION public.regress_refuse_604();
-- a transient error is not the master's fault: the run fails, nothing flagged
BEGIN;
UPDATE bulkorder.subscriptions SET autogen_error = false, autogen_error_reason = NULL
WHERE course_order_no = 604;
CREATE FUNCTION public.regress_timeout() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'canceling statement due to lock timeout' USING ERRCODE = 'lock_not_available';
END
$$;
CREATE TRIGGER regress_timeout BEFORE INSERT ON bulkorder.orders
    FOR EACH ROW EXECUTE FUNCTION public.regress_timeout();
SELECT * FROM bulkorder.generate_subscription_orders(current_date + 30);
ROLLBACK;
\set VERBOSITY default

-- the shop's tables outlive DROP EXTENSION: dropping the schema leaves nothing
SET client_min_messages = warning;
DROP SCHEMA bulkorder CASCADE;
RESET client_min_messages;
DROP OWNED BY regress_bulk_cron, regress_bulk_op2;
DROP ROLE regress_bulk_cron, regress_bulk_op2;
