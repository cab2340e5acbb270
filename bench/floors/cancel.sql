-- cancel floor: lock the awaiting targets in key order, then one UPDATE,
-- the history rows written in the same statement (/work/shared/PERF-NOTES.md).
-- @KEYS@ bigint[] of targets, @JOB@ the history job id.
WITH old AS (
    SELECT o.order_no, o.status
    FROM bulkorder.orders o
    WHERE @SHOP(o,orders)@ o.order_no = ANY (@KEYS@) AND o.status = 'awaiting_shipment' AND o.deleted_at IS NULL
    ORDER BY o.order_no
    FOR UPDATE),
upd AS (
    UPDATE bulkorder.orders o SET status = 'cancelled'
    FROM old
    WHERE @SHOP(o,orders)@ o.order_no = old.order_no
    RETURNING o.order_no, old.status AS old_status, o.status)
INSERT INTO bench.floor_cancel (job_id, target, ok, before, after)
SELECT @JOB@, order_no, true, jsonb_build_object('status', old_status), jsonb_build_object('status', status)
FROM upd;
