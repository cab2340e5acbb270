-- CSV target selection (docs/csv.md): every file shape Excel produces, every
-- per-line error code, malformed bytes and unparsable lines (an SQLSTATE
-- naming the line, nothing kept), the upload list and the purge.
-- Fixture files: test/fixtures/csv/ (see make_fixtures.sh there).
CREATE EXTENSION bulkorder;
\set VERBOSITY default
\i test/fixtures/shop.sql

-- an upload as the list shows it, without its varying id and time
\set summary 'SELECT page, purpose, encoding, has_bom, has_header, line_count, blank_line_count, key_count, error_count, file_size, uploaded_by, operator, job_id FROM bulkorder.upload_list WHERE upload_id = '
-- what a call gives: accepted, or its SQLSTATE and message, and the line
-- of the file the error's context names ("CSV line N", in Japanese here)
CREATE FUNCTION pg_temp.try_upload(page text, content bytea, options jsonb DEFAULT '{}')
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    context text;
BEGIN
    PERFORM bulkorder.upload_csv(page, content, options);
    RETURN 'accepted';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS context = PG_EXCEPTION_CONTEXT;
    RETURN SQLSTATE || ': ' || SQLERRM
        || coalesce(' (' || substring(context FROM '^CSV[^\n]*') || ')', '');
END
$$;

-- Excel "CSV (コンマ区切り)": Shift_JIS, CRLF, a Japanese header without BOM,
-- a quoted name with a comma, full-width digits, an empty row (",,"), an
-- unknown order and a repeated one.
\set content `base64 -w0 test/fixtures/csv/excel_sjis.csv`
SELECT bulkorder.upload_csv('orders', decode(:'content', 'base64'),
                            '{"encoding": "SJIS", "operator": "suzuki"}') AS u \gset
:summary :u;
SELECT bulkorder.upload_targets(:u);
SELECT * FROM bulkorder.upload_errors(:u);
-- the other names of Shift_JIS are accepted too
SELECT pg_temp.try_upload('orders', decode(:'content', 'base64'), jsonb_build_object('encoding', e))
FROM unnest(ARRAY['sjis', 'Shift_JIS', 'CP932', 'Windows-31J', 'MS_Kanji']) AS e;
-- the same file read as UTF-8 (the default) is not valid: rejected, naming
-- line 1 (its Japanese header), with a hint; nothing is kept
SELECT count(*) AS uploads_before FROM bulkorder.uploads \gset
SELECT bulkorder.upload_csv('orders', decode(:'content', 'base64'));
SELECT count(*) = :uploads_before AS nothing_kept FROM bulkorder.uploads;

-- Excel "CSV UTF-8": a byte order mark, CRLF, a header
\set content `base64 -w0 test/fixtures/csv/utf8_bom.csv`
SELECT bulkorder.upload_csv('orders', decode(:'content', 'base64')) AS u \gset
:summary :u;
SELECT bulkorder.upload_targets(:u);
-- a BOM makes the file UTF-8 whatever options.encoding says
SELECT bulkorder.upload_csv('orders', decode(:'content', 'base64'), '{"encoding": "SJIS"}') AS u \gset
SELECT encoding, has_bom, key_count FROM bulkorder.upload_list WHERE upload_id = :u;

-- UTF-8 without BOM, CRLF, no header, no line break after the last line
\set content `base64 -w0 test/fixtures/csv/crlf.csv`
SELECT bulkorder.upload_csv('orders', decode(:'content', 'base64')) AS u \gset
:summary :u;
SELECT bulkorder.upload_targets(:u);

-- quoted fields: a quoted key, "" inside quotes, a quoted comma, and line
-- breaks inside quoted fields: line_no stays the physical line (x is on 6)
\set content `base64 -w0 test/fixtures/csv/quoted.csv`
SELECT bulkorder.upload_csv('orders', decode(:'content', 'base64')) AS u \gset
:summary :u;
SELECT bulkorder.upload_targets(:u);
SELECT * FROM bulkorder.upload_errors(:u);

-- full-width digits, half/full-width spaces, tabs and a no-break space
-- around the key are normalised; a space inside the number is not
\set content `base64 -w0 test/fixtures/csv/fullwidth.csv`
SELECT bulkorder.upload_csv('orders', decode(:'content', 'base64')) AS u \gset
:summary :u;
SELECT bulkorder.upload_targets(:u);
SELECT * FROM bulkorder.upload_errors(:u);

-- blank lines anywhere (empty, spaces, commas only, a full-width space) are
-- skipped and counted; a key after them keeps its physical line
\set content `base64 -w0 test/fixtures/csv/blank_lines.csv`
SELECT bulkorder.upload_csv('orders', decode(:'content', 'base64')) AS u \gset
:summary :u;
SELECT bulkorder.upload_targets(:u);
SELECT * FROM bulkorder.upload_errors(:u);
SELECT line_no, key FROM bulkorder.upload_lines WHERE upload_id = :u ORDER BY line_no;

-- every per-line error: not_a_number (text, empty, overflow: each with
-- its cause), not_an_integer (a decimal), negative_number (a negative),
-- not_found (unknown; the deleted order 1012), duplicate_key
\set content `base64 -w0 test/fixtures/csv/errors.csv`
SELECT bulkorder.upload_csv('orders', decode(:'content', 'base64')) AS u \gset
:summary :u;
SELECT bulkorder.upload_targets(:u);
SELECT * FROM bulkorder.upload_errors(:u);
SET bulkorder.language = 'en';
SELECT * FROM bulkorder.upload_errors(:u);
RESET bulkorder.language;
-- the largest bigint is a key; one more is not a number, however it wraps
INSERT INTO bulkorder.orders (order_no, customer_id, status, payment_method)
VALUES (9223372036854775807, 1, 'awaiting_shipment', 'cod');
SELECT bulkorder.upload_csv('orders', convert_to(E'9223372036854775807\n9223372036854775808\n18446744073709551617\n０００１００１\n', 'UTF8')) AS u \gset
SELECT bulkorder.upload_targets(:u);
SELECT * FROM bulkorder.upload_errors(:u);
DELETE FROM bulkorder.orders WHERE order_no = 9223372036854775807;
-- a key unknown on every line it is given is not_found each time; a
-- repeat of a good key is duplicate_key, naming the first line
SELECT bulkorder.upload_csv('orders', convert_to(E'555\n1001\n555\n1001\n1001\n', 'UTF8')) AS u \gset
SELECT * FROM bulkorder.upload_errors(:u);
SELECT bulkorder.upload_targets(:u);
-- a header is only the first line with content; later text is an error
SELECT bulkorder.upload_csv('orders', convert_to(E'\n\n注文番号\n1001\nお名前\n', 'UTF8')) AS u \gset
:summary :u;
SELECT * FROM bulkorder.upload_errors(:u);

-- the other pages resolve against their own keys
SELECT bulkorder.upload_targets(bulkorder.upload_csv('customers', convert_to(E'顧客ID\n3\n1\n99\n', 'UTF8')));
SELECT bulkorder.upload_targets(bulkorder.upload_csv('subscriptions', convert_to(E'504\n501\n599\n', 'UTF8')));
SELECT bulkorder.upload_targets(bulkorder.upload_csv('shipments', convert_to(E'1002\n1012\n1003\n', 'UTF8')));
SELECT * FROM bulkorder.upload_errors(bulkorder.upload_csv('customers', convert_to(E'3\n3\n7\n', 'UTF8')));

-- an empty file is an empty upload
SELECT bulkorder.upload_csv('orders', '') AS u \gset
:summary :u;
SELECT bulkorder.upload_targets(:u);

-- the seed's "rows get ticked": the keys go to run_bulk as they are
\set content `base64 -w0 test/fixtures/csv/utf8_bom.csv`
SELECT bulkorder.upload_csv('orders', decode(:'content', 'base64')) AS u \gset
SELECT bulkorder.run_bulk('orders', 'tags', bulkorder.upload_targets(:u), '{"add": ["csv"]}',
                          '{"source": "csv"}') AS job \gset
SELECT total_count, success_count, failure_count, source FROM bulkorder.bulk_jobs WHERE job_id = :job;
SELECT order_no FROM bulkorder.orders WHERE 'csv' = ANY (tags) ORDER BY 1;

-- a quoted \. is data (not a number here), not COPY's end marker
SELECT * FROM bulkorder.upload_errors(bulkorder.upload_csv('orders', convert_to(E'1001\r\n"\\."\r\n', 'UTF8')));

-- the whole selection in one statement
SELECT bulkorder.run_bulk('orders', 'tags',
                          bulkorder.upload_targets(bulkorder.upload_csv('orders', convert_to(E'1011\n1012\n', 'UTF8'))),
                          '{"add": ["one-statement"]}', '{"source": "csv"}') AS job \gset
SELECT target, ok, error_code FROM bulkorder.bulk_job_items WHERE job_id = :job ORDER BY target;

-- malformed bytes and lines COPY cannot parse: an SQLSTATE and the line,
-- and nothing is kept
SELECT count(*) AS uploads_before FROM bulkorder.uploads \gset
SELECT count(*) AS lines_before FROM bulkorder.upload_lines \gset
\set content `base64 -w0 test/fixtures/csv/invalid_utf8.csv`
SELECT bulkorder.upload_csv('orders', decode(:'content', 'base64'));
SELECT pg_temp.try_upload('orders', decode(:'content', 'base64'));
\set content `base64 -w0 test/fixtures/csv/invalid_sjis.csv`
SELECT bulkorder.upload_csv('orders', decode(:'content', 'base64'), '{"encoding": "SJIS"}');
SELECT pg_temp.try_upload('orders', decode(:'content', 'base64'), '{"encoding": "SJIS"}');
\set content `base64 -w0 test/fixtures/csv/unterminated_quote.csv`
SELECT pg_temp.try_upload('orders', decode(:'content', 'base64'));
\set content `base64 -w0 test/fixtures/csv/mixed_newlines.csv`
SELECT pg_temp.try_upload('orders', decode(:'content', 'base64'));
\set content `base64 -w0 test/fixtures/csv/end_marker.csv`
SELECT pg_temp.try_upload('orders', decode(:'content', 'base64'));
SELECT pg_temp.try_upload('orders', convert_to(E'1001\r\n\\.\r\n', 'UTF8'));
-- a last line \. without a line break (COPY then returns it as a record)
-- is named on its own line too, whatever the line ends; so is a lone \.
SELECT pg_temp.try_upload('orders', convert_to(E'1001\n1003\n\\.', 'UTF8'));
SELECT pg_temp.try_upload('orders', convert_to(E'1001\r\n1003\r\n\\.', 'UTF8'));
SELECT pg_temp.try_upload('orders', convert_to(E'1001\r1003\r\\.', 'UTF8'));
SELECT pg_temp.try_upload('orders', convert_to(E'\\.', 'UTF8'));
\set content `base64 -w0 test/fixtures/csv/utf16.csv`
SELECT bulkorder.upload_csv('orders', decode(:'content', 'base64'));
-- a truncated multi-byte character at the very end, in both encodings
SELECT pg_temp.try_upload('orders', '\x313030310a31303033e38a');
SELECT pg_temp.try_upload('orders', '\x313030310d0a3130303382', '{"encoding": "SJIS"}');
-- a NUL byte
SELECT pg_temp.try_upload('orders', '\x313030310a313000300a');
-- a bad byte after more than one COPY buffer (64 kB) of good lines
SELECT pg_temp.try_upload('orders',
    convert_to(string_agg(g::text, E'\n'), 'UTF8') || '\x0aff0a'::bytea)
FROM generate_series(1, 20000) AS g;
SELECT count(*) = :uploads_before AS no_upload_kept FROM bulkorder.uploads;
SELECT count(*) = :lines_before AS no_line_kept FROM bulkorder.upload_lines;

-- wrong calls
SELECT bulkorder.upload_csv('invoices', '1001');
SELECT bulkorder.upload_csv(NULL, '1001');
SELECT bulkorder.upload_csv('orders', NULL);
SELECT bulkorder.upload_csv('orders', '1001', '{"encoding": "EUC_JP"}');
SELECT bulkorder.upload_csv('orders', '1001', '{"encoding": 932}');
SELECT bulkorder.upload_csv('orders', '1001', '{"delimiter": ";"}');
SELECT bulkorder.upload_csv('orders', '1001', '{"operator": ""}');
SELECT bulkorder.upload_csv('orders', '1001', '["SJIS"]');
SELECT bulkorder.upload_csv('orders', '1001', NULL) IS NOT NULL AS null_options_are_defaults;
SELECT bulkorder.upload_targets(0);
SELECT * FROM bulkorder.upload_errors(NULL);
SELECT count(*) = :uploads_before + 1 AS one_more FROM bulkorder.uploads;

-- the list: who, when, which page, how big, the counts
SELECT page, purpose, encoding, line_count, key_count, error_count, operator
FROM bulkorder.upload_list ORDER BY upload_id LIMIT 3;
SELECT count(*) AS uploads, bool_and(uploaded_by = current_user) AS by_me,
       bool_and(uploaded_at <= now()) AS timed
FROM bulkorder.upload_list;

-- the purge (for pg_cron): uploads older than the interval go, with lines
UPDATE bulkorder.uploads SET uploaded_at = now() - interval '40 days' WHERE upload_id <= 3;
SELECT bulkorder.purge_uploads('30 days') AS purged;
SELECT count(*) AS lines_of_purged FROM bulkorder.upload_lines WHERE upload_id <= 3;
SELECT bulkorder.upload_targets(1);
SELECT bulkorder.purge_uploads('30 days') AS purged_again;
SELECT bulkorder.purge_uploads('-1 day');
SELECT bulkorder.purge_uploads(NULL);

-- bounded uploads (issue 13 F7).  A record (a line, or the lines a quoted
-- field joins) is read up to 1 MB, 1,048,576 bytes: COPY holds it whole and
-- splits it into one pointer per field, so an unbounded line of commas
-- took sixteen times its size.  Exactly 1 MB is read; one byte more is
-- refused (54000) naming its line, wherever COPY's 64 kB reads fall,
-- whether quoted line breaks join it, and on the last line.
SELECT bulkorder.upload_csv('orders', convert_to(E'1001\n1003' || repeat(',', 1048572) || E'\n1006\n', 'UTF8')) AS u \gset
SELECT line_count, key_count, error_count FROM bulkorder.upload_list WHERE upload_id = :u;
SELECT bulkorder.upload_targets(:u);
SELECT count(*) AS uploads_before FROM bulkorder.uploads \gset
SELECT bulkorder.upload_csv('orders', convert_to(E'1001\n1003' || repeat(',', 1048573) || E'\n1006\n', 'UTF8'));
SELECT pg_temp.try_upload('orders', convert_to(E'1001\n1003\n' || repeat(',', 1048577), 'UTF8'));
SELECT pg_temp.try_upload('orders', convert_to(E'1001\n"1003\n' || repeat('x', 524288) || E'\n' || repeat('x', 524288) || E'"\n1006\n', 'UTF8'));
SELECT pg_temp.try_upload('orders', convert_to(E'1001\n' || repeat(E'x\n', 30000) || repeat(',', 2000000), 'UTF8'));
SELECT bulkorder.import_shipments(convert_to(E'1001,1234-5678\n' || repeat('x', 1048577) || E'\n', 'UTF8'));
SELECT count(*) = :uploads_before AS nothing_kept FROM bulkorder.uploads;

-- bulkorder.max_upload_bytes (superuser only; 256MB by default): a larger
-- file is refused by both functions (54000) before it is read
SHOW bulkorder.max_upload_bytes;
SET bulkorder.max_upload_bytes = 10;
SELECT bulkorder.upload_csv('orders', convert_to(E'1001\n1003\n', 'UTF8')) IS NOT NULL AS ten_bytes_read;
SELECT bulkorder.upload_csv('orders', convert_to(E'1001\n1003\n1', 'UTF8'));
SELECT bulkorder.import_shipments(convert_to(E'1001,1234\n', 'UTF8')) IS NOT NULL AS ten_bytes_imported;
SELECT bulkorder.import_shipments(convert_to(E'1001,12345\n', 'UTF8'));
-- a file stored compressed counts its real size
CREATE TEMP TABLE files (f bytea);
INSERT INTO files VALUES (convert_to(repeat(E'1001\n', 10000), 'UTF8'));
SELECT length(f) AS bytes, pg_column_size(f) < 40960 AS stored_smaller FROM files;
SET bulkorder.max_upload_bytes = '40kB';
SELECT bulkorder.upload_csv('orders', f) FROM files;
RESET bulkorder.max_upload_bytes;
SELECT count(*) = :uploads_before + 2 AS only_the_small_ones FROM bulkorder.uploads;
CREATE ROLE regress_bulkorder_csv;
SET ROLE regress_bulkorder_csv;
SET bulkorder.max_upload_bytes = '1GB';
RESET ROLE;
DROP ROLE regress_bulkorder_csv;

-- the memory of an upload stays within about twice the file plus a
-- constant whatever the file's shape: a 20 MB line of commas (unbounded,
-- COPY's field array alone took 268 MB).  The backend's peak (VmHWM) is
-- read in a new backend that first builds the same 20 MB the same way, so
-- that only the upload's own memory can raise it; beyond those bytes the
-- upload may use one more copy of the file and 32 MB.
\c
DO $$ BEGIN PERFORM length(convert_to(repeat(',', 20000000) || 'x', 'UTF8')); END $$;
SELECT substring(pg_read_file('/proc/self/status') FROM 'VmHWM:\s+(\d+) kB')::bigint AS hwm_kb \gset
DO $$
BEGIN
    PERFORM bulkorder.upload_csv('orders', convert_to(repeat(',', 20000000) || 'x', 'UTF8'));
EXCEPTION WHEN program_limit_exceeded THEN
    RAISE NOTICE '%: %', SQLSTATE, SQLERRM;
END
$$;
SELECT substring(pg_read_file('/proc/self/status') FROM 'VmHWM:\s+(\d+) kB')::bigint - :hwm_kb
       < 20000 + 32768 AS within_the_file_and_32_mb;

-- whole-call errors follow bulkorder.language (messages.c): the errmsg is
-- English either way, the hint and detail are English here
SET bulkorder.language = 'en';
SELECT bulkorder.upload_csv('invoices', '1001');
SELECT bulkorder.upload_csv('orders', NULL);
SELECT bulkorder.upload_csv('orders', '1001', '{"delimiter": ";"}');
SELECT bulkorder.import_shipments('1001', '{"colour": "red"}');
SELECT bulkorder.upload_csv('orders', '1001', '{"encoding": "EUC_JP"}');
SELECT bulkorder.upload_csv('orders', '\x313030310aff0a');
SELECT bulkorder.run_bulk('orders', 'explode', '{1001}', '{}');
RESET bulkorder.language;

-- the shop's tables outlive DROP EXTENSION: dropping the schema leaves nothing
SET client_min_messages = warning;
DROP SCHEMA bulkorder CASCADE;
