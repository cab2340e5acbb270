-- Benchmark set-up (bench/run.sh): the keys and the set-based baselines
-- written by hand, in schema bench of the benchmark database, next to the
-- demo orders loaded by tools/demo-data.sql.
\set ON_ERROR_STOP on
CREATE SCHEMA bench;

-- :keys scattered keys: awaiting-shipment orders picked by a hash (the
-- same keys on every run), passed in that scattered order.  Cancel, the
-- shipment import and the preview use them; the runs that change them are
-- reset (untimed) between runs.
CREATE TABLE bench.keys AS
SELECT array_agg(order_no ORDER BY h) AS keys, count(*) AS n
FROM (SELECT order_no, hashint8(order_no * 7919) AS h
      FROM bulkorder.orders
      WHERE status = 'awaiting_shipment' AND deleted_at IS NULL
      ORDER BY h LIMIT :keys) k;

-- The tags job's targets: the first :tag_targets order numbers (all the
-- orders, deleted ones included, for a million), in order.
CREATE TABLE bench.tag_keys AS
SELECT array_agg(order_no ORDER BY order_no) AS keys, count(*) AS n
FROM (SELECT order_no FROM bulkorder.orders ORDER BY order_no LIMIT :tag_targets) o;

-- What the shipment import changes, as it was before the first import: the
-- untimed reset between runs puts it back.
CREATE TABLE bench.import_orig AS
SELECT order_no, status, ship_report_status, tracking_no, ship_mail_sent
FROM bulkorder.orders WHERE order_no IN (SELECT unnest(keys) FROM bench.keys);  -- a hash join: = ANY of a
-- sub-select's array is a linear search per row, and with the shop leading
-- the key (issue 21) no index has order_no first
ALTER TABLE bench.import_orig ADD PRIMARY KEY (order_no);

-- The shop the bench runs on, when the shop's tables have a shop column
-- (issue 21): its id, and the tables of schema bulkorder that have one.
-- bench/lib.sh's floor_sql confines a floor to it (@SHOP(alias,table)@ in
-- bench/floors/*.sql), as a DBA would write it for a table whose keys lead
-- with the shop; without a shop column both are empty and the floors are
-- unchanged.
CREATE TABLE bench.shop AS
SELECT (SELECT string_agg(c.relname, ' ' ORDER BY c.relname)
        FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
        WHERE c.relnamespace = 'bulkorder'::regnamespace AND c.relkind IN ('r', 'p')
          AND a.attname = 'shop_id' AND NOT a.attisdropped) AS tables;
ALTER TABLE bench.shop ADD COLUMN shop_id bigint;
DO $$
BEGIN
    IF (SELECT tables FROM bench.shop) IS NOT NULL THEN
        EXECUTE 'UPDATE bench.shop SET shop_id = (SELECT min(shop_id) FROM bulkorder.orders)';
    END IF;
END
$$;

-- History tables of the hand-written contenders, one each, shaped like
-- bulkorder.bulk_job_items (the same columns, primary key (job_id, target)
-- and check; with the shop's id leading the key when bulk_job_items has a
-- shop column, as a constant default), written out rather than copied with
-- LIKE, so that a column the shop's tables gain never puts a call of the
-- product's functions into a floor.  They grow across runs as
-- bulk_job_items does.
DO $$
DECLARE
    shop text := CASE WHEN ' ' || (SELECT tables FROM bench.shop) || ' ' LIKE '% bulk_job_items %'
                      THEN (SELECT shop_id FROM bench.shop)::text END;
BEGIN
    EXECUTE format('CREATE TABLE bench.floor_cancel (%s job_id bigint NOT NULL, target bigint NOT NULL,'
                   ' ok boolean NOT NULL, error_code text, message text, before jsonb, after jsonb,'
                   ' PRIMARY KEY (%s job_id, target), CHECK (ok = (error_code IS NULL)))',
                   CASE WHEN shop IS NOT NULL THEN format('shop_id bigint NOT NULL DEFAULT %s,', shop) ELSE '' END,
                   CASE WHEN shop IS NOT NULL THEN 'shop_id,' ELSE '' END);
END
$$;
CREATE TABLE bench.floor_tags (LIKE bench.floor_cancel INCLUDING ALL);    -- floors/tags.sql
CREATE TABLE bench.floor_import (LIKE bench.floor_cancel INCLUDING ALL);  -- floors/import.sql
CREATE TABLE bench.history_a (LIKE bench.floor_cancel INCLUDING ALL);     -- floors/cancel_nolock.sql
CREATE TABLE bench.history_b (LIKE bench.floor_cancel INCLUDING ALL);     -- cancel, PL/pgSQL loop

-- The set-based import's and upload's staging tables (COPY targets).
CREATE TABLE bench.ship_stage (order_no text, tracking_no text);
CREATE TABLE bench.csv_stage (a text, b text);
CREATE TABLE bench.csv_resolved (key bigint, found boolean);

-- (b) A PL/pgSQL loop doing the cancel row by row, in key order (the order
-- that never deadlocks): lock, check, update, record.  Its statements name
-- the shop where the orders have one (the key leads with it, issue 21), as
-- a DBA would write them: static SQL, the shop a constant.
SELECT CASE WHEN shop_id IS NOT NULL THEN format('o.shop_id = %s AND ', shop_id) ELSE '' END AS shop_and
FROM bench.shop \gset
SELECT format($f$
CREATE FUNCTION bench.cancel_b(keys bigint[], job bigint) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    k bigint;
    st text;
    done bigint := 0;
BEGIN
    FOR k IN SELECT DISTINCT u FROM unnest(keys) AS u ORDER BY u LOOP
        SELECT o.status INTO st FROM bulkorder.orders o
        WHERE %1$s o.order_no = k AND o.deleted_at IS NULL
        FOR UPDATE;
        IF NOT FOUND THEN
            INSERT INTO bench.history_b (job_id, target, ok, error_code)
            VALUES (job, k, false, 'not_found');
        ELSIF st <> 'awaiting_shipment' THEN
            INSERT INTO bench.history_b (job_id, target, ok, error_code, before)
            VALUES (job, k, false, 'not_awaiting_shipment', jsonb_build_object('status', st));
        ELSE
            UPDATE bulkorder.orders o SET status = 'cancelled' WHERE %1$s o.order_no = k;
            INSERT INTO bench.history_b (job_id, target, ok, before, after)
            VALUES (job, k, true, jsonb_build_object('status', st),
                    jsonb_build_object('status', 'cancelled'));
            done := done + 1;
        END IF;
    END LOOP;
    RETURN done;
END
$$$f$, :'shop_and') \gexec

-- Wait for an asynchronous job to end (each loop takes a new snapshot).
CREATE FUNCTION bench.wait_job(job bigint) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    st text;
BEGIN
    LOOP
        SELECT status INTO st FROM bulkorder.bulk_jobs WHERE job_id = job;
        EXIT WHEN st NOT IN ('queued', 'running');
        PERFORM pg_sleep(0.02);
    END LOOP;
    IF st <> 'done' THEN
        RAISE EXCEPTION 'job % ended %', job, st;
    END IF;
    RETURN (SELECT success_count FROM bulkorder.bulk_jobs WHERE job_id = job);
END
$$;

CREATE TABLE bench.results (path text, round integer, cluster text, contender text, ms numeric, cpu_ms numeric, changed bigint);
CREATE TABLE bench.memory (what text, lines bigint, file_bytes bigint, before_kb bigint, peak_kb bigint, seconds numeric);
