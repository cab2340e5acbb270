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
    v_shop := bulkorder_catalog.call_shop(NULL);  -- an upload of another shop is one the caller cannot know
    IF NOT EXISTS (SELECT 1 FROM bulkorder.uploads u
                   WHERE u.shop_id = v_shop AND u.upload_id = $1) THEN
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
    result bigint[]; v_shop bigint;
BEGIN
    PERFORM bulkorder.check_upload($1); v_shop := bulkorder_catalog.call_shop(NULL);
    SELECT coalesce(array_agg(l.key ORDER BY l.line_no), '{}') INTO result
    FROM bulkorder.upload_lines l
    WHERE l.shop_id = v_shop AND l.upload_id = $1 AND l.error_code IS NULL;
    RETURN result;
END
$$;

COMMENT ON FUNCTION bulkorder.upload_targets(bigint) IS
'The upload''s valid, existing keys in file order, for run_bulk';

-- Every line that gave no key, with its code and a message in the
-- session's bulkorder.language that names the cause and the fix.  A
-- not_a_number names the likely spreadsheet cause that csv_cells.c
-- recorded (upload_lines.cause).  rounded_number, not_an_integer,
-- negative_number, currency_format and formula_text are column A's when
-- the line has no key, else column B's (the import's tracking number).  An
-- invalid_tracking_no says which of its length, a character or its check
-- digit is wrong, for the carrier's format it was checked against (cause
-- 'jp12:check_digit'), and what that format is.
CREATE OR REPLACE FUNCTION bulkorder.upload_errors(upload_id bigint)
RETURNS TABLE (line_no integer, error_code text, message text)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$ DECLARE v_shop bigint;
BEGIN
    PERFORM bulkorder.check_upload($1); v_shop := bulkorder_catalog.call_shop(NULL);
    RETURN QUERY
    SELECT l.line_no, l.error_code,
           CASE WHEN coalesce(current_setting('bulkorder.language', true), 'ja') = 'en' THEN
               CASE WHEN l.key IS NULL THEN
               CASE l.error_code
                   WHEN 'not_a_number' THEN
                       CASE WHEN l.value IS NULL THEN format('column A holds no %s', k.name_en)
                            WHEN l.cause = 'grouping' THEN
                                format('column A "%s" is not a number (%s): its commas are not thousands separators (groups of three digits)', l.value, k.name_en)
                            WHEN l.cause = 'fraction' THEN
                                format('column A "%s" is not a number (%s): its fraction is not zero', l.value, k.name_en)
                            WHEN l.cause = 'formula_error' THEN
                                format('column A "%s" is a spreadsheet formula error, not a number (%s): correct the formula or paste the values, then save the file again', l.value, k.name_en)
                            WHEN l.cause = 'out_of_range' THEN
                                format('column A "%s" has more digits than any %s: check the value', l.value, k.name_en)
                            WHEN l.cause = 'separator' THEN
                                format('column A "%s" is a line separated by tabs or semicolons: no %s can be read from it. Save the file again as comma-separated values (CSV)', l.value, k.name_en)
                            WHEN l.cause = 'question_mark' THEN
                                format('column A "%s": the "?" stands for a character Shift_JIS cannot hold (a no-break or zero-width space, for example), so it is no %s. Delete that character, or save the file again as CSV UTF-8', l.value, k.name_en)
                            ELSE format('column A "%s" is not a number (%s)', l.value, k.name_en) END
                   WHEN 'rounded_number' THEN
                       format('column A "%s" is a number the spreadsheet rounded into scientific notation: the %s it stood for is unknown. Format column A as text, enter the full %s and save the file again', l.value, k.name_en, k.name_en)
                   WHEN 'not_an_integer' THEN
                       format('column A "%s" is a number with a fraction, not a whole number (%s): check the value, format column A as text, enter the %s and save the file again', l.value, k.name_en, k.name_en)
                   WHEN 'negative_number' THEN
                       format('column A "%s" is a negative number (-, ▲, △ or in parentheses), and no %s is negative: check the value, set column A to the General or Text format, enter the %s and save the file again', l.value, k.name_en, k.name_en)
                   WHEN 'currency_format' THEN
                       format('column A "%s" was saved in a currency or unit format (¥, \, $, 円, 番 and the like), so it is no %s: set column A to the General or Text format and save the file again', l.value, k.name_en)
                   WHEN 'formula_text' THEN
                       format('column A "%s" is the text of a formula (beginning with =, + or @), no %s: paste the column as values, or save the file without formulas', l.value, k.name_en)
                   WHEN 'not_found' THEN format('%s %s not found (unknown or deleted)', k.name_en, l.key)
                   WHEN 'duplicate_key' THEN format('%s %s was already given on line %s', k.name_en, l.key, l.first_line)
               END
               ELSE
               CASE l.error_code
                   WHEN 'rounded_number' THEN
                       format('column B "%s" is a tracking number the spreadsheet rounded into scientific notation: the real number is unknown. Format column B as text, enter the full tracking number and save the file again', l.tracking_no)
                   WHEN 'not_an_integer' THEN
                       format('column B "%s" is a number with a fraction: digits of the tracking number are lost. Format column B as text, enter the tracking number again and save the file again', l.tracking_no)
                   WHEN 'negative_number' THEN
                       format('column B "%s" is a negative number, not a tracking number. Format column B as text, enter the right tracking number and save the file again', l.tracking_no)
                   WHEN 'currency_format' THEN
                       format('column B "%s" was saved in a currency or unit format, so it is no tracking number. Format column B as text, enter the tracking number again and save the file again', l.tracking_no)
                   WHEN 'formula_text' THEN
                       format('column B "%s" is the text of a formula, not a tracking number. Paste column B as values, or save the file without formulas (LibreOffice: untick "save cell formulas")', l.tracking_no)
                   WHEN 'invalid_tracking_no' THEN
                       format('column B "%s" is not a tracking number of the order''s carrier: %s. %s. Check the number on the slip, format column B as text, enter it again and save the file again',
                              l.tracking_no,
                              CASE f.problem
                                  WHEN 'character' THEN 'it holds a character the format does not allow, or a separator out of place'
                                      || CASE WHEN strpos(l.tracking_no, '?') > 0 THEN ' ("?" stands for a character Shift_JIS cannot hold, such as a no-break space)' ELSE '' END
                                  WHEN 'length' THEN format('its length is wrong (%s %s)', f.count, CASE f.format WHEN 'jp12' THEN 'digits: was a leading zero dropped, or digits rounded?' ELSE 'characters' END)
                                  WHEN 'check_digit' THEN 'its check digit does not match: a digit was mistyped or changed by the spreadsheet'
                                  ELSE f.problem END,
                              CASE f.format
                                  WHEN 'jp12' THEN 'The carrier issues 12 digits (grouped 4-4-4 by "-" or spaces, or not), the last one a check digit'
                                  WHEN 's10' THEN 'The carrier issues two letters, nine digits (the ninth a check digit) and two letters, such as EJ123456785JP'
                                  ELSE 'The carrier issues 1 to 40 letters, digits and "-"' END)
                   WHEN 'duplicate_key' THEN format('%s %s was already given on line %s', k.name_en, l.key, l.first_line)
                   WHEN 'not_found' THEN format('%s %s not found (unknown or deleted)', k.name_en, l.key)
               END
               END
           ELSE
               CASE WHEN l.key IS NULL THEN
               CASE l.error_code
                   WHEN 'not_a_number' THEN
                       CASE WHEN l.value IS NULL THEN format('A列に%sがありません', k.name_ja)
                            WHEN l.cause = 'grouping' THEN
                                format('A列「%s」は%s(数字)ではありません(カンマが3桁区切りの位置にありません)', l.value, k.name_ja)
                            WHEN l.cause = 'fraction' THEN
                                format('A列「%s」は%s(数字)ではありません(小数点以下が0ではありません)', l.value, k.name_ja)
                            WHEN l.cause = 'formula_error' THEN
                                format('A列「%s」は表計算ソフトの数式エラーで、%sではありません。数式を直すか値として貼り付けてから、保存し直してください', l.value, k.name_ja)
                            WHEN l.cause = 'out_of_range' THEN
                                format('A列「%s」は桁が多すぎて%sではありません。A列の値を確かめてください', l.value, k.name_ja)
                            WHEN l.cause = 'separator' THEN
                                format('A列「%s」はタブかセミコロンで区切られた行で、%sを読めません。ファイルをカンマ区切り(CSV)で保存し直してください', l.value, k.name_ja)
                            WHEN l.cause = 'question_mark' THEN
                                format('A列「%s」の「?」は Shift_JIS で保存したときに表せなかった文字(ノーブレークスペースやゼロ幅スペースなど)で、%sとして読めません。その文字を消すか、CSV UTF-8 で保存し直してください', l.value, k.name_ja)
                            ELSE format('A列「%s」は%s(数字)ではありません', l.value, k.name_ja) END
                   WHEN 'rounded_number' THEN
                       format('A列「%s」は表計算ソフトが指数表記に丸めた数値のため、元の%sが分かりません。A列の書式を「文字列」にして%sを入力し直し、保存し直してください', l.value, k.name_ja, k.name_ja)
                   WHEN 'not_an_integer' THEN
                       format('A列「%s」は小数点以下が0ではない数値で、%sではありません。値を確かめ、A列の書式を「文字列」にして%sを入力し直し、保存し直してください', l.value, k.name_ja, k.name_ja)
                   WHEN 'negative_number' THEN
                       format('A列「%s」はマイナスの数値(-、▲、△、かっこ付き)で、%sではありません。値を確かめ、A列の表示形式を「標準」か「文字列」にして%sを入力し直し、保存し直してください', l.value, k.name_ja, k.name_ja)
                   WHEN 'currency_format' THEN
                       format('A列「%s」は通貨や単位(¥、\、$、円、番 など)の付いた表示形式で書き出されていて、%sとして読めません。A列の表示形式を「標準」か「文字列」にして保存し直してください', l.value, k.name_ja)
                   WHEN 'formula_text' THEN
                       format('A列「%s」は数式のテキスト(=、+、@ で始まるもの)で、%sではありません。値として貼り付けるか、数式を保存しない設定で保存し直してください', l.value, k.name_ja)
                   WHEN 'not_found' THEN format('%s %s が見つかりません(存在しないか削除済みです)', k.name_ja, l.key)
                   WHEN 'duplicate_key' THEN format('%s %s は %s 行目と重複しています', k.name_ja, l.key, l.first_line)
               END
               ELSE
               CASE l.error_code
                   WHEN 'rounded_number' THEN
                       format('B列「%s」は表計算ソフトが指数表記に丸めた送り状番号のため、元の番号が分かりません。B列の書式を「文字列」にして送り状番号を入力し直し、保存し直してください', l.tracking_no)
                   WHEN 'not_an_integer' THEN
                       format('B列「%s」は小数点以下のある数値で、送り状番号の桁が失われています。B列の書式を「文字列」にして送り状番号を入力し直し、保存し直してください', l.tracking_no)
                   WHEN 'negative_number' THEN
                       format('B列「%s」はマイナスの数値で、送り状番号ではありません。B列の書式を「文字列」にして正しい送り状番号を入力し直し、保存し直してください', l.tracking_no)
                   WHEN 'currency_format' THEN
                       format('B列「%s」は通貨や単位の表示形式で書き出された数値で、送り状番号として使えません。B列の表示形式を「文字列」にして送り状番号を入力し直し、保存し直してください', l.tracking_no)
                   WHEN 'formula_text' THEN
                       format('B列「%s」は数式のテキストで、送り状番号ではありません。B列を値として貼り付けるか、数式を保存しない設定(LibreOffice の「セルの数式を保存」をオフ)で保存し直してください', l.tracking_no)
                   WHEN 'invalid_tracking_no' THEN
                       format('B列「%s」はこの注文の配送方法の送り状番号ではありません: %s。%s。伝票の番号を確かめ、B列の書式を「文字列」にして入力し直し、保存し直してください',
                              l.tracking_no,
                              CASE f.problem
                                  WHEN 'character' THEN '使えない文字か、位置の違う区切りがあります'
                                      || CASE WHEN strpos(l.tracking_no, '?') > 0 THEN '(「?」は Shift_JIS で表せなかった文字(ノーブレークスペースなど)が置き換えられたものです)' ELSE '' END
                                  WHEN 'length' THEN format('桁数が違います(%s %s)', f.count, CASE f.format WHEN 'jp12' THEN '桁。先頭の0が落ちたり、表計算ソフトが桁を丸めたりしていないか確かめてください' ELSE '文字' END)
                                  WHEN 'check_digit' THEN 'チェックディジット(確認用の数字)が合いません。番号の打ち間違いか、表計算ソフトで数字が変わっています'
                                  ELSE f.problem END,
                              CASE f.format
                                  WHEN 'jp12' THEN 'この配送方法の送り状番号は12桁の数字(4桁ずつ「-」か空白で区切っても可)で、最後の桁がチェックディジットです'
                                  WHEN 's10' THEN 'この配送方法の送り状番号は英字2文字・数字9桁(9桁目がチェックディジット)・英字2文字です(例: EJ123456785JP)'
                                  ELSE 'この配送方法の送り状番号は1〜40文字の英字・数字・「-」です' END)
                   WHEN 'duplicate_key' THEN format('%s %s は %s 行目と重複しています', k.name_ja, l.key, l.first_line)
                   WHEN 'not_found' THEN format('%s %s が見つかりません(存在しないか削除済みです)', k.name_ja, l.key)
               END
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
    -- invalid_tracking_no: the format and the problem, and the length as
    -- the format counts it (jp12: digits; the others: all but spaces)
    CROSS JOIN LATERAL (SELECT split_part(l.cause, ':', 1) AS format, split_part(l.cause, ':', 2) AS problem,
                               CASE WHEN split_part(l.cause, ':', 1) = 'jp12'
                                    THEN length(regexp_replace(l.tracking_no, '[^0-9]', '', 'g'))
                                    ELSE length(replace(l.tracking_no, ' ', '')) END AS count) f
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
