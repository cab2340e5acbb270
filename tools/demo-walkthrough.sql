-- The seed's workflow (一括更新の手順 ①–⑥) in psql, against the demo shop
-- that tools/demo-data.sql loaded.  `make demo` runs it; run it again by
-- hand with:  psql -X -d bulkorder_demo -f tools/demo-walkthrough.sql
-- Each run picks orders that still await shipment, so it can be repeated.
\set ON_ERROR_STOP on
\set QUIET on
\pset pager off
\pset footer off
-- the demo database holds two shops: this script acts on the default one
-- (a psql script owns its session; behind a pooler use SET LOCAL or options.shop)
SET bulkorder.shop = 'default';

\echo
\echo '=== ① 注文一覧で対象にチェックを入れる / Tick the orders on the order list ==='
\echo '    10 orders awaiting shipment (出荷待ち), 1 already shipped (出荷済み), 1 unknown number'
SELECT array_agg(order_no ORDER BY order_no)::text AS awaiting
FROM (SELECT order_no FROM bulkorder.order_list
      WHERE status = 'awaiting_shipment' AND NOT shipping_hold AND payment_method <> 'cod'
      ORDER BY scheduled_ship_date, order_no LIMIT 10) t \gset
SELECT max(order_no) AS shipped FROM bulkorder.order_list WHERE status = 'shipped' \gset
SELECT (:'awaiting'::bigint[] || ARRAY[:shipped::bigint, 99999999::bigint])::text AS targets \gset
SELECT order_no AS "注文番号", customer_name AS "顧客名", status AS "ステータス",
       payment_method AS "決済方法", scheduled_ship_date AS "出荷予定日", tags AS "タグ"
FROM bulkorder.order_list
WHERE order_no = ANY (:'targets'::bigint[])
ORDER BY order_no;
\echo 'targets (bigint[]):' :targets

\echo
\echo '=== ② 「操作」を選ぶ / Choose the operation: the pull-down of the order list ==='
SELECT operation, name_ja AS "操作", name_en, wrapper
FROM bulkorder.operation_catalog WHERE page = 'orders' ORDER BY operation;

\echo
\echo '=== ③ 必要事項を入力 / Enter what the operation needs: cancel, and also cancel the payment ==='
\echo '    params = {"void_payment": true}   (キャンセル: 決済もキャンセルする)'

\echo
\echo '=== ④ 最終確認画面 / Final confirmation: what would happen to each order, nothing changed yet ==='
SELECT * FROM bulkorder.preview_bulk('orders', 'cancel', :'targets', '{"void_payment": true}');
SELECT count(*) AS "対象 / targets",
       count(*) FILTER (WHERE ok) AS "成功予定 / would succeed",
       count(*) FILTER (WHERE NOT ok) AS "失敗予定 / would fail"
FROM bulkorder.preview_bulk('orders', 'cancel', :'targets', '{"void_payment": true}');

\echo
\echo '=== ⑤ 確定 / Confirm: run_bulk returns the job id ==='
SELECT bulkorder.run_bulk('orders', 'cancel', :'targets', '{"void_payment": true}',
                          '{"operator": "tanaka", "source": "checkbox"}') AS job \gset
\echo 'job id:' :job
\echo
\echo '--- ⑤ 通知ログ / The notification log (「こちら」のリンク先): one on acceptance, one on completion ---'
SELECT notification_id, job_id, recipient, message
FROM bulkorder.notifications WHERE job_id = :job ORDER BY notification_id;
\echo '    link (こちら):  SELECT * FROM bulkorder.notifications WHERE job_id =' :job ';'
\echo
\echo '--- what changed, item by item (before / after of the changed fields) ---'
SELECT target, ok, error_code, before, after
FROM bulkorder.bulk_job_items WHERE job_id = :job ORDER BY target;
\echo '--- the payment cancellations waiting for the payment connector (決済キャンセル) ---'
SELECT order_no, payment_method, kind, status
FROM bulkorder.payment_requests WHERE job_id = :job ORDER BY order_no;

\echo
\echo '=== ⑥ 受注一括更新履歴 / The orders bulk-update history page ==='
SELECT job_id, operation, status, total_count AS "件数", success_count AS "成功",
       failure_count AS "失敗", operator, source
FROM bulkorder.order_bulk_history ORDER BY job_id DESC LIMIT 5;
\echo
\echo '--- ⑥ 失敗件数をクリック / Click on the failure count: the failed orders and why ---'
SELECT target AS "注文番号", error_code, message
FROM bulkorder.bulk_job_failures WHERE job_id = :job ORDER BY target;

\echo
\echo '=== 確定ボタンの二度押し / A double click: the same request_key returns the first job and does nothing ==='
-- one key per screen and click (here: per run of this script, after its job): a key means
-- one request, and the same key with other orders would be refused (22023)
SELECT jsonb_build_object('operator', 'tanaka', 'source', 'checkbox',
                          'request_key', 'demo-cancel-' || :job) AS click \gset
SELECT bulkorder.run_bulk('orders', 'cancel', :'targets', '{"void_payment": true}', :'click') AS first \gset
SELECT bulkorder.run_bulk('orders', 'cancel', :'targets', '{"void_payment": true}', :'click') = :first
       AS "same job / 同じジョブ";

\echo
\echo '=== The typed wrapper bulk_cancel: the orders are cancelled already, so each fails with its reason ==='
SELECT bulkorder.bulk_cancel(:'targets', false) AS job2 \gset
SELECT job_id, total_count, success_count, failure_count
FROM bulkorder.order_bulk_history WHERE job_id = :job2;
SELECT error_code, count(*) FROM bulkorder.bulk_job_failures WHERE job_id = :job2
GROUP BY error_code ORDER BY error_code;

\echo
\echo '=== タグ設定 / Tags: add a tag to the same orders; every existing order is eligible ==='
SELECT bulkorder.bulk_tags(:'targets', add => ARRAY['一括キャンセル済']) AS job3 \gset
SELECT order_no, status, tags FROM bulkorder.order_list
WHERE order_no = ANY (:'targets'::bigint[]) ORDER BY order_no LIMIT 4;
SELECT message FROM bulkorder.notifications WHERE job_id = :job3 ORDER BY notification_id DESC LIMIT 1;

\echo
\echo '=== 出荷データ取り込み / The shipment import: tracking numbers as the carriers issue them ==='
\echo '    three orders awaiting shipment: a real tracking number (12 digits, 7DR check digit),'
\echo '    one with a mistyped last digit, and a formula saved as text: only the first ships'
SELECT array_agg(order_no ORDER BY order_no)::text AS ship
FROM (SELECT order_no FROM bulkorder.order_list
      WHERE status = 'awaiting_shipment' AND NOT shipping_hold AND NOT (order_no = ANY (:'targets'::bigint[]))
      ORDER BY order_no DESC LIMIT 3) t \gset
SELECT string_agg(o || ',' || CASE n WHEN 1 THEN t || (t::bigint % 7)
                                     WHEN 2 THEN t || ((t::bigint % 7 + 1) % 7)
                                     ELSE '"=VLOOKUP(A' || n || ',伝票!A:B,2,0)"' END, E'\n' ORDER BY n) AS file
FROM unnest(:'ship'::bigint[]) WITH ORDINALITY AS u(o, n),
     LATERAL (SELECT lpad((o * 7919)::text, 11, '5') AS t) d \gset
\echo :file
SELECT bulkorder.import_shipments(convert_to(:'file', 'UTF8'), '{"operator": "tanaka"}') AS import \gset
SELECT target AS "注文番号", ok, error_code, after->>'tracking_no' AS "送り状番号"
FROM bulkorder.bulk_job_items WHERE job_id = :import ORDER BY target;
\echo '--- 取り込みファイルのエラー / The error lines of the file: which check failed, and the fix ---'
SELECT line_no, error_code, message
FROM bulkorder.upload_errors((SELECT (params->>'upload_id')::bigint FROM bulkorder.bulk_jobs WHERE job_id = :import));

\echo
\echo '=== ⑦ ショップごとの担当者 / Two shops, two operators: each sees and changes its own shop alone ==='
SELECT count(*) > 1 AS two_shops FROM bulkorder.shops \gset
\if :two_shops
-- an operator of each shop (roles belong to the cluster: made once)
SELECT format('CREATE ROLE %I', r) FROM unnest(ARRAY['demo_tanaka', 'demo_suzuki']) AS r
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = r) \gexec
SELECT bulkorder.grant_operator('demo_tanaka', 'default'), bulkorder.grant_operator('demo_suzuki', 'cosme');
SELECT s.code AS "ショップ", s.name, g.role AS "担当者" FROM bulkorder.shop_roles g
JOIN bulkorder.shops s USING (shop_id) WHERE g.kind = 'operator' AND g.role::text LIKE 'demo_%' ORDER BY s.shop_id;
RESET bulkorder.shop;
SET ROLE demo_suzuki;
\echo '--- demo_suzuki (cosme): the order list and the history show cosme alone ---'
SELECT shop_id, count(*) AS "注文" FROM bulkorder.order_list GROUP BY shop_id;
SELECT count(*) AS "cosme の一括更新履歴" FROM bulkorder.order_bulk_history;
\echo '--- demo_suzuki tags three cosme orders, without naming the shop: its only shop ---'
SELECT bulkorder.run_bulk('orders', 'tags',
                          ARRAY(SELECT order_no FROM bulkorder.order_list
                                WHERE status = 'awaiting_shipment' ORDER BY order_no LIMIT 3),
                          '{"add": ["cosme-担当"]}', '{"operator": "suzuki"}') AS cosme_job \gset
SELECT job_id, shop_id, operation, success_count FROM bulkorder.order_bulk_history WHERE job_id = :cosme_job;
\echo '--- demo_suzuki asks for the default shop: refused (42501), nothing changes ---'
\set ON_ERROR_STOP off
SELECT bulkorder.run_bulk('orders', 'tags', :'targets', '{"add": ["x"]}', '{"shop": "default"}');
\set ON_ERROR_STOP on
\echo '--- and the job of the default shop is unknown to it (22023, as a job that does not exist) ---'
\set ON_ERROR_STOP off
SELECT * FROM bulkorder.preview_revert(:job);
\set ON_ERROR_STOP on
RESET ROLE;
SET ROLE demo_tanaka;
\echo '--- demo_tanaka (default) sees its own shop and its own jobs ---'
SELECT shop_id, count(*) AS "注文" FROM bulkorder.order_list GROUP BY shop_id;
SELECT count(*) FILTER (WHERE job_id = :job) AS "default のジョブ", count(*) FILTER (WHERE job_id = :cosme_job) AS "cosme のジョブ"
FROM bulkorder.order_bulk_history;
RESET ROLE;
SET bulkorder.shop = 'default';
\else
\echo '    (one shop in this database: make demo loads a second one, cosme)'
\endif
