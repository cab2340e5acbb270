-- Asynchronous jobs (SPEC §7): run_bulk(..., options => '{"async": true}')
-- queues the job; a background worker of the extension (worker.c) runs it
-- chunk by chunk, each chunk committing its changes, its items, the job's
-- counts and the resume cursor bulk_jobs.last_target together.

CREATE OR REPLACE FUNCTION bulkorder.cancel_job(job_id bigint)
RETURNS boolean
AS 'MODULE_PATHNAME', 'bulkorder_cancel_job'
LANGUAGE C STRICT VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION bulkorder.cancel_job(bigint) IS
'Stop a queued or running asynchronous job at its next chunk boundary; false for a finished job';

CREATE OR REPLACE FUNCTION bulkorder.start_worker()
RETURNS boolean
AS 'MODULE_PATHNAME', 'bulkorder_start_worker'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION bulkorder.start_worker() IS
'Start a job worker for this database now (resumes interrupted jobs without shared_preload_libraries)';
