-- preview floor: the cancel's check of every target as one SELECT, in key
-- order, with the message of each failure.  @KEYS@ bigint[] of targets.
SELECT count(*) FILTER (WHERE ok) FROM (
    SELECT c.target, c.error_code IS NULL AS ok, c.error_code, m.message
    FROM (SELECT i.target,
                 CASE WHEN t.order_no IS NULL THEN 'not_found'
                      WHEN NOT coalesce(t.status = 'awaiting_shipment', false) THEN 'not_awaiting_shipment'
                 END AS error_code
          FROM unnest(@KEYS@) AS i(target)
          LEFT JOIN bulkorder.orders t ON @SHOP(t,orders)@ t.order_no = i.target AND t.deleted_at IS NULL) c
    LEFT JOIN (VALUES ('not_found', '対象が見つかりません(存在しないか削除済みです)'),
                      ('not_awaiting_shipment', '出荷待ちの注文ではないためキャンセルできません')) AS m(code, message)
      ON m.code = c.error_code
    ORDER BY c.target) x;
