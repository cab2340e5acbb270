-- Shipments page (仕入・出荷管理 > 出荷一覧): the shipment data import
-- (出荷データ取り込み): README, "The shipment data import".
--
-- bulkorder.import_shipments(content, options) (extension/src/csv.c) stages
-- the file as an upload (bulkorder.uploads, upload_lines, upload_shipments:
-- 60_csv.sql) and runs this operation through run_bulk over the file's
-- order numbers with params {"upload_id": N}.  The tracking numbers are
-- data, the order's row of bulkorder.upload_shipments joined to it as s
-- (target_join: one index probe per order for every rule and the change),
-- so the one engine checks, locks, applies and records the import like any
-- other job, and it shows in shipment_bulk_history.
--
-- An order needing a shipment report (payment_methods.needs_ship_report)
-- goes to shipping with ship_report_status pending and a ship_report
-- request (complete_payment_request moves it on); the others go to shipped.
-- A ship_complete mail is queued unless ship_mail_sent, which is then set
-- (left as it was when the template is disabled: no mail went).
SELECT bulkorder.define_operation('shipments', 'import_shipments',
    name_ja => '出荷データ取り込み', name_en => 'shipment import',
    wrapper => 'bulk_shipment_import_shipments',
    params => '{"upload_id": {"type": "bigint", "min": 1, "position": 1}}',
    changed_columns => '{status,ship_report_status,tracking_no,ship_mail_sent}',
    -- the payment method read once per order for both fields (one row
    -- always, as the CASEs over a missing one would give)
    set_clause => $$(status, ship_report_status) =
           (SELECT CASE WHEN pm.needs_ship_report THEN 'shipping' ELSE 'shipped' END,
                   CASE WHEN pm.needs_ship_report THEN 'pending' ELSE t.ship_report_status END
              FROM (VALUES (1)) AS one LEFT JOIN bulkorder.payment_methods pm ON pm.code = t.payment_method),
       tracking_no = s.tracking_nos[1],
       ship_mail_sent = t.ship_mail_sent
                        OR EXISTS (SELECT 1 FROM bulkorder.mail_templates mt
                                   WHERE mt.code = 'ship_complete' AND mt.enabled)$$,
    -- every effect reads bulkorder.orders as it was before the change (one
    -- statement, one snapshot), found by applied.old_tid (no second probe
    -- of the key's index), and the new tracking number from applied.after
    -- (the only field the mail shows that the import changes)
    effects => ARRAY[
     -- a ship_report request where the method needs one: where the change
     -- set shipping (the set clause's own test of needs_ship_report)
     $$INSERT INTO bulkorder.payment_requests (order_no, payment_method, kind, job_id)
        SELECT a.target, o.payment_method, 'ship_report', $3
        FROM applied a
        JOIN bulkorder.orders o ON o.ctid = a.old_tid AND o.order_no = a.target
        WHERE a.after->>'status' = 'shipping'$$,
     $$INSERT INTO bulkorder.mail_outbox
            (template_code, order_no, customer_id, to_address, subject, body, job_id)
        SELECT mt.code, o.order_no, o.customer_id, c.email,
               bulkorder.render_mail(mt.subject, o.order_no, c.name, a.after->>'tracking_no', pm.name, o.course_order_no),
               bulkorder.render_mail(mt.body, o.order_no, c.name, a.after->>'tracking_no', pm.name, o.course_order_no), $3
        FROM applied a
        JOIN bulkorder.orders o ON o.ctid = a.old_tid AND o.order_no = a.target
        JOIN bulkorder.customers c ON c.customer_id = o.customer_id
        JOIN bulkorder.payment_methods pm ON pm.code = o.payment_method
        JOIN bulkorder.mail_templates mt ON mt.code = 'ship_complete' AND mt.enabled
        WHERE NOT o.ship_mail_sent$$],
    rules => jsonb_build_array(
        jsonb_build_object('code', 'not_awaiting_shipment',
            'condition', $$t.status = 'awaiting_shipment'$$,
            'message_ja', '出荷待ちの注文ではないため出荷データを取り込めません',
            'message_en', 'only orders awaiting shipment can be imported as shipped'),
        jsonb_build_object('code', 'shipping_hold',
            'condition', $$NOT t.shipping_hold$$,
            'message_ja', '出荷停止中の注文のため出荷データを取り込めません(出荷停止を解除してから再度取り込んでください)',
            'message_en', 'the order is on shipping hold: release the hold, then import it again'),
        -- a tracking number a spreadsheet rounded (2.34568E+11): csv.c marks
        -- its line and the order (s.rounded) and keeps it out of
        -- tracking_nos, so this comes before the other tracking-number rules;
        -- nothing is stored, mailed or reported
        jsonb_build_object('code', 'rounded_number',
            'condition', $$NOT coalesce(s.rounded, false)$$,
            'message_ja', 'B列の送り状番号が表計算ソフトで指数表記(2.34568E+11 など)に丸められていて、元の番号が分かりません。B列の書式を「文字列」にして送り状番号を入力し直し、保存し直してから取り込んでください',
            'message_en', 'the spreadsheet rounded the tracking number in column B into scientific notation (such as 2.34568E+11): the real number is unknown. Format column B as text, enter the full tracking number, save the file and import it again'),
        jsonb_build_object('code', 'missing_tracking_no',
            'condition', $$coalesce(cardinality(s.tracking_nos), 0) > 0$$,
            'message_ja', 'B列に送り状番号がありません',
            'message_en', 'column B holds no tracking number'),
        jsonb_build_object('code', 'tracking_no_conflict',
            'condition', $$cardinality(s.tracking_nos) = 1$$,
            'message_ja', 'ファイル内で同じ注文番号に異なる送り状番号が指定されています',
            'message_en', 'the file gives this order more than one tracking number'),
        jsonb_build_object('code', 'tracking_no_too_long',
            'condition', $$length(s.tracking_nos[1]) <= 100$$,
            'message_ja', '送り状番号が100文字を超えています',
            'message_en', 'the tracking number is longer than 100 characters')),
    -- params.upload_id must name a staged shipment file (run_bulk and the
    -- wrapper can re-apply one, e.g. to orders whose hold was released)
    checks => jsonb_build_array(
        jsonb_build_object('condition', $$EXISTS (SELECT 1 FROM bulkorder.uploads u
               WHERE u.upload_id = (p->>'upload_id')::bigint AND u.purpose = 'import_shipments')$$,
            'message', 'params.upload_id does not name a shipment file upload',
            'hint', 'Upload the file with bulkorder.import_shipments(content, options).')),
    target_join => jsonb_build_object('table', 'bulkorder.upload_shipments', 'alias', 's', 'key', 'order_no',
        'on', $$s.upload_id = (p->>'upload_id')::bigint$$));
