-- Tracking numbers as carriers issue them (docs/csv.md, issue 24): column B of
-- the shipment import is normalised, refused by its spreadsheet cause, then
-- checked against the format of the order's carrier
-- (delivery_methods.tracking_format) and stored in that format's form;
-- nothing is stored, mailed or reported for a refused line.  Column A names
-- the same causes; line 1 is never lost silently.  Every sheet comes from
-- test/fixtures/csv/ (make_fixtures.sh), written six ways: UTF-8, UTF-8 with
-- a BOM and Shift_JIS, each with LF and CRLF.
CREATE EXTENSION bulkorder;
\set VERBOSITY default
\i test/fixtures/shop.sql

-- 1. The carriers' formats, rule by rule: the functions the import's rules
--    and its staging call (problem NULL: a tracking number of the format)
SELECT f AS format, t AS tracking_no, bulkorder.tracking_no_problem(f, t) AS problem,
       bulkorder.tracking_no_canonical(f, t) AS stored
FROM (SELECT row_number() OVER () AS n, v.* FROM (VALUES
    -- jp12: 12 digits, 4-4-4 by "-" or spaces or not at all, 7DR check digit
    ('jp12', '012345678903'), ('jp12', '0123-4567-8903'), ('jp12', '0123 4567  8903'),
    ('jp12', '0123-4567 8903'), ('jp12', '12345678903'), ('jp12', '0123456789030'),
    ('jp12', '012345678904'), ('jp12', '0123-45678903'), ('jp12', '01-2345678903'),
    ('jp12', '-012345678903'), ('jp12', '012345678903-'), ('jp12', '0123-4567-890X'),
    ('jp12', '234567890152?'), ('jp12', '０１２３４５６７８９０３'), ('jp12', 'AB1234567890'),
    -- s10: two letters, 8 digits and their check digit, two letters
    ('s10', 'EJ123456785JP'), ('s10', 'ej123456785jp'), ('s10', 'EJ 123 456 785 JP'),
    ('s10', 'EJ100000140JP'), ('s10', 'EJ100000025JP'), ('s10', 'EJ100000145JP'),
    ('s10', 'EJ123456784JP'), ('s10', 'EJ12345678JP'), ('s10', 'EJ1234567855JP'),
    ('s10', 'E1123456785JP'), ('s10', 'EJ12345678XJP'), ('s10', 'EJ-123456785-JP'),
    -- text: 1-40 letters, digits and "-", spaces inside dropped
    ('text', 'AB-1234'), ('text', 'ab 12 cd'), ('text', '1234-5678-9012'), ('text', 'AB-1234.5'),
    ('text', repeat('x', 40)), ('text', repeat('x', 41)), ('text', '---'), ('text', ''),
    ('text', 'ＡＢ１２'), ('text', 'AB_12')
) AS v(f, t)) AS c
ORDER BY n;
-- the check digits, computed here on their own: for every eleven digits
-- exactly one twelfth passes jp12, the eleven as a number modulo 7; for
-- every eight digits exactly one check digit passes s10, 11 - the weighted
-- sum modulo 11 (10 → 0, 11 → 5)
SELECT count(*) AS prefixes,
       count(*) FILTER (WHERE passing = ARRAY[(p::bigint % 7)::int]) AS jp12_as_computed
FROM (SELECT p, array_agg(d ORDER BY d) FILTER (WHERE bulkorder.tracking_no_problem('jp12', p || d) IS NULL) AS passing
      FROM (SELECT lpad((g::bigint * 98765431)::text, 11, '0') AS p FROM generate_series(0, 999) g) s,
           generate_series(0, 9) d
      GROUP BY p) x;
SELECT count(*) AS prefixes, count(*) FILTER (WHERE passing = ARRAY[expected]) AS s10_as_computed,
       count(*) FILTER (WHERE expected = 0 AND sum % 11 = 1) AS ten_gives_0,
       count(*) FILTER (WHERE expected = 5 AND sum % 11 = 0) AS eleven_gives_5
FROM (SELECT d8, sum, CASE 11 - sum % 11 WHEN 10 THEN 0 WHEN 11 THEN 5 ELSE 11 - sum % 11 END AS expected,
             (SELECT array_agg(c ORDER BY c) FROM generate_series(0, 9) c
              WHERE bulkorder.tracking_no_problem('s10', 'RR' || d8 || c || 'JP') IS NULL) AS passing
      FROM (SELECT d8, (SELECT sum(substr(d8, i, 1)::int * (ARRAY[8, 6, 4, 2, 3, 5, 9, 7])[i])
                        FROM generate_series(1, 8) i)::int AS sum
            FROM (SELECT (10000000 + g * 7919)::text AS d8 FROM generate_series(0, 999) g) s) s) x;
-- a format that does not exist is refused, and so is one in the column
SELECT bulkorder.tracking_no_problem('jp13', '012345678903');
INSERT INTO bulkorder.delivery_methods (code, name, tracking_format) VALUES ('x', 'x', 'JP12');
-- 1.1 carriers and new ones are 'text' until the shop says otherwise
SELECT code, tracking_format FROM bulkorder.delivery_methods ORDER BY code;

-- 2. The shop: its carriers with their formats, and one order per case,
--    each awaiting shipment with NP後払い (an accepted order gets a
--    shipment report and a completion mail: a refused one must get neither)
UPDATE bulkorder.delivery_methods SET tracking_format = 'jp12' WHERE code IN ('yamato', 'sagawa', 'nekopos');
INSERT INTO bulkorder.delivery_methods (code, name, tracking_format) VALUES
    ('ems', 'EMS(国際スピード郵便)', 's10'), ('chiiki', '地域便', 'text');
INSERT INTO bulkorder.orders (order_no, customer_id, status, payment_method, delivery_method)
SELECT o, 1 + o % 3, 'awaiting_shipment', 'np_atobarai',
       CASE WHEN o BETWEEN 114466 AND 114470 THEN 'ems' WHEN o BETWEEN 114471 AND 114474 THEN 'chiiki'
            WHEN o % 2 = 0 THEN 'yamato' ELSE 'sagawa' END
FROM generate_series(114430, 114476) o;
INSERT INTO bulkorder.orders (order_no, customer_id, status, payment_method)
SELECT o, 1, 'awaiting_shipment', 'credit_card' FROM generate_series(118500, 118530) o;

-- every fixture of this test, by name (base64 through psql, as the files
-- are on the client)
\set fixtures `cd test/fixtures/csv && for f in sheet_tracking_*.csv sheet_key_causes_*.csv line1_*.csv; do printf '%s %s\n' "${f%.csv}" "$(base64 -w0 "$f")"; done`
CREATE TEMP TABLE fixture AS
SELECT regexp_replace(name, '_(utf8|utf8bom|sjis)_(lf|crlf)$', '') AS sheet,
       substring(name from '_((utf8|utf8bom|sjis)_(lf|crlf))$') AS variant,
       CASE WHEN name LIKE '%\_sjis\_%' THEN 'SJIS' ELSE 'UTF8' END AS encoding,
       decode(content, 'base64') AS content
FROM (SELECT split_part(l, ' ', 1) AS name, split_part(l, ' ', 2) AS content
      FROM regexp_split_to_table(:'fixtures', E'\n') AS l) f;
SELECT sheet, count(*) AS files, string_agg(variant, ' ' ORDER BY variant) AS variants
FROM fixture GROUP BY sheet ORDER BY sheet;

-- What an import of a file did, order by order: its item, the stored
-- tracking number, the order's status, the mails and shipment reports it
-- queued, and the upload's error lines of the order.  Undone afterwards
-- (the subtransaction is rolled back), so that every file meets the same
-- orders.
CREATE FUNCTION pg_temp.import_outcome(content bytea, encoding text)
RETURNS TABLE (order_no bigint, ok boolean, error_code text, tracking_no text, status text,
               mails bigint, mail_has_number boolean, reports bigint, line_errors text)
LANGUAGE plpgsql AS $$
DECLARE
    outcome jsonb;
    job bigint;
BEGIN
    BEGIN
        job := bulkorder.import_shipments(content, jsonb_build_object('encoding', encoding));
        SELECT jsonb_agg(jsonb_build_object(
                   'order_no', i.target, 'ok', i.ok, 'error_code', i.error_code,
                   'tracking_no', o.tracking_no, 'status', o.status,
                   'mails', (SELECT count(*) FROM bulkorder.mail_outbox m
                             WHERE m.job_id = job AND m.order_no = i.target),
                   'mail_has_number', (SELECT bool_and(strpos(m.body, o.tracking_no) > 0) FROM bulkorder.mail_outbox m
                                       WHERE m.job_id = job AND m.order_no = i.target),
                   'reports', (SELECT count(*) FROM bulkorder.payment_requests r
                               WHERE r.job_id = job AND r.order_no = i.target),
                   'line_errors', (SELECT string_agg(l.error_code || coalesce('(' || l.cause || ')', ''), ' ' ORDER BY l.line_no)
                                   FROM bulkorder.upload_lines l
                                   WHERE l.upload_id = (j.params->>'upload_id')::bigint
                                     AND l.key = i.target AND l.error_code IS NOT NULL)))
        INTO outcome
        FROM bulkorder.bulk_jobs j
        JOIN bulkorder.bulk_job_items i ON i.job_id = j.job_id
        JOIN bulkorder.orders o ON o.order_no = i.target
        WHERE j.job_id = job;
        RAISE SQLSTATE 'U0001';
    EXCEPTION WHEN SQLSTATE 'U0001' THEN
        NULL;
    END;
    RETURN QUERY
    SELECT * FROM jsonb_to_recordset(outcome) AS x(order_no bigint, ok boolean, error_code text, tracking_no text,
                                                   status text, mails bigint, mail_has_number boolean,
                                                   reports bigint, line_errors text);
END
$$;

CREATE TEMP TABLE tracking_outcome AS
SELECT f.variant, o.*
FROM fixture f, pg_temp.import_outcome(f.content, f.encoding) AS o
WHERE f.sheet = 'sheet_tracking';

-- 3. The sheet of tracking numbers (make_fixtures.sh says what each line
--    is), as LibreOffice saved it in UTF-8 with LF: order by order
SELECT order_no, ok, error_code, tracking_no, status, mails, reports, line_errors
FROM tracking_outcome WHERE variant = 'utf8_lf' ORDER BY order_no;

-- what each cell must give: its refusal's code (and the problem the upload
-- names), or the stored number
CREATE TEMP TABLE tracking_expected (order_no bigint, error_code text, line_errors text, stored text);
INSERT INTO tracking_expected VALUES
    (114430, 'formula_text', 'formula_text', NULL), (114431, 'formula_text', 'formula_text', NULL),
    (114432, 'formula_text', 'formula_text', NULL), (114433, 'missing_tracking_no', NULL, NULL),
    (114434, 'currency_format', 'currency_format', NULL), (114435, 'currency_format', 'currency_format', NULL),
    (114436, 'currency_format', 'currency_format', NULL), (114437, 'negative_number', 'negative_number', NULL),
    (114438, 'negative_number', 'negative_number', NULL), (114439, 'negative_number', 'negative_number', NULL),
    (114440, 'not_an_integer', 'not_an_integer', NULL), (114441, 'not_an_integer', 'not_an_integer', NULL),
    (114442, 'not_an_integer', 'not_an_integer', NULL), (114443, 'rounded_number', 'rounded_number', NULL),
    (114444, 'rounded_number', 'rounded_number', NULL),
    (114445, 'invalid_tracking_no', 'invalid_tracking_no(jp12:length)', NULL),
    (114446, 'invalid_tracking_no', 'invalid_tracking_no(jp12:length)', NULL),
    (114447, NULL, NULL, '234567890152'), (114448, NULL, NULL, '234567890130'),
    (114449, NULL, NULL, '234567890141'), (114450, NULL, NULL, '234567890163'),
    (114451, NULL, NULL, '234567890174'), (114452, NULL, NULL, '234567890185'),
    (114453, NULL, NULL, '234567890196'), (114454, NULL, NULL, '234567890200'),
    (114455, NULL, NULL, '234567890211'), (114456, NULL, NULL, '234567890222'),
    (114457, NULL, NULL, '234567890233'), (114458, NULL, NULL, '234567890244'),
    (114459, NULL, NULL, '234567890255'), (114460, NULL, NULL, '234567890266'),
    (114461, 'invalid_tracking_no', 'invalid_tracking_no(jp12:check_digit)', NULL),
    (114462, 'invalid_tracking_no', 'invalid_tracking_no(jp12:character)', NULL),
    (114463, 'invalid_tracking_no', 'invalid_tracking_no(jp12:character)', NULL),
    (114464, 'missing_tracking_no', NULL, NULL), (114465, 'missing_tracking_no', NULL, NULL),
    (114466, NULL, NULL, 'EJ123456785JP'), (114467, NULL, NULL, 'EJ123456785JP'),
    (114468, 'invalid_tracking_no', 'invalid_tracking_no(s10:check_digit)', NULL),
    (114469, 'invalid_tracking_no', 'invalid_tracking_no(s10:length)', NULL),
    (114470, NULL, NULL, 'EJ123456785JP'),
    (114471, 'invalid_tracking_no', 'invalid_tracking_no(text:character)', NULL),
    (114472, 'invalid_tracking_no', 'invalid_tracking_no(text:length)', NULL),
    (114473, NULL, NULL, 'ab12cd'), (114474, NULL, NULL, 'SG-9876'),
    -- a good line and a formula line: refused whole
    (114475, 'formula_text', 'formula_text', NULL),
    -- one number written two ways on two lines: shipped (the repeated line
    -- is the upload's duplicate_key, as for any repeated order)
    (114476, NULL, 'duplicate_key', '234567890292');

-- every refused cell stored nothing, queued no mail and no shipment report,
-- left its order awaiting shipment and named its cause, in the job and (but
-- for a missing one) on its line of the upload; every accepted cell was
-- stored in its carrier's form, shipped (a report pending: NP後払い) with one
-- mail that shows it.  Any line here is a cell that did otherwise, in any
-- of the six files (the four the Shift_JIS files cannot hold: below).
SELECT t.variant, e.order_no, t.ok, t.error_code, t.tracking_no, t.status, t.mails, t.reports,
       t.line_errors, e.error_code AS expected_code, e.line_errors AS expected_line_errors,
       e.stored AS expected_stored
FROM tracking_expected e
CROSS JOIN (SELECT DISTINCT variant FROM fixture WHERE sheet = 'sheet_tracking') v
LEFT JOIN tracking_outcome t ON t.variant = v.variant AND t.order_no = e.order_no
WHERE NOT (v.variant LIKE 'sjis%' AND e.order_no IN (114447, 114449, 114450, 114454))
  AND NOT coalesce(
      CASE WHEN e.error_code IS NOT NULL
           THEN NOT t.ok AND t.error_code = e.error_code AND t.tracking_no IS NULL
                AND t.status = 'awaiting_shipment' AND t.mails = 0 AND t.reports = 0
           ELSE t.ok AND t.error_code IS NULL AND t.tracking_no = e.stored
                AND t.status = 'shipping' AND t.mails = 1 AND t.mail_has_number AND t.reports = 1 END
      AND t.line_errors IS NOT DISTINCT FROM e.line_errors, false)
ORDER BY 1, 2;
-- the same cells, counted: six files of 47 orders, none missing
SELECT variant, count(*) AS orders, count(*) FILTER (WHERE ok) AS shipped,
       count(*) FILTER (WHERE NOT ok) AS refused,
       count(*) FILTER (WHERE NOT ok AND (tracking_no IS NOT NULL OR mails > 0 OR reports > 0)) AS refused_with_a_trace
FROM tracking_outcome GROUP BY variant ORDER BY variant;

-- 4. The same sheet gives the same stored numbers in every encoding and
--    with either line end: the UTF-8 files, with or without a BOM, agree
--    order by order; so do the Shift_JIS ones.  Shift_JIS differs where
--    the sheet has a character it cannot hold (a no-break space, a
--    zero-width space, a BOM, an en dash): Calc wrote "?" instead, and that
--    line is refused, never stored as another number.
SELECT a.variant, count(*) AS orders,
       bool_and((a.ok, a.error_code, a.tracking_no, a.line_errors)
                IS NOT DISTINCT FROM (b.ok, b.error_code, b.tracking_no, b.line_errors)) AS same_as_utf8_lf
FROM tracking_outcome a
JOIN tracking_outcome b ON b.variant = 'utf8_lf' AND b.order_no = a.order_no
WHERE a.variant LIKE 'utf8%'
GROUP BY a.variant ORDER BY a.variant;
SELECT a.variant, count(*) AS orders,
       bool_and((a.ok, a.error_code, a.tracking_no, a.line_errors)
                IS NOT DISTINCT FROM (b.ok, b.error_code, b.tracking_no, b.line_errors)) AS same_as_sjis_crlf
FROM tracking_outcome a
JOIN tracking_outcome b ON b.variant = 'sjis_crlf' AND b.order_no = a.order_no
WHERE a.variant LIKE 'sjis%'
GROUP BY a.variant ORDER BY a.variant;
SELECT s.order_no, u.tracking_no AS utf8, s.ok AS sjis_ok, s.error_code AS sjis_error, s.tracking_no AS sjis_stored,
       s.mails, s.reports, s.line_errors AS sjis_line_errors
FROM tracking_outcome s
JOIN tracking_outcome u ON u.variant = 'utf8_lf' AND u.order_no = s.order_no
WHERE s.variant = 'sjis_crlf'
  AND (s.ok, s.error_code, s.tracking_no) IS DISTINCT FROM (u.ok, u.error_code, u.tracking_no)
ORDER BY s.order_no;

-- 5. What the operator reads: the upload's error lines (Japanese, then
--    English), and the job's failures (the Shift_JIS file, as Excel's
--    "CSV (コンマ区切り)" saves it)
SELECT bulkorder.import_shipments(content, '{"encoding": "SJIS"}') AS job
FROM fixture WHERE sheet = 'sheet_tracking' AND variant = 'sjis_crlf' \gset
SELECT params->>'upload_id' AS upload FROM bulkorder.bulk_jobs WHERE job_id = :job \gset
SELECT line_count, key_count, error_count, has_header FROM bulkorder.upload_list WHERE upload_id = :upload;
SELECT * FROM bulkorder.upload_errors(:upload);
SET bulkorder.language = 'en';
SELECT * FROM bulkorder.upload_errors(:upload)
WHERE error_code IN ('invalid_tracking_no', 'formula_text', 'currency_format', 'negative_number', 'not_an_integer');
RESET bulkorder.language;
SELECT error_code, count(*) AS orders, min(message) AS message
FROM bulkorder.bulk_job_failures WHERE job_id = :job GROUP BY error_code ORDER BY error_code;
SET bulkorder.language = 'en';
SELECT * FROM bulkorder.preview_bulk('shipments', 'import_shipments', '{114430,114434,114437,114440,114461}',
                                     jsonb_build_object('upload_id', :upload));
RESET bulkorder.language;

-- 6. The carrier is read when the job runs: 114471's "AB-1234.5" is no
--    tracking number of 地域便, nor of any carrier (a "."); 114461's
--    234567890271 fails jp12's check digit, but once the order goes by
--    地域便 (text) the same staged file ships it, as written
SELECT bulkorder.bulk_shipment_delivery_method('{114461}', 'chiiki', NULL) IS NOT NULL AS changed;
SELECT * FROM bulkorder.preview_bulk('shipments', 'import_shipments', '{114461,114471}',
                                     jsonb_build_object('upload_id', :upload));
SELECT bulkorder.bulk_shipment_import_shipments('{114461,114471}', :upload) AS job2 \gset
SELECT target, ok, error_code FROM bulkorder.bulk_job_items WHERE job_id = :job2 ORDER BY target;
SELECT order_no, status, tracking_no FROM bulkorder.orders WHERE order_no IN (114461, 114471) ORDER BY order_no;

-- 7. Column A names the spreadsheet's cause too (a currency or unit
--    format, a negative number, a fraction, a formula), a key with an
--    invisible character around it is that key, and a line of another
--    separator or digits past bigint is an error line.  The sheet saved
--    as UTF-8 with LF: line by line, in Japanese and in English
CREATE TEMP TABLE upload AS
SELECT f.sheet, f.variant, bulkorder.upload_csv('orders', f.content, jsonb_build_object('encoding', f.encoding)) AS u
FROM fixture f WHERE f.sheet = 'sheet_key_causes' OR f.sheet LIKE 'line1%';
CREATE TEMP TABLE key_outcome AS
SELECT u.variant, l.line_no, l.key, l.error_code, l.cause
FROM upload u JOIN bulkorder.upload_lines l ON l.upload_id = u.u
WHERE u.sheet = 'sheet_key_causes';
SELECT bulkorder.upload_csv('orders', content) AS keys_upload
FROM fixture WHERE sheet = 'sheet_key_causes' AND variant = 'utf8_lf' \gset
SELECT line_count, key_count, error_count, has_header FROM bulkorder.upload_list WHERE upload_id = :keys_upload;
SELECT bulkorder.upload_targets(:keys_upload);
SELECT * FROM bulkorder.upload_errors(:keys_upload);
SET bulkorder.language = 'en';
SELECT * FROM bulkorder.upload_errors(:keys_upload);
RESET bulkorder.language;
-- the other five files: the UTF-8 ones line by line as this one; the
-- Shift_JIS ones alike, but for the four keys next to a character
-- Shift_JIS cannot hold, which Calc wrote as "?": those lines fail, never
-- another key
SELECT a.variant, count(*) AS lines,
       bool_and((a.key, a.error_code, a.cause) IS NOT DISTINCT FROM (b.key, b.error_code, b.cause)) AS same_as_utf8_lf
FROM key_outcome a
JOIN key_outcome b ON b.variant = 'utf8_lf' AND b.line_no = a.line_no
GROUP BY a.variant ORDER BY a.variant;
SELECT a.variant, a.line_no, b.key AS utf8_key, a.key, a.error_code, a.cause
FROM key_outcome a
JOIN key_outcome b ON b.variant = 'utf8_lf' AND b.line_no = a.line_no
WHERE (a.key, a.error_code, a.cause) IS DISTINCT FROM (b.key, b.error_code, b.cause)
ORDER BY a.line_no, a.variant;
SELECT e.* FROM upload u, bulkorder.upload_errors(u.u) e
WHERE u.sheet = 'sheet_key_causes' AND u.variant = 'sjis_crlf' AND e.line_no IN (18, 23);

-- 8. Line 1 is never lost silently: a first line that looks like a number
--    (a sign, parentheses, a tab or semicolon separated line, digits past
--    bigint) is a data line with its error, and a title row above the
--    header does not make the header an error line; the same in all six
--    files of each case
CREATE TEMP TABLE line1_outcome AS
SELECT u.sheet, u.variant, l.has_header, l.line_count,
       (SELECT string_agg(e.line_no || ':' || e.error_code, ' ' ORDER BY e.line_no)
        FROM bulkorder.upload_errors(u.u) e) AS errors,
       bulkorder.upload_targets(u.u) AS targets
FROM upload u JOIN bulkorder.upload_list l ON l.upload_id = u.u
WHERE u.sheet LIKE 'line1%';
SELECT sheet, count(*) AS files, count(DISTINCT (has_header, line_count, errors, targets)) AS outcomes,
       min(has_header::text) AS has_header, min(errors) AS errors, min(targets::text) AS targets
FROM line1_outcome GROUP BY sheet ORDER BY sheet;
SELECT e.* FROM fixture f, bulkorder.upload_errors(bulkorder.upload_csv('orders', f.content)) e
WHERE f.sheet = 'line1_semicolon' AND f.variant = 'utf8_lf';
-- a title row: and under it, a line with a digit (or a "#") is data, not a
-- second header
SELECT * FROM bulkorder.upload_errors(bulkorder.upload_csv('orders',
    convert_to(E'注文一覧,,\n注文番号,お名前\n118501.,x\n118502,y\n', 'UTF8')));
SELECT * FROM bulkorder.upload_errors(bulkorder.upload_csv('orders',
    convert_to(E'注文一覧,,\n#N/A!,お名前\n118502,y\n', 'UTF8')));

-- the shop's tables outlive DROP EXTENSION: dropping the schema leaves nothing
SET client_min_messages = warning;
DROP SCHEMA bulkorder CASCADE;
