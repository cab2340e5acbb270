-- Subscription order generation (定期注文の自動生成): docs/api.md.
--
-- bulkorder.generate_subscription_orders(as_of, shop) creates the next order
-- of every due master — `active`, no autogen_error, next_ship_date <= as_of
-- — and advances the master to its following delivery.  Meant to run every
-- morning from pg_cron (docs/api.md).  shop NULL: every shop, each on its own
-- (bulkorder_catalog.generate_shop_orders, in a subtransaction of its own:
-- one shop's failure never stops another's).
--
-- One order per master per call: the order of the master's current next
-- dates.  The master then moves one cycle on; a master more than one cycle
-- behind (dates left in the past) catches up one order per call instead of
-- receiving a pile of back-dated orders at once.
--
-- Safe to repeat and to run concurrently: the due masters are locked in key
-- order, then re-read; a master another call has just advanced is no longer
-- due when its lock is granted, so no cycle is ever ordered twice.
--
-- The order: customer, payment method, delivery method and slot of the
-- master; scheduled dates = the master's next dates; its products at their
-- current price; course_seq = the master's non-deleted orders + 1; status
-- awaiting_shipment; auth_status `pending` where the payment method has a
-- gateway (the payment connector authorizes it), else `not_required`.  The
-- notes that belong on every delivery are copied: customer_message (the
-- customer's standing instructions), remarks and integration_text;
-- reply_message (the shop's answer on the master) is not.
--
-- Advancing: the delivery date drives the cycle (frequency_next_date with
-- the master's effective anchor day, kept in anchor_day for monthly cycles);
-- the ship date keeps its lead time before the delivery date.  A master with
-- no delivery date advances its ship date alone.
--
-- A master whose order cannot be created gets autogen_error = true and
-- autogen_error_reason (every reason, in Japanese) and is left as it is;
-- clear it with the subscriptions page's clear_autogen_error once fixed.
--
-- One master's data never stops the run for the others (docs/api.md).  The
-- checks below name what they foresee, a next date that is no real date
-- (infinity, outside 1900-01-01 .. 2199-12-31, written by hand) included:
-- such an active master is flagged on every run whatever as_of, since it
-- would otherwise never come due or never advance.  Whatever they do not
-- foresee (a trigger of the shop, a date arithmetic overflow) breaks the one
-- set-based statement: it is then run again master by master, each in a
-- subtransaction of its own, and a master whose statement still fails is
-- flagged with the error's text.  A transient error (a deadlock, a lock or
-- statement timeout, a cancel, no memory) is no fault of the master and
-- fails the run instead, as before.
-- A run that made or refused anything leaves a notification (job_id NULL)
-- with its counts.

CREATE OR REPLACE FUNCTION bulkorder_catalog.generate_shop_orders(shop bigint, as_of date)
RETURNS bulkorder.generation_result
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    keys bigint[];
    batch bigint[];
    one_by_one boolean := false;
    i integer := 0;
    made integer;
    flagged_count integer;
    err text;
    result bulkorder.generation_result := ROW(0, 0);
BEGIN
    -- Lock the due masters in key order (two generations, or a generation
    -- and a bulk job, never deadlock).  A row another transaction has
    -- changed meanwhile is re-checked on its newest version.
    SELECT coalesce(array_agg(d.course_order_no ORDER BY d.course_order_no), '{}')
    INTO keys
    FROM (SELECT s.course_order_no
          FROM bulkorder.subscriptions s
          WHERE s.shop_id = shop AND s.status = 'active' AND NOT s.autogen_error
            AND (s.next_ship_date <= as_of
                 OR NOT (s.next_ship_date BETWEEN '1900-01-01' AND '2199-12-31')
                 OR NOT (s.next_delivery_date BETWEEN '1900-01-01' AND '2199-12-31'))
          ORDER BY s.course_order_no
          FOR NO KEY UPDATE OF s) d;

    -- Order numbers come from the orders sequence, but an explicit key is
    -- accepted on insert (an admin tool, a migration): move the sequence past
    -- the highest order number first, never back.
    PERFORM pg_catalog.setval(seq.name, m.max_no)
    FROM (SELECT pg_catalog.pg_get_serial_sequence('bulkorder.orders', 'order_no')::regclass AS name) seq,
         (SELECT max(o.order_no) AS max_no FROM bulkorder.orders o) m   -- every shop's: one sequence
    WHERE cardinality(keys) > 0
      AND m.max_no > coalesce(pg_catalog.pg_sequence_last_value(seq.name), 0);

    -- All due masters in one statement; if it fails, one master at a time,
    -- each in a subtransaction (the header above).
    LOOP
        IF one_by_one THEN
            i := i + 1;
            EXIT WHEN i > cardinality(keys);
            batch := ARRAY[keys[i]];
        ELSE
            batch := keys;
        END IF;
        BEGIN
            -- A new statement, so a new snapshot: items, products and customers as
            -- committed by whoever held a lock before us.
            WITH due AS MATERIALIZED (
                SELECT s.*, f.kind, f.every, f.day_of_month,
                       coalesce(s.next_delivery_date, s.next_ship_date) AS cycle_date
                FROM bulkorder.subscriptions s
                LEFT JOIN bulkorder.frequencies f ON f.shop_id = s.shop_id AND f.frequency_id = s.frequency_id
                WHERE s.shop_id = shop AND s.course_order_no = ANY (batch)
                  AND s.status = 'active' AND NOT s.autogen_error
                  AND (s.next_ship_date <= as_of
                       OR NOT (s.next_ship_date BETWEEN '1900-01-01' AND '2199-12-31')
                       OR NOT (s.next_delivery_date BETWEEN '1900-01-01' AND '2199-12-31'))
            ),
            -- every line of every due master with what its product allows
            lines AS MATERIALIZED (
                SELECT d.course_order_no, si.product_id,
                       format('商品「%s」(商品ID %s)', coalesce(pr.name, ''), pr.product_id) AS product,
                       pr.is_public,
                       pp.product_id IS NOT NULL AS payment_ok,
                       d.delivery_method IS NULL OR pd.product_id IS NOT NULL AS delivery_ok,
                       d.frequency_id IS NULL OR pf.product_id IS NOT NULL AS frequency_ok,
                       d.payment_method, d.delivery_method, d.frequency_id
                FROM due d
                JOIN bulkorder.subscription_items si ON si.shop_id = shop AND si.course_order_no = d.course_order_no
                JOIN bulkorder.products pr ON pr.shop_id = shop AND pr.product_id = si.product_id
                LEFT JOIN bulkorder.product_payment_methods pp
                       ON pp.shop_id = shop AND pp.product_id = si.product_id AND pp.payment_method = d.payment_method
                LEFT JOIN bulkorder.product_delivery_methods pd
                       ON pd.shop_id = shop AND pd.product_id = si.product_id AND pd.delivery_method = d.delivery_method
                LEFT JOIN bulkorder.product_frequencies pf
                       ON pf.shop_id = shop AND pf.product_id = si.product_id AND pf.frequency_id = d.frequency_id
            ),
            -- why a master cannot get its order, in readable Japanese
            reasons AS (
                SELECT d.course_order_no, 0 AS prio, NULL::bigint AS product_id,
                       format('次回発送予定日 (%s) が正しい日付ではありません。', d.next_ship_date) AS reason
                FROM due d WHERE NOT (d.next_ship_date BETWEEN '1900-01-01' AND '2199-12-31')
                UNION ALL
                SELECT d.course_order_no, 0, NULL,
                       format('次回お届け予定日 (%s) が正しい日付ではありません。', d.next_delivery_date)
                FROM due d WHERE NOT (d.next_delivery_date BETWEEN '1900-01-01' AND '2199-12-31')
                UNION ALL
                SELECT d.course_order_no, 1, NULL,
                       'お客様がブラックリストに登録されています。'
                FROM due d
                JOIN bulkorder.customers c ON c.shop_id = shop AND c.customer_id = d.customer_id
                WHERE c.blacklist_status = 'blacklisted'
                UNION ALL
                SELECT d.course_order_no, 2, NULL, 'お届け頻度が設定されていません。'
                FROM due d WHERE d.frequency_id IS NULL
                UNION ALL
                SELECT d.course_order_no, 3, NULL, '定期商品が登録されていません。'
                FROM due d WHERE NOT EXISTS (SELECT 1 FROM lines l WHERE l.course_order_no = d.course_order_no)
                UNION ALL
                SELECT l.course_order_no, 4, l.product_id, l.product || 'は公開されていません。'
                FROM lines l WHERE NOT l.is_public
                UNION ALL
                SELECT l.course_order_no, 5, l.product_id,
                       format('%sは決済方法「%s」に対応していません。', l.product,
                              coalesce(nullif(pm.name, ''), l.payment_method))
                FROM lines l JOIN bulkorder.payment_methods pm ON pm.shop_id = shop AND pm.code = l.payment_method
                WHERE NOT l.payment_ok
                UNION ALL
                SELECT l.course_order_no, 6, l.product_id,
                       format('%sは配送方法「%s」に対応していません。', l.product,
                              coalesce(nullif(dm.name, ''), l.delivery_method))
                FROM lines l JOIN bulkorder.delivery_methods dm ON dm.shop_id = shop AND dm.code = l.delivery_method
                WHERE NOT l.delivery_ok
                UNION ALL
                SELECT l.course_order_no, 7, l.product_id,
                       format('%sはお届け頻度「%s」に対応していません。', l.product,
                              coalesce(f.name, f.frequency_id::text))
                FROM lines l JOIN bulkorder.frequencies f ON f.shop_id = shop AND f.frequency_id = l.frequency_id
                WHERE NOT l.frequency_ok
            ),
            checked AS MATERIALIZED (
                SELECT d.course_order_no,
                       string_agg(r.reason, '' ORDER BY r.prio, r.product_id) AS reason
                FROM due d
                LEFT JOIN reasons r ON r.course_order_no = d.course_order_no
                GROUP BY d.course_order_no
            ),
            ok AS MATERIALIZED (
                SELECT d.*,
                       bulkorder.effective_anchor_day(d.cycle_date, d.anchor_day) AS anchor,
                       (SELECT count(*) FROM bulkorder.orders o
                        WHERE o.shop_id = shop AND o.course_order_no = d.course_order_no
                          AND o.deleted_at IS NULL) + 1 AS seq
                FROM due d
                JOIN checked c ON c.course_order_no = d.course_order_no AND c.reason IS NULL
            ),
            new_orders AS (
                INSERT INTO bulkorder.orders
                    (shop_id, customer_id, course_order_no, course_seq, status, payment_method, auth_status,
                     delivery_method, delivery_time_slot, scheduled_ship_date, scheduled_delivery_date,
                     customer_message, remarks, integration_text)
                SELECT shop, ok.customer_id, ok.course_order_no, ok.seq, 'awaiting_shipment', ok.payment_method,
                       CASE WHEN pm.has_gateway THEN 'pending' ELSE 'not_required' END,
                       ok.delivery_method, ok.delivery_time_slot, ok.next_ship_date, ok.next_delivery_date,
                       ok.customer_message, ok.remarks, ok.integration_text
                FROM ok
                JOIN bulkorder.payment_methods pm ON pm.shop_id = shop AND pm.code = ok.payment_method
                ORDER BY ok.course_order_no
                RETURNING order_no, course_order_no
            ),
            new_items AS (
                INSERT INTO bulkorder.order_items (shop_id, order_no, product_id, quantity, unit_price)
                SELECT shop, n.order_no, si.product_id, si.quantity, pr.price
                FROM new_orders n
                JOIN bulkorder.subscription_items si ON si.shop_id = shop AND si.course_order_no = n.course_order_no
                JOIN bulkorder.products pr ON pr.shop_id = shop AND pr.product_id = si.product_id
                RETURNING 1
            ),
            advanced AS (
                UPDATE bulkorder.subscriptions s
                SET next_delivery_date = CASE WHEN ok.next_delivery_date IS NOT NULL THEN nx.cycle END,
                    next_ship_date = nx.cycle - coalesce(ok.next_delivery_date - ok.next_ship_date, 0),
                    anchor_day = CASE WHEN ok.kind = 'months' THEN ok.anchor END
                FROM ok
                CROSS JOIN LATERAL (SELECT bulkorder.frequency_next_date(ok.cycle_date, ok.kind, ok.every,
                                                                         ok.day_of_month, ok.anchor) AS cycle) nx
                WHERE s.shop_id = shop AND s.course_order_no = ok.course_order_no
                RETURNING 1
            ),
            flagged AS (
                UPDATE bulkorder.subscriptions s
                SET autogen_error = true,
                    autogen_error_reason = '定期注文を自動生成できませんでした: ' || c.reason
                FROM checked c
                WHERE c.reason IS NOT NULL AND s.shop_id = shop AND s.course_order_no = c.course_order_no
                RETURNING 1
            )
            SELECT (SELECT count(*) FROM new_orders)::integer,
                   (SELECT count(*) FROM flagged)::integer
            INTO made, flagged_count;   -- (data-modifying CTEs run whether read or not)
            result.created := result.created + made;
            result.failed := result.failed + flagged_count;
        EXCEPTION WHEN OTHERS THEN
            -- not the master's fault: the run fails, as any statement would
            IF left(SQLSTATE, 2) IN ('40', '53', '55', '57', '58') THEN
                RAISE;
            END IF;
            IF NOT one_by_one THEN
                one_by_one := true;
                CONTINUE;
            END IF;
            GET STACKED DIAGNOSTICS err = MESSAGE_TEXT;
            UPDATE bulkorder.subscriptions s
            SET autogen_error = true,
                autogen_error_reason = '定期注文を自動生成できませんでした: '
                    || 'マスターのデータから注文を作成できません (' || err || ')'
            WHERE s.shop_id = shop AND s.course_order_no = batch[1];
            result.failed := result.failed + 1;
        END;
        EXIT WHEN NOT one_by_one;
    END LOOP;

    -- tell the operators (the bell of the admin tool), when anything happened
    IF result.created + result.failed > 0 THEN
        INSERT INTO bulkorder.notifications (shop_id, job_id, recipient, message)
        VALUES (shop, NULL, NULL,
                bulkorder_catalog.message('GENERATION_DONE', to_char(as_of, 'YYYY-MM-DD'),
                                          result.created::text, result.failed::text)
                || CASE WHEN result.failed > 0
                        THEN bulkorder_catalog.message('GENERATION_ERRORS_LISTED')
                        ELSE '' END);
    END IF;

    RETURN result;
END
$fn$;

-- Every shop (shop NULL) or the one named, each in a subtransaction of its
-- own: one shop's failure never stops another's (it is reported as a
-- WARNING and a notification of that shop).  A role that is not a
-- superuser generates for the shops it is granted only.
CREATE OR REPLACE FUNCTION bulkorder.generate_subscription_orders(as_of date, shop text DEFAULT NULL)
RETURNS bulkorder.generation_result
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    one record;
    part bulkorder.generation_result;
    err text;
    result bulkorder.generation_result := ROW(0, 0);
BEGIN
    IF as_of IS NULL THEN
        RAISE EXCEPTION 'as_of must not be null'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = bulkorder_catalog.message('AS_OF_NULL');
    END IF;
    IF NOT (as_of BETWEEN '1900-01-01' AND '2199-12-31') THEN
        RAISE EXCEPTION 'as_of is out of range: "%"', as_of
            USING ERRCODE = 'datetime_field_overflow',
                  DETAIL = bulkorder_catalog.message('AS_OF_RANGE');
    END IF;

    IF generate_subscription_orders.shop IS NOT NULL
       AND NOT EXISTS (SELECT FROM bulkorder.shops s WHERE s.code = generate_subscription_orders.shop) THEN
        RAISE EXCEPTION 'unknown shop "%"', generate_subscription_orders.shop
            USING ERRCODE = '22023', HINT = bulkorder_catalog.message('GENERATION_SHOP');
    END IF;
    FOR one IN
        SELECT s.shop_id, s.code FROM bulkorder.shops s
        WHERE generate_subscription_orders.shop IS NULL OR s.code = generate_subscription_orders.shop
        ORDER BY s.shop_id
    LOOP
        IF NOT bulkorder_catalog.shop_granted(one.shop_id) THEN
            IF generate_subscription_orders.shop IS NULL THEN
                CONTINUE;
            END IF;
            RAISE EXCEPTION 'permission denied for shop "%"', one.code USING ERRCODE = '42501';
        END IF;
        BEGIN
            part := bulkorder_catalog.generate_shop_orders(one.shop_id, as_of);
            result.created := result.created + part.created;
            result.failed := result.failed + part.failed;
        EXCEPTION WHEN OTHERS THEN
            -- one shop named, or the only one: the run fails, as in 1.1
            IF generate_subscription_orders.shop IS NOT NULL OR (SELECT count(*) FROM bulkorder.shops) = 1 THEN
                RAISE;
            END IF;
            GET STACKED DIAGNOSTICS err = MESSAGE_TEXT;
            RAISE WARNING 'bulkorder: order generation of shop "%" failed: %', one.code, err;
            INSERT INTO bulkorder.notifications (shop_id, job_id, recipient, message)
            VALUES (one.shop_id, NULL, NULL,
                    bulkorder_catalog.message('GENERATION_BROKE_OFF', to_char(as_of, 'YYYY-MM-DD'), err));
        END;
    END LOOP;
    RETURN result;
END
$fn$;

COMMENT ON FUNCTION bulkorder.generate_subscription_orders(date, text) IS
'定期注文の自動生成: the next order of every active master due by as_of (next_ship_date <= as_of), in one shop or every shop (NULL); returns (created, failed)';
REVOKE ALL ON FUNCTION bulkorder_catalog.generate_shop_orders(bigint, date) FROM PUBLIC;
