-- Customers page (顧客管理 > 顧客一覧), SPEC §3.  The seed only says customer
-- information can be bulk-updated; these are the updates shop operators
-- expect.  remarks (備考欄) is declared with the other text fields in
-- 00_common.sql.

-- ブラックリスト: blacklist / candidate (ブラックリスト候補) / remove.
-- Blacklisting is what the shop then uses to stop that customer's
-- shipments, so blacklisting a customer also puts the customer's
-- awaiting_shipment orders on shipping_hold, in the same statement: an
-- operator who blacklists a fraudulent customer expects the parcels not to
-- leave.  Only `blacklist` holds: `candidate` is "under review" and holds
-- nothing, and `remove` releases nothing (a hold may have other reasons; the
-- orders page's shipping_hold releases it).  Orders already `shipping` are
-- in the warehouse's hands and are not touched (hold them on the orders page
-- if needed); deleted orders are not touched.  The orders this job put on
-- hold are recorded in the customer's item: after.held_orders, their order
-- numbers in key order (absent when none).  The hold is a data-modifying CTE
-- of the operation's own apply_sql rather than an effects[] entry because
-- only the apply step can add to the item's after image.
INSERT INTO bulkorder_catalog.operations
    (page, operation, name_ja, name_en, params, changed_columns, apply_sql, lock_sql, wrapper)
VALUES
    ('customers', 'blacklist', 'ブラックリスト', 'blacklist',
     '{"action": {"type": "text", "enum": ["blacklist", "candidate", "remove"], "position": 1}}',
     '{blacklist_status}',
     $$listed AS (
         UPDATE bulkorder.customers AS t
            SET blacklist_status = CASE prm.p->>'action' WHEN 'blacklist' THEN 'blacklisted'
                                                         WHEN 'candidate' THEN 'candidate'
                                                         ELSE 'none' END
           FROM eligible e, prm
          WHERE t.customer_id = e.target
      RETURNING t.customer_id AS target, t.blacklist_status),
       held AS (
         UPDATE bulkorder.orders AS o
            SET shipping_hold = true
           FROM listed l, prm
          WHERE prm.p->>'action' = 'blacklist'
            AND o.customer_id = l.target
            AND o.status = 'awaiting_shipment'
            AND o.deleted_at IS NULL
            AND NOT o.shipping_hold
      RETURNING o.customer_id, o.order_no),
       applied AS (
         SELECT l.target,
                jsonb_build_object('blacklist_status', l.blacklist_status)
                || CASE WHEN h.orders IS NULL THEN '{}'::jsonb
                        ELSE jsonb_build_object('held_orders', h.orders) END AS after
           FROM listed l
           LEFT JOIN (SELECT customer_id, jsonb_agg(order_no ORDER BY order_no) AS orders
                        FROM held GROUP BY customer_id) h ON h.customer_id = l.target)$$,
     -- the orders the hold will update, in their key order
     $$SELECT 1 FROM bulkorder.orders o
        WHERE $2->>'action' = 'blacklist'
          AND o.customer_id = ANY ($1)
          AND o.status = 'awaiting_shipment'
          AND o.deleted_at IS NULL
        ORDER BY o.order_no
          FOR NO KEY UPDATE OF o$$,
     'bulk_customer_blacklist');

-- タグ設定: the orders page's tags declaration, reused as it is (the same
-- parameters, bulkorder.merge_tags and the same whole-job checks).
INSERT INTO bulkorder_catalog.operations
    (page, operation, name_ja, name_en, params, changed_columns, set_clause, wrapper)
SELECT 'customers', o.operation, o.name_ja, o.name_en, o.params, o.changed_columns, o.set_clause,
       'bulk_customer_tags'
FROM bulkorder_catalog.operations o
WHERE o.page = 'orders' AND o.operation = 'tags';

INSERT INTO bulkorder_catalog.operation_param_checks
    (page, operation, position, condition, sqlstate, message, hint)
SELECT 'customers', c.operation, c.position, c.condition, c.sqlstate, c.message, c.hint
FROM bulkorder_catalog.operation_param_checks c
WHERE c.page = 'orders' AND c.operation = 'tags';

INSERT INTO bulkorder_catalog.operation_rules
    (page, operation, position, error_code, condition, message_ja, message_en)
SELECT 'customers', r.operation, r.position, r.error_code, r.condition, r.message_ja, r.message_en
FROM bulkorder_catalog.operation_rules r
WHERE r.page = 'orders' AND r.operation = 'tags';

-- メルマガ購読, 会員ランク and ポイント.
--   rank: a code of bulkorder.customer_ranks, or null to clear the rank
--         (a customer without a rank is valid data); anything else rejects
--         the call.
--   points: a non-zero delta; a customer whose balance would go below zero
--         fails (insufficient_points) and keeps the balance, as does one
--         whose balance would pass the integer maximum (points_overflow).
INSERT INTO bulkorder_catalog.operations
    (page, operation, name_ja, name_en, params, changed_columns, set_clause, wrapper)
VALUES
    ('customers', 'mail_opt_in', 'メルマガ購読', 'newsletter opt-in',
     '{"opt_in": {"type": "boolean", "position": 1}}', '{mail_opt_in}',
     $$mail_opt_in = (p->>'opt_in')::boolean$$,
     'bulk_customer_mail_opt_in'),
    ('customers', 'rank', '会員ランク', 'customer rank',
     '{"rank": {"type": "text", "nullable": true, "position": 1}}', '{rank}',
     $$rank = p->>'rank'$$,
     'bulk_customer_rank'),
    ('customers', 'points', 'ポイント', 'points',
     '{"delta": {"type": "integer", "position": 1}}', '{points}',
     $$points = t.points + (p->>'delta')::integer$$,
     'bulk_customer_points');

INSERT INTO bulkorder_catalog.operation_rules
    (page, operation, position, error_code, condition, message_ja, message_en)
VALUES
    ('customers', 'points', 1, 'insufficient_points',
     $$t.points::bigint + (p->>'delta')::bigint >= 0$$,
     'ポイント残高が不足するため減算できません',
     'the point balance would go below zero'),
    ('customers', 'points', 2, 'points_overflow',
     $$t.points::bigint + (p->>'delta')::bigint <= 2147483647$$,
     'ポイント残高が上限を超えるため加算できません',
     'the point balance would exceed its maximum');

INSERT INTO bulkorder_catalog.operation_param_checks
    (page, operation, position, condition, sqlstate, message, hint)
VALUES
    ('customers', 'rank', 1,
     $$p->>'rank' IS NULL OR EXISTS (SELECT 1 FROM bulkorder.customer_ranks r WHERE r.code = p->>'rank')$$,
     '22023', 'unknown customer rank',
     'The ranks are the codes of bulkorder.customer_ranks; null clears the rank.'),
    ('customers', 'points', 1,
     $$(p->>'delta')::integer <> 0$$, '22023',
     'params.delta is zero', 'Give a positive delta to add points or a negative one to take them.');
