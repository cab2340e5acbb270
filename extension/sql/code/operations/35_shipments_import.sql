-- Shipments page (仕入・出荷管理 > 出荷一覧): the shipment data import
-- (出荷データ取り込み): docs/csv.md.
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
--
-- Tracking numbers as carriers issue them (docs/csv.md): csv_cells.c normalises
-- column B and refuses what a spreadsheet spoiled (a formula written as
-- text, a currency format, a negative number, a fraction, scientific
-- notation), marking the order's staged row; the rules below fail such an
-- order with the cause's code, and check what is left against the format of
-- the order's carrier (delivery_methods.tracking_format), which also gives
-- the form stored.  Nothing is stored, mailed or reported for a refused
-- order: every effect reads the changed rows only.

-- A tracking number against its carrier's format: NULL when it is one, else
-- 'character', 'length' or 'check_digit' (csv_tracking.c, csv_tracking_check).
-- C, IMMUTABLE and STRICT: the import calls it once per order and per line.
CREATE OR REPLACE FUNCTION bulkorder.tracking_no_problem(tracking_format text, tracking_no text)
RETURNS text
AS 'MODULE_PATHNAME', 'bulkorder_tracking_no_problem'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION bulkorder.tracking_no_problem(text, text) IS
'What is wrong with a tracking number for a carrier''s format (jp12, s10, text): character, length, check_digit; NULL when nothing';

-- The stored form of a tracking number of the format (jp12: its 12 digits;
-- s10: upper case; text: without spaces); NULL when it is none.
CREATE OR REPLACE FUNCTION bulkorder.tracking_no_canonical(tracking_format text, tracking_no text)
RETURNS text
AS 'MODULE_PATHNAME', 'bulkorder_tracking_no_canonical'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION bulkorder.tracking_no_canonical(text, text) IS
'The stored form of a tracking number of a carrier''s format (jp12, s10, text); NULL when it is none';

SELECT bulkorder.define_operation('shipments', 'import_shipments',
    name_ja => '出荷データ取り込み', name_en => 'shipment import',
    wrapper => 'bulk_shipment_import_shipments',
    params => '{"upload_id": {"type": "bigint", "min": 1, "position": 1}}',
    changed_columns => '{status,ship_report_status,tracking_no,ship_mail_sent}',
    -- The shop's few payment methods and carriers are read once per
    -- statement (uncorrelated sub-selects: InitPlans) and looked up per
    -- order in what they give.  A sub-select per order would rescan a table
    -- of a page, and PostgreSQL 15 asks the kernel for a table's size at
    -- every rescan of a sequential scan: a system call per order for each.
    set_clause => $$(status, ship_report_status, tracking_no) =
           (CASE WHEN t.payment_method = ANY (ARRAY(SELECT pm.code FROM bulkorder.payment_methods pm
                                                 WHERE pm.needs_ship_report))
                 THEN 'shipping' ELSE 'shipped' END,
            CASE WHEN t.payment_method = ANY (ARRAY(SELECT pm.code FROM bulkorder.payment_methods pm
                                                 WHERE pm.needs_ship_report))
                 THEN 'pending' ELSE t.ship_report_status END,
            -- the stored form for the order's carrier (the rules checked
            -- it): 'text' for an order without a delivery method
            bulkorder.tracking_no_canonical(
                coalesce((SELECT jsonb_object_agg(dm.code, dm.tracking_format) FROM bulkorder.delivery_methods dm)
                         ->> t.delivery_method, 'text'),
                s.tracking_nos[1])),
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
     -- the template read once per statement, as in the set clause
     $$INSERT INTO bulkorder.mail_outbox
            (template_code, order_no, customer_id, to_address, subject, body, job_id)
        SELECT 'ship_complete', o.order_no, o.customer_id, c.email,
               bulkorder.render_mail((SELECT mt.subject FROM bulkorder.mail_templates mt
                                      WHERE mt.code = 'ship_complete'),
                                     o.order_no, c.name, a.after->>'tracking_no', pm.name, o.course_order_no),
               bulkorder.render_mail((SELECT mt.body FROM bulkorder.mail_templates mt
                                      WHERE mt.code = 'ship_complete'),
                                     o.order_no, c.name, a.after->>'tracking_no', pm.name, o.course_order_no), $3
        FROM applied a
        JOIN bulkorder.orders o ON o.ctid = a.old_tid AND o.order_no = a.target
        JOIN bulkorder.customers c ON c.customer_id = o.customer_id
        JOIN bulkorder.payment_methods pm ON pm.code = o.payment_method
        WHERE NOT o.ship_mail_sent
          AND EXISTS (SELECT 1 FROM bulkorder.mail_templates mt
                      WHERE mt.code = 'ship_complete' AND mt.enabled)$$],
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
        -- the other ways a spreadsheet spoils a tracking number (csv.c marks
        -- the order: s.tracking_errors), each with its cause and its fix
        jsonb_build_object('code', 'formula_text',
            'condition', $$NOT coalesce('formula_text' = ANY (s.tracking_errors), false)$$,
            'message_ja', 'B列の送り状番号が数式のテキスト(=、+、@ で始まるもの)になっていて、番号ではありません。計算結果ではなく数式が保存されています(LibreOffice の「セルの数式を保存」など)。送り状番号の列を値として貼り付けるか、数式を保存しない設定で保存し直してから取り込んでください',
            'message_en', 'column B holds the text of a formula (beginning with =, + or @), not a tracking number: the formula was saved instead of its value (LibreOffice''s "save cell formulas", for example). Paste the column as values, or save the file without formulas, and import it again'),
        jsonb_build_object('code', 'currency_format',
            'condition', $$NOT coalesce('currency_format' = ANY (s.tracking_errors), false)$$,
            'message_ja', 'B列の送り状番号が通貨や単位の表示形式(¥、￥、\、$、円 など)で書き出されていて、番号として使えません。送り状番号の列の表示形式を「文字列」にして番号を入力し直し、保存し直してから取り込んでください',
            'message_en', 'column B was saved in a currency or unit format (¥, \, $, 円 and the like): it is no tracking number. Format the tracking number column as text, enter the numbers again, save the file and import it again'),
        jsonb_build_object('code', 'negative_number',
            'condition', $$NOT coalesce('negative_number' = ANY (s.tracking_errors), false)$$,
            'message_ja', 'B列の送り状番号がマイナスの数値(-、▲、△、かっこ付き)になっていて、番号ではありません。送り状番号の列を「文字列」にして正しい番号を入力し直し、保存し直してから取り込んでください',
            'message_en', 'column B holds a negative number (-, ▲, △ or in parentheses), not a tracking number. Format the tracking number column as text, enter the right numbers, save the file and import it again'),
        jsonb_build_object('code', 'not_an_integer',
            'condition', $$NOT coalesce('not_an_integer' = ANY (s.tracking_errors), false)$$,
            'message_ja', 'B列の送り状番号が小数点以下のある数値になっていて、番号の桁が失われています。送り状番号の列を「文字列」にして番号を入力し直し、保存し直してから取り込んでください',
            'message_en', 'column B holds a number with a fraction: digits of the tracking number are lost. Format the tracking number column as text, enter the numbers again, save the file and import it again'),
        jsonb_build_object('code', 'missing_tracking_no',
            'condition', $$coalesce(cardinality(s.tracking_nos), 0) > 0$$,
            'message_ja', 'B列に送り状番号がありません(空欄、「=」だけ、または #N/A などの数式エラー)。送り状番号を入力し、保存し直してから取り込んでください',
            'message_en', 'column B holds no tracking number (empty, "=" alone, or a formula error such as #N/A). Enter the tracking number, save the file and import it again'),
        -- two lines that write one number two ways (2345-6789-0292 and
        -- 234567890292) give it once: compared in the carrier's stored
        -- form, looked up only for an order with more than one
        jsonb_build_object('code', 'tracking_no_conflict',
            'condition', $$cardinality(s.tracking_nos) = 1
                OR (SELECT count(DISTINCT coalesce(bulkorder.tracking_no_canonical(f.format, x), x))
                    FROM (SELECT coalesce((SELECT jsonb_object_agg(dm.code, dm.tracking_format)
                                           FROM bulkorder.delivery_methods dm) ->> t.delivery_method,
                                          'text') AS format) f,
                         unnest(s.tracking_nos) AS x) = 1$$,
            'message_ja', 'ファイル内で同じ注文番号に異なる送り状番号が指定されています',
            'message_en', 'the file gives this order more than one tracking number'),
        jsonb_build_object('code', 'tracking_no_too_long',
            'condition', $$length(s.tracking_nos[1]) <= 100$$,
            'message_ja', '送り状番号が100文字を超えています',
            'message_en', 'the tracking number is longer than 100 characters'),
        -- last: the carrier's format, read when the job runs (a re-applied
        -- file is checked against the carrier the order has then);
        -- upload_errors says, line by line, which of the three it is
        jsonb_build_object('code', 'invalid_tracking_no',
            -- the carriers read once per statement, as in the set clause
            'condition', $$bulkorder.tracking_no_problem(
                coalesce((SELECT jsonb_object_agg(dm.code, dm.tracking_format) FROM bulkorder.delivery_methods dm)
                         ->> t.delivery_method, 'text'),
                s.tracking_nos[1]) IS NULL$$,
            'message_ja', 'B列の送り状番号が、注文の配送方法の送り状番号の形式に合いません(桁数、使えない文字、チェックディジットのいずれかが違います。どれかは upload_errors の行ごとのメッセージに表示されます)。伝票の番号を確かめて入力し直し、保存し直してから取り込んでください',
            'message_en', 'column B is not a tracking number of the order''s carrier (its length, a character, or its check digit is wrong; upload_errors says which, line by line). Check the number on the slip, enter it again, save the file and import it again')),
    -- params.upload_id must name a staged shipment file (run_bulk and the
    -- wrapper can re-apply one, e.g. to orders whose hold was released)
    checks => jsonb_build_array(
        jsonb_build_object('condition', $$EXISTS (SELECT 1 FROM bulkorder.uploads u
               WHERE u.upload_id = (p->>'upload_id')::bigint AND u.purpose = 'import_shipments')$$,
            'message', 'params.upload_id does not name a shipment file upload',
            'hint', 'Upload the file with bulkorder.import_shipments(content, options).',
            'hint_ja', 'ファイルは bulkorder.import_shipments(content, options) でアップロードしてください。')),
    target_join => jsonb_build_object('table', 'bulkorder.upload_shipments', 'alias', 's', 'key', 'order_no',
        'on', $$s.upload_id = (p->>'upload_id')::bigint$$));
