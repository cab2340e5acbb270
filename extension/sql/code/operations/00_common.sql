-- Declarations shared by several pages.

-- Every install and every upgrade declares the shipped operations anew
-- (their rules and checks go with them, ON DELETE CASCADE).
DELETE FROM bulkorder_catalog.operations;

-- The free-text fields (お客様からの通信欄 / お客様への返信 / 備考欄 /
-- 連携用補足テキスト): append on a new line or overwrite, 4000 characters at
-- most, the same on every page that has them.
INSERT INTO bulkorder_catalog.operations
    (page, operation, name_ja, name_en, params, changed_columns, set_clause, wrapper)
SELECT f.page, f.col, f.name_ja, f.name_en,
       '{"text": {"type": "text", "max_length": 4000, "position": 1},
         "mode": {"type": "text", "enum": ["append", "overwrite"], "position": 2}}',
       ARRAY[f.col],
       format('%1$I = bulkorder.edit_text(t.%1$I, p->>''text'', p->>''mode'')', f.col),
       f.wrapper
FROM (VALUES
    ('orders', 'customer_message', 'お客様からの通信欄', 'message from the customer', 'bulk_customer_message'),
    ('orders', 'reply_message', 'お客様への返信', 'reply to the customer', 'bulk_reply_message'),
    ('orders', 'remarks', '備考欄', 'remarks', 'bulk_remarks'),
    ('orders', 'integration_text', '連携用補足テキスト', 'integration text', 'bulk_integration_text'),
    ('subscriptions', 'customer_message', 'お客様からの通信欄', 'message from the customer', 'bulk_subscription_customer_message'),
    ('subscriptions', 'reply_message', 'お客様への返信', 'reply to the customer', 'bulk_subscription_reply_message'),
    ('subscriptions', 'remarks', '備考欄', 'remarks', 'bulk_subscription_remarks'),
    ('subscriptions', 'integration_text', '連携用補足テキスト', 'integration text', 'bulk_subscription_integration_text'),
    ('customers', 'remarks', '備考欄', 'remarks', 'bulk_customer_remarks')
) AS f(page, col, name_ja, name_en, wrapper);

INSERT INTO bulkorder_catalog.operation_rules
    (page, operation, position, error_code, condition, message_ja, message_en)
SELECT o.page, o.operation, 1, 'text_too_long',
       format('length(bulkorder.edit_text(t.%1$I, p->>''text'', p->>''mode'')) <= 4000', o.operation),
       '追記すると4000文字を超えるため更新できません',
       'the text would exceed 4000 characters'
FROM bulkorder_catalog.operations o
WHERE o.set_clause LIKE '% = bulkorder.edit_text(%';

-- 配送方法 (orders and shipments pages, SPEC §3: "as for orders"): method
-- and time slot of an awaiting order (NULL slot = 指定なし); the
-- subscription master is not touched.  One declaration for both pages.
INSERT INTO bulkorder_catalog.operations
    (page, operation, name_ja, name_en, params, changed_columns, set_clause, wrapper)
SELECT d.page, 'delivery_method', '配送方法', 'delivery method',
       '{"delivery_method": {"type": "text", "position": 1},
         "time_slot": {"type": "text", "nullable": true, "position": 2}}',
       '{delivery_method,delivery_time_slot}',
       $$delivery_method = p->>'delivery_method', delivery_time_slot = p->>'time_slot'$$,
       d.wrapper
FROM (VALUES
    ('orders', 'bulk_delivery_method'),
    ('shipments', 'bulk_shipment_delivery_method')
) AS d(page, wrapper);

INSERT INTO bulkorder_catalog.operation_rules
    (page, operation, position, error_code, condition, message_ja, message_en)
SELECT o.page, o.operation, 1, 'not_awaiting_shipment', $$t.status = 'awaiting_shipment'$$,
       '出荷待ちの注文ではないため配送方法を変更できません',
       'only orders awaiting shipment can have their delivery method changed'
FROM bulkorder_catalog.operations o
WHERE o.operation = 'delivery_method' AND o.page IN ('orders', 'shipments');

INSERT INTO bulkorder_catalog.operation_param_checks
    (page, operation, position, condition, sqlstate, message, hint)
SELECT o.page, o.operation, c.position, c.condition, '22023', c.message, c.hint
FROM bulkorder_catalog.operations o,
     (VALUES
        (1, $$EXISTS (SELECT 1 FROM bulkorder.delivery_methods m WHERE m.code = p->>'delivery_method')$$,
         'unknown delivery method', 'The delivery methods are the codes of bulkorder.delivery_methods.'),
        (2, $$p->>'time_slot' IS NULL
              OR EXISTS (SELECT 1 FROM bulkorder.delivery_time_slots s
                         WHERE s.delivery_method = p->>'delivery_method' AND s.code = p->>'time_slot')$$,
         'the time slot does not belong to the delivery method',
         'Pick a slot of bulkorder.delivery_time_slots for that method, or null (指定なし).')
     ) AS c(position, condition, message, hint)
WHERE o.operation = 'delivery_method' AND o.page IN ('orders', 'shipments');
