-- Customers page (顧客管理 > 顧客一覧): docs/operations.md.  The seed only
-- says customer information can be bulk-updated; these are the updates
-- shop operators expect.  One define_operation call per operation.

-- ブラックリスト: blacklist / candidate (ブラックリスト候補) / remove.
-- Blacklisting is what the shop then uses to stop that customer's
-- shipments, so blacklisting a customer also puts the customer's
-- awaiting_shipment orders on shipping_hold, in the same statement: an
-- operator who blacklists a fraudulent customer expects the parcels not to
-- leave.  Only `blacklist` holds: `candidate` is "under review" and holds
-- nothing, and `remove` releases nothing (a hold may have other reasons; the
-- orders page's shipping_hold releases it).  Orders already `shipping` are
-- in the warehouse's hands and are not touched (hold them on the orders page
-- if needed); deleted orders are not touched.  The orders this job put on
-- hold are recorded in the customer's item: after.held_orders, their order
-- numbers in key order (absent when none).  The hold is a data-modifying CTE
-- of the operation's own apply_sql rather than an effects[] entry because
-- only the apply step can add to the item's after image.
SELECT bulkorder.define_operation('customers', 'blacklist',
    name_ja => 'ブラックリスト', name_en => 'blacklist',
    wrapper => 'bulk_customer_blacklist',
    params => '{"action": {"type": "text", "enum": ["blacklist", "candidate", "remove"], "position": 1}}',
    changed_columns => '{blacklist_status}',
    apply_sql => $$listed AS (
         UPDATE bulkorder.customers AS t
            SET blacklist_status = CASE prm.p->>'action' WHEN 'blacklist' THEN 'blacklisted'
                                                         WHEN 'candidate' THEN 'candidate'
                                                         ELSE 'none' END
           FROM eligible e, prm
          WHERE t.customer_id = e.target
      RETURNING t.customer_id AS target, t.blacklist_status),
       held AS (
         UPDATE bulkorder.orders AS o
            SET shipping_hold = true
           FROM listed l, prm
          WHERE prm.p->>'action' = 'blacklist'
            AND o.customer_id = l.target
            AND o.status = 'awaiting_shipment'
            AND o.deleted_at IS NULL
            AND NOT o.shipping_hold
      RETURNING o.customer_id, o.order_no),
       applied AS (
         SELECT l.target,
                jsonb_build_object('blacklist_status', l.blacklist_status)
                || CASE WHEN h.orders IS NULL THEN '{}'::jsonb
                        ELSE jsonb_build_object('held_orders', h.orders) END AS after
           FROM listed l
           LEFT JOIN (SELECT customer_id, jsonb_agg(order_no ORDER BY order_no) AS orders
                        FROM held GROUP BY customer_id) h ON h.customer_id = l.target)$$,
    -- the orders the hold will update, in their key order
    lock_sql => $$SELECT 1 FROM bulkorder.orders o
        WHERE $2->>'action' = 'blacklist'
          AND o.customer_id = ANY ($1)
          AND o.status = 'awaiting_shipment'
          AND o.deleted_at IS NULL
        ORDER BY o.order_no
          FOR NO KEY UPDATE OF o$$,
    -- ブラックリスト (customers page): the status, and the orders it put on
    -- hold (after.held_orders) released, where they are all still held.  The
    -- revert's before image keeps held_orders, so its own revert holds them again.
    revert => jsonb_build_object(
        'condition', $$t.blacklist_status = s.after->>'blacklist_status'
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
        'before_sql', $$jsonb_build_object('blacklist_status', t.blacklist_status)
        || CASE WHEN s.after ? 'held_orders' THEN jsonb_build_object('held_orders', s.after->'held_orders')
                ELSE '{}'::jsonb END$$,
        'apply_sql', $$listed AS (
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
        'lock_sql', $$SELECT 1 FROM bulkorder.orders o
        WHERE o.order_no IN (SELECT h::bigint
                               FROM bulkorder.bulk_job_items i,
                                    jsonb_array_elements_text(coalesce(i.after->'held_orders', '[]')
                                                              || coalesce(i.before->'held_orders', '[]')) h
                              WHERE i.job_id = ($2->>'job_id')::bigint AND i.target = ANY ($1) AND i.ok)
        ORDER BY o.order_no
          FOR NO KEY UPDATE OF o$$));

-- タグ設定: as on the orders page (00_common.sql)
SELECT bulkorder_catalog.define_tags('customers', 'bulk_customer_tags');

-- 備考欄: the free-text field (00_common.sql)
SELECT bulkorder.define_operation('customers', 'remarks',
    name_ja => '備考欄', name_en => 'remarks',
    wrapper => 'bulk_customer_remarks',
    params => bulkorder_catalog.text_field_params(),
    changed_columns => '{remarks}',
    set_clause => bulkorder_catalog.text_field_set('remarks'),
    rules => bulkorder_catalog.text_field_rules('remarks'));

-- メルマガ購読, 会員ランク and ポイント.
--   rank: a code of bulkorder.customer_ranks, or null to clear the rank
--         (a customer without a rank is valid data); anything else rejects
--         the call.
--   points: a non-zero delta; a customer whose balance would go below zero
--         fails (insufficient_points) and keeps the balance, as does one
--         whose balance would pass the integer maximum (points_overflow).
SELECT bulkorder.define_operation('customers', 'mail_opt_in',
    name_ja => 'メルマガ購読', name_en => 'newsletter opt-in',
    wrapper => 'bulk_customer_mail_opt_in',
    params => '{"opt_in": {"type": "boolean", "position": 1}}',
    changed_columns => '{mail_opt_in}',
    set_clause => $$mail_opt_in = (p->>'opt_in')::boolean$$);

SELECT bulkorder.define_operation('customers', 'rank',
    name_ja => '会員ランク', name_en => 'customer rank',
    wrapper => 'bulk_customer_rank',
    params => '{"rank": {"type": "text", "nullable": true, "position": 1}}',
    changed_columns => '{rank}',
    set_clause => $$rank = p->>'rank'$$,
    checks => jsonb_build_array(
        jsonb_build_object('condition', $$p->>'rank' IS NULL OR EXISTS (SELECT 1 FROM bulkorder.customer_ranks r WHERE r.code = p->>'rank')$$,
            'message', 'unknown customer rank',
            'hint', 'The ranks are the codes of bulkorder.customer_ranks; null clears the rank.',
            'hint_ja', '会員ランクは bulkorder.customer_ranks のコードで指定してください。null でランクを外します。')));

SELECT bulkorder.define_operation('customers', 'points',
    name_ja => 'ポイント', name_en => 'points',
    wrapper => 'bulk_customer_points',
    params => '{"delta": {"type": "integer", "position": 1}}',
    changed_columns => '{points}',
    set_clause => $$points = t.points + (p->>'delta')::integer$$,
    rules => jsonb_build_array(
        jsonb_build_object('code', 'insufficient_points',
            'condition', $$t.points::bigint + (p->>'delta')::bigint >= 0$$,
            'message_ja', 'ポイント残高が不足するため減算できません',
            'message_en', 'the point balance would go below zero'),
        jsonb_build_object('code', 'points_overflow',
            'condition', $$t.points::bigint + (p->>'delta')::bigint <= 2147483647$$,
            'message_ja', 'ポイント残高が上限を超えるため加算できません',
            'message_en', 'the point balance would exceed its maximum')),
    checks => jsonb_build_array(
        jsonb_build_object('condition', $$(p->>'delta')::integer <> 0$$,
            'message', 'params.delta is zero',
            'hint', 'Give a positive delta to add points or a negative one to take them.',
            'hint_ja', 'ポイントを加算するなら正の数、減算するなら負の数を指定してください。')),
    -- ポイント: as the delta given (docs/api.md, revert_job): the revert
    -- subtracts the job's delta from today's balance, whatever happened to it
    -- since.
    revert => jsonb_build_object(
        'condition', 'true',
        'rules', jsonb_build_array(
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
        'apply_sql', $$applied AS (
        UPDATE bulkorder.customers AS t
           SET points = t.points - ((s.after->>'points')::integer - (s.before->>'points')::integer)
          FROM eligible s
         WHERE t.customer_id = s.target
     RETURNING t.customer_id AS target, jsonb_build_object('points', t.points) AS after)$$));
