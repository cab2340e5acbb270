-- Subscription masters page (受注管理 > 定期注文マスター), SPEC §3.
--
-- The four text operations (customer_message, reply_message, remarks,
-- integration_text) are declared with those of the other pages in
-- 00_common.sql; this file adds the page's other six and the rule every
-- operation of the page keeps: nothing changes an `ended` (終了) master.

INSERT INTO bulkorder_catalog.operations
    (page, operation, name_ja, name_en, params, changed_columns, set_clause, apply_sql,
     before_sql, wrapper)
VALUES
    -- One or both dates; the one not given keeps its stored value.  Giving
    -- the delivery date re-anchors a monthly cycle on its day.
    ('subscriptions', 'next_dates', '次回配送関連日', 'next delivery dates',
     '{"next_ship_date": {"type": "date", "nullable": true, "default": null, "position": 1},
       "next_delivery_date": {"type": "date", "nullable": true, "default": null, "position": 2}}',
     '{next_ship_date,next_delivery_date,anchor_day}',
     $$next_ship_date = coalesce((p->>'next_ship_date')::date, t.next_ship_date),
       next_delivery_date = coalesce((p->>'next_delivery_date')::date, t.next_delivery_date),
       anchor_day = coalesce(extract(day FROM (p->>'next_delivery_date')::date)::integer, t.anchor_day)$$,
     NULL, NULL,
     'bulk_subscription_next_dates'),
    ('subscriptions', 'next_delivery_method', '次回発送方法', 'next delivery method',
     '{"delivery_method": {"type": "text", "position": 1},
       "time_slot": {"type": "text", "nullable": true, "default": null, "position": 2}}',
     '{delivery_method,delivery_time_slot}',
     $$delivery_method = p->>'delivery_method', delivery_time_slot = p->>'time_slot'$$,
     NULL, NULL,
     'bulk_subscription_next_delivery_method'),
    ('subscriptions', 'clear_autogen_error', '定期自動生成エラー', 'clear auto-generation error',
     '{}',
     '{autogen_error,autogen_error_reason}',
     $$autogen_error = false, autogen_error_reason = NULL$$,
     NULL, NULL,
     'bulk_subscription_clear_autogen_error'),
    -- Takes effect from the next delivery on: the next dates already set
    -- stay; generation advances them by the new frequency.
    ('subscriptions', 'frequency', 'お届け頻度設定', 'delivery frequency',
     '{"frequency_id": {"type": "bigint", "position": 1}}',
     '{frequency_id}',
     $$frequency_id = (p->>'frequency_id')::bigint$$,
     NULL, NULL,
     'bulk_subscription_frequency'),
    -- The master's line of the from-product now holds the to-product, with
    -- the same quantity.  before/after: that line.
    ('subscriptions', 'swap_product', '定期商品', 'swap product',
     '{"from_product_id": {"type": "bigint", "position": 1},
       "to_product_id": {"type": "bigint", "position": 2}}',
     '{product_id,quantity}',
     NULL,
     $$applied AS (
         UPDATE bulkorder.subscription_items si
         SET product_id = (prm.p->>'to_product_id')::bigint
         FROM eligible e, prm
         WHERE si.course_order_no = e.target
           AND si.product_id = (prm.p->>'from_product_id')::bigint
         RETURNING si.course_order_no AS target,
                   jsonb_build_object('product_id', si.product_id, 'quantity', si.quantity) AS after)$$,
     $$(SELECT jsonb_build_object('product_id', si.product_id, 'quantity', si.quantity)
        FROM bulkorder.subscription_items si
        WHERE si.course_order_no = t.course_order_no
          AND si.product_id = (p->>'from_product_id')::bigint)$$,
     'bulk_subscription_swap_product'),
    -- 継続 / 停止.  終了 is not a bulk change: the enum leaves it out, so
    -- "ended" rejects the call.
    ('subscriptions', 'course_status', 'コース注文状況', 'course status',
     '{"status": {"type": "text", "enum": ["active", "paused"], "position": 1}}',
     '{status}',
     $$status = p->>'status'$$,
     NULL, NULL,
     'bulk_subscription_course_status');

-- Per-target rules.  Position 0: an ended master's course is never changed
-- (dates, method, frequency, products, status, generation error).  Its
-- free-text fields stay open, as SPEC §3 says ("any"): operators note on an
-- ended course why it ended.
INSERT INTO bulkorder_catalog.operation_rules
    (page, operation, position, error_code, condition, message_ja, message_en)
SELECT o.page, o.operation, 0, 'subscription_ended', $$t.status <> 'ended'$$,
       '終了した定期注文マスターは変更できません',
       'an ended subscription master cannot be changed'
FROM bulkorder_catalog.operations o
WHERE o.page = 'subscriptions'
  AND o.operation NOT IN ('customer_message', 'reply_message', 'remarks', 'integration_text');

INSERT INTO bulkorder_catalog.operation_rules
    (page, operation, position, error_code, condition, message_ja, message_en)
VALUES
    -- the resulting dates, a given one combined with the stored other one
    ('subscriptions', 'next_dates', 1, 'ship_after_delivery',
     $$coalesce((p->>'next_ship_date')::date, t.next_ship_date) IS NULL
       OR coalesce((p->>'next_delivery_date')::date, t.next_delivery_date) IS NULL
       OR coalesce((p->>'next_ship_date')::date, t.next_ship_date)
          <= coalesce((p->>'next_delivery_date')::date, t.next_delivery_date)$$,
     '次回発送予定日が次回お届け予定日より後になるため変更できません',
     'the next ship date would be after the next delivery date'),
    ('subscriptions', 'next_delivery_method', 1, 'delivery_method_not_allowed',
     $$NOT EXISTS (SELECT 1 FROM bulkorder.subscription_items si
                   WHERE si.course_order_no = t.course_order_no
                     AND NOT EXISTS (SELECT 1 FROM bulkorder.product_delivery_methods pd
                                     WHERE pd.product_id = si.product_id
                                       AND pd.delivery_method = p->>'delivery_method'))$$,
     '定期商品にこの配送方法に対応していない商品があるため変更できません',
     'a product of the subscription does not allow this delivery method'),
    ('subscriptions', 'clear_autogen_error', 1, 'no_autogen_error', $$t.autogen_error$$,
     '定期自動生成エラーはありません',
     'the subscription has no auto-generation error'),
    ('subscriptions', 'frequency', 1, 'frequency_not_allowed',
     $$NOT EXISTS (SELECT 1 FROM bulkorder.subscription_items si
                   WHERE si.course_order_no = t.course_order_no
                     AND NOT EXISTS (SELECT 1 FROM bulkorder.product_frequencies pf
                                     WHERE pf.product_id = si.product_id
                                       AND pf.frequency_id = (p->>'frequency_id')::bigint))$$,
     '定期商品にこのお届け頻度に対応していない商品があるため変更できません',
     'a product of the subscription does not allow this delivery frequency'),
    ('subscriptions', 'swap_product', 1, 'product_not_in_subscription',
     $$EXISTS (SELECT 1 FROM bulkorder.subscription_items si
               WHERE si.course_order_no = t.course_order_no
                 AND si.product_id = (p->>'from_product_id')::bigint)$$,
     '変更前の商品が定期商品に含まれていません',
     'the subscription does not contain the product to replace'),
    -- Decision: a master that already has the to-product fails rather than
    -- merging two lines (which would change the quantity delivered).
    ('subscriptions', 'swap_product', 2, 'already_has_product',
     $$NOT EXISTS (SELECT 1 FROM bulkorder.subscription_items si
                   WHERE si.course_order_no = t.course_order_no
                     AND si.product_id = (p->>'to_product_id')::bigint)$$,
     '変更後の商品がすでに定期商品に含まれているため入れ替えできません',
     'the subscription already contains the replacement product'),
    ('subscriptions', 'swap_product', 3, 'payment_method_not_allowed',
     $$EXISTS (SELECT 1 FROM bulkorder.product_payment_methods pp
               WHERE pp.product_id = (p->>'to_product_id')::bigint
                 AND pp.payment_method = t.payment_method)$$,
     '変更後の商品がこの定期注文の決済方法に対応していません',
     'the replacement product does not allow the subscription''s payment method'),
    ('subscriptions', 'swap_product', 4, 'delivery_method_not_allowed',
     $$t.delivery_method IS NULL
       OR EXISTS (SELECT 1 FROM bulkorder.product_delivery_methods pd
                  WHERE pd.product_id = (p->>'to_product_id')::bigint
                    AND pd.delivery_method = t.delivery_method)$$,
     '変更後の商品がこの定期注文の配送方法に対応していません',
     'the replacement product does not allow the subscription''s delivery method'),
    ('subscriptions', 'swap_product', 5, 'frequency_not_allowed',
     $$t.frequency_id IS NULL
       OR EXISTS (SELECT 1 FROM bulkorder.product_frequencies pf
                  WHERE pf.product_id = (p->>'to_product_id')::bigint
                    AND pf.frequency_id = t.frequency_id)$$,
     '変更後の商品がこの定期注文のお届け頻度に対応していません',
     'the replacement product does not allow the subscription''s delivery frequency');

-- Whole-call checks: wrong for every target, so the call is rejected.
INSERT INTO bulkorder_catalog.operation_param_checks
    (page, operation, position, condition, sqlstate, message, hint)
VALUES
    ('subscriptions', 'next_dates', 1,
     $$p->>'next_ship_date' IS NOT NULL OR p->>'next_delivery_date' IS NOT NULL$$, '22023',
     'neither next_ship_date nor next_delivery_date is given',
     'Give the next ship date, the next delivery date, or both.'),
    ('subscriptions', 'next_dates', 2,
     $$p->>'next_ship_date' IS NULL OR p->>'next_delivery_date' IS NULL
       OR (p->>'next_ship_date')::date <= (p->>'next_delivery_date')::date$$, '22023',
     'next_ship_date is after next_delivery_date',
     'The next ship date must be on or before the next delivery date.'),
    ('subscriptions', 'next_delivery_method', 1,
     $$EXISTS (SELECT 1 FROM bulkorder.delivery_methods dm WHERE dm.code = p->>'delivery_method')$$,
     '22023', 'unknown delivery method',
     'The delivery methods are the codes of bulkorder.delivery_methods.'),
    ('subscriptions', 'next_delivery_method', 2,
     $$p->>'time_slot' IS NULL
       OR EXISTS (SELECT 1 FROM bulkorder.delivery_time_slots ts
                  WHERE ts.delivery_method = p->>'delivery_method' AND ts.code = p->>'time_slot')$$,
     '22023', 'the time slot does not belong to the delivery method',
     'Give one of the method''s slots in bulkorder.delivery_time_slots, or null (指定なし).'),
    ('subscriptions', 'frequency', 1,
     $$EXISTS (SELECT 1 FROM bulkorder.frequencies f WHERE f.frequency_id = (p->>'frequency_id')::bigint)$$,
     '22023', 'unknown frequency',
     'The frequencies are the rows of bulkorder.frequencies.'),
    ('subscriptions', 'swap_product', 1,
     $$(p->>'from_product_id')::bigint <> (p->>'to_product_id')::bigint$$, '22023',
     'from_product_id and to_product_id are the same product', NULL),
    ('subscriptions', 'swap_product', 2,
     $$EXISTS (SELECT 1 FROM bulkorder.products pr
               WHERE pr.product_id = (p->>'to_product_id')::bigint AND pr.is_public)$$,
     '22023', 'the replacement product does not exist or is not public',
     'Only a public product can be delivered by a subscription.');
