-- Retrying the failures and undoing a job (docs/api.md, issue 11).  The same
-- lines are in releases/bulkorder--1.0--1.1.sql ("retry_failed / revert_job"), so a
-- fresh 1.1 and an upgraded 1.0 end up identical.

-- A retry names the job whose failures it retries; a revert the job it undoes.
ALTER TABLE bulkorder.bulk_jobs
    ADD COLUMN retry_of bigint,
    ADD COLUMN reverts bigint;
-- "already reverted" and reverted_by look a job's reverts up by this
CREATE INDEX bulk_jobs_reverts_idx ON bulkorder.bulk_jobs (reverts) WHERE reverts IS NOT NULL;

-- A revert withdraws the outbox rows its job queued that no connector has
-- taken: payment_requests.status 'withdrawn' (payment_requests_status_check
-- in 10_domain.sql) and mail_outbox.withdrawn_at.  A withdrawn row is never
-- sent: the connectors take only pending requests and unsent, unwithdrawn
-- mails (docs/connectors.md).
ALTER TABLE bulkorder.mail_outbox ADD COLUMN withdrawn_at timestamptz;
-- a revert finds the rows of one job's targets by these
CREATE INDEX payment_requests_job_idx ON bulkorder.payment_requests (job_id, order_no);
CREATE INDEX mail_outbox_job_idx ON bulkorder.mail_outbox (job_id, order_no);

-- The history pages show what a job retried or undid, and which revert undid it
-- (the first revert job that is queued, running or done).
CREATE OR REPLACE VIEW bulkorder.order_bulk_history AS
    SELECT j.job_id, j.page, j.operation, j.params, j.status, j.total_count, j.processed_count,
           j.success_count, j.failure_count, j.requested_by, j.operator, j.source, j.request_key,
           j.is_async, j.cancel_requested, j.last_target, j.error_message, j.requested_at,
           j.started_at, j.finished_at, j.retry_of, j.reverts,
           (SELECT min(r.job_id) FROM bulkorder.bulk_jobs r
            WHERE r.reverts = j.job_id AND r.status IN ('queued', 'running', 'done')) AS reverted_by
    FROM bulkorder.bulk_jobs j WHERE j.page = 'orders';
CREATE OR REPLACE VIEW bulkorder.subscription_bulk_history AS
    SELECT j.job_id, j.page, j.operation, j.params, j.status, j.total_count, j.processed_count,
           j.success_count, j.failure_count, j.requested_by, j.operator, j.source, j.request_key,
           j.is_async, j.cancel_requested, j.last_target, j.error_message, j.requested_at,
           j.started_at, j.finished_at, j.retry_of, j.reverts,
           (SELECT min(r.job_id) FROM bulkorder.bulk_jobs r
            WHERE r.reverts = j.job_id AND r.status IN ('queued', 'running', 'done')) AS reverted_by
    FROM bulkorder.bulk_jobs j WHERE j.page = 'subscriptions';
CREATE OR REPLACE VIEW bulkorder.shipment_bulk_history AS
    SELECT j.job_id, j.page, j.operation, j.params, j.status, j.total_count, j.processed_count,
           j.success_count, j.failure_count, j.requested_by, j.operator, j.source, j.request_key,
           j.is_async, j.cancel_requested, j.last_target, j.error_message, j.requested_at,
           j.started_at, j.finished_at, j.retry_of, j.reverts,
           (SELECT min(r.job_id) FROM bulkorder.bulk_jobs r
            WHERE r.reverts = j.job_id AND r.status IN ('queued', 'running', 'done')) AS reverted_by
    FROM bulkorder.bulk_jobs j WHERE j.page = 'shipments';
CREATE OR REPLACE VIEW bulkorder.customer_bulk_history AS
    SELECT j.job_id, j.page, j.operation, j.params, j.status, j.total_count, j.processed_count,
           j.success_count, j.failure_count, j.requested_by, j.operator, j.source, j.request_key,
           j.is_async, j.cancel_requested, j.last_target, j.error_message, j.requested_at,
           j.started_at, j.finished_at, j.retry_of, j.reverts,
           (SELECT min(r.job_id) FROM bulkorder.bulk_jobs r
            WHERE r.reverts = j.job_id AND r.status IN ('queued', 'running', 'done')) AS reverted_by
    FROM bulkorder.bulk_jobs j WHERE j.page = 'customers';
