-- Orders page (受注管理 > 注文一覧), SPEC §3.

INSERT INTO bulkorder_catalog.operations
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

INSERT INTO bulkorder_catalog.operation_rules
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

INSERT INTO bulkorder_catalog.operation_param_checks
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
UPDATE bulkorder_catalog.operations
SET effects = ARRAY[$$INSERT INTO bulkorder.payment_requests (order_no, payment_method, kind, job_id)
        SELECT a.target, o.payment_method, 'void', $3
        FROM applied a
        JOIN bulkorder.orders o ON o.order_no = a.target
        JOIN bulkorder.payment_methods pm ON pm.code = o.payment_method AND pm.has_gateway
        WHERE (SELECT (p->>'void_payment')::boolean FROM prm)$$]
WHERE page = 'orders' AND operation IN ('cancel', 'return', 'delete');

-- ---------------------------------------------------------------------------
-- The rest of the orders page (SPEC §3): payments, products, delivery, mail
-- status, the autogen flag and the customer's blacklist status.  Which
-- payment methods can be re-authorized, need a shipment report, or (NP後払い)
-- are re-authorized only for one exact refusal message is data: the columns
-- reauthorizable, needs_ship_report and reauth_message of payment_methods.

INSERT INTO bulkorder_catalog.operations
    (page, operation, name_ja, name_en, params, changed_columns, set_clause, wrapper)
VALUES
    -- 一括再与信: auth_status → pending, and a reauthorize request (effect below)
    ('orders', 'reauthorize', '一括再与信', 're-authorize payment',
     '{}', '{auth_status}',
     $$auth_status = 'pending'$$,
     'bulk_reauthorize'),
    -- 決済方法: to 代引き only (the enum rejects anything else for the whole call)
    ('orders', 'payment_method', '決済方法', 'payment method',
     '{"payment_method": {"type": "text", "enum": ["cod"], "position": 1}}',
     '{payment_method,auth_status}',
     $$payment_method = p->>'payment_method', auth_status = 'not_required'$$,
     'bulk_payment_method'),
    -- 一括再出荷報告: ship_report_status → pending, and a ship_report request
    ('orders', 'reship_report', '一括再出荷報告', 'report shipment again',
     '{}', '{ship_report_status}',
     $$ship_report_status = 'pending'$$,
     'bulk_reship_report'),
    -- 出荷完了メールステータス変更: a sent flag means the shipment import sends no mail
    ('orders', 'ship_mail_status', '出荷完了メールステータス変更', 'shipment mail status',
     '{"sent": {"type": "boolean", "position": 1}}', '{ship_mail_sent}',
     $$ship_mail_sent = (p->>'sent')::boolean$$,
     'bulk_ship_mail_status');

-- Changes outside the order row: order lines, the subscription master, the
-- customer.  Each apply_sql defines applied(target, after), one row per
-- eligible order.
INSERT INTO bulkorder_catalog.operations
    (page, operation, name_ja, name_en, params, changed_columns, apply_sql, before_sql,
     lock_sql, wrapper)
VALUES
    -- 商品を一括追加: a price-0 line; before/after are the line's columns
    ('orders', 'add_products', '商品を一括追加', 'add products',
     '{"product_id": {"type": "bigint", "position": 1},
       "quantity": {"type": "integer", "default": 1, "min": 1, "max": 9999, "position": 2}}',
     '{product_id,quantity,unit_price}',
     $$applied AS (
        INSERT INTO bulkorder.order_items (order_no, product_id, quantity, unit_price)
        SELECT e.target, pr.product_id, (prm.p->>'quantity')::integer, pr.price
        FROM eligible e CROSS JOIN prm
        JOIN bulkorder.products pr ON pr.product_id = (prm.p->>'product_id')::bigint
        RETURNING order_no AS target,
                  jsonb_build_object('product_id', product_id, 'quantity', quantity,
                                     'unit_price', unit_price) AS after)$$,
     NULL,   -- before_sql: the line, set below for both
     NULL,
     'bulk_add_products'),
    -- 商品を一括削除: the price-0 line is deleted
    ('orders', 'remove_products', '商品を一括削除', 'remove products',
     '{"product_id": {"type": "bigint", "position": 1}}',
     '{product_id,quantity,unit_price}',
     $$applied AS (
        DELETE FROM bulkorder.order_items i
        USING eligible e, prm
        WHERE i.order_no = e.target AND i.product_id = (prm.p->>'product_id')::bigint
        RETURNING i.order_no AS target,
                  jsonb_build_object('product_id', i.product_id, 'quantity', NULL,
                                     'unit_price', NULL) AS after)$$,
     NULL,   -- before_sql: the line, set below for both
     NULL,
     'bulk_remove_products'),
    -- 定期注文自動生成エラー解除: the order's flag and its master's (with the
    -- master's reason).  Masters are locked after the orders, in key order.
    ('orders', 'clear_autogen_error', '定期注文自動生成エラー解除', 'clear the autogeneration error',
     '{}', '{autogen_error}',
     $$cleared AS (
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
     $$jsonb_build_object('autogen_error', t.autogen_error,
                          'course_order_no', t.course_order_no,
                          'subscription_autogen_error',
                          (SELECT s.autogen_error FROM bulkorder.subscriptions s
                           WHERE s.course_order_no = t.course_order_no))$$,
     $$SELECT 1 FROM bulkorder.subscriptions s
       WHERE s.course_order_no IN (SELECT o.course_order_no FROM bulkorder.orders o
                                   WHERE o.order_no = ANY ($1) AND o.autogen_error
                                     AND o.deleted_at IS NULL)
       ORDER BY s.course_order_no
       FOR NO KEY UPDATE OF s$$,
     'bulk_clear_autogen_error'),
    -- ブラックリスト: the order's customer.  Several orders of one customer
    -- update it once; each order's item shows the customer's status.
    ('orders', 'blacklist', 'ブラックリスト', 'blacklist',
     '{"action": {"type": "text", "enum": ["blacklist", "candidate", "remove"], "position": 1}}',
     '{customer_id,blacklist_status}',
     $$new_status AS (
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
     $$jsonb_build_object('customer_id', t.customer_id,
                          'blacklist_status', (SELECT c.blacklist_status FROM bulkorder.customers c
                                               WHERE c.customer_id = t.customer_id))$$,
     NULL,
     'bulk_blacklist');

INSERT INTO bulkorder_catalog.operation_rules
    (page, operation, position, error_code, condition, message_ja, message_en)
VALUES
    ('orders', 'reauthorize', 1, 'auth_not_ng', $$t.auth_status = 'ng'$$,
     '与信NGの注文ではないため再与信できません',
     'only orders whose authorization failed (ng) can be re-authorized'),
    ('orders', 'reauthorize', 2, 'not_reauthorizable',
     $$EXISTS (SELECT 1 FROM bulkorder.payment_methods pm
               WHERE pm.code = t.payment_method AND pm.reauthorizable)$$,
     '再与信できない決済方法です(再与信できるのはNP後払い・NP後払い(リアルタイム)・GMO-PS後払い・DSK後払い・スコア後払い・サブスク後払いECO)',
     'the payment method cannot be re-authorized'),
    ('orders', 'reauthorize', 3, 'auth_message_not_retryable',
     $$(SELECT pm.reauth_message IS NULL OR pm.reauth_message = t.auth_message
        FROM bulkorder.payment_methods pm WHERE pm.code = t.payment_method)$$,
     'この与信NGは再与信の対象外です(NP後払いは「NPの与信がNGになりました。NG999。」の注文のみ再与信できます)',
     'this refusal cannot be retried (NP後払い: only orders whose message is exactly "NPの与信がNGになりました。NG999。")'),

    ('orders', 'payment_method', 1, 'not_awaiting_shipment', $$t.status = 'awaiting_shipment'$$,
     '出荷待ちの注文ではないため決済方法を変更できません',
     'only orders awaiting shipment can change their payment method'),
    ('orders', 'payment_method', 2, 'auth_not_ng', $$t.auth_status = 'ng'$$,
     '与信NGの注文ではないため代引きに変更できません',
     'only orders whose authorization failed (ng) can be changed to cash on delivery'),

    ('orders', 'reship_report', 1, 'not_shipping', $$t.status = 'shipping'$$,
     '出荷作業中の注文ではないため再出荷報告できません',
     'only orders being shipped can report their shipment again'),
    ('orders', 'reship_report', 2, 'ship_report_not_ng', $$t.ship_report_status = 'ng'$$,
     '出荷報告NGの注文ではないため再出荷報告できません',
     'only orders whose shipment report failed (ng) can report again'),
    ('orders', 'reship_report', 3, 'ship_report_not_supported',
     $$EXISTS (SELECT 1 FROM bulkorder.payment_methods pm
               WHERE pm.code = t.payment_method AND pm.needs_ship_report)$$,
     '出荷報告が必要な決済方法ではありません(対象はNP後払い・NP後払い(リアルタイム)・DSK後払い・サブスク後払いECO)',
     'the payment method takes no shipment report'),

    ('orders', 'add_products', 1, 'not_awaiting_shipment', $$t.status = 'awaiting_shipment'$$,
     '出荷待ちの注文ではないため商品を追加できません',
     'products can only be added to orders awaiting shipment'),
    ('orders', 'add_products', 2, 'payment_method_not_allowed',
     $$EXISTS (SELECT 1 FROM bulkorder.product_payment_methods ppm
               WHERE ppm.product_id = (p->>'product_id')::bigint
                 AND ppm.payment_method = t.payment_method)$$,
     'この商品は注文の決済方法では購入できません',
     'the product does not allow the order''s payment method'),
    ('orders', 'add_products', 3, 'delivery_method_not_allowed',
     $$EXISTS (SELECT 1 FROM bulkorder.product_delivery_methods pdm
               WHERE pdm.product_id = (p->>'product_id')::bigint
                 AND pdm.delivery_method = t.delivery_method)$$,
     'この商品は注文の配送方法では配送できません',
     'the product does not allow the order''s delivery method'),
    ('orders', 'add_products', 4, 'product_already_in_order',
     $$NOT EXISTS (SELECT 1 FROM bulkorder.order_items i
                   WHERE i.order_no = t.order_no AND i.product_id = (p->>'product_id')::bigint)$$,
     'この商品はすでに注文に含まれています',
     'the order already has this product'),

    ('orders', 'remove_products', 1, 'not_awaiting_shipment', $$t.status = 'awaiting_shipment'$$,
     '出荷待ちの注文ではないため商品を削除できません',
     'products can only be removed from orders awaiting shipment'),
    ('orders', 'remove_products', 2, 'product_not_in_order',
     $$EXISTS (SELECT 1 FROM bulkorder.order_items i
               WHERE i.order_no = t.order_no AND i.product_id = (p->>'product_id')::bigint)$$,
     'この商品は注文に含まれていません',
     'the order does not have this product'),
    ('orders', 'remove_products', 3, 'product_not_free',
     $$EXISTS (SELECT 1 FROM bulkorder.order_items i
               WHERE i.order_no = t.order_no AND i.product_id = (p->>'product_id')::bigint
                 AND i.unit_price = 0)$$,
     '販売価格が0円の商品のみ削除できます',
     'only products at price 0 can be removed'),

    ('orders', 'clear_autogen_error', 1, 'no_autogen_error', $$t.autogen_error$$,
     '定期注文自動生成エラーがない注文です',
     'the order has no autogeneration error'),

    ('orders', 'ship_mail_status', 1, 'not_before_shipping',
     $$t.status IN ('awaiting_shipment', 'shipping')$$,
     '出荷前(出荷待ち・出荷作業中)の注文ではないため変更できません',
     'only orders not yet shipped (awaiting shipment or being shipped) can change it');

INSERT INTO bulkorder_catalog.operation_param_checks
    (page, operation, position, condition, sqlstate, message, hint)
VALUES
    ('orders', 'add_products', 1,
     $$EXISTS (SELECT 1 FROM bulkorder.products pr WHERE pr.product_id = (p->>'product_id')::bigint)$$,
     '22023', 'unknown product', 'params.product_id must be a product_id of bulkorder.products.'),
    ('orders', 'add_products', 2,
     $$EXISTS (SELECT 1 FROM bulkorder.products pr
               WHERE pr.product_id = (p->>'product_id')::bigint AND pr.price = 0)$$,
     '22023', 'only products at price 0 can be added in bulk',
     'Choose a free item (販売価格0円の商品).'),
    ('orders', 'remove_products', 1,
     $$EXISTS (SELECT 1 FROM bulkorder.products pr WHERE pr.product_id = (p->>'product_id')::bigint)$$,
     '22023', 'unknown product', 'params.product_id must be a product_id of bulkorder.products.');

-- Outbox rows: a request per changed order, and the 代引き自動変更 mail
-- rendered from its template (the changed order: payment method cod) when
-- that template is enabled.
UPDATE bulkorder_catalog.operations
SET effects = ARRAY[format($$INSERT INTO bulkorder.payment_requests (order_no, payment_method, kind, job_id)
        SELECT a.target, o.payment_method, %L, $3
        FROM applied a
        JOIN bulkorder.orders o ON o.order_no = a.target$$,
        CASE operation WHEN 'reauthorize' THEN 'reauthorize' ELSE 'ship_report' END)]
WHERE page = 'orders' AND operation IN ('reauthorize', 'reship_report');

UPDATE bulkorder_catalog.operations
SET effects = ARRAY[$$INSERT INTO bulkorder.mail_outbox
            (template_code, order_no, customer_id, to_address, subject, body, job_id)
        SELECT mt.code, o.order_no, c.customer_id, c.email,
               bulkorder.render_mail(mt.subject, o.order_no, c.name, o.tracking_no, pm.name, o.course_order_no), bulkorder.render_mail(mt.body, o.order_no, c.name, o.tracking_no, pm.name, o.course_order_no), $3
        FROM applied a
        CROSS JOIN LATERAL jsonb_populate_record((SELECT x FROM bulkorder.orders x
                                                  WHERE x.order_no = a.target), a.after) AS o
        JOIN bulkorder.customers c ON c.customer_id = o.customer_id
        JOIN bulkorder.payment_methods pm ON pm.code = o.payment_method
        JOIN bulkorder.mail_templates mt ON mt.code = 'cod_auto_change' AND mt.enabled$$]
WHERE page = 'orders' AND operation = 'payment_method';

-- ブラックリスト changes the orders' customers.  Customers come before
-- orders in the lock order (the customers page locks a customer, then its
-- orders), so they are locked before the page's rows: prelock_sql, in key
-- order.  An order's customer_id never changes, so reading it unlocked is
-- safe.
UPDATE bulkorder_catalog.operations
SET prelock_sql = $$SELECT 1 FROM bulkorder.customers c
       WHERE c.customer_id IN (SELECT o.customer_id FROM bulkorder.orders o
                               WHERE o.order_no = ANY ($1) AND o.deleted_at IS NULL)
       ORDER BY c.customer_id
       FOR NO KEY UPDATE OF c$$
WHERE page = 'orders' AND operation = 'blacklist';

-- 商品を一括追加/削除 record the same before image: the order's line of the
-- product (null fields where there is none).
UPDATE bulkorder_catalog.operations
SET before_sql = $$(SELECT jsonb_build_object('product_id', (p->>'product_id')::bigint,
                                              'quantity', i.quantity, 'unit_price', i.unit_price)
                    FROM (SELECT) AS one
                    LEFT JOIN bulkorder.order_items i
                           ON i.order_no = t.order_no AND i.product_id = (p->>'product_id')::bigint)$$
WHERE page = 'orders' AND operation IN ('add_products', 'remove_products');
