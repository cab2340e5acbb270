-- Subscription masters page (受注管理 > 定期注文マスター):
-- docs/operations.md.  One define_operation call per operation.  Every
-- operation but the four free-text ones starts with the rule that nothing
-- changes an `ended` (終了) master (00_common.sql).

-- 次回配送関連日: one or both dates; the one not given keeps its stored
-- value.  Giving the delivery date re-anchors a monthly cycle on its day.
SELECT bulkorder.define_operation('subscriptions', 'next_dates',
    name_ja => '次回配送関連日', name_en => 'next delivery dates',
    wrapper => 'bulk_subscription_next_dates',
    params => '{"next_ship_date": {"type": "date", "nullable": true, "default": null, "position": 1},
                "next_delivery_date": {"type": "date", "nullable": true, "default": null, "position": 2}}',
    changed_columns => '{next_ship_date,next_delivery_date,anchor_day}',
    set_clause => $$next_ship_date = coalesce((p->>'next_ship_date')::date, t.next_ship_date),
       next_delivery_date = coalesce((p->>'next_delivery_date')::date, t.next_delivery_date),
       anchor_day = coalesce(extract(day FROM (p->>'next_delivery_date')::date)::integer, t.anchor_day)$$,
    rules => bulkorder_catalog.subscription_ended_rule() || jsonb_build_array(
        -- the resulting dates, a given one combined with the stored other one
        jsonb_build_object('code', 'ship_after_delivery',
            'condition', $$coalesce((p->>'next_ship_date')::date, t.next_ship_date) IS NULL
       OR coalesce((p->>'next_delivery_date')::date, t.next_delivery_date) IS NULL
       OR coalesce((p->>'next_ship_date')::date, t.next_ship_date)
          <= coalesce((p->>'next_delivery_date')::date, t.next_delivery_date)$$,
            'message_ja', '次回発送予定日が次回お届け予定日より後になるため変更できません',
            'message_en', 'the next ship date would be after the next delivery date')),
    checks => jsonb_build_array(
        jsonb_build_object('condition', $$p->>'next_ship_date' IS NOT NULL OR p->>'next_delivery_date' IS NOT NULL$$,
            'message', 'neither next_ship_date nor next_delivery_date is given',
            'hint', 'Give the next ship date, the next delivery date, or both.',
            'hint_ja', '次回発送予定日、次回お届け予定日のどちらか、または両方を指定してください。'),
        jsonb_build_object('condition', $$p->>'next_ship_date' IS NULL OR p->>'next_delivery_date' IS NULL
       OR (p->>'next_ship_date')::date <= (p->>'next_delivery_date')::date$$,
            'message', 'next_ship_date is after next_delivery_date',
            'hint', 'The next ship date must be on or before the next delivery date.',
            'hint_ja', '次回発送予定日は次回お届け予定日以前の日付にしてください。')));

-- 次回発送方法: every product of the master must allow the method
SELECT bulkorder.define_operation('subscriptions', 'next_delivery_method',
    name_ja => '次回発送方法', name_en => 'next delivery method',
    wrapper => 'bulk_subscription_next_delivery_method',
    params => '{"delivery_method": {"type": "text", "position": 1},
                "time_slot": {"type": "text", "nullable": true, "default": null, "position": 2}}',
    changed_columns => '{delivery_method,delivery_time_slot}',
    set_clause => $$delivery_method = p->>'delivery_method', delivery_time_slot = p->>'time_slot'$$,
    rules => bulkorder_catalog.subscription_ended_rule() || jsonb_build_array(
        jsonb_build_object('code', 'delivery_method_not_allowed',
            'condition', $$NOT EXISTS (SELECT 1 FROM bulkorder.subscription_items si
                   WHERE si.course_order_no = t.course_order_no
                     AND NOT EXISTS (SELECT 1 FROM bulkorder.product_delivery_methods pd
                                     WHERE pd.product_id = si.product_id
                                       AND pd.delivery_method = p->>'delivery_method'))$$,
            'message_ja', '定期商品にこの配送方法に対応していない商品があるため変更できません',
            'message_en', 'a product of the subscription does not allow this delivery method')),
    checks => bulkorder_catalog.delivery_method_checks());

-- 定期自動生成エラー: the flag and its reason, on the master
SELECT bulkorder.define_operation('subscriptions', 'clear_autogen_error',
    name_ja => '定期自動生成エラー', name_en => 'clear auto-generation error',
    wrapper => 'bulk_subscription_clear_autogen_error',
    changed_columns => '{autogen_error,autogen_error_reason}',
    set_clause => $$autogen_error = false, autogen_error_reason = NULL$$,
    rules => bulkorder_catalog.subscription_ended_rule() || jsonb_build_array(
        jsonb_build_object('code', 'no_autogen_error', 'condition', $$t.autogen_error$$,
            'message_ja', '定期自動生成エラーはありません',
            'message_en', 'the subscription has no auto-generation error')));

-- お届け頻度設定: takes effect from the next delivery on: the next dates
-- already set stay; generation advances them by the new frequency.
SELECT bulkorder.define_operation('subscriptions', 'frequency',
    name_ja => 'お届け頻度設定', name_en => 'delivery frequency',
    wrapper => 'bulk_subscription_frequency',
    params => '{"frequency_id": {"type": "bigint", "position": 1}}',
    changed_columns => '{frequency_id}',
    set_clause => $$frequency_id = (p->>'frequency_id')::bigint$$,
    rules => bulkorder_catalog.subscription_ended_rule() || jsonb_build_array(
        jsonb_build_object('code', 'frequency_not_allowed',
            'condition', $$NOT EXISTS (SELECT 1 FROM bulkorder.subscription_items si
                   WHERE si.course_order_no = t.course_order_no
                     AND NOT EXISTS (SELECT 1 FROM bulkorder.product_frequencies pf
                                     WHERE pf.product_id = si.product_id
                                       AND pf.frequency_id = (p->>'frequency_id')::bigint))$$,
            'message_ja', '定期商品にこのお届け頻度に対応していない商品があるため変更できません',
            'message_en', 'a product of the subscription does not allow this delivery frequency')),
    checks => jsonb_build_array(
        jsonb_build_object('condition', $$EXISTS (SELECT 1 FROM bulkorder.frequencies f WHERE f.frequency_id = (p->>'frequency_id')::bigint)$$,
            'message', 'unknown frequency',
            'hint', 'The frequencies are the rows of bulkorder.frequencies.',
            'hint_ja', 'お届け頻度は bulkorder.frequencies の行で指定してください。')));

-- 定期商品: the master's line of the from-product now holds the
-- to-product, with the same quantity.  before/after: that line.
SELECT bulkorder.define_operation('subscriptions', 'swap_product',
    name_ja => '定期商品', name_en => 'swap product',
    wrapper => 'bulk_subscription_swap_product',
    params => '{"from_product_id": {"type": "bigint", "position": 1},
                "to_product_id": {"type": "bigint", "position": 2}}',
    changed_columns => '{product_id,quantity}',
    apply_sql => $$applied AS (
         UPDATE bulkorder.subscription_items si
         SET product_id = (prm.p->>'to_product_id')::bigint
         FROM eligible e, prm
         WHERE si.course_order_no = e.target
           AND si.product_id = (prm.p->>'from_product_id')::bigint
         RETURNING si.course_order_no AS target,
                   jsonb_build_object('product_id', si.product_id, 'quantity', si.quantity) AS after)$$,
    before_sql => $$(SELECT jsonb_build_object('product_id', si.product_id, 'quantity', si.quantity)
        FROM bulkorder.subscription_items si
        WHERE si.course_order_no = t.course_order_no
          AND si.product_id = (p->>'from_product_id')::bigint)$$,
    rules => bulkorder_catalog.subscription_ended_rule() || jsonb_build_array(
        jsonb_build_object('code', 'product_not_in_subscription',
            'condition', $$EXISTS (SELECT 1 FROM bulkorder.subscription_items si
               WHERE si.course_order_no = t.course_order_no
                 AND si.product_id = (p->>'from_product_id')::bigint)$$,
            'message_ja', '変更前の商品が定期商品に含まれていません',
            'message_en', 'the subscription does not contain the product to replace'),
        -- Decision: a master that already has the to-product fails rather
        -- than merging two lines (which would change the quantity delivered).
        jsonb_build_object('code', 'already_has_product',
            'condition', $$NOT EXISTS (SELECT 1 FROM bulkorder.subscription_items si
                   WHERE si.course_order_no = t.course_order_no
                     AND si.product_id = (p->>'to_product_id')::bigint)$$,
            'message_ja', '変更後の商品がすでに定期商品に含まれているため入れ替えできません',
            'message_en', 'the subscription already contains the replacement product'),
        jsonb_build_object('code', 'payment_method_not_allowed',
            'condition', $$EXISTS (SELECT 1 FROM bulkorder.product_payment_methods pp
               WHERE pp.product_id = (p->>'to_product_id')::bigint
                 AND pp.payment_method = t.payment_method)$$,
            'message_ja', '変更後の商品がこの定期注文の決済方法に対応していません',
            'message_en', 'the replacement product does not allow the subscription''s payment method'),
        jsonb_build_object('code', 'delivery_method_not_allowed',
            'condition', $$t.delivery_method IS NULL
       OR EXISTS (SELECT 1 FROM bulkorder.product_delivery_methods pd
                  WHERE pd.product_id = (p->>'to_product_id')::bigint
                    AND pd.delivery_method = t.delivery_method)$$,
            'message_ja', '変更後の商品がこの定期注文の配送方法に対応していません',
            'message_en', 'the replacement product does not allow the subscription''s delivery method'),
        jsonb_build_object('code', 'frequency_not_allowed',
            'condition', $$t.frequency_id IS NULL
       OR EXISTS (SELECT 1 FROM bulkorder.product_frequencies pf
                  WHERE pf.product_id = (p->>'to_product_id')::bigint
                    AND pf.frequency_id = t.frequency_id)$$,
            'message_ja', '変更後の商品がこの定期注文のお届け頻度に対応していません',
            'message_en', 'the replacement product does not allow the subscription''s delivery frequency')),
    checks => jsonb_build_array(
        jsonb_build_object('condition', $$(p->>'from_product_id')::bigint <> (p->>'to_product_id')::bigint$$,
            'message', 'from_product_id and to_product_id are the same product'),
        jsonb_build_object('condition', $$EXISTS (SELECT 1 FROM bulkorder.products pr
               WHERE pr.product_id = (p->>'to_product_id')::bigint AND pr.is_public)$$,
            'message', 'the replacement product does not exist or is not public',
            'hint', 'Only a public product can be delivered by a subscription.',
            'hint_ja', '定期で届けられるのは公開中の商品だけです。')),
    -- 定期商品 (swap_product): the master's line goes back to the other product,
    -- quantity kept, where the line is as the job left it and the master has no
    -- line of that product again.
    revert => jsonb_build_object(
        'condition', $$EXISTS (SELECT 1 FROM bulkorder.subscription_items si
                 WHERE si.course_order_no = t.course_order_no
                   AND si.product_id = (s.after->>'product_id')::bigint
                   AND si.quantity = (s.after->>'quantity')::integer)
        AND NOT EXISTS (SELECT 1 FROM bulkorder.subscription_items si
                        WHERE si.course_order_no = t.course_order_no
                          AND si.product_id = (s.before->>'product_id')::bigint)$$,
        'before_sql', $$(SELECT jsonb_build_object('product_id', si.product_id, 'quantity', si.quantity)
                           FROM bulkorder.subscription_items si
                           WHERE si.course_order_no = t.course_order_no
                             AND si.product_id = (s.after->>'product_id')::bigint)$$,
        'apply_sql', $$applied AS (
        UPDATE bulkorder.subscription_items si SET product_id = (s.before->>'product_id')::bigint
          FROM eligible s
         WHERE si.course_order_no = s.target AND si.product_id = (s.after->>'product_id')::bigint
     RETURNING si.course_order_no AS target,
               jsonb_build_object('product_id', si.product_id, 'quantity', si.quantity) AS after)$$));

-- コース注文状況: 継続 / 停止.  終了 is not a bulk change: the enum leaves it
-- out, so "ended" rejects the call.
SELECT bulkorder.define_operation('subscriptions', 'course_status',
    name_ja => 'コース注文状況', name_en => 'course status',
    wrapper => 'bulk_subscription_course_status',
    params => '{"status": {"type": "text", "enum": ["active", "paused"], "position": 1}}',
    changed_columns => '{status}',
    set_clause => $$status = p->>'status'$$,
    rules => bulkorder_catalog.subscription_ended_rule());

-- The free-text fields (00_common.sql): open on an ended master too
SELECT bulkorder.define_operation('subscriptions', 'customer_message',
    name_ja => 'お客様からの通信欄', name_en => 'message from the customer',
    wrapper => 'bulk_subscription_customer_message',
    params => bulkorder_catalog.text_field_params(),
    changed_columns => '{customer_message}',
    set_clause => bulkorder_catalog.text_field_set('customer_message'),
    rules => bulkorder_catalog.text_field_rules('customer_message'));

SELECT bulkorder.define_operation('subscriptions', 'reply_message',
    name_ja => 'お客様への返信', name_en => 'reply to the customer',
    wrapper => 'bulk_subscription_reply_message',
    params => bulkorder_catalog.text_field_params(),
    changed_columns => '{reply_message}',
    set_clause => bulkorder_catalog.text_field_set('reply_message'),
    rules => bulkorder_catalog.text_field_rules('reply_message'));

SELECT bulkorder.define_operation('subscriptions', 'remarks',
    name_ja => '備考欄', name_en => 'remarks',
    wrapper => 'bulk_subscription_remarks',
    params => bulkorder_catalog.text_field_params(),
    changed_columns => '{remarks}',
    set_clause => bulkorder_catalog.text_field_set('remarks'),
    rules => bulkorder_catalog.text_field_rules('remarks'));

SELECT bulkorder.define_operation('subscriptions', 'integration_text',
    name_ja => '連携用補足テキスト', name_en => 'integration text',
    wrapper => 'bulk_subscription_integration_text',
    params => bulkorder_catalog.text_field_params(),
    changed_columns => '{integration_text}',
    set_clause => bulkorder_catalog.text_field_set('integration_text'),
    rules => bulkorder_catalog.text_field_rules('integration_text'));
