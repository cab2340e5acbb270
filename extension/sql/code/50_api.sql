-- The SQL API of the engine (docs/api.md).  SECURITY DEFINER with a pinned
-- search_path: an operator needs EXECUTE here, not privileges on the tables,
-- so every change goes through the catalogue's rules.

CREATE OR REPLACE FUNCTION bulkorder.run_bulk(page text, operation text, targets bigint[],
                                   params jsonb DEFAULT '{}', options jsonb DEFAULT '{}')
RETURNS bigint
AS 'MODULE_PATHNAME', 'bulkorder_run_bulk'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION bulkorder.run_bulk(text, text, bigint[], jsonb, jsonb) IS
'Apply a catalogued operation to the targets (確定); returns the job id';

CREATE OR REPLACE FUNCTION bulkorder.preview_bulk(page text, operation text, targets bigint[],
                                       params jsonb DEFAULT '{}')
RETURNS TABLE (target bigint, ok boolean, error_code text, message text)
AS 'MODULE_PATHNAME', 'bulkorder_preview_bulk'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION bulkorder.preview_bulk(text, text, bigint[], jsonb) IS
'The final confirmation (最終確認): what run_bulk would do per target, changing nothing';

-- Retrying the failures and undoing a job (docs/api.md;
-- extension/src/revert.c).
CREATE OR REPLACE FUNCTION bulkorder.retry_failed(job_id bigint, options jsonb DEFAULT '{}')
RETURNS bigint
AS 'MODULE_PATHNAME', 'bulkorder_retry_failed'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION bulkorder.retry_failed(bigint, jsonb) IS
'Run the failed targets of a job again (失敗分の再実行); options.error_codes limits it to those codes';

CREATE OR REPLACE FUNCTION bulkorder.revert_job(job_id bigint, options jsonb DEFAULT '{}')
RETURNS bigint
AS 'MODULE_PATHNAME', 'bulkorder_revert_job'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION bulkorder.revert_job(bigint, jsonb) IS
'Undo a job (一括更新の取り消し): a revert job over its succeeded targets';

CREATE OR REPLACE FUNCTION bulkorder.preview_revert(job_id bigint)
RETURNS TABLE (target bigint, ok boolean, error_code text, message text)
AS 'MODULE_PATHNAME', 'bulkorder_preview_revert'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION bulkorder.preview_revert(bigint) IS
'The confirmation of an undo: what revert_job would do per target, changing nothing';
