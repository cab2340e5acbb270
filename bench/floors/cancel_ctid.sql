-- cancel floor with the engine's way to the row (for the breakdown of
-- bench/profile.sh and bench/PROFILE.md; not a floor of the table): the
-- UPDATE takes each locked row by its ctid (a Tid Scan rescanned per row)
-- instead of probing the key's index again.
-- @KEYS@ bigint[] of targets, @JOB@ the history job id.
WITH old AS (
    SELECT o.ctid AS tid, o.order_no, o.status
    FROM bulkorder.orders o
    WHERE @SHOP(o,orders)@ o.order_no = ANY (@KEYS@) AND o.status = 'awaiting_shipment' AND o.deleted_at IS NULL
    ORDER BY o.order_no
    FOR UPDATE),
upd AS (
    UPDATE bulkorder.orders o SET status = 'cancelled'
    FROM old
    WHERE o.ctid = old.tid AND o.order_no = old.order_no
    RETURNING o.order_no, old.status AS old_status, o.status)
INSERT INTO bench.floor_cancel (job_id, target, ok, before, after)
SELECT @JOB@, order_no, true, jsonb_build_object('status', old_status), jsonb_build_object('status', status)
FROM upd;
