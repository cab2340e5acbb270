-- Orders page (受注管理 > 注文一覧): docs/operations.md.  One
-- define_operation call per operation.  Which payment methods can be
-- re-authorized, need a shipment report, or (NP後払い) are re-authorized
-- only for one exact refusal message is data: the columns reauthorizable,
-- needs_ship_report and reauth_message of payment_methods.

-- キャンセル: awaiting orders only; with void_payment, a void request
SELECT bulkorder.define_operation('orders', 'cancel',
    name_ja => 'キャンセル', name_en => 'cancel',
    wrapper => 'bulk_cancel',
    params => '{"void_payment": {"type": "boolean"}}',
    changed_columns => '{status}',
    set_clause => $$status = 'cancelled'$$,
    effects => ARRAY[bulkorder_catalog.void_payment_effect()],
    rules => jsonb_build_array(
        jsonb_build_object('code', 'not_awaiting_shipment', 'condition', $$t.status = 'awaiting_shipment'$$,
            'message_ja', '出荷待ちの注文ではないためキャンセルできません',
            'message_en', 'only orders awaiting shipment can be cancelled')));

-- 返品: shipped orders only; payment as for cancel
SELECT bulkorder.define_operation('orders', 'return',
    name_ja => '返品', name_en => 'return',
    wrapper => 'bulk_return',
    params => '{"void_payment": {"type": "boolean"}}',
    changed_columns => '{status}',
    set_clause => $$status = 'returned'$$,
    effects => ARRAY[bulkorder_catalog.void_payment_effect()],
    rules => jsonb_build_array(
        jsonb_build_object('code', 'not_shipped', 'condition', $$t.status = 'shipped'$$,
            'message_ja', '出荷済みの注文ではないため返品できません',
            'message_en', 'only shipped orders can be returned')));

-- 削除: deleted_at set (a deleted order is on no list); payment as for cancel
SELECT bulkorder.define_operation('orders', 'delete',
    name_ja => '削除', name_en => 'delete',
    wrapper => 'bulk_delete',
    params => '{"void_payment": {"type": "boolean"}}',
    changed_columns => '{deleted_at}',
    set_clause => $$deleted_at = now()$$,
    effects => ARRAY[bulkorder_catalog.void_payment_effect()],
    rules => jsonb_build_array(
        jsonb_build_object('code', 'order_shipping', 'condition', $$t.status <> 'shipping'$$,
            'message_ja', '出荷作業中の注文は削除できません',
            'message_en', 'an order being shipped cannot be deleted')),
    -- 削除: the revert sees the orders the job deleted.  An order whose
    -- course_seq a later generated order of its subscription took again
    -- (docs/operations.md, 削除) cannot come back: two orders would share one
    -- place.
    revert => jsonb_build_object(
        'visible_condition', 'true',
        'rules', jsonb_build_array(jsonb_build_object(
        'code', 'course_seq_reused',
        'condition', $$s.before->>'deleted_at' IS NOT NULL
            OR t.course_order_no IS NULL OR t.course_seq IS NULL
            OR NOT EXISTS (SELECT 1 FROM bulkorder.orders o
                           WHERE o.course_order_no = t.course_order_no AND o.course_seq = t.course_seq
                             AND o.order_no <> t.order_no AND o.deleted_at IS NULL)$$,
        'message_ja', '削除後に同じ回数の定期注文が生成されているため元に戻せません',
        'message_en', 'a later generated order of the subscription took this order''s place (course_seq)'))));

-- 出荷停止: hold an awaiting or shipping order; release any
SELECT bulkorder.define_operation('orders', 'shipping_hold',
    name_ja => '出荷停止', name_en => 'shipping hold',
    wrapper => 'bulk_shipping_hold',
    params => '{"hold": {"type": "boolean"}}',
    changed_columns => '{shipping_hold}',
    set_clause => $$shipping_hold = (p->>'hold')::boolean$$,
    rules => jsonb_build_array(
        jsonb_build_object('code', 'not_holdable',
            'condition', $$NOT (p->>'hold')::boolean OR t.status IN ('awaiting_shipment', 'shipping')$$,
            'message_ja', '出荷待ち・出荷作業中の注文のみ出荷停止にできます',
            'message_en', 'only orders awaiting shipment or being shipped can be held')));

-- タグ設定: tags added and removed, no duplicates (00_common.sql: the
-- customers page declares the same operation)
SELECT bulkorder_catalog.define_tags('orders', 'bulk_tags');

-- The free-text fields (00_common.sql)
SELECT bulkorder.define_operation('orders', 'customer_message',
    name_ja => 'お客様からの通信欄', name_en => 'message from the customer',
    wrapper => 'bulk_customer_message',
    params => bulkorder_catalog.text_field_params(),
    changed_columns => '{customer_message}',
    set_clause => bulkorder_catalog.text_field_set('customer_message'),
    rules => bulkorder_catalog.text_field_rules('customer_message'));

SELECT bulkorder.define_operation('orders', 'reply_message',
    name_ja => 'お客様への返信', name_en => 'reply to the customer',
    wrapper => 'bulk_reply_message',
    params => bulkorder_catalog.text_field_params(),
    changed_columns => '{reply_message}',
    set_clause => bulkorder_catalog.text_field_set('reply_message'),
    rules => bulkorder_catalog.text_field_rules('reply_message'));

SELECT bulkorder.define_operation('orders', 'remarks',
    name_ja => '備考欄', name_en => 'remarks',
    wrapper => 'bulk_remarks',
    params => bulkorder_catalog.text_field_params(),
    changed_columns => '{remarks}',
    set_clause => bulkorder_catalog.text_field_set('remarks'),
    rules => bulkorder_catalog.text_field_rules('remarks'));

SELECT bulkorder.define_operation('orders', 'integration_text',
    name_ja => '連携用補足テキスト', name_en => 'integration text',
    wrapper => 'bulk_integration_text',
    params => bulkorder_catalog.text_field_params(),
    changed_columns => '{integration_text}',
    set_clause => bulkorder_catalog.text_field_set('integration_text'),
    rules => bulkorder_catalog.text_field_rules('integration_text'));

-- 配送方法: method and time slot of an awaiting order (NULL slot = 指定なし);
-- the subscription master is not touched (00_common.sql: the shipments
-- page declares the same operation).
SELECT bulkorder_catalog.define_delivery_method('orders', 'bulk_delivery_method');

-- 一括再与信: auth_status → pending, and a reauthorize request
SELECT bulkorder.define_operation('orders', 'reauthorize',
    name_ja => '一括再与信', name_en => 're-authorize payment',
    wrapper => 'bulk_reauthorize',
    changed_columns => '{auth_status}',
    set_clause => $$auth_status = 'pending'$$,
    effects => ARRAY[$$INSERT INTO bulkorder.payment_requests (order_no, payment_method, kind, job_id)
        SELECT a.target, o.payment_method, 'reauthorize', $3
        FROM applied a
        JOIN bulkorder.orders o ON o.order_no = a.target$$],
    rules => jsonb_build_array(
        jsonb_build_object('code', 'auth_not_ng', 'condition', $$t.auth_status = 'ng'$$,
            'message_ja', '与信NGの注文ではないため再与信できません',
            'message_en', 'only orders whose authorization failed (ng) can be re-authorized'),
        jsonb_build_object('code', 'not_reauthorizable',
            'condition', $$EXISTS (SELECT 1 FROM bulkorder.payment_methods pm
               WHERE pm.code = t.payment_method AND pm.reauthorizable)$$,
            'message_ja', '再与信できない決済方法です(再与信できるのはNP後払い・NP後払い(リアルタイム)・GMO-PS後払い・DSK後払い・スコア後払い・サブスク後払いECO)',
            'message_en', 'the payment method cannot be re-authorized'),
        jsonb_build_object('code', 'auth_message_not_retryable',
            'condition', $$(SELECT pm.reauth_message IS NULL OR pm.reauth_message = t.auth_message
        FROM bulkorder.payment_methods pm WHERE pm.code = t.payment_method)$$,
            'message_ja', 'この与信NGは再与信の対象外です(NP後払いは「NPの与信がNGになりました。NG999。」の注文のみ再与信できます)',
            'message_en', 'this refusal cannot be retried (NP後払い: only orders whose message is exactly "NPの与信がNGになりました。NG999。")')));

-- 決済方法: to 代引き only (the enum rejects anything else for the whole
-- call); the 代引き自動変更 mail, rendered from its template (the changed
-- order: payment method cod), when that template is enabled
SELECT bulkorder.define_operation('orders', 'payment_method',
    name_ja => '決済方法', name_en => 'payment method',
    wrapper => 'bulk_payment_method',
    params => '{"payment_method": {"type": "text", "enum": ["cod"], "position": 1}}',
    changed_columns => '{payment_method,auth_status}',
    set_clause => $$payment_method = p->>'payment_method', auth_status = 'not_required'$$,
    effects => ARRAY[$$INSERT INTO bulkorder.mail_outbox
            (template_code, order_no, customer_id, to_address, subject, body, job_id)
        SELECT mt.code, o.order_no, c.customer_id, c.email,
               bulkorder.render_mail(mt.subject, o.order_no, c.name, o.tracking_no, pm.name, o.course_order_no), bulkorder.render_mail(mt.body, o.order_no, c.name, o.tracking_no, pm.name, o.course_order_no), $3
        FROM applied a
        CROSS JOIN LATERAL jsonb_populate_record((SELECT x FROM bulkorder.orders x
                                                  WHERE x.order_no = a.target), a.after) AS o
        JOIN bulkorder.customers c ON c.customer_id = o.customer_id
        JOIN bulkorder.payment_methods pm ON pm.code = o.payment_method
        JOIN bulkorder.mail_templates mt ON mt.code = 'cod_auto_change' AND mt.enabled$$],
    rules => jsonb_build_array(
        jsonb_build_object('code', 'not_awaiting_shipment', 'condition', $$t.status = 'awaiting_shipment'$$,
            'message_ja', '出荷待ちの注文ではないため決済方法を変更できません',
            'message_en', 'only orders awaiting shipment can change their payment method'),
        jsonb_build_object('code', 'auth_not_ng', 'condition', $$t.auth_status = 'ng'$$,
            'message_ja', '与信NGの注文ではないため代引きに変更できません',
            'message_en', 'only orders whose authorization failed (ng) can be changed to cash on delivery')));

-- 一括再出荷報告: ship_report_status → pending, and a ship_report request
SELECT bulkorder.define_operation('orders', 'reship_report',
    name_ja => '一括再出荷報告', name_en => 'report shipment again',
    wrapper => 'bulk_reship_report',
    changed_columns => '{ship_report_status}',
    set_clause => $$ship_report_status = 'pending'$$,
    effects => ARRAY[$$INSERT INTO bulkorder.payment_requests (order_no, payment_method, kind, job_id)
        SELECT a.target, o.payment_method, 'ship_report', $3
        FROM applied a
        JOIN bulkorder.orders o ON o.order_no = a.target$$],
    rules => jsonb_build_array(
        jsonb_build_object('code', 'not_shipping', 'condition', $$t.status = 'shipping'$$,
            'message_ja', '出荷作業中の注文ではないため再出荷報告できません',
            'message_en', 'only orders being shipped can report their shipment again'),
        jsonb_build_object('code', 'ship_report_not_ng', 'condition', $$t.ship_report_status = 'ng'$$,
            'message_ja', '出荷報告NGの注文ではないため再出荷報告できません',
            'message_en', 'only orders whose shipment report failed (ng) can report again'),
        jsonb_build_object('code', 'ship_report_not_supported',
            'condition', $$EXISTS (SELECT 1 FROM bulkorder.payment_methods pm
               WHERE pm.code = t.payment_method AND pm.needs_ship_report)$$,
            'message_ja', '出荷報告が必要な決済方法ではありません(対象はNP後払い・NP後払い(リアルタイム)・DSK後払い・サブスク後払いECO)',
            'message_en', 'the payment method takes no shipment report')));

-- 出荷完了メールステータス変更: a sent flag means the shipment import sends no mail
SELECT bulkorder.define_operation('orders', 'ship_mail_status',
    name_ja => '出荷完了メールステータス変更', name_en => 'shipment mail status',
    wrapper => 'bulk_ship_mail_status',
    params => '{"sent": {"type": "boolean", "position": 1}}',
    changed_columns => '{ship_mail_sent}',
    set_clause => $$ship_mail_sent = (p->>'sent')::boolean$$,
    rules => jsonb_build_array(
        jsonb_build_object('code', 'not_before_shipping',
            'condition', $$t.status IN ('awaiting_shipment', 'shipping')$$,
            'message_ja', '出荷前(出荷待ち・出荷作業中)の注文ではないため変更できません',
            'message_en', 'only orders not yet shipped (awaiting shipment or being shipped) can change it')));

-- 商品を一括追加/削除 record the same before image: the order's line of the
-- product (null fields where there is none).
CREATE OR REPLACE FUNCTION bulkorder_catalog.order_line_before()
RETURNS text
LANGUAGE sql IMMUTABLE
AS $fn$
    SELECT $$(SELECT jsonb_build_object('product_id', (p->>'product_id')::bigint,
                                              'quantity', i.quantity, 'unit_price', i.unit_price)
                    FROM (SELECT) AS one
                    LEFT JOIN bulkorder.order_items i
                           ON i.order_no = t.order_no AND i.product_id = (p->>'product_id')::bigint)$$
$fn$;
REVOKE ALL ON FUNCTION bulkorder_catalog.order_line_before() FROM PUBLIC;

-- How a revert undoes 商品を一括追加 / 商品を一括削除: the order's line of the
-- product, as the image records it (quantity null: no line).
CREATE OR REPLACE FUNCTION bulkorder_catalog.order_line_revert()
RETURNS jsonb
LANGUAGE sql IMMUTABLE
AS $fn$
    SELECT jsonb_build_object(
        'condition', $r$(SELECT i.quantity IS NOT DISTINCT FROM (s.after->>'quantity')::integer
                                 AND i.unit_price IS NOT DISTINCT FROM (s.after->>'unit_price')::integer
                          FROM (SELECT) AS one
                          LEFT JOIN bulkorder.order_items i
                                 ON i.order_no = t.order_no AND i.product_id = (s.after->>'product_id')::bigint)$r$,
        'before_sql', $r$(SELECT jsonb_build_object('product_id', (s.after->>'product_id')::bigint,
                                                     'quantity', i.quantity, 'unit_price', i.unit_price)
                           FROM (SELECT) AS one
                           LEFT JOIN bulkorder.order_items i
                                  ON i.order_no = t.order_no AND i.product_id = (s.after->>'product_id')::bigint)$r$,
        'apply_sql', $r$line_removed AS (
        DELETE FROM bulkorder.order_items i
         USING eligible s
         WHERE s.before->>'quantity' IS NULL
           AND i.order_no = s.target AND i.product_id = (s.before->>'product_id')::bigint
     RETURNING i.order_no AS target, i.product_id),
       line_added AS (
        INSERT INTO bulkorder.order_items (order_no, product_id, quantity, unit_price)
        SELECT s.target, (s.before->>'product_id')::bigint, (s.before->>'quantity')::integer,
               (s.before->>'unit_price')::integer
          FROM eligible s
         WHERE s.before->>'quantity' IS NOT NULL
     RETURNING order_no AS target, product_id, quantity, unit_price),
       applied AS (
        SELECT target, jsonb_build_object('product_id', product_id, 'quantity', NULL, 'unit_price', NULL) AS after
          FROM line_removed
        UNION ALL
        SELECT target, jsonb_build_object('product_id', product_id, 'quantity', quantity, 'unit_price', unit_price)
          FROM line_added)$r$)
$fn$;
REVOKE ALL ON FUNCTION bulkorder_catalog.order_line_revert() FROM PUBLIC;

-- 商品を一括追加: a price-0 line; before/after are the line's columns
SELECT bulkorder.define_operation('orders', 'add_products',
    name_ja => '商品を一括追加', name_en => 'add products',
    wrapper => 'bulk_add_products',
    params => '{"product_id": {"type": "bigint", "position": 1},
                "quantity": {"type": "integer", "default": 1, "min": 1, "max": 9999, "position": 2}}',
    changed_columns => '{product_id,quantity,unit_price}',
    apply_sql => $$applied AS (
        INSERT INTO bulkorder.order_items (order_no, product_id, quantity, unit_price)
        SELECT e.target, pr.product_id, (prm.p->>'quantity')::integer, pr.price
        FROM eligible e CROSS JOIN prm
        JOIN bulkorder.products pr ON pr.product_id = (prm.p->>'product_id')::bigint
        RETURNING order_no AS target,
                  jsonb_build_object('product_id', product_id, 'quantity', quantity,
                                     'unit_price', unit_price) AS after)$$,
    before_sql => bulkorder_catalog.order_line_before(),
    rules => jsonb_build_array(
        jsonb_build_object('code', 'not_awaiting_shipment', 'condition', $$t.status = 'awaiting_shipment'$$,
            'message_ja', '出荷待ちの注文ではないため商品を追加できません',
            'message_en', 'products can only be added to orders awaiting shipment'),
        jsonb_build_object('code', 'payment_method_not_allowed',
            'condition', $$EXISTS (SELECT 1 FROM bulkorder.product_payment_methods ppm
               WHERE ppm.product_id = (p->>'product_id')::bigint
                 AND ppm.payment_method = t.payment_method)$$,
            'message_ja', 'この商品は注文の決済方法では購入できません',
            'message_en', 'the product does not allow the order''s payment method'),
        jsonb_build_object('code', 'delivery_method_not_allowed',
            'condition', $$EXISTS (SELECT 1 FROM bulkorder.product_delivery_methods pdm
               WHERE pdm.product_id = (p->>'product_id')::bigint
                 AND pdm.delivery_method = t.delivery_method)$$,
            'message_ja', 'この商品は注文の配送方法では配送できません',
            'message_en', 'the product does not allow the order''s delivery method'),
        jsonb_build_object('code', 'product_already_in_order',
            'condition', $$NOT EXISTS (SELECT 1 FROM bulkorder.order_items i
                   WHERE i.order_no = t.order_no AND i.product_id = (p->>'product_id')::bigint)$$,
            'message_ja', 'この商品はすでに注文に含まれています',
            'message_en', 'the order already has this product')),
    checks => jsonb_build_array(
        jsonb_build_object('condition', $$EXISTS (SELECT 1 FROM bulkorder.products pr WHERE pr.product_id = (p->>'product_id')::bigint)$$,
            'message', 'unknown product',
            'hint', 'params.product_id must be a product_id of bulkorder.products.',
            'hint_ja', 'params.product_id には bulkorder.products の product_id を指定してください。'),
        jsonb_build_object('condition', $$EXISTS (SELECT 1 FROM bulkorder.products pr
               WHERE pr.product_id = (p->>'product_id')::bigint AND pr.price = 0)$$,
            'message', 'only products at price 0 can be added in bulk',
            'hint', 'Choose a free item (販売価格0円の商品).',
            'hint_ja', '販売価格0円の商品を選んでください。')),
    revert => bulkorder_catalog.order_line_revert());

-- 商品を一括削除: the price-0 line is deleted
SELECT bulkorder.define_operation('orders', 'remove_products',
    name_ja => '商品を一括削除', name_en => 'remove products',
    wrapper => 'bulk_remove_products',
    params => '{"product_id": {"type": "bigint", "position": 1}}',
    changed_columns => '{product_id,quantity,unit_price}',
    apply_sql => $$applied AS (
        DELETE FROM bulkorder.order_items i
        USING eligible e, prm
        WHERE i.order_no = e.target AND i.product_id = (prm.p->>'product_id')::bigint
        RETURNING i.order_no AS target,
                  jsonb_build_object('product_id', i.product_id, 'quantity', NULL,
                                     'unit_price', NULL) AS after)$$,
    before_sql => bulkorder_catalog.order_line_before(),
    rules => jsonb_build_array(
        jsonb_build_object('code', 'not_awaiting_shipment', 'condition', $$t.status = 'awaiting_shipment'$$,
            'message_ja', '出荷待ちの注文ではないため商品を削除できません',
            'message_en', 'products can only be removed from orders awaiting shipment'),
        jsonb_build_object('code', 'product_not_in_order',
            'condition', $$EXISTS (SELECT 1 FROM bulkorder.order_items i
               WHERE i.order_no = t.order_no AND i.product_id = (p->>'product_id')::bigint)$$,
            'message_ja', 'この商品は注文に含まれていません',
            'message_en', 'the order does not have this product'),
        jsonb_build_object('code', 'product_not_free',
            'condition', $$EXISTS (SELECT 1 FROM bulkorder.order_items i
               WHERE i.order_no = t.order_no AND i.product_id = (p->>'product_id')::bigint
                 AND i.unit_price = 0)$$,
            'message_ja', '販売価格が0円の商品のみ削除できます',
            'message_en', 'only products at price 0 can be removed')),
    checks => jsonb_build_array(
        jsonb_build_object('condition', $$EXISTS (SELECT 1 FROM bulkorder.products pr WHERE pr.product_id = (p->>'product_id')::bigint)$$,
            'message', 'unknown product',
            'hint', 'params.product_id must be a product_id of bulkorder.products.',
            'hint_ja', 'params.product_id には bulkorder.products の product_id を指定してください。')),
    revert => bulkorder_catalog.order_line_revert());

-- 定期注文自動生成エラー解除 and its revert record the same before image: the
-- order's flag and its master's, with the master's reason.  (m, not s: in a
-- revert's statements s is the reverted item.)
CREATE OR REPLACE FUNCTION bulkorder_catalog.autogen_error_before()
RETURNS text
LANGUAGE sql IMMUTABLE
AS $fn$
    SELECT $$jsonb_build_object('autogen_error', t.autogen_error,
                          'course_order_no', t.course_order_no,
                          'subscription_autogen_error',
                          (SELECT m.autogen_error FROM bulkorder.subscriptions m
                           WHERE m.course_order_no = t.course_order_no),
                          'subscription_autogen_error_reason',
                          (SELECT m.autogen_error_reason FROM bulkorder.subscriptions m
                           WHERE m.course_order_no = t.course_order_no))$$
$fn$;
REVOKE ALL ON FUNCTION bulkorder_catalog.autogen_error_before() FROM PUBLIC;

-- 定期注文自動生成エラー解除: the order's flag and its master's (with the
-- master's reason).  Masters are locked after the orders, in key order.
SELECT bulkorder.define_operation('orders', 'clear_autogen_error',
    name_ja => '定期注文自動生成エラー解除', name_en => 'clear the autogeneration error',
    wrapper => 'bulk_clear_autogen_error',
    changed_columns => '{autogen_error}',
    apply_sql => $$cleared AS (
        UPDATE bulkorder.orders o SET autogen_error = false
        FROM eligible e
        WHERE o.order_no = e.target
        RETURNING o.order_no, o.course_order_no),
     masters AS (
        UPDATE bulkorder.subscriptions s SET autogen_error = false, autogen_error_reason = NULL
        WHERE s.course_order_no IN (SELECT c.course_order_no FROM cleared c)
        RETURNING s.course_order_no),
     applied AS (
        SELECT c.order_no AS target,
               jsonb_build_object('autogen_error', false,
                                  'course_order_no', c.course_order_no,
                                  'subscription_autogen_error',
                                  CASE WHEN c.course_order_no IS NOT NULL THEN false END) AS after
        FROM cleared c)$$,
    before_sql => bulkorder_catalog.autogen_error_before(),
    lock_sql => $$SELECT 1 FROM bulkorder.subscriptions s
       WHERE s.course_order_no IN (SELECT o.course_order_no FROM bulkorder.orders o
                                   WHERE o.order_no = ANY ($1) AND o.autogen_error
                                     AND o.deleted_at IS NULL)
       ORDER BY s.course_order_no
       FOR NO KEY UPDATE OF s$$,
    rules => jsonb_build_array(
        jsonb_build_object('code', 'no_autogen_error', 'condition', $$t.autogen_error$$,
            'message_ja', '定期注文自動生成エラーがない注文です',
            'message_en', 'the order has no autogeneration error')),
    -- 定期注文自動生成エラー解除 (orders page): the order's flag and its
    -- master's flag and reason.  1.1 records the master's reason in the before
    -- image; an item recorded by 1.0 lacks it, and reverting it fails
    -- (revert_image_incomplete) rather than bring the error back without its reason.
    revert => jsonb_build_object(
        'condition', $$t.autogen_error = (s.after->>'autogen_error')::boolean
        AND (SELECT m.autogen_error FROM bulkorder.subscriptions m
             WHERE m.course_order_no = t.course_order_no)
            IS NOT DISTINCT FROM (s.after->>'subscription_autogen_error')::boolean$$,
        'rules', jsonb_build_array(jsonb_build_object(
        'code', 'revert_image_incomplete',
        'condition', $$s.before ? 'subscription_autogen_error_reason'
            OR NOT coalesce((s.before->>'subscription_autogen_error')::boolean, false)$$,
        'message_ja', 'bulkorder 1.0 で記録された一括更新のため定期注文マスターのエラー理由がなく、元に戻せません',
        'message_en', 'recorded by bulkorder 1.0 without the master''s error reason: it cannot be restored exactly')),
        'before_sql', bulkorder_catalog.autogen_error_before(),
        'apply_sql', $$flag_restored AS (
        UPDATE bulkorder.orders o SET autogen_error = (s.before->>'autogen_error')::boolean
          FROM eligible s
         WHERE o.order_no = s.target
     RETURNING o.order_no AS target, o.autogen_error, o.course_order_no, s.before AS src_before),
       master_restored AS (
        UPDATE bulkorder.subscriptions m
           SET autogen_error = x.autogen_error, autogen_error_reason = x.reason
          FROM (SELECT DISTINCT ON ((s.before->>'course_order_no')::bigint)
                       (s.before->>'course_order_no')::bigint AS course_order_no,
                       (s.before->>'subscription_autogen_error')::boolean AS autogen_error,
                       s.before->>'subscription_autogen_error_reason' AS reason
                  FROM eligible s
                 WHERE s.before->>'subscription_autogen_error' IS NOT NULL
                 ORDER BY 1) AS x
         WHERE m.course_order_no = x.course_order_no
     RETURNING m.course_order_no, m.autogen_error, m.autogen_error_reason),
       applied AS (
        SELECT f.target,
               jsonb_build_object('autogen_error', f.autogen_error,
                                  'course_order_no', f.course_order_no,
                                  'subscription_autogen_error', (f.src_before->>'subscription_autogen_error')::boolean,
                                  'subscription_autogen_error_reason', f.src_before->>'subscription_autogen_error_reason') AS after
          FROM flag_restored f)$$,
        'lock_sql', $$SELECT 1 FROM bulkorder.subscriptions m
        WHERE m.course_order_no IN (SELECT o.course_order_no FROM bulkorder.orders o WHERE o.order_no = ANY ($1))
        ORDER BY m.course_order_no
          FOR NO KEY UPDATE OF m$$));

-- ブラックリスト: the order's customer.  Several orders of one customer
-- update it once; each order's item shows the customer's status.
-- Customers come before orders in the lock order (the customers page locks
-- a customer, then its orders), so they are locked before the page's rows:
-- prelock_sql, in key order.  An order's customer_id never changes, so
-- reading it unlocked is safe.
SELECT bulkorder.define_operation('orders', 'blacklist',
    name_ja => 'ブラックリスト', name_en => 'blacklist',
    wrapper => 'bulk_blacklist',
    params => '{"action": {"type": "text", "enum": ["blacklist", "candidate", "remove"], "position": 1}}',
    changed_columns => '{customer_id,blacklist_status}',
    apply_sql => $$new_status AS (
        SELECT CASE prm.p->>'action' WHEN 'blacklist' THEN 'blacklisted'
                                     WHEN 'candidate' THEN 'candidate'
                                     ELSE 'none' END AS blacklist_status
        FROM prm),
     customers_changed AS (
        UPDATE bulkorder.customers c
        SET blacklist_status = ns.blacklist_status
        FROM new_status ns
        WHERE c.customer_id IN (SELECT o.customer_id FROM eligible e
                                JOIN bulkorder.orders o ON o.order_no = e.target)
        RETURNING c.customer_id),
     -- not joined to customers_changed: a join of two CTE scans has no
     -- index and would be quadratic on large jobs
     applied AS (
        SELECT e.target,
               jsonb_build_object('customer_id', o.customer_id,
                                  'blacklist_status', ns.blacklist_status) AS after
        FROM eligible e
        JOIN bulkorder.orders o ON o.order_no = e.target
        CROSS JOIN new_status ns)$$,
    before_sql => $$jsonb_build_object('customer_id', t.customer_id,
                          'blacklist_status', (SELECT c.blacklist_status FROM bulkorder.customers c
                                               WHERE c.customer_id = t.customer_id))$$,
    prelock_sql => $$SELECT 1 FROM bulkorder.customers c
       WHERE c.customer_id IN (SELECT o.customer_id FROM bulkorder.orders o
                               WHERE o.order_no = ANY ($1) AND o.deleted_at IS NULL)
       ORDER BY c.customer_id
       FOR NO KEY UPDATE OF c$$,
    -- ブラックリスト (orders page): the orders' customers, locked before the
    -- orders as the operation does.
    revert => jsonb_build_object(
        'condition', $$(SELECT c.blacklist_status FROM bulkorder.customers c
                          WHERE c.customer_id = t.customer_id) = s.after->>'blacklist_status'$$,
        'before_sql', $$jsonb_build_object('customer_id', t.customer_id,
                          'blacklist_status', (SELECT c.blacklist_status FROM bulkorder.customers c
                                               WHERE c.customer_id = t.customer_id))$$,
        'apply_sql', $$customers_restored AS (
        UPDATE bulkorder.customers c SET blacklist_status = x.blacklist_status
          FROM (SELECT DISTINCT ON (o.customer_id) o.customer_id, s.before->>'blacklist_status' AS blacklist_status
                  FROM eligible s
                  JOIN bulkorder.orders o ON o.order_no = s.target
                 ORDER BY o.customer_id) AS x
         WHERE c.customer_id = x.customer_id
     RETURNING c.customer_id),
       applied AS (
        SELECT s.target,
               jsonb_build_object('customer_id', o.customer_id,
                                  'blacklist_status', s.before->>'blacklist_status') AS after
          FROM eligible s
          JOIN bulkorder.orders o ON o.order_no = s.target)$$,
        'prelock_sql', $$SELECT 1 FROM bulkorder.customers c
       WHERE c.customer_id IN (SELECT o.customer_id FROM bulkorder.orders o WHERE o.order_no = ANY ($1))
       ORDER BY c.customer_id
       FOR NO KEY UPDATE OF c$$));
