-- How each shipped operation is undone (SPEC §7 "Undoing a job"; README,
-- "Undoing a job").  Runs after every operation is declared (00_common.sql
-- deletes and re-declares them all, so these lines run again too).
--
-- An operation whose change is confined to the target's own fields needs
-- nothing here: the generic revert (catalog.c, bulk_lookup_revert) checks
-- that the fields of the item's after image still hold it and sets them back
-- to its before image, and withdraws the payment requests and mails the job
-- queued for that target.  The operations below change other rows, or are
-- undone in another way; each statement is written for both directions
-- ("make the rows what s.before says, where they are what s.after says"), so
-- the revert of a revert applies the change again.
--
-- Fragments: t the target row, s the reverted job's item (s.before, s.after),
-- a (in revert_condition) the target's row type filled from s.after, p the
-- original params; in revert_apply_sql, eligible (target, before, after: the
-- eligible targets with their items' images; read it as `eligible s`).
-- $2 is the revert's params ($2->>'job_id' the reverted job).

-- 削除: the revert sees the orders the job deleted.  An order whose
-- course_seq a later generated order of its subscription took again
-- (SPEC §3 delete) cannot come back: two orders would share one place.
UPDATE bulkorder_catalog.operations
SET revert_visible_condition = 'true',
    revert_rules = jsonb_build_array(jsonb_build_object(
        'code', 'course_seq_reused',
        'condition', $$s.before->>'deleted_at' IS NOT NULL
            OR t.course_order_no IS NULL OR t.course_seq IS NULL
            OR NOT EXISTS (SELECT 1 FROM bulkorder.orders o
                           WHERE o.course_order_no = t.course_order_no AND o.course_seq = t.course_seq
                             AND o.order_no <> t.order_no AND o.deleted_at IS NULL)$$,
        'message_ja', '削除後に同じ回数の定期注文が生成されているため元に戻せません',
        'message_en', 'a later generated order of the subscription took this order''s place (course_seq)'))
WHERE page = 'orders' AND operation = 'delete';

-- ポイント: as the delta given (SPEC §7): the revert subtracts the job's
-- delta from today's balance, whatever happened to it since.
UPDATE bulkorder_catalog.operations
SET revert_condition = 'true',
    revert_rules = jsonb_build_array(
        jsonb_build_object(
            'code', 'points_below_zero',
            'condition', $$t.points::bigint - ((s.after->>'points')::bigint - (s.before->>'points')::bigint) >= 0$$,
            'message_ja', 'ポイント残高が不足するため取り消せません',
            'message_en', 'the point balance would go below zero'),
        jsonb_build_object(
            'code', 'points_overflow',
            'condition', $$t.points::bigint - ((s.after->>'points')::bigint - (s.before->>'points')::bigint) <= 2147483647$$,
            'message_ja', 'ポイント残高が上限を超えるため取り消せません',
            'message_en', 'the point balance would exceed its maximum')),
    revert_apply_sql = $$applied AS (
        UPDATE bulkorder.customers AS t
           SET points = t.points - ((s.after->>'points')::integer - (s.before->>'points')::integer)
          FROM eligible s
         WHERE t.customer_id = s.target
     RETURNING t.customer_id AS target, jsonb_build_object('points', t.points) AS after)$$
WHERE page = 'customers' AND operation = 'points';

-- 商品を一括追加 / 商品を一括削除: the order's line of the product, as the
-- image records it (quantity null: no line).
UPDATE bulkorder_catalog.operations
SET revert_condition = $$(SELECT i.quantity IS NOT DISTINCT FROM (s.after->>'quantity')::integer
                                 AND i.unit_price IS NOT DISTINCT FROM (s.after->>'unit_price')::integer
                          FROM (SELECT) AS one
                          LEFT JOIN bulkorder.order_items i
                                 ON i.order_no = t.order_no AND i.product_id = (s.after->>'product_id')::bigint)$$,
    revert_before_sql = $$(SELECT jsonb_build_object('product_id', (s.after->>'product_id')::bigint,
                                                     'quantity', i.quantity, 'unit_price', i.unit_price)
                           FROM (SELECT) AS one
                           LEFT JOIN bulkorder.order_items i
                                  ON i.order_no = t.order_no AND i.product_id = (s.after->>'product_id')::bigint)$$,
    revert_apply_sql = $$line_removed AS (
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
          FROM line_added)$$
WHERE page = 'orders' AND operation IN ('add_products', 'remove_products');

-- 定期注文自動生成エラー解除 (orders page): the order's flag and its
-- master's flag and reason.  1.1 records the master's reason in the before
-- image; an item recorded by 1.0 lacks it, and reverting it fails
-- (revert_image_incomplete) rather than bring the error back without its reason.
UPDATE bulkorder_catalog.operations
SET before_sql = $$jsonb_build_object('autogen_error', t.autogen_error,
                          'course_order_no', t.course_order_no,
                          'subscription_autogen_error',
                          (SELECT s.autogen_error FROM bulkorder.subscriptions s
                           WHERE s.course_order_no = t.course_order_no),
                          'subscription_autogen_error_reason',
                          (SELECT s.autogen_error_reason FROM bulkorder.subscriptions s
                           WHERE s.course_order_no = t.course_order_no))$$,
    revert_condition = $$t.autogen_error = (s.after->>'autogen_error')::boolean
        AND (SELECT m.autogen_error FROM bulkorder.subscriptions m
             WHERE m.course_order_no = t.course_order_no)
            IS NOT DISTINCT FROM (s.after->>'subscription_autogen_error')::boolean$$,
    revert_rules = jsonb_build_array(jsonb_build_object(
        'code', 'revert_image_incomplete',
        'condition', $$s.before ? 'subscription_autogen_error_reason'
            OR NOT coalesce((s.before->>'subscription_autogen_error')::boolean, false)$$,
        'message_ja', 'bulkorder 1.0 で記録された一括更新のため定期注文マスターのエラー理由がなく、元に戻せません',
        'message_en', 'recorded by bulkorder 1.0 without the master''s error reason: it cannot be restored exactly')),
    revert_before_sql = $$jsonb_build_object('autogen_error', t.autogen_error,
                          'course_order_no', t.course_order_no,
                          'subscription_autogen_error',
                          (SELECT m.autogen_error FROM bulkorder.subscriptions m
                           WHERE m.course_order_no = t.course_order_no),
                          'subscription_autogen_error_reason',
                          (SELECT m.autogen_error_reason FROM bulkorder.subscriptions m
                           WHERE m.course_order_no = t.course_order_no))$$,
    revert_apply_sql = $$flag_restored AS (
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
    revert_lock_sql = $$SELECT 1 FROM bulkorder.subscriptions m
        WHERE m.course_order_no IN (SELECT o.course_order_no FROM bulkorder.orders o WHERE o.order_no = ANY ($1))
        ORDER BY m.course_order_no
          FOR NO KEY UPDATE OF m$$
WHERE page = 'orders' AND operation = 'clear_autogen_error';

-- ブラックリスト (orders page): the orders' customers, locked before the
-- orders as the operation does.
UPDATE bulkorder_catalog.operations
SET revert_condition = $$(SELECT c.blacklist_status FROM bulkorder.customers c
                          WHERE c.customer_id = t.customer_id) = s.after->>'blacklist_status'$$,
    revert_before_sql = $$jsonb_build_object('customer_id', t.customer_id,
                          'blacklist_status', (SELECT c.blacklist_status FROM bulkorder.customers c
                                               WHERE c.customer_id = t.customer_id))$$,
    revert_apply_sql = $$customers_restored AS (
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
    revert_prelock_sql = $$SELECT 1 FROM bulkorder.customers c
       WHERE c.customer_id IN (SELECT o.customer_id FROM bulkorder.orders o WHERE o.order_no = ANY ($1))
       ORDER BY c.customer_id
       FOR NO KEY UPDATE OF c$$
WHERE page = 'orders' AND operation = 'blacklist';

-- ブラックリスト (customers page): the status, and the orders it put on
-- hold (after.held_orders) released, where they are all still held.  The
-- revert's before image keeps held_orders, so its own revert holds them again.
UPDATE bulkorder_catalog.operations
SET revert_condition = $$t.blacklist_status = s.after->>'blacklist_status'
        AND NOT EXISTS (SELECT 1 FROM bulkorder.orders o
                        WHERE o.order_no IN (SELECT h::bigint FROM jsonb_array_elements_text(coalesce(s.after->'held_orders', '[]')) h)
                          AND NOT o.shipping_hold)
        AND NOT EXISTS (SELECT 1 FROM bulkorder.orders o
                        WHERE o.order_no IN (SELECT h::bigint FROM jsonb_array_elements_text(coalesce(s.before->'held_orders', '[]')) h)
                          AND o.shipping_hold)
        AND cardinality(ARRAY(SELECT jsonb_array_elements_text(coalesce(s.after->'held_orders', '[]'))))
            = (SELECT count(*) FROM bulkorder.orders o
               WHERE o.order_no IN (SELECT h::bigint FROM jsonb_array_elements_text(coalesce(s.after->'held_orders', '[]')) h)
                 AND o.deleted_at IS NULL)$$,
    revert_before_sql = $$jsonb_build_object('blacklist_status', t.blacklist_status)
        || CASE WHEN s.after ? 'held_orders' THEN jsonb_build_object('held_orders', s.after->'held_orders')
                ELSE '{}'::jsonb END$$,
    revert_apply_sql = $$listed AS (
        UPDATE bulkorder.customers AS t SET blacklist_status = s.before->>'blacklist_status'
          FROM eligible s
         WHERE t.customer_id = s.target
     RETURNING t.customer_id AS target, t.blacklist_status, s.before AS src_before),
       hold_restored AS (
        UPDATE bulkorder.orders o SET shipping_hold = x.hold
          FROM (SELECT h::bigint AS order_no, false AS hold
                  FROM eligible s,
                       jsonb_array_elements_text(coalesce(s.after->'held_orders', '[]')) h
                UNION ALL
                SELECT h::bigint, true
                  FROM eligible s,
                       jsonb_array_elements_text(coalesce(s.before->'held_orders', '[]')) h) AS x
         WHERE o.order_no = x.order_no
     RETURNING o.order_no),
       applied AS (
        SELECT l.target,
               jsonb_build_object('blacklist_status', l.blacklist_status)
               || CASE WHEN l.src_before ? 'held_orders' THEN jsonb_build_object('held_orders', l.src_before->'held_orders')
                       ELSE '{}'::jsonb END AS after
          FROM listed l)$$,
    revert_lock_sql = $$SELECT 1 FROM bulkorder.orders o
        WHERE o.order_no IN (SELECT h::bigint
                               FROM bulkorder.bulk_job_items i,
                                    jsonb_array_elements_text(coalesce(i.after->'held_orders', '[]')
                                                              || coalesce(i.before->'held_orders', '[]')) h
                              WHERE i.job_id = ($2->>'job_id')::bigint AND i.target = ANY ($1) AND i.ok)
        ORDER BY o.order_no
          FOR NO KEY UPDATE OF o$$
WHERE page = 'customers' AND operation = 'blacklist';

-- 定期商品 (swap_product): the master's line goes back to the other product,
-- quantity kept, where the line is as the job left it and the master has no
-- line of that product again.
UPDATE bulkorder_catalog.operations
SET revert_condition = $$EXISTS (SELECT 1 FROM bulkorder.subscription_items si
                 WHERE si.course_order_no = t.course_order_no
                   AND si.product_id = (s.after->>'product_id')::bigint
                   AND si.quantity = (s.after->>'quantity')::integer)
        AND NOT EXISTS (SELECT 1 FROM bulkorder.subscription_items si
                        WHERE si.course_order_no = t.course_order_no
                          AND si.product_id = (s.before->>'product_id')::bigint)$$,
    revert_before_sql = $$(SELECT jsonb_build_object('product_id', si.product_id, 'quantity', si.quantity)
                           FROM bulkorder.subscription_items si
                           WHERE si.course_order_no = t.course_order_no
                             AND si.product_id = (s.after->>'product_id')::bigint)$$,
    revert_apply_sql = $$applied AS (
        UPDATE bulkorder.subscription_items si SET product_id = (s.before->>'product_id')::bigint
          FROM eligible s
         WHERE si.course_order_no = s.target AND si.product_id = (s.after->>'product_id')::bigint
     RETURNING si.course_order_no AS target,
               jsonb_build_object('product_id', si.product_id, 'quantity', si.quantity) AS after)$$
WHERE page = 'subscriptions' AND operation = 'swap_product';

-- 配送関連日程: the order's dates and, where the job moved them, its master's
-- next dates and month anchor.  1.1 records the master (course_order_no) and
-- its anchor_day in the before image; an item of 1.0 that moved a master
-- lacks them and fails revert_image_incomplete.
UPDATE bulkorder_catalog.operations
SET before_sql = $$jsonb_build_object('scheduled_ship_date', t.scheduled_ship_date,
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
    revert_condition = $$t.scheduled_ship_date IS NOT DISTINCT FROM (s.after->>'scheduled_ship_date')::date
        AND t.scheduled_delivery_date IS NOT DISTINCT FROM (s.after->>'scheduled_delivery_date')::date
        AND (NOT s.after ? 'next_ship_date'
             OR EXISTS (SELECT 1 FROM bulkorder.subscriptions m
                        WHERE m.course_order_no = t.course_order_no
                          AND m.next_ship_date IS NOT DISTINCT FROM (s.after->>'next_ship_date')::date
                          AND m.next_delivery_date IS NOT DISTINCT FROM (s.after->>'next_delivery_date')::date))$$,
    revert_rules = jsonb_build_array(jsonb_build_object(
        'code', 'revert_image_incomplete',
        'condition', $$NOT s.before ? 'next_ship_date' OR s.before ? 'anchor_day'$$,
        'message_ja', 'bulkorder 1.0 で記録された一括更新のため定期注文マスターの基準日がなく、元に戻せません',
        'message_en', 'recorded by bulkorder 1.0 without the master''s anchor day: it cannot be restored exactly')),
    revert_before_sql = $$jsonb_build_object('scheduled_ship_date', t.scheduled_ship_date,
                          'scheduled_delivery_date', t.scheduled_delivery_date)
       || CASE WHEN s.after ? 'next_ship_date'
               THEN coalesce((SELECT jsonb_build_object('next_ship_date', m.next_ship_date,
                                                        'next_delivery_date', m.next_delivery_date,
                                                        'course_order_no', m.course_order_no,
                                                        'anchor_day', m.anchor_day)
                              FROM bulkorder.subscriptions m
                              WHERE m.course_order_no = t.course_order_no), '{}'::jsonb)
               ELSE '{}'::jsonb END$$,
    revert_apply_sql = $$dates_restored AS (
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
    revert_lock_sql = $$SELECT 1 FROM bulkorder.subscriptions m
        WHERE m.course_order_no IN (SELECT o.course_order_no FROM bulkorder.orders o WHERE o.order_no = ANY ($1))
        ORDER BY m.course_order_no
          FOR NO KEY UPDATE OF m$$
WHERE page = 'shipments' AND operation = 'delivery_dates';
