-- cancel without the key-order lock (the bench's baseline (a) before issue
-- 25): one UPDATE … = ANY, its history rows in the same statement.  Not a
-- floor: two such statements over the same rows can deadlock.
WITH changed AS (
    UPDATE bulkorder.orders o SET status = 'cancelled'
    WHERE @SHOP(o,orders)@ o.order_no = ANY (@KEYS@) AND o.status = 'awaiting_shipment' AND o.deleted_at IS NULL
    RETURNING o.order_no)
INSERT INTO bench.history_a (job_id, target, ok, before, after)
SELECT @JOB@, order_no, true, jsonb_build_object('status', 'awaiting_shipment'),
       jsonb_build_object('status', 'cancelled')
FROM changed;
