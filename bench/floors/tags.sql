-- tags floor: lock in key order FOR NO KEY UPDATE, then one UPDATE with
-- an inline expression (add @TAG@ unless it is there), the history rows,
-- before image from the locked row, written in the same statement.
-- @KEYS@ bigint[] of targets, @TAG@ a text literal, @JOB@ the history job id.
WITH locked AS (
    SELECT o.order_no, o.tags
    FROM bulkorder.orders o
    WHERE @SHOP(o,orders)@ o.order_no = ANY (@KEYS@) AND o.deleted_at IS NULL
    ORDER BY o.order_no
    FOR NO KEY UPDATE),
changed AS (
    UPDATE bulkorder.orders o
    SET tags = CASE WHEN @TAG@ = ANY (l.tags) THEN l.tags ELSE l.tags || @TAG@ END
    FROM locked l
    WHERE @SHOP(o,orders)@ o.order_no = l.order_no
    RETURNING o.order_no, l.tags AS old_tags, o.tags)
INSERT INTO bench.floor_tags (job_id, target, ok, before, after)
SELECT @JOB@, order_no, true, jsonb_build_object('tags', old_tags), jsonb_build_object('tags', tags)
FROM changed;
