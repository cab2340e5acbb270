-- Asynchronous jobs (docs/async.md): run_bulk(..., options => '{"async":
-- true}') queues the job; a background worker of the extension (job_worker.c)
-- runs it chunk by chunk, each chunk committing its changes, its items, the
-- job's counts and the resume cursor bulk_jobs.last_target together.

-- What the worker needs to run a job the way its submitter asked for it.
ALTER TABLE bulkorder.bulk_jobs
    -- params after the engine's checks, defaults filled in: what the worker runs
    ADD COLUMN effective_params jsonb,
    -- bulkorder.chunk_size and bulkorder.language of the submitting session
    ADD COLUMN chunk_size integer CHECK (chunk_size > 0),
    ADD COLUMN language text CHECK (language IN ('ja', 'en'));

-- 1.1 (the same columns, in the same order, as releases/bulkorder--1.0--1.1.sql adds)
ALTER TABLE bulkorder.bulk_jobs
    -- when the job's last chunk committed: jobs take turns by chunk, a
    -- worker runs the open job served least recently (never served first)
    ADD COLUMN last_chunk_at timestamptz,
    -- who cancelled: the calling role, and cancel_job's operator option
    ADD COLUMN cancelled_by text,
    ADD COLUMN cancelled_by_operator text;

-- The sorted, distinct targets of an asynchronous job, cut at submission
-- into chunks of the job's chunk_size: one row per chunk, so that queueing a
-- million targets writes a hundred rows, not a million.  The next chunk is
-- the first one after the cursor bulk_jobs.last_target, in key order (= lock
-- order).  Kept after the job ends: with the items they show what a
-- cancelled or failed job did not reach; deleting the job row deletes them.
CREATE TABLE bulkorder.bulk_job_chunks (
    job_id bigint NOT NULL REFERENCES bulkorder.bulk_jobs (job_id) ON DELETE CASCADE,
    chunk_no integer NOT NULL,
    first_target bigint NOT NULL,
    last_target bigint NOT NULL,
    targets bigint[] NOT NULL,
    PRIMARY KEY (job_id, first_target),
    UNIQUE (job_id, chunk_no),
    CHECK (first_target <= last_target)
);
REVOKE ALL ON bulkorder.bulk_job_chunks FROM PUBLIC;

-- One row per target of an asynchronous job.
CREATE VIEW bulkorder.bulk_job_targets AS
    SELECT c.job_id, c.chunk_no, t.target
    FROM bulkorder.bulk_job_chunks c, pg_catalog.unnest(c.targets) AS t(target);
REVOKE ALL ON bulkorder.bulk_job_targets FROM PUBLIC;
