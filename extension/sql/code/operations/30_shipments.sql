-- Shipments page (仕入・出荷管理 > 出荷一覧): docs/operations.md.  Its rows
-- are orders (bulkorder_catalog.pages: target_table bulkorder.orders), but
-- its jobs are its own: they show in shipment_bulk_history, not in
-- order_bulk_history.  One define_operation call per operation.

-- 配送関連日程: an awaiting order's scheduled ship and delivery dates.  With
-- update_subscription (「定期注文マスターも同時に更新」) the order's master
-- gets its next dates recomputed from the new dates and its frequency, by
-- bulkorder.frequency_next_date, the one implementation of that arithmetic:
--   next_delivery_date = frequency_next_date(delivery_date, frequency)
--   next_ship_date     = next_delivery_date - (delivery_date - ship_date)
-- The ship date keeps the order's lead time (as generation does), so a
-- day-of-month cycle can never put the next shipment in the same month; the
-- delivery day becomes the master's month anchor.
-- An order with no master (a one-off order) just changes.  An ended master
-- has no next delivery: it is left as it is and the order still changes.
-- A live master without a frequency cannot be recomputed: that order fails
-- (subscription_frequency_missing) and nothing of it changes.  The item's
-- before/after hold the order's dates and, where the master was updated,
-- its next_ship_date / next_delivery_date.
SELECT bulkorder.define_operation('shipments', 'delivery_dates',
    name_ja => '配送関連日程', name_en => 'delivery dates',
    wrapper => 'bulk_shipment_delivery_dates',
    params => '{"ship_date": {"type": "date", "position": 1},
                "delivery_date": {"type": "date", "position": 2},
                "update_subscription": {"type": "boolean", "position": 3}}',
    changed_columns => '{scheduled_ship_date,scheduled_delivery_date}',
    apply_sql => $$shipment_orders AS (
         UPDATE bulkorder.orders AS t
            SET scheduled_ship_date = (prm.p->>'ship_date')::date,
                scheduled_delivery_date = (prm.p->>'delivery_date')::date
           FROM eligible e, prm
          WHERE t.order_no = e.target
      RETURNING t.order_no AS target, t.course_order_no,
                t.scheduled_ship_date, t.scheduled_delivery_date),
       shipment_masters AS (
         UPDATE bulkorder.subscriptions AS s
            SET next_delivery_date = bulkorder.frequency_next_date((prm.p->>'delivery_date')::date, s.frequency_id),
                next_ship_date = bulkorder.frequency_next_date((prm.p->>'delivery_date')::date, s.frequency_id)
                                 - ((prm.p->>'delivery_date')::date - (prm.p->>'ship_date')::date),
                anchor_day = extract(day FROM (prm.p->>'delivery_date')::date)::integer
           FROM (SELECT DISTINCT so.course_order_no FROM shipment_orders so) AS so, prm
          WHERE (prm.p->>'update_subscription')::boolean
            AND s.course_order_no = so.course_order_no
            AND s.status <> 'ended'
      RETURNING s.course_order_no, s.next_ship_date, s.next_delivery_date),
       applied AS (
         SELECT so.target,
                jsonb_build_object('scheduled_ship_date', so.scheduled_ship_date,
                                   'scheduled_delivery_date', so.scheduled_delivery_date)
                || CASE WHEN m.course_order_no IS NULL THEN '{}'::jsonb
                        ELSE jsonb_build_object('next_ship_date', m.next_ship_date,
                                                'next_delivery_date', m.next_delivery_date) END
                AS after
           FROM shipment_orders so
           LEFT JOIN shipment_masters m ON m.course_order_no = so.course_order_no)$$,
    before_sql => $$jsonb_build_object('scheduled_ship_date', t.scheduled_ship_date,
                          'scheduled_delivery_date', t.scheduled_delivery_date)
       || CASE WHEN (p->>'update_subscription')::boolean
               THEN coalesce((SELECT jsonb_build_object('next_ship_date', s.next_ship_date,
                                                        'next_delivery_date', s.next_delivery_date,
                                                        'course_order_no', s.course_order_no,
                                                        'anchor_day', s.anchor_day)
                              FROM bulkorder.subscriptions s
                              WHERE s.course_order_no = t.course_order_no AND s.status <> 'ended'),
                             '{}'::jsonb)
               ELSE '{}'::jsonb END$$,
    -- the masters the change will update, in their key order (the orders
    -- are locked already, so their status read here is stable)
    lock_sql => $$SELECT 1 FROM bulkorder.subscriptions s
        WHERE ($2->>'update_subscription')::boolean
          AND s.course_order_no IN (SELECT o.course_order_no FROM bulkorder.orders o
                                    WHERE o.order_no = ANY ($1)
                                      AND o.status = 'awaiting_shipment' AND o.deleted_at IS NULL)
        ORDER BY s.course_order_no
          FOR NO KEY UPDATE OF s$$,
    rules => jsonb_build_array(
        jsonb_build_object('code', 'not_awaiting_shipment', 'condition', $$t.status = 'awaiting_shipment'$$,
            'message_ja', '出荷待ちの注文ではないため配送関連日程を変更できません',
            'message_en', 'only orders awaiting shipment can have their delivery dates changed'),
        jsonb_build_object('code', 'subscription_frequency_missing',
            'condition', $$NOT (p->>'update_subscription')::boolean
       OR t.course_order_no IS NULL
       OR EXISTS (SELECT 1 FROM bulkorder.subscriptions s
                  WHERE s.course_order_no = t.course_order_no
                    AND (s.status = 'ended' OR s.frequency_id IS NOT NULL))$$,
            'message_ja', '定期注文マスターにお届け頻度が設定されていないため次回配送関連日を計算できません',
            'message_en', 'the subscription master has no delivery frequency to compute its next dates from')),
    checks => jsonb_build_array(
        jsonb_build_object('condition', $$(p->>'ship_date')::date <= (p->>'delivery_date')::date$$,
            'message', 'ship_date is after delivery_date',
            'hint', 'The scheduled ship date must be on or before the delivery date.',
            'hint_ja', '発送予定日はお届け予定日以前の日付にしてください。')),
    -- 配送関連日程: the order's dates and, where the job moved them, its master's
    -- next dates and month anchor.  1.1 records the master (course_order_no) and
    -- its anchor_day in the before image; an item of 1.0 that moved a master
    -- lacks them and fails revert_image_incomplete.
    revert => jsonb_build_object(
        'condition', $$t.scheduled_ship_date IS NOT DISTINCT FROM (s.after->>'scheduled_ship_date')::date
        AND t.scheduled_delivery_date IS NOT DISTINCT FROM (s.after->>'scheduled_delivery_date')::date
        AND (NOT s.after ? 'next_ship_date'
             OR EXISTS (SELECT 1 FROM bulkorder.subscriptions m
                        WHERE m.course_order_no = t.course_order_no
                          AND m.next_ship_date IS NOT DISTINCT FROM (s.after->>'next_ship_date')::date
                          AND m.next_delivery_date IS NOT DISTINCT FROM (s.after->>'next_delivery_date')::date))$$,
        'rules', jsonb_build_array(jsonb_build_object(
        'code', 'revert_image_incomplete',
        'condition', $$NOT s.before ? 'next_ship_date' OR s.before ? 'anchor_day'$$,
        'message_ja', 'bulkorder 1.0 で記録された一括更新のため定期注文マスターの基準日がなく、元に戻せません',
        'message_en', 'recorded by bulkorder 1.0 without the master''s anchor day: it cannot be restored exactly')),
        'before_sql', $$jsonb_build_object('scheduled_ship_date', t.scheduled_ship_date,
                          'scheduled_delivery_date', t.scheduled_delivery_date)
       || CASE WHEN s.after ? 'next_ship_date'
               THEN coalesce((SELECT jsonb_build_object('next_ship_date', m.next_ship_date,
                                                        'next_delivery_date', m.next_delivery_date,
                                                        'course_order_no', m.course_order_no,
                                                        'anchor_day', m.anchor_day)
                              FROM bulkorder.subscriptions m
                              WHERE m.course_order_no = t.course_order_no), '{}'::jsonb)
               ELSE '{}'::jsonb END$$,
        'apply_sql', $$dates_restored AS (
        UPDATE bulkorder.orders AS t
           SET scheduled_ship_date = (s.before->>'scheduled_ship_date')::date,
               scheduled_delivery_date = (s.before->>'scheduled_delivery_date')::date
          FROM eligible s
         WHERE t.order_no = s.target
     RETURNING t.order_no AS target, t.scheduled_ship_date, t.scheduled_delivery_date, s.before AS src_before),
       master_restored AS (
        UPDATE bulkorder.subscriptions m
           SET next_ship_date = x.next_ship_date, next_delivery_date = x.next_delivery_date,
               anchor_day = x.anchor_day
          FROM (SELECT DISTINCT ON ((s.before->>'course_order_no')::bigint)
                       (s.before->>'course_order_no')::bigint AS course_order_no,
                       (s.before->>'next_ship_date')::date AS next_ship_date,
                       (s.before->>'next_delivery_date')::date AS next_delivery_date,
                       (s.before->>'anchor_day')::integer AS anchor_day
                  FROM eligible s
                 WHERE s.before ? 'course_order_no'
                 ORDER BY 1) AS x
         WHERE m.course_order_no = x.course_order_no
     RETURNING m.course_order_no),
       applied AS (
        SELECT d.target,
               jsonb_build_object('scheduled_ship_date', d.scheduled_ship_date,
                                  'scheduled_delivery_date', d.scheduled_delivery_date)
               || CASE WHEN d.src_before ? 'next_ship_date'
                       THEN jsonb_build_object('next_ship_date', d.src_before->'next_ship_date',
                                               'next_delivery_date', d.src_before->'next_delivery_date',
                                               'course_order_no', d.src_before->'course_order_no',
                                               'anchor_day', d.src_before->'anchor_day')
                       ELSE '{}'::jsonb END AS after
          FROM dates_restored d)$$,
        'lock_sql', $$SELECT 1 FROM bulkorder.subscriptions m
        WHERE m.course_order_no IN (SELECT o.course_order_no FROM bulkorder.orders o WHERE o.order_no = ANY ($1))
        ORDER BY m.course_order_no
          FOR NO KEY UPDATE OF m$$));

-- 注文ステータス: shipped → awaiting_shipment, nothing else.  The tracking
-- number, ship_mail_sent and ship_report_status stay as they are: the next
-- shipment import overwrites the tracking number, and whether a second
-- completion mail goes out is the operator's call (orders page
-- ship_mail_status).
SELECT bulkorder.define_operation('shipments', 'revert_to_awaiting',
    name_ja => '注文ステータス', name_en => 'back to awaiting shipment',
    wrapper => 'bulk_shipment_revert_to_awaiting',
    changed_columns => '{status}',
    set_clause => $$status = 'awaiting_shipment'$$,
    rules => jsonb_build_array(
        jsonb_build_object('code', 'not_shipped', 'condition', $$t.status = 'shipped'$$,
            'message_ja', '出荷済みの注文ではないため出荷待ちに戻せません',
            'message_en', 'only shipped orders can be set back to awaiting shipment')));

-- 配送方法: as on the orders page (00_common.sql), for the shipments page's
-- own jobs.
SELECT bulkorder_catalog.define_delivery_method('shipments', 'bulk_shipment_delivery_method');
