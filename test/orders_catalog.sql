-- The orders page in the catalogue: all eighteen operations of docs/operations.md with
-- their Japanese names, typed wrappers, a code and two messages per rule,
-- the payment-method data behind 一括再与信 / 一括再出荷報告, and the
-- connector function's security.
BEGIN;
CREATE EXTENSION bulkorder;
SELECT plan(25);

SELECT set_eq(
    $$SELECT operation, name_ja FROM bulkorder_catalog.operations WHERE page = 'orders'$$,
    $$VALUES ('cancel', 'キャンセル'), ('return', '返品'), ('delete', '削除'),
             ('shipping_hold', '出荷停止'), ('tags', 'タグ設定'), ('reauthorize', '一括再与信'),
             ('customer_message', 'お客様からの通信欄'), ('reply_message', 'お客様への返信'),
             ('remarks', '備考欄'), ('integration_text', '連携用補足テキスト'),
             ('payment_method', '決済方法'), ('reship_report', '一括再出荷報告'),
             ('add_products', '商品を一括追加'), ('remove_products', '商品を一括削除'),
             ('clear_autogen_error', '定期注文自動生成エラー解除'), ('delivery_method', '配送方法'),
             ('ship_mail_status', '出荷完了メールステータス変更'), ('blacklist', 'ブラックリスト')$$,
    'the orders page has exactly the eighteen operations of docs/operations.md, with their seed names');

SELECT is_empty(
    $$SELECT o.wrapper FROM bulkorder_catalog.operations o
      WHERE NOT EXISTS (SELECT 1 FROM pg_proc p
                        WHERE p.pronamespace = 'bulkorder'::regnamespace AND p.proname = o.wrapper)$$,
    'every operation has its generated wrapper');

SELECT has_function('bulkorder', 'bulk_reauthorize', ARRAY['bigint[]'], 'bulk_reauthorize(order_nos)');
SELECT has_function('bulkorder', 'bulk_payment_method', ARRAY['bigint[]', 'text'], 'bulk_payment_method(order_nos, payment_method)');
SELECT has_function('bulkorder', 'bulk_reship_report', ARRAY['bigint[]'], 'bulk_reship_report(order_nos)');
SELECT has_function('bulkorder', 'bulk_add_products', ARRAY['bigint[]', 'bigint', 'integer'], 'bulk_add_products(order_nos, product_id, quantity)');
SELECT has_function('bulkorder', 'bulk_remove_products', ARRAY['bigint[]', 'bigint'], 'bulk_remove_products(order_nos, product_id)');
SELECT has_function('bulkorder', 'bulk_clear_autogen_error', ARRAY['bigint[]'], 'bulk_clear_autogen_error(order_nos)');
SELECT has_function('bulkorder', 'bulk_delivery_method', ARRAY['bigint[]', 'text', 'text'], 'bulk_delivery_method(order_nos, delivery_method, time_slot)');
SELECT has_function('bulkorder', 'bulk_ship_mail_status', ARRAY['bigint[]', 'boolean'], 'bulk_ship_mail_status(order_nos, sent)');
SELECT has_function('bulkorder', 'bulk_blacklist', ARRAY['bigint[]', 'text'], 'bulk_blacklist(order_nos, action)');
SELECT is(
    (SELECT pg_get_function_arguments('bulkorder.bulk_add_products(bigint[], bigint, integer)'::regprocedure) LIKE '%quantity integer DEFAULT %'),
    true, 'add_products: quantity has a default');
SELECT is(
    (SELECT params->'quantity'->'default' FROM bulkorder_catalog.operations WHERE page = 'orders' AND operation = 'add_products'),
    '1'::jsonb, 'add_products: the quantity defaults to 1');

SELECT is_empty(
    $$SELECT r.operation, r.error_code FROM bulkorder_catalog.operation_rules r
      WHERE r.page = 'orders' AND (btrim(r.message_ja) = '' OR btrim(r.message_en) = ''
                                   OR r.message_ja !~ '[ぁ-んァ-ヶ一-龠]')$$,
    'every orders rule has a Japanese and an English message');

SELECT set_eq(
    $$SELECT operation, error_code FROM bulkorder_catalog.operation_rules
      WHERE page = 'orders' AND operation IN ('reauthorize', 'payment_method', 'reship_report',
            'add_products', 'remove_products', 'clear_autogen_error', 'delivery_method',
            'ship_mail_status', 'blacklist')$$,
    $$VALUES ('reauthorize', 'auth_not_ng'), ('reauthorize', 'not_reauthorizable'),
             ('reauthorize', 'auth_message_not_retryable'),
             ('payment_method', 'not_awaiting_shipment'), ('payment_method', 'auth_not_ng'),
             ('reship_report', 'not_shipping'), ('reship_report', 'ship_report_not_ng'),
             ('reship_report', 'ship_report_not_supported'),
             ('add_products', 'not_awaiting_shipment'), ('add_products', 'payment_method_not_allowed'),
             ('add_products', 'delivery_method_not_allowed'), ('add_products', 'product_already_in_order'),
             ('remove_products', 'not_awaiting_shipment'), ('remove_products', 'product_not_in_order'),
             ('remove_products', 'product_not_free'),
             ('clear_autogen_error', 'no_autogen_error'),
             ('delivery_method', 'not_awaiting_shipment'),
             ('ship_mail_status', 'not_before_shipping')$$,
    'the error codes of the payment, product, delivery, mail-status and blacklist operations');

-- the payment-method data decides
SELECT set_eq($$SELECT code FROM bulkorder.payment_methods WHERE reauthorizable$$,
              ARRAY['np_atobarai', 'np_atobarai_realtime', 'gmo_ps_atobarai', 'dsk_atobarai',
                    'score_atobarai', 'subsc_atobarai_eco'],
              're-authorizable: the six deferred-payment methods of the seed');
SELECT set_eq($$SELECT code FROM bulkorder.payment_methods WHERE needs_ship_report$$,
              ARRAY['np_atobarai', 'np_atobarai_realtime', 'dsk_atobarai', 'subsc_atobarai_eco'],
              'shipment reports: the four methods of the seed');
SELECT set_eq($$SELECT code, reauth_message FROM bulkorder.payment_methods WHERE reauth_message IS NOT NULL$$,
              $$VALUES ('np_atobarai', 'NPの与信がNGになりました。NG999。'),
                       ('np_atobarai_realtime', 'NPの与信がNGになりました。NG999。')$$,
              'only the two NP methods need the exact NG999 message');
SELECT is((SELECT enabled FROM bulkorder.mail_templates WHERE code = 'cod_auto_change'), true,
          'the 代引き自動変更 template is installed enabled');

-- whole-job parameter checks exist where docs/operations.md says the call is rejected
SELECT is((SELECT params->'payment_method'->'enum' FROM bulkorder_catalog.operations
           WHERE page = 'orders' AND operation = 'payment_method'), '["cod"]'::jsonb,
          'payment_method: cod only');
SELECT is((SELECT params->'action'->'enum' FROM bulkorder_catalog.operations
           WHERE page = 'orders' AND operation = 'blacklist'), '["blacklist", "candidate", "remove"]'::jsonb,
          'blacklist: the three actions');
SELECT is((SELECT (params->'time_slot'->>'nullable')::boolean FROM bulkorder_catalog.operations
           WHERE page = 'orders' AND operation = 'delivery_method'), true,
          'delivery_method: a NULL time slot means 指定なし');

-- complete_payment_request: returns boolean, SECURITY DEFINER, pinned path, no PUBLIC
SELECT function_returns('bulkorder', 'complete_payment_request',
                        ARRAY['bigint', 'boolean', 'text', 'text'], 'boolean');
SELECT is_definer('bulkorder', 'complete_payment_request', ARRAY['bigint', 'boolean', 'text', 'text']);
SELECT is((SELECT proconfig FROM pg_proc
           WHERE oid = 'bulkorder.complete_payment_request(bigint, boolean, text, text)'::regprocedure),
          ARRAY['search_path=pg_catalog, pg_temp'], 'complete_payment_request pins its search_path');
SELECT * FROM finish();
ROLLBACK;
