-- The shipped operations: one bulkorder.define_operation call each, in the
-- file of its page.  This file holds what several calls share.

-- Every install and every upgrade declares the shipped operations anew
-- (their rules and checks go with them, ON DELETE CASCADE).  A shop's own
-- operations (shipped = false) are never touched: define_operation keeps a
-- shop's declaration of a shipped code (docs/define_operation.md).
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
-- stay open ("any" in docs/operations.md): operators note on an ended
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

-- The whole-call checks of a change of delivery method (orders and
-- shipments delivery_method, subscriptions next_delivery_method): a known
-- method, and a time slot of that method or none.
CREATE OR REPLACE FUNCTION bulkorder_catalog.delivery_method_checks()
RETURNS jsonb
LANGUAGE sql IMMUTABLE
AS $fn$
SELECT jsonb_build_array(
        jsonb_build_object('condition', $$EXISTS (SELECT 1 FROM bulkorder.delivery_methods m WHERE m.code = p->>'delivery_method')$$,
            'message', 'unknown delivery method',
            'hint', 'The delivery methods are the codes of bulkorder.delivery_methods.',
            'hint_ja', '配送方法は bulkorder.delivery_methods のコードで指定してください。'),
        jsonb_build_object('condition', $$p->>'time_slot' IS NULL
              OR EXISTS (SELECT 1 FROM bulkorder.delivery_time_slots s
                         WHERE s.delivery_method = p->>'delivery_method' AND s.code = p->>'time_slot')$$,
            'message', 'the time slot does not belong to the delivery method',
            'hint', 'Pick a slot of bulkorder.delivery_time_slots for that method, or null (指定なし).',
            'hint_ja', 'その配送方法の時間帯 (bulkorder.delivery_time_slots) を指定するか、null (指定なし) にしてください。'))
$fn$;

-- タグ設定 of the orders and customers pages: one declaration, the same
-- parameters, bulkorder.merge_tags and whole-call checks on both.
CREATE OR REPLACE FUNCTION bulkorder_catalog.define_tags(p_page text, p_wrapper text)
RETURNS regprocedure
LANGUAGE sql VOLATILE
AS $fn$
SELECT bulkorder.define_operation(p_page, 'tags',
    name_ja => 'タグ設定', name_en => 'tags',
    wrapper => p_wrapper,
    params => '{"add": {"type": "text[]", "default": [], "max_length": 50, "position": 1},
                "remove": {"type": "text[]", "default": [], "max_length": 50, "position": 2}}',
    changed_columns => '{tags}',
    set_clause => $$tags = bulkorder.merge_tags(t.tags,
                                   ARRAY(SELECT jsonb_array_elements_text(p->'add')),
                                   ARRAY(SELECT jsonb_array_elements_text(p->'remove')))$$,
    checks => jsonb_build_array(
        jsonb_build_object('condition', $$jsonb_array_length(p->'add') + jsonb_array_length(p->'remove') > 0$$,
            'message', 'params.add and params.remove are both empty',
            'hint', 'Name at least one tag to add or remove.',
            'hint_ja', '追加または削除するタグを 1 つ以上指定してください。'),
        jsonb_build_object('condition', $$NOT EXISTS (SELECT 1 FROM jsonb_array_elements_text(p->'add') a(tag)
                   WHERE a.tag = '' OR p->'remove' ? a.tag)$$,
            'message', 'a tag is empty or both added and removed',
            'hint', 'Each tag must be non-empty and named in add or remove, not both.',
            'hint_ja', 'タグは空にせず、add と remove のどちらか一方にだけ指定してください。')))
$fn$;

-- 配送方法 of the orders and shipments pages (the shipments page's own
-- jobs): method and time slot of an awaiting order (NULL slot = 指定なし);
-- the subscription master is not touched.
CREATE OR REPLACE FUNCTION bulkorder_catalog.define_delivery_method(p_page text, p_wrapper text)
RETURNS regprocedure
LANGUAGE sql VOLATILE
AS $fn$
SELECT bulkorder.define_operation(p_page, 'delivery_method',
    name_ja => '配送方法', name_en => 'delivery method',
    wrapper => p_wrapper,
    params => '{"delivery_method": {"type": "text", "position": 1},
                "time_slot": {"type": "text", "nullable": true, "position": 2}}',
    changed_columns => '{delivery_method,delivery_time_slot}',
    set_clause => $$delivery_method = p->>'delivery_method', delivery_time_slot = p->>'time_slot'$$,
    rules => jsonb_build_array(
        jsonb_build_object('code', 'not_awaiting_shipment', 'condition', $$t.status = 'awaiting_shipment'$$,
            'message_ja', '出荷待ちの注文ではないため配送方法を変更できません',
            'message_en', 'only orders awaiting shipment can have their delivery method changed')),
    checks => bulkorder_catalog.delivery_method_checks())
$fn$;

REVOKE ALL ON FUNCTION bulkorder_catalog.text_field_params(), bulkorder_catalog.text_field_set(text),
                       bulkorder_catalog.text_field_rules(text), bulkorder_catalog.void_payment_effect(),
                       bulkorder_catalog.subscription_ended_rule(), bulkorder_catalog.delivery_method_checks(),
                       bulkorder_catalog.define_tags(text, text),
                       bulkorder_catalog.define_delivery_method(text, text)
    FROM PUBLIC;
