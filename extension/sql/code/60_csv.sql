-- CSV target selection (CSVにて注文・顧客を指定, SPEC §5) and the staging
-- of the shipment data import (出荷データ取り込み, SPEC §6).
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
-- than the call's.
CREATE OR REPLACE FUNCTION bulkorder.check_upload(upload_id bigint)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF $1 IS NULL THEN
        RAISE EXCEPTION 'upload_id must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    -- an upload of another shop is one the caller cannot know
    IF NOT EXISTS (SELECT 1 FROM bulkorder.uploads u
                   WHERE u.shop_id = bulkorder_catalog.call_shop(NULL) AND u.upload_id = $1) THEN
        RAISE EXCEPTION 'upload % does not exist', $1
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'It may have been purged by bulkorder.purge_uploads(); upload the file again.';
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
    result bigint[];
BEGIN
    PERFORM bulkorder.check_upload($1);
    SELECT coalesce(array_agg(l.key ORDER BY l.line_no), '{}') INTO result
    FROM bulkorder.upload_lines l
    WHERE l.shop_id = bulkorder_catalog.call_shop(NULL) AND l.upload_id = $1 AND l.error_code IS NULL;
    RETURN result;
END
$$;

COMMENT ON FUNCTION bulkorder.upload_targets(bigint) IS
'The upload''s valid, existing keys in file order, for run_bulk';

-- Every line that gave no key, with its code and a message in the
-- session's bulkorder.language.  A not_a_number names the likely
-- spreadsheet cause that csv.c recorded (upload_lines.cause); a
-- rounded_number is column A's when the line has no key, else column B's
-- (the import's tracking number), and says how to save the file again.
CREATE OR REPLACE FUNCTION bulkorder.upload_errors(upload_id bigint)
RETURNS TABLE (line_no integer, error_code text, message text)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM bulkorder.check_upload($1);
    RETURN QUERY
    SELECT l.line_no, l.error_code,
           CASE WHEN coalesce(current_setting('bulkorder.language', true), 'ja') = 'en' THEN
               CASE l.error_code
                   WHEN 'not_a_number' THEN
                       CASE WHEN l.value IS NULL THEN format('column A holds no %s', k.name_en)
                            WHEN l.cause = 'grouping' THEN
                                format('column A "%s" is not a number (%s): its commas are not thousands separators (groups of three digits)', l.value, k.name_en)
                            WHEN l.cause = 'fraction' THEN
                                format('column A "%s" is not a number (%s): its fraction is not zero', l.value, k.name_en)
                            WHEN l.cause = 'formula_error' THEN
                                format('column A "%s" is a spreadsheet formula error, not a number (%s): correct the formula or paste the values, then save the file again', l.value, k.name_en)
                            ELSE format('column A "%s" is not a number (%s)', l.value, k.name_en) END
                   WHEN 'rounded_number' THEN
                       CASE WHEN l.key IS NULL THEN
                                format('column A "%s" is a number the spreadsheet rounded into scientific notation: the %s it stood for is unknown. Format column A as text, enter the full %s and save the file again', l.value, k.name_en, k.name_en)
                            ELSE format('column B "%s" is a tracking number the spreadsheet rounded into scientific notation: the real number is unknown. Format column B as text, enter the full tracking number and save the file again', l.tracking_no) END
                   WHEN 'not_found' THEN format('%s %s not found (unknown or deleted)', k.name_en, l.key)
                   WHEN 'duplicate_key' THEN format('%s %s was already given on line %s', k.name_en, l.key, l.first_line)
               END
           ELSE
               CASE l.error_code
                   WHEN 'not_a_number' THEN
                       CASE WHEN l.value IS NULL THEN format('A列に%sがありません', k.name_ja)
                            WHEN l.cause = 'grouping' THEN
                                format('A列「%s」は%s(数字)ではありません(カンマが3桁区切りの位置にありません)', l.value, k.name_ja)
                            WHEN l.cause = 'fraction' THEN
                                format('A列「%s」は%s(数字)ではありません(小数点以下が0ではありません)', l.value, k.name_ja)
                            WHEN l.cause = 'formula_error' THEN
                                format('A列「%s」は表計算ソフトの数式エラーで、%sではありません。数式を直すか値として貼り付けてから、保存し直してください', l.value, k.name_ja)
                            ELSE format('A列「%s」は%s(数字)ではありません', l.value, k.name_ja) END
                   WHEN 'rounded_number' THEN
                       CASE WHEN l.key IS NULL THEN
                                format('A列「%s」は表計算ソフトが指数表記に丸めた数値のため、元の%sが分かりません。A列の書式を「文字列」にして%sを入力し直し、保存し直してください', l.value, k.name_ja, k.name_ja)
                            ELSE format('B列「%s」は表計算ソフトが指数表記に丸めた送り状番号のため、元の番号が分かりません。B列の書式を「文字列」にして送り状番号を入力し直し、保存し直してください', l.tracking_no) END
                   WHEN 'not_found' THEN format('%s %s が見つかりません(存在しないか削除済みです)', k.name_ja, l.key)
                   WHEN 'duplicate_key' THEN format('%s %s は %s 行目と重複しています', k.name_ja, l.key, l.first_line)
               END
           END
    FROM bulkorder.uploads u
    JOIN bulkorder_catalog.pages pg ON pg.page = u.page
    CROSS JOIN LATERAL (SELECT pg.key_name_ja AS name_ja,
                               CASE pg.key_column WHEN 'order_no' THEN 'order number'
                                                  WHEN 'course_order_no' THEN 'course order number'
                                                  WHEN 'customer_id' THEN 'customer ID'
                                                  ELSE pg.key_column END AS name_en) k
    JOIN bulkorder.upload_lines l ON l.shop_id = u.shop_id AND l.upload_id = u.upload_id
                                 AND l.error_code IS NOT NULL
    WHERE u.shop_id = bulkorder_catalog.call_shop(NULL) AND u.upload_id = $1
    ORDER BY l.line_no;
END
$$;

COMMENT ON FUNCTION bulkorder.upload_errors(bigint) IS
'Every line of the upload that gave no key: not_a_number, rounded_number, not_found, duplicate_key';

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
                  HINT = 'For example bulkorder.purge_uploads(''30 days'').';
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
