-- the key-order lock alone (a part of the floors, for the breakdown):
-- every target's row locked FOR NO KEY UPDATE in key order.
SELECT count(*)
FROM (SELECT 1 FROM bulkorder.orders o
      WHERE @SHOP(o,orders)@ o.order_no = ANY (@KEYS@) AND o.deleted_at IS NULL
      ORDER BY o.order_no
      FOR NO KEY UPDATE) AS locked;
