-- Keys as spreadsheets write them (docs/csv.md, issue 15): thousands groups, a
-- zero fraction, an apostrophe, the text formula and exact scientific
-- notation are the integer; scientific notation that lost digits is
-- rounded_number and never a guess; what is still refused names its likely
-- spreadsheet cause.  Fixtures: test/fixtures/csv/sheet_*.csv, written byte
-- for byte as Excel and LibreOffice save them (see make_fixtures.sh).
CREATE EXTENSION bulkorder;
\set VERBOSITY default
\i test/fixtures/shop.sql

-- the orders the sheets name (123456789012: a 12-digit order number)
INSERT INTO bulkorder.orders (order_no, customer_id, status, payment_method)
SELECT o, 1, 'awaiting_shipment', 'credit_card'
FROM unnest('{118501,118502,118511,118512,118536,118537,118538,118521,119000,123456789012}'::bigint[]) AS o;

-- an upload's outcome in one row: its targets and its error lines
CREATE FUNCTION pg_temp.outcome(u bigint)
RETURNS TABLE (targets bigint[], errors text)
LANGUAGE sql AS $$
    SELECT bulkorder.upload_targets(u),
           (SELECT string_agg(e.line_no || ':' || e.error_code, ' ' ORDER BY e.line_no)
            FROM bulkorder.upload_errors(u) AS e)
$$;

-- 1. One sheet of order numbers saved four ways: Excel "CSV (コンマ区切り)"
--    (Shift_JIS, CRLF), Excel "CSV UTF-8" (BOM, CRLF), LibreOffice (UTF-8,
--    LF), Mac Excel (Shift_JIS, CR).  Line 2 "118,501", 3 １１８，５０２,
--    4 118511.00, 5 １１８５１２．００, 6 '118536, 7 ="118537" (bare),
--    8 "=""118538""", 9 1.18521E+05 (exact), 10 1.1852E+05 (one digit
--    short), 11 1.19E+05, 12 1.23456789012E+11 (exact), 13 1.2345678901E+11
--    (one digit short), 14 2.34568E+11, 15 "1,23,4", 16 10.5, 17-23 the
--    formula errors, 24 118501 again.
\set content `base64 -w0 test/fixtures/csv/sheet_keys_sjis_crlf.csv`
SELECT bulkorder.upload_csv('orders', decode(:'content', 'base64'), '{"encoding": "SJIS"}') AS sjis_crlf \gset
\set content `base64 -w0 test/fixtures/csv/sheet_keys_utf8_bom_crlf.csv`
SELECT bulkorder.upload_csv('orders', decode(:'content', 'base64')) AS utf8_bom_crlf \gset
\set content `base64 -w0 test/fixtures/csv/sheet_keys_utf8_lf.csv`
SELECT bulkorder.upload_csv('orders', decode(:'content', 'base64')) AS utf8_lf \gset
\set content `base64 -w0 test/fixtures/csv/sheet_keys_sjis_cr.csv`
SELECT bulkorder.upload_csv('orders', decode(:'content', 'base64'), '{"encoding": "SJIS"}') AS sjis_cr \gset
SELECT encoding, has_bom, has_header, line_count, key_count, error_count
FROM bulkorder.upload_list WHERE upload_id = :sjis_crlf;
-- the valid keys, in file order; every line's error, in Japanese and English
SELECT bulkorder.upload_targets(:sjis_crlf);
SELECT * FROM bulkorder.upload_errors(:sjis_crlf);
SET bulkorder.language = 'en';
SELECT * FROM bulkorder.upload_errors(:sjis_crlf);
RESET bulkorder.language;
-- the other three encodings and line ends give the same outcome line by line
SELECT f.name, o.*, (o.targets, o.errors) IS NOT DISTINCT FROM
       (SELECT (r.targets, r.errors) FROM pg_temp.outcome(:sjis_crlf) AS r) AS same_as_sjis_crlf
FROM (VALUES ('utf8_bom_crlf', :utf8_bom_crlf), ('utf8_lf', :utf8_lf), ('sjis_cr', :sjis_cr)) AS f(name, u),
     pg_temp.outcome(f.u) AS o;
SELECT encoding, has_bom, line_count, key_count, error_count
FROM bulkorder.upload_list WHERE upload_id IN (:utf8_bom_crlf, :utf8_lf, :sjis_cr) ORDER BY upload_id;
-- the keys go to run_bulk as they are
SELECT bulkorder.run_bulk('orders', 'tags', bulkorder.upload_targets(:utf8_lf), '{"add": ["sheet"]}',
                          '{"source": "csv"}') AS job \gset
SELECT total_count, success_count FROM bulkorder.bulk_jobs WHERE job_id = :job;

-- 2. Each rule at its edges: a file of a header and one cell (UTF-8, LF)
--    (cause: what upload_errors names as the likely spreadsheet cause)
CREATE FUNCTION pg_temp.key_cell(cell text, OUT error_code text, OUT cause text, OUT targets bigint[])
LANGUAGE plpgsql AS $$
DECLARE
    u bigint := bulkorder.upload_csv('orders', convert_to('order_no' || E'\n' || cell || E'\n', 'UTF8'));
BEGIN
    SELECT l.error_code, l.cause INTO error_code, cause
    FROM bulkorder.upload_lines l WHERE l.upload_id = u AND l.error_code IS NOT NULL;
    targets := bulkorder.upload_targets(u);
END
$$;
SELECT v AS cell, o.*
FROM unnest(ARRAY[
    -- thousands groups: only groups of three, ASCII or full-width commas;
    -- with a zero fraction too; a decimal comma before a fraction that is
    -- not zero ("118,50") is not_an_integer
    '"118,501"', '"１１８，５０１"', '"118,501.00"', '"1,18,501"', '"118,50"', '"118501,"',
    '",118,501"', '"0,118,501"', '"118,501.5"',
    -- a zero fraction, however many zeros; a fraction that is not zero
    -- (not_an_integer)
    '118501.0', '118501.000000', '118501.', '118501.01', '.5',
    -- one text wrapper; not two, not a real formula (formula_text: text
    -- beginning with "=")
    '''118501', '=118501', '"=""118501"""', '''''118501', '''=118501', '=A1+1', '"=""118,501"""',
    -- scientific notation: E+05 exact and not, lower case, no sign, a
    -- zero fraction, a fraction, a negative exponent, full-width, negative
    -- (negative_number)
    '1.18501E+05', '1.185010E+05', '1.18501e+05', '1.18501E5', '1.1850E+05', '1.185015E+05',
    '11850100E-02', '11850150E-02', '1.19E+05', '1.19000E+05', '１．１８５０１Ｅ＋０５', '1E+05',
    '-1.18501E+05',
    -- formula errors, as Excel and as LibreOffice write them; not an error
    '#N/A', '#n/a', '#SPILL!', 'Err:502', '#N/A!'
]) WITH ORDINALITY AS c(v, n), pg_temp.key_cell(v) AS o
ORDER BY n;

-- a line that is a broken number is a data line, not the header: the
-- header is a first line whose column A is text (or, below a title row, a
-- line of text without a digit: sql/tracking_numbers.sql)
SELECT * FROM bulkorder.upload_errors(bulkorder.upload_csv('orders', convert_to(E'10.5\n118501\n', 'UTF8')));
SELECT * FROM bulkorder.upload_errors(bulkorder.upload_csv('orders', convert_to(E'1.19E+05\n118501\n', 'UTF8')));
SELECT * FROM bulkorder.upload_errors(bulkorder.upload_csv('orders', convert_to(E'#N/A\n118501\n', 'UTF8')));
SELECT bulkorder.upload_csv('orders', convert_to(E'注文番号\n118501\n', 'UTF8')) AS u \gset
SELECT has_header, key_count, error_count FROM bulkorder.upload_list WHERE upload_id = :u;
-- the other pages read their keys the same way
SELECT bulkorder.upload_targets(bulkorder.upload_csv('customers', convert_to(E'"1,000"\n3.00\n''4\n', 'UTF8'))) AS unknown_then_3_4;
SELECT bulkorder.upload_targets(bulkorder.upload_csv('subscriptions', convert_to(E'5.01E+02\n="504"\n', 'UTF8')));

-- 3. The shipment import (Excel "CSV (コンマ区切り)", Shift_JIS, CRLF): the
--    issue's file.  114402's tracking number 2.34568E+11 is rounded: its
--    line fails with rounded_number, and nothing is stored, mailed or
--    reported for it (NP後払い needs a shipment report).  "114,418" ships.
INSERT INTO bulkorder.orders (order_no, customer_id, status, payment_method)
VALUES (114402, 1, 'awaiting_shipment', 'np_atobarai'),
       (114418, 2, 'awaiting_shipment', 'np_atobarai'),
       (114419, 3, 'awaiting_shipment', 'credit_card'),
       (114420, 1, 'awaiting_shipment', 'cod'),
       (114421, 2, 'awaiting_shipment', 'credit_card'),
       (114422, 3, 'awaiting_shipment', 'credit_card'),
       (114423, 1, 'awaiting_shipment', 'credit_card'),
       (114424, 2, 'awaiting_shipment', 'np_atobarai'),
       (114425, 3, 'awaiting_shipment', 'credit_card'),
       (114426, 1, 'awaiting_shipment', 'credit_card'),
       (114427, 2, 'awaiting_shipment', 'dsk_atobarai');
\set ship_state 'SELECT order_no, status, ship_report_status, tracking_no, ship_mail_sent FROM bulkorder.orders WHERE order_no BETWEEN 114400 AND 114499 ORDER BY order_no'
\set content `base64 -w0 test/fixtures/csv/sheet_shipments_sjis_crlf.csv`
SELECT bulkorder.import_shipments(decode(:'content', 'base64'), '{"encoding": "SJIS"}') AS job \gset
SELECT status, total_count, success_count, failure_count FROM bulkorder.bulk_jobs WHERE job_id = :job;
SELECT target, ok, error_code, after->>'tracking_no' AS tracking_no
FROM bulkorder.bulk_job_items WHERE job_id = :job ORDER BY target;
SELECT target, error_code, message FROM bulkorder.bulk_job_failures
WHERE job_id = :job AND error_code = 'rounded_number' ORDER BY target;
:ship_state;
-- mails and payment requests: only for the orders that shipped
SELECT order_no, to_address, body LIKE '%' || o.tracking_no || '%' AS mail_has_tracking_no
FROM bulkorder.mail_outbox m JOIN bulkorder.orders o USING (order_no)
WHERE m.job_id = :job ORDER BY order_no;
SELECT order_no, kind FROM bulkorder.payment_requests WHERE job_id = :job ORDER BY order_no;
-- no row anywhere for a rejected line, and no E+ anywhere
SELECT (SELECT count(*) FROM bulkorder.mail_outbox WHERE order_no IN (114402, 114424, 114426, 114427)) AS mails,
       (SELECT count(*) FROM bulkorder.payment_requests WHERE order_no IN (114402, 114424, 114426, 114427)) AS payment_requests,
       (SELECT count(*) FROM bulkorder.mail_outbox WHERE body LIKE '%E+%' OR subject LIKE '%E+%') AS mails_with_e,
       (SELECT count(*) FROM bulkorder.orders WHERE tracking_no LIKE '%E+%') AS orders_with_e,
       (SELECT count(*) FROM bulkorder.upload_shipments WHERE array_to_string(tracking_nos, ' ') LIKE '%E+%') AS staged_with_e;
-- the file's own lines: the rounded key, and each rounded tracking number
SELECT params->>'upload_id' AS upload FROM bulkorder.bulk_jobs WHERE job_id = :job \gset
SELECT line_count, key_count, error_count, has_header FROM bulkorder.upload_list WHERE upload_id = :upload;
SELECT * FROM bulkorder.upload_errors(:upload);
SET bulkorder.language = 'en';
SELECT * FROM bulkorder.upload_errors(:upload) WHERE error_code = 'rounded_number';
SELECT * FROM bulkorder.preview_bulk('shipments', 'import_shipments', '{114402,114426}',
                                     jsonb_build_object('upload_id', :upload));
RESET bulkorder.language;
-- re-applying the staged file never ships a rounded line
SELECT bulkorder.bulk_shipment_import_shipments('{114402,114427}', :upload) AS job2 \gset
SELECT target, ok, error_code FROM bulkorder.bulk_job_items WHERE job_id = :job2 ORDER BY target;

-- the same sheet saved as Excel "CSV UTF-8" (BOM, LF): the same outcome
-- (rolled back, as its orders have shipped above)
UPDATE bulkorder.orders SET status = 'awaiting_shipment', tracking_no = NULL, ship_mail_sent = false,
       ship_report_status = 'not_required'
WHERE order_no BETWEEN 114400 AND 114499;
BEGIN;
\set content `base64 -w0 test/fixtures/csv/sheet_shipments_utf8_bom_lf.csv`
SELECT bulkorder.import_shipments(decode(:'content', 'base64')) AS job_utf8 \gset
SELECT (SELECT array_agg((target, ok, error_code, after->>'tracking_no') ORDER BY target)
        FROM bulkorder.bulk_job_items WHERE job_id = :job_utf8)
       IS NOT DISTINCT FROM
       (SELECT array_agg((target, ok, error_code, after->>'tracking_no') ORDER BY target)
        FROM bulkorder.bulk_job_items WHERE job_id = :job) AS same_items_as_sjis;
SELECT count(*) AS mails FROM bulkorder.mail_outbox WHERE job_id = :job_utf8;
ROLLBACK;

-- 4. Tracking numbers, rule by rule (column B, UTF-8): unwrapped, folded,
--    grouped digits joined; any scientific notation refused; a formula
--    error is no tracking number; a formula written as text is refused;
--    what is left must be a tracking number of the order's carrier (119000
--    has no delivery method: 'text', letters, digits and "-"), so "." and
--    "," are refused (sql/tracking_numbers.sql has every rule)
CREATE FUNCTION pg_temp.tracking_cell(cell text, OUT error_code text, OUT tracking_no text)
LANGUAGE plpgsql AS $$
DECLARE
    job bigint;
BEGIN
    UPDATE bulkorder.orders o SET status = 'awaiting_shipment', tracking_no = NULL WHERE o.order_no = 119000;
    job := bulkorder.import_shipments(convert_to('119000,' || cell || E'\n', 'UTF8'));
    SELECT i.error_code, o.tracking_no INTO error_code, tracking_no
    FROM bulkorder.bulk_job_items i JOIN bulkorder.orders o ON o.order_no = i.target
    WHERE i.job_id = job;
END
$$;
SELECT v AS cell, o.*
FROM unnest(ARRAY['="9012-3456-7890"', '"=""9012-3456-7890"""', '''9012-3456-7890', '９０１２－３４５６－７８９０',
                  '"234,567,890,123"', '234567890123.00', '012345678901', 'AB-1234.5', '"1,23,4"',
                  '2.34568E+11', '1.23456789012E+11', '''2.34568E+11', '"=""2.34568E+11"""',
                  '２．３４５６８Ｅ＋１１', '1E5', '#N/A', 'Err:502', '"=VLOOKUP(A2,B:C,2)"'])
     WITH ORDINALITY AS c(v, n), pg_temp.tracking_cell(v) AS o
ORDER BY n;

-- the shop's tables outlive DROP EXTENSION: dropping the schema leaves nothing
SET client_min_messages = warning;
DROP SCHEMA bulkorder CASCADE;
