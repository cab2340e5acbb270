-- Orders page (受注管理 > 注文一覧), SPEC §3.

INSERT INTO bulkorder.operations
    (page, operation, name_ja, name_en, params, changed_columns, set_clause, effects, wrapper)
VALUES
    ('orders', 'cancel', 'キャンセル', 'cancel',
     '{"void_payment": {"type": "boolean"}}', '{status}',
     $$status = 'cancelled'$$,
     '{}',
     'bulk_cancel'),
    ('orders', 'return', '返品', 'return',
     '{"void_payment": {"type": "boolean"}}', '{status}',
     $$status = 'returned'$$,
     '{}',
     'bulk_return'),
    ('orders', 'delete', '削除', 'delete',
     '{"void_payment": {"type": "boolean"}}', '{deleted_at}',
     $$deleted_at = now()$$,
     '{}',
     'bulk_delete'),
    ('orders', 'shipping_hold', '出荷停止', 'shipping hold',
     '{"hold": {"type": "boolean"}}', '{shipping_hold}',
     $$shipping_hold = (p->>'hold')::boolean$$, '{}',
     'bulk_shipping_hold'),
    ('orders', 'tags', 'タグ設定', 'tags',
     '{"add": {"type": "text[]", "default": [], "max_length": 50, "position": 1},
       "remove": {"type": "text[]", "default": [], "max_length": 50, "position": 2}}', '{tags}',
     $$tags = bulkorder.merge_tags(t.tags,
                                   ARRAY(SELECT jsonb_array_elements_text(p->'add')),
                                   ARRAY(SELECT jsonb_array_elements_text(p->'remove')))$$, '{}',
     'bulk_tags');

INSERT INTO bulkorder.operation_rules
    (page, operation, position, error_code, condition, message_ja, message_en)
VALUES
    ('orders', 'cancel', 1, 'not_awaiting_shipment', $$t.status = 'awaiting_shipment'$$,
     '出荷待ちの注文ではないためキャンセルできません',
     'only orders awaiting shipment can be cancelled'),
    ('orders', 'return', 1, 'not_shipped', $$t.status = 'shipped'$$,
     '出荷済みの注文ではないため返品できません',
     'only shipped orders can be returned'),
    ('orders', 'delete', 1, 'order_shipping', $$t.status <> 'shipping'$$,
     '出荷作業中の注文は削除できません',
     'an order being shipped cannot be deleted'),
    ('orders', 'shipping_hold', 1, 'not_holdable',
     $$NOT (p->>'hold')::boolean OR t.status IN ('awaiting_shipment', 'shipping')$$,
     '出荷待ち・出荷作業中の注文のみ出荷停止にできます',
     'only orders awaiting shipment or being shipped can be held');

INSERT INTO bulkorder.operation_param_checks
    (page, operation, position, condition, sqlstate, message, hint)
VALUES
    ('orders', 'tags', 1,
     $$jsonb_array_length(p->'add') + jsonb_array_length(p->'remove') > 0$$, '22023',
     'params.add and params.remove are both empty', 'Name at least one tag to add or remove.'),
    ('orders', 'tags', 2,
     $$NOT EXISTS (SELECT 1 FROM jsonb_array_elements_text(p->'add') a(tag)
                   WHERE a.tag = '' OR p->'remove' ? a.tag)$$, '22023',
     'a tag is empty or both added and removed', 'Each tag must be non-empty and named in add or remove, not both.');

-- キャンセル/返品/削除 may also cancel the payment (seed ③): a void request
-- for every changed order whose method has a gateway.
UPDATE bulkorder.operations
SET effects = ARRAY[$$INSERT INTO bulkorder.payment_requests (order_no, payment_method, kind, job_id)
        SELECT a.target, o.payment_method, 'void', $3
        FROM applied a
        JOIN bulkorder.orders o ON o.order_no = a.target
        JOIN bulkorder.payment_methods pm ON pm.code = o.payment_method AND pm.has_gateway
        WHERE (SELECT (p->>'void_payment')::boolean FROM prm)$$]
WHERE page = 'orders' AND operation IN ('cancel', 'return', 'delete');
