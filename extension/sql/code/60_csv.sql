-- CSV target selection (CSVにて注文・顧客を指定, docs/csv.md) and the staging of the
-- shipment data import (出荷データ取り込み, docs/csv.md).
--
-- bulkorder.upload_csv(page, content, options) (extension/src/csv.c) parses
-- the file with PostgreSQL's COPY CSV machinery and stages one row per line
-- that has content (header and blank lines are counted, not staged) in
-- upload_lines; keys are then resolved against the page's table in one
-- set-based statement.  Uploads are kept until purge_uploads() (pg_cron).


CREATE OR REPLACE FUNCTION bulkorder.upload_csv(page text, content bytea, options jsonb DEFAULT '{}')
RETURNS bigint
AS 'MODULE_PATHNAME', 'bulkorder_upload_csv'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION bulkorder.upload_csv(text, bytea, jsonb) IS
'CSV target selection (CSVにて指定): column A holds the page''s keys; options.encoding UTF8 (default) or SJIS; returns the upload id';

CREATE OR REPLACE FUNCTION bulkorder.import_shipments(content bytea, options jsonb DEFAULT '{}')
RETURNS bigint
AS 'MODULE_PATHNAME', 'bulkorder_import_shipments'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION bulkorder.import_shipments(bytea, jsonb) IS
'Shipment data import (出荷データ取り込み): column A order number, column B tracking number; returns the job id';

-- Raises 22023 for an unknown (or purged) upload, or one of another shop
-- than the call's.  The call's shop is a value in the queries of these
-- functions, never call_shop() itself (on Citus, the node that runs a
-- query does not know the session's shop); the declarations and
-- assignments share lines so that the error contexts keep their numbers.
CREATE OR REPLACE FUNCTION bulkorder.check_upload(upload_id bigint)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$ DECLARE v_shop bigint;
BEGIN
    IF $1 IS NULL THEN
        RAISE EXCEPTION 'upload_id must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    v_shop := bulkorder_catalog.call_shop();  -- an upload of another shop is one the caller cannot know
    IF NOT EXISTS (SELECT 1 FROM bulkorder.uploads u
                   WHERE u.shop_id = v_shop AND u.upload_id = $1) THEN
        RAISE EXCEPTION 'upload % does not exist', $1
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = bulkorder_catalog.message('UPLOAD_PURGED');
    END IF;
END
$$;

-- The valid, existing keys in file order (the seed's "rows get ticked"),
-- ready for run_bulk.  For a shipment import: its distinct order numbers.
-- VOLATILE (as upload_errors), so that it sees an upload made earlier in
-- the same statement: run_bulk(…, upload_targets(upload_csv(…)), …).
CREATE OR REPLACE FUNCTION bulkorder.upload_targets(upload_id bigint)
RETURNS bigint[]
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    result bigint[]; v_shop bigint;
BEGIN
    PERFORM bulkorder.check_upload($1); v_shop := bulkorder_catalog.call_shop();
    SELECT coalesce(array_agg(l.key ORDER BY l.line_no), '{}') INTO result
    FROM bulkorder.upload_lines l
    WHERE l.shop_id = v_shop AND l.upload_id = $1 AND l.error_code IS NULL;
    RETURN result;
END
$$;

COMMENT ON FUNCTION bulkorder.upload_targets(bigint) IS
'The upload''s valid, existing keys in file order, for run_bulk';

-- Every line that gave no key, with its code and a message in the
-- session's bulkorder.language that names the cause and the fix (the
-- texts are messages.c's UPLOAD_* and TRACKING_*).  A not_a_number names
-- the likely spreadsheet cause that csv_sheet.c recorded
-- (upload_lines.cause).  rounded_number, not_an_integer, negative_number,
-- currency_format and formula_text are column A's when the line has no
-- key, else column B's (the import's tracking number).  An
-- invalid_tracking_no says which of its length, a character or its check
-- digit is wrong, for the carrier's format it was checked against (cause
-- 'jp12:check_digit'), and what that format is.
CREATE OR REPLACE FUNCTION bulkorder.upload_errors(upload_id bigint)
RETURNS TABLE (line_no integer, error_code text, message text)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$ DECLARE v_shop bigint;
BEGIN
    PERFORM bulkorder.check_upload($1); v_shop := bulkorder_catalog.call_shop();
    RETURN QUERY
    SELECT l.line_no, l.error_code,
           bulkorder_catalog.message(m.name, CASE WHEN l.key IS NULL THEN l.value ELSE l.tracking_no END,
                                     k.name_ja, k.name_en, l.key::text, l.first_line::text,
                                     f.problem_text, f.format_text)
    FROM bulkorder.uploads u
    JOIN bulkorder_catalog.pages pg ON pg.page = u.page
    CROSS JOIN LATERAL (SELECT pg.key_name_ja AS name_ja,
                               CASE pg.key_column WHEN 'order_no' THEN 'order number'
                                                  WHEN 'course_order_no' THEN 'course order number'
                                                  WHEN 'customer_id' THEN 'customer ID'
                                                  ELSE pg.key_column END AS name_en) k
    JOIN bulkorder.upload_lines l ON l.shop_id = u.shop_id AND l.upload_id = u.upload_id
                                 AND l.error_code IS NOT NULL
    -- the message of the line's code: column A's when the line has no key,
    -- else column B's (not_found and duplicate_key are the key's)
    CROSS JOIN LATERAL (SELECT CASE
        WHEN l.error_code IN ('not_found', 'duplicate_key') THEN 'UPLOAD_' || upper(l.error_code)
        WHEN l.key IS NULL AND l.error_code = 'not_a_number' THEN
            CASE WHEN l.value IS NULL THEN 'UPLOAD_A_EMPTY'
                 WHEN l.cause IN ('grouping', 'fraction', 'formula_error', 'out_of_range', 'separator',
                                  'question_mark') THEN 'UPLOAD_A_' || upper(l.cause)
                 ELSE 'UPLOAD_A_NOT_A_NUMBER' END
        WHEN l.key IS NULL AND l.error_code IN ('rounded_number', 'not_an_integer', 'negative_number',
                                                'currency_format', 'formula_text')
            THEN 'UPLOAD_A_' || upper(l.error_code)
        WHEN l.key IS NOT NULL AND l.error_code IN ('rounded_number', 'not_an_integer', 'negative_number',
                                                    'currency_format', 'formula_text', 'invalid_tracking_no')
            THEN 'UPLOAD_B_' || upper(l.error_code)
        END AS name) m
    -- invalid_tracking_no: the format and the problem, and the length as
    -- the format counts it (jp12: digits; the others: all but spaces)
    CROSS JOIN LATERAL (SELECT split_part(l.cause, ':', 1) AS format, split_part(l.cause, ':', 2) AS problem,
                               CASE WHEN split_part(l.cause, ':', 1) = 'jp12'
                                    THEN length(regexp_replace(l.tracking_no, '[^0-9]', '', 'g'))
                                    ELSE length(replace(l.tracking_no, ' ', '')) END AS count) c
    CROSS JOIN LATERAL (SELECT
        CASE WHEN l.error_code <> 'invalid_tracking_no' THEN NULL
             WHEN c.problem = 'character' THEN bulkorder_catalog.message('TRACKING_PROBLEM_CHARACTER')
                 || CASE WHEN strpos(l.tracking_no, '?') > 0
                         THEN bulkorder_catalog.message('TRACKING_PROBLEM_QUESTION_MARK') ELSE '' END
             WHEN c.problem = 'length' THEN
                 bulkorder_catalog.message(CASE c.format WHEN 'jp12' THEN 'TRACKING_PROBLEM_LENGTH_JP12'
                                                         ELSE 'TRACKING_PROBLEM_LENGTH' END, c.count::text)
             WHEN c.problem = 'check_digit' THEN bulkorder_catalog.message('TRACKING_PROBLEM_CHECK_DIGIT')
             ELSE c.problem END AS problem_text,
        CASE WHEN l.error_code = 'invalid_tracking_no' THEN
             bulkorder_catalog.message(CASE c.format WHEN 'jp12' THEN 'TRACKING_FORMAT_JP12'
                                                     WHEN 's10' THEN 'TRACKING_FORMAT_S10'
                                                     ELSE 'TRACKING_FORMAT_TEXT' END) END AS format_text) f
    WHERE u.shop_id = v_shop AND u.upload_id = $1
    ORDER BY l.line_no;
END
$$;

COMMENT ON FUNCTION bulkorder.upload_errors(bigint) IS
'Every line of the upload that gave no key, with its cause and its fix: not_a_number, rounded_number, not_an_integer, negative_number, currency_format, formula_text, invalid_tracking_no, not_found, duplicate_key';

-- Delete uploads older than the given age, with their lines, in every
-- shop; an import whose job is still queued or running is kept.  Returns how many uploads
-- went.  Meant for pg_cron:
--   SELECT cron.schedule('bulkorder-purge-uploads', '30 3 * * *',
--                        $$SELECT bulkorder.purge_uploads('30 days')$$);
CREATE OR REPLACE FUNCTION bulkorder.purge_uploads(older_than interval)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    purged bigint;
BEGIN
    IF older_than IS NULL OR older_than < interval '0' THEN
        RAISE EXCEPTION 'older_than must be a non-negative interval'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = bulkorder_catalog.message('PURGE_INTERVAL');
    END IF;
    WITH gone AS (
        DELETE FROM bulkorder.uploads u
        WHERE u.uploaded_at < now() - older_than
          AND NOT EXISTS (SELECT 1 FROM bulkorder.bulk_jobs j
                          WHERE j.shop_id = u.shop_id AND j.job_id = u.job_id
                            AND j.status IN ('queued', 'running'))
        RETURNING u.shop_id, u.upload_id),
    lines AS (
        DELETE FROM bulkorder.upload_lines l USING gone
        WHERE l.shop_id = gone.shop_id AND l.upload_id = gone.upload_id),
    shipments AS (
        DELETE FROM bulkorder.upload_shipments s USING gone
        WHERE s.shop_id = gone.shop_id AND s.upload_id = gone.upload_id)
    SELECT count(*) INTO purged FROM gone;
    RETURN purged;
END
$$;

COMMENT ON FUNCTION bulkorder.purge_uploads(interval) IS
'Delete uploads (and their lines) older than the interval; for pg_cron';
