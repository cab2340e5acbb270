-- The shipped operations: one bulkorder.define_operation call each, in the
-- file of its page.  This file holds what several calls share.

-- Every install and every upgrade declares the shipped operations anew
-- (their rules and checks go with them, ON DELETE CASCADE).  A shop's own
-- operations (shipped = false) are never touched: define_operation keeps a
-- shop's declaration of a shipped code (README, "Adding an operation").
DELETE FROM bulkorder_catalog.operations WHERE shipped;

-- The free-text fields (お客様からの通信欄 / お客様への返信 / 備考欄 /
-- 連携用補足テキスト) of the orders, subscriptions and customers pages:
-- append on a new line or overwrite, 4000 characters at most, the same on
-- every page that has them.
CREATE OR REPLACE FUNCTION bulkorder_catalog.text_field_params()
RETURNS jsonb
LANGUAGE sql IMMUTABLE
AS $fn$
    SELECT '{"text": {"type": "text", "max_length": 4000, "position": 1},
             "mode": {"type": "text", "enum": ["append", "overwrite"], "position": 2}}'::jsonb
$fn$;

CREATE OR REPLACE FUNCTION bulkorder_catalog.text_field_set(field text)
RETURNS text
LANGUAGE sql IMMUTABLE
AS $fn$
    SELECT pg_catalog.format('%1$I = bulkorder.edit_text(t.%1$I, p->>''text'', p->>''mode'')', field)
$fn$;

CREATE OR REPLACE FUNCTION bulkorder_catalog.text_field_rules(field text)
RETURNS jsonb
LANGUAGE sql IMMUTABLE
AS $fn$
    SELECT pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
        'code', 'text_too_long',
        'condition', pg_catalog.format('length(bulkorder.edit_text(t.%1$I, p->>''text'', p->>''mode'')) <= 4000', field),
        'message_ja', '追記すると4000文字を超えるため更新できません',
        'message_en', 'the text would exceed 4000 characters'))
$fn$;

-- キャンセル/返品/削除 may also cancel the payment (the seed's step ③,
-- "also cancel the payment"): a void request for every changed order whose
-- method has a gateway.
CREATE OR REPLACE FUNCTION bulkorder_catalog.void_payment_effect()
RETURNS text
LANGUAGE sql IMMUTABLE
AS $fn$
    SELECT $$INSERT INTO bulkorder.payment_requests (order_no, payment_method, kind, job_id)
        SELECT a.target, o.payment_method, 'void', $3
        FROM applied a
        JOIN bulkorder.orders o ON o.order_no = a.target
        JOIN bulkorder.payment_methods pm ON pm.code = o.payment_method AND pm.has_gateway
        WHERE (SELECT (p->>'void_payment')::boolean FROM prm)$$
$fn$;

-- The first rule of every subscriptions-page operation but the free-text
-- ones: an ended master's course is never changed (dates, method,
-- frequency, products, status, generation error).  Its free-text fields
-- stay open ("any" in the README's table): operators note on an ended
-- course why it ended.
CREATE OR REPLACE FUNCTION bulkorder_catalog.subscription_ended_rule()
RETURNS jsonb
LANGUAGE sql IMMUTABLE
AS $fn$
    SELECT pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
        'code', 'subscription_ended',
        'condition', $$t.status <> 'ended'$$,
        'message_ja', '終了した定期注文マスターは変更できません',
        'message_en', 'an ended subscription master cannot be changed'))
$fn$;

REVOKE ALL ON FUNCTION bulkorder_catalog.text_field_params(), bulkorder_catalog.text_field_set(text),
                       bulkorder_catalog.text_field_rules(text), bulkorder_catalog.void_payment_effect(),
                       bulkorder_catalog.subscription_ended_rule()
    FROM PUBLIC;
