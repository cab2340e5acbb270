-- Benchmark set-up (bench/run.sh): the keys and the two contenders written by
-- hand, in schema bench of the benchmark database, next to 1,000,000 demo
-- orders loaded by tools/demo-data.sql.
\set ON_ERROR_STOP on
CREATE SCHEMA bench;

-- 100,000 scattered keys: awaiting-shipment orders picked by a hash (the
-- same keys on every run), passed in that scattered order.
CREATE TABLE bench.keys AS
SELECT array_agg(order_no ORDER BY h) AS keys, count(*) AS n
FROM (SELECT order_no, hashint8(order_no * 7919) AS h
      FROM bulkorder.orders
      WHERE status = 'awaiting_shipment' AND deleted_at IS NULL
      ORDER BY h LIMIT :keys) k;

-- History tables shaped like bulkorder.bulk_job_items (same columns,
-- primary key and checks), one per hand-written contender.
CREATE TABLE bench.history_a (LIKE bulkorder.bulk_job_items INCLUDING ALL);
CREATE TABLE bench.history_b (LIKE bulkorder.bulk_job_items INCLUDING ALL);

-- (b) A PL/pgSQL loop doing the same row by row, in key order (the order
-- that never deadlocks): lock, check, update, record.
CREATE FUNCTION bench.cancel_b(keys bigint[], job bigint) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    k bigint;
    st text;
    done bigint := 0;
BEGIN
    FOR k IN SELECT DISTINCT u FROM unnest(keys) AS u ORDER BY u LOOP
        SELECT o.status INTO st FROM bulkorder.orders o
        WHERE o.order_no = k AND o.deleted_at IS NULL
        FOR UPDATE;
        IF NOT FOUND THEN
            INSERT INTO bench.history_b (job_id, target, ok, error_code)
            VALUES (job, k, false, 'not_found');
        ELSIF st <> 'awaiting_shipment' THEN
            INSERT INTO bench.history_b (job_id, target, ok, error_code, before)
            VALUES (job, k, false, 'not_awaiting_shipment', jsonb_build_object('status', st));
        ELSE
            UPDATE bulkorder.orders SET status = 'cancelled' WHERE order_no = k;
            INSERT INTO bench.history_b (job_id, target, ok, before, after)
            VALUES (job, k, true, jsonb_build_object('status', st),
                    jsonb_build_object('status', 'cancelled'));
            done := done + 1;
        END IF;
    END LOOP;
    RETURN done;
END
$$;

CREATE TABLE bench.results (round integer, contender text, ms numeric, changed bigint);
