-- Subscription masters page (定期注文マスター): all ten operations, every
-- eligible case and every failure code, whole-call rejections.
CREATE EXTENSION bulkorder;
\set VERBOSITY default
SET DateStyle = ISO;
\i test/fixtures/shop.sql

-- More masters for the rules the fixture does not reach:
-- 505 ネコポス, 506 every 2 weeks, 507 active without dates, all on 青汁 30包.
INSERT INTO bulkorder.subscriptions
    (course_order_no, customer_id, status, payment_method, delivery_method, delivery_time_slot,
     frequency_id, next_ship_date, next_delivery_date) VALUES
    (505, 1, 'active', 'credit_card', 'nekopos', NULL, 1, '2026-12-20', '2026-12-22'),
    (506, 3, 'active', 'credit_card', 'yamato', NULL, 3, '2026-12-20', '2026-12-22'),
    (507, 3, 'active', 'cod', 'yamato', NULL, 1, NULL, NULL);
INSERT INTO bulkorder.subscription_items (course_order_no, product_id, quantity) VALUES
    (505, 101, 2), (506, 101, 1), (507, 101, 1);

-- A rejected call raises its SQLSTATE and records nothing.
CREATE FUNCTION pg_temp.rejected(call text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE call;
    RETURN 'accepted';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
CREATE FUNCTION pg_temp.items(job bigint)
RETURNS TABLE (target bigint, ok boolean, error_code text, message text, before jsonb, after jsonb)
LANGUAGE sql AS $$
    SELECT target, ok, error_code, message, before, after
    FROM bulkorder.bulk_job_items WHERE job_id = job ORDER BY target
$$;
CREATE FUNCTION pg_temp.counts(job bigint)
RETURNS TABLE (status text, total bigint, success bigint, failure bigint)
LANGUAGE sql AS $$
    SELECT status, total_count, success_count, failure_count FROM bulkorder.bulk_jobs WHERE job_id = job
$$;

-- The catalogue: ten operations, each with its wrapper; all but the four
-- free-text fields refuse an ended master first.
SELECT operation, name_ja, wrapper, rules
FROM bulkorder.operation_catalog WHERE page = 'subscriptions' ORDER BY operation;
SELECT p.proname, pg_get_function_identity_arguments(p.oid) AS args
FROM pg_proc p JOIN bulkorder_catalog.operations o ON o.wrapper = p.proname AND o.page = 'subscriptions'
WHERE p.pronamespace = 'bulkorder'::regnamespace ORDER BY 1;

---------------------------------------------------------------- next_dates
-- both dates: ended, unknown and inverted-with-stored-date cases fail
SELECT * FROM bulkorder.preview_bulk('subscriptions', 'next_dates', '{501,502,503,504,999}',
    '{"next_ship_date": "2027-01-05", "next_delivery_date": "2027-01-31"}');
SELECT bulkorder.bulk_subscription_next_dates('{501,502,503,504,999}', '2027-01-05', '2027-01-31') AS job \gset
SELECT * FROM pg_temp.counts(:job);
SELECT * FROM pg_temp.items(:job);
SELECT course_order_no, next_ship_date, next_delivery_date, anchor_day
FROM bulkorder.subscriptions ORDER BY 1;

-- only the ship date: combined with the stored delivery date (501: 01-31)
-- it must not come after it; a master without a delivery date takes it
SELECT bulkorder.bulk_subscription_next_dates('{501,505,507}', next_ship_date => '2027-01-10') AS job \gset
SELECT * FROM pg_temp.items(:job);
SELECT bulkorder.bulk_subscription_next_dates('{501,505}', next_ship_date => '2026-12-21') AS job \gset
SELECT * FROM pg_temp.items(:job);
-- equal dates are fine
SELECT bulkorder.bulk_subscription_next_dates('{505}', next_ship_date => '2026-12-22') AS job \gset
SELECT * FROM pg_temp.items(:job);

-- only the delivery date: must not come before the stored ship date
-- (505: 12-22); giving it re-anchors the month day
SELECT bulkorder.bulk_subscription_next_dates('{505,506}', next_delivery_date => '2026-12-21') AS job \gset
SELECT * FROM pg_temp.counts(:job);
SELECT * FROM pg_temp.items(:job);
SELECT course_order_no, next_ship_date, next_delivery_date, anchor_day
FROM bulkorder.subscriptions WHERE course_order_no IN (505, 506, 507) ORDER BY 1;

-- whole-call rejections: nothing given, inverted dates, bad dates, unknown key
SELECT count(*) AS jobs_before FROM bulkorder.bulk_jobs \gset
SELECT pg_temp.rejected($$SELECT bulkorder.bulk_subscription_next_dates('{501}')$$);
SELECT pg_temp.rejected($$SELECT bulkorder.run_bulk('subscriptions', 'next_dates', '{501}', '{}')$$);
SELECT pg_temp.rejected($$SELECT bulkorder.run_bulk('subscriptions', 'next_dates', '{501}',
    '{"next_ship_date": null, "next_delivery_date": null}')$$);
SELECT pg_temp.rejected($$SELECT bulkorder.bulk_subscription_next_dates('{501}', '2027-02-10', '2027-02-09')$$);
SELECT pg_temp.rejected($$SELECT bulkorder.run_bulk('subscriptions', 'next_dates', '{501}',
    '{"next_ship_date": "2027-02-30"}')$$);
SELECT pg_temp.rejected($$SELECT bulkorder.run_bulk('subscriptions', 'next_dates', '{501}',
    '{"next_ship_date": 20270210}')$$);
SELECT pg_temp.rejected($$SELECT bulkorder.run_bulk('subscriptions', 'next_dates', '{501}',
    '{"ship_date": "2027-02-10"}')$$);
SELECT pg_temp.rejected($$SELECT * FROM bulkorder.preview_bulk('subscriptions', 'next_dates', '{501}',
    '{"next_ship_date": "2027-02-10", "next_delivery_date": "2027-02-01"}')$$);
SELECT count(*) = :jobs_before AS nothing_recorded FROM bulkorder.bulk_jobs;

---------------------------------------------------------------- text fields
-- append to NULL stores the text alone, append again adds a line,
-- overwrite replaces; an ended master's notes can still be written (docs/operations.md: any)
SELECT bulkorder.bulk_subscription_customer_message('{501,503,999}', '置き配希望', 'append') AS job \gset
SELECT * FROM pg_temp.items(:job);
SELECT bulkorder.bulk_subscription_customer_message('{501}', '玄関前', 'append') AS job \gset
SELECT * FROM pg_temp.items(:job);
SELECT bulkorder.bulk_subscription_reply_message('{501,502,503}', 'ご連絡ありがとうございます', 'overwrite') AS job \gset
SELECT * FROM pg_temp.items(:job);
SELECT bulkorder.bulk_subscription_reply_message('{501}', '承知しました', 'overwrite') AS job \gset
SELECT * FROM pg_temp.items(:job);
SELECT bulkorder.bulk_subscription_remarks('{502,503,504}', '要確認', 'append') AS job \gset
SELECT * FROM pg_temp.items(:job);
SELECT bulkorder.bulk_subscription_integration_text('{501,503,504}', 'WMS:A-12', 'overwrite') AS job \gset
SELECT * FROM pg_temp.items(:job);
SELECT course_order_no, customer_message, reply_message, remarks, integration_text
FROM bulkorder.subscriptions ORDER BY 1;
-- the 4000-character cap: a clear per-target failure when appending would
-- pass it, a rejected call when the text itself does
UPDATE bulkorder.subscriptions SET remarks = repeat('あ', 3995) WHERE course_order_no = 504;
SELECT * FROM bulkorder.preview_bulk('subscriptions', 'remarks', '{502,504}', '{"text": "123456", "mode": "append"}');
SELECT bulkorder.bulk_subscription_remarks('{502,504}', '123456', 'append') AS job \gset
SELECT target, ok, error_code, message FROM pg_temp.items(:job);
SELECT length(remarks) FROM bulkorder.subscriptions WHERE course_order_no = 504;
-- exactly 4000 (3995 + the new line + 4) is fine
SELECT bulkorder.bulk_subscription_remarks('{504}', '1234', 'append') AS job \gset
SELECT target, ok, error_code FROM pg_temp.items(:job);
SELECT length(remarks), right(remarks, 6) FROM bulkorder.subscriptions WHERE course_order_no = 504;
SELECT pg_temp.rejected($$SELECT bulkorder.bulk_subscription_remarks('{502}', repeat('x', 4001), 'overwrite')$$);
SELECT pg_temp.rejected($$SELECT bulkorder.bulk_subscription_integration_text('{502}', 'x', 'prepend')$$);
SELECT pg_temp.rejected($$SELECT bulkorder.bulk_subscription_reply_message('{502}', NULL, 'append')$$);

------------------------------------------------------ next_delivery_method
-- 504 holds プロテイン, which cannot go by ネコポス
SELECT * FROM bulkorder.preview_bulk('subscriptions', 'next_delivery_method', '{501,503,504,505,999}',
    '{"delivery_method": "nekopos"}');
SELECT bulkorder.bulk_subscription_next_delivery_method('{501,503,504,505,999}', 'nekopos') AS job \gset
SELECT * FROM pg_temp.counts(:job);
SELECT * FROM pg_temp.items(:job);
-- with a slot of the method; a master with products that all allow it
SELECT bulkorder.bulk_subscription_next_delivery_method('{501,502,504}', 'sagawa', '18-21') AS job \gset
SELECT * FROM pg_temp.items(:job);
-- time_slot null = 指定なし
SELECT bulkorder.run_bulk('subscriptions', 'next_delivery_method', '{504}',
    '{"delivery_method": "yamato", "time_slot": null}') AS job \gset
SELECT * FROM pg_temp.items(:job);
SELECT course_order_no, delivery_method, delivery_time_slot FROM bulkorder.subscriptions ORDER BY 1;
-- whole-call rejections: unknown method, another method's slot, unknown slot, no method
SELECT count(*) AS jobs_before FROM bulkorder.bulk_jobs \gset
SELECT pg_temp.rejected($$SELECT bulkorder.bulk_subscription_next_delivery_method('{501}', 'fukuyama')$$);
SELECT pg_temp.rejected($$SELECT bulkorder.bulk_subscription_next_delivery_method('{501}', 'sagawa', '19-21')$$);
SELECT pg_temp.rejected($$SELECT bulkorder.bulk_subscription_next_delivery_method('{501}', 'nekopos', 'am')$$);
SELECT pg_temp.rejected($$SELECT bulkorder.bulk_subscription_next_delivery_method('{501}', NULL)$$);
SELECT pg_temp.rejected($$SELECT bulkorder.run_bulk('subscriptions', 'next_delivery_method', '{501}', '{"time_slot": "am"}')$$);
SELECT count(*) = :jobs_before AS nothing_recorded FROM bulkorder.bulk_jobs;

------------------------------------------------------- clear_autogen_error
UPDATE bulkorder.subscriptions SET autogen_error = true, autogen_error_reason = '旧エラー'
WHERE course_order_no IN (503, 504);
SELECT * FROM bulkorder.preview_bulk('subscriptions', 'clear_autogen_error', '{501,503,504,999}');
SELECT bulkorder.bulk_subscription_clear_autogen_error('{501,503,504,999}') AS job \gset
SELECT * FROM pg_temp.counts(:job);
SELECT * FROM pg_temp.items(:job);
SELECT course_order_no, autogen_error, autogen_error_reason FROM bulkorder.subscriptions ORDER BY 1;
SELECT pg_temp.rejected($$SELECT bulkorder.run_bulk('subscriptions', 'clear_autogen_error', '{504}', '{"all": true}')$$);

----------------------------------------------------------------- frequency
-- every 2 weeks (3): プロテイン (504) allows monthly frequencies only
SELECT * FROM bulkorder.preview_bulk('subscriptions', 'frequency', '{501,503,504,999}', '{"frequency_id": 3}');
SELECT bulkorder.bulk_subscription_frequency('{501,503,504,999}', 3) AS job \gset
SELECT * FROM pg_temp.counts(:job);
SELECT * FROM pg_temp.items(:job);
-- every 2 months (2): allowed by both of 504's products; already so succeeds (502)
SELECT bulkorder.bulk_subscription_frequency('{502,504}', 2) AS job \gset
SELECT * FROM pg_temp.items(:job);
-- the next dates are not touched: the new frequency applies from the next delivery on
SELECT course_order_no, frequency_id, next_ship_date, next_delivery_date FROM bulkorder.subscriptions ORDER BY 1;
SELECT pg_temp.rejected($$SELECT bulkorder.bulk_subscription_frequency('{501}', 99)$$);
SELECT pg_temp.rejected($$SELECT bulkorder.bulk_subscription_frequency('{501}', NULL)$$);
SELECT pg_temp.rejected($$SELECT bulkorder.run_bulk('subscriptions', 'frequency', '{501}', '{"frequency_id": "monthly"}')$$);

-------------------------------------------------------------- swap_product
-- state now: 501 credit_card/sagawa/every 2 weeks: 101×1; 502 np_atobarai/sagawa/2 months: 102×2;
-- 503 ended: 101×1; 504 score_atobarai/yamato/2 months: 103×1, 101×3;
-- 505 credit_card/nekopos/monthly: 101×2; 506 credit_card/yamato/2 weeks: 101×1
SELECT course_order_no, payment_method, delivery_method, frequency_id FROM bulkorder.subscriptions ORDER BY 1;
-- 青汁 30包 → 青汁 60包: quantity kept; 502 has no 101
SELECT * FROM bulkorder.preview_bulk('subscriptions', 'swap_product', '{501,502,503,504,999}',
    '{"from_product_id": 101, "to_product_id": 102}');
SELECT bulkorder.bulk_subscription_swap_product('{501,502,503,504,999}', 101, 102) AS job \gset
SELECT * FROM pg_temp.counts(:job);
SELECT * FROM pg_temp.items(:job);
SELECT course_order_no, product_id, quantity FROM bulkorder.subscription_items ORDER BY 1, 2;
-- 青汁 60包 → プロテイン: 504 already has it; 505 and 506 have no 青汁 60包
SELECT bulkorder.bulk_subscription_swap_product('{504,505,506}', 102, 103) AS job \gset
SELECT * FROM pg_temp.items(:job);
-- 青汁 30包 → プロテイン: 505 goes by ネコポス; 506 is every 2 weeks
SELECT bulkorder.bulk_subscription_swap_product('{505,506}', 101, 103) AS job \gset
SELECT * FROM pg_temp.items(:job);
-- → 冊子 (credit card and 代引き only): 502 pays with NP後払い; the booklet has
-- no frequency either, but the payment rule comes first
SELECT bulkorder.bulk_subscription_swap_product('{502}', 102, 202) AS job \gset
SELECT * FROM pg_temp.items(:job);
-- → 試供品 シェイカー (every payment and delivery, no frequency)
SELECT bulkorder.bulk_subscription_swap_product('{502,505}', 102, 201) AS job \gset
SELECT * FROM pg_temp.items(:job);
SELECT bulkorder.bulk_subscription_swap_product('{505}', 101, 201) AS job \gset
SELECT * FROM pg_temp.items(:job);
-- swapping back restores the line
SELECT bulkorder.bulk_subscription_swap_product('{501}', 102, 101) AS job \gset
SELECT * FROM pg_temp.items(:job);
SELECT course_order_no, product_id, quantity FROM bulkorder.subscription_items ORDER BY 1, 2;
-- whole-call rejections: not public, unknown, the same product, missing
SELECT count(*) AS jobs_before FROM bulkorder.bulk_jobs \gset
SELECT pg_temp.rejected($$SELECT bulkorder.bulk_subscription_swap_product('{501}', 101, 301)$$);
SELECT pg_temp.rejected($$SELECT bulkorder.bulk_subscription_swap_product('{501}', 101, 999)$$);
SELECT pg_temp.rejected($$SELECT bulkorder.bulk_subscription_swap_product('{501}', 101, 101)$$);
SELECT pg_temp.rejected($$SELECT bulkorder.run_bulk('subscriptions', 'swap_product', '{501}', '{"to_product_id": 102}')$$);
SELECT count(*) = :jobs_before AS nothing_recorded FROM bulkorder.bulk_jobs;

------------------------------------------------------------- course_status
SELECT * FROM bulkorder.preview_bulk('subscriptions', 'course_status', '{501,502,503,999}', '{"status": "paused"}');
SELECT bulkorder.bulk_subscription_course_status('{501,502,503,999}', 'paused') AS job \gset
SELECT * FROM pg_temp.counts(:job);
SELECT * FROM pg_temp.items(:job);
SELECT bulkorder.bulk_subscription_course_status('{501,502,503}', 'active') AS job \gset
SELECT * FROM pg_temp.items(:job);
SELECT course_order_no, status FROM bulkorder.subscriptions ORDER BY 1;
-- ended cannot be set in bulk
SELECT count(*) AS jobs_before FROM bulkorder.bulk_jobs \gset
SELECT pg_temp.rejected($$SELECT bulkorder.bulk_subscription_course_status('{501}', 'ended')$$);
SELECT pg_temp.rejected($$SELECT bulkorder.bulk_subscription_course_status('{501}', 'cancelled')$$);
SELECT pg_temp.rejected($$SELECT bulkorder.bulk_subscription_course_status('{501}', NULL)$$);
SELECT count(*) = :jobs_before AS nothing_recorded FROM bulkorder.bulk_jobs;
SELECT status FROM bulkorder.subscriptions WHERE course_order_no = 501;

-- nothing but its notes changed the ended master
SELECT status, payment_method, delivery_method, delivery_time_slot, frequency_id, next_ship_date,
       next_delivery_date, autogen_error, customer_message, reply_message, remarks, integration_text
FROM bulkorder.subscriptions WHERE course_order_no = 503;
SELECT product_id, quantity FROM bulkorder.subscription_items WHERE course_order_no = 503;

-- every job shows on the subscriptions history page, none on another
SELECT operation, count(*) AS jobs, sum(failure_count) AS failures
FROM bulkorder.subscription_bulk_history GROUP BY operation ORDER BY operation;
SELECT count(*) AS elsewhere FROM bulkorder.bulk_jobs WHERE page <> 'subscriptions';

-- English messages
SET bulkorder.language = 'en';
SELECT * FROM bulkorder.preview_bulk('subscriptions', 'swap_product', '{502,503}',
    '{"from_product_id": 101, "to_product_id": 103}');
RESET bulkorder.language;

-- the shop's tables outlive DROP EXTENSION: dropping the schema leaves nothing
SET client_min_messages = warning;
DROP SCHEMA bulkorder CASCADE;
