-- Declarations shared by several pages.

-- The free-text fields (お客様からの通信欄 / お客様への返信 / 備考欄 /
-- 連携用補足テキスト): append on a new line or overwrite, 4000 characters at
-- most, the same on every page that has them.
INSERT INTO bulkorder.operations
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

INSERT INTO bulkorder.operation_rules
    (page, operation, position, error_code, condition, message_ja, message_en)
SELECT o.page, o.operation, 1, 'text_too_long',
       format('length(bulkorder.edit_text(t.%1$I, p->>''text'', p->>''mode'')) <= 4000', o.operation),
       '追記すると4000文字を超えるため更新できません',
       'the text would exceed 4000 characters'
FROM bulkorder.operations o
WHERE o.set_clause LIKE '% = bulkorder.edit_text(%';
