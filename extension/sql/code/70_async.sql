-- Asynchronous jobs (docs/async.md): run_bulk(..., options => '{"async":
-- true}') queues the job; a background worker of the extension (job_worker.c)
-- runs it chunk by chunk, each chunk committing its changes, its items, the
-- job's counts and the resume cursor bulk_jobs.last_target together.

-- options: operator (the person a pooled role acts for), recorded with the
-- calling role in bulk_jobs.cancelled_by(_operator).  A NULL job_id gives
-- NULL; NULL options are no options.
CREATE OR REPLACE FUNCTION bulkorder.cancel_job(job_id bigint, options jsonb DEFAULT '{}')
RETURNS boolean
AS 'MODULE_PATHNAME', 'bulkorder_cancel_job'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION bulkorder.cancel_job(bigint, jsonb) IS
'Stop a queued or running asynchronous job at its next chunk boundary, recording who asked; false for a finished job';

CREATE OR REPLACE FUNCTION bulkorder.start_worker()
RETURNS boolean
AS 'MODULE_PATHNAME', 'bulkorder_start_worker'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION bulkorder.start_worker() IS
'Start a job worker for this database now (resumes interrupted jobs without shared_preload_libraries)';
