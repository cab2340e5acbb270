-- bulkorder 1.0 → 1.1: what only an upgrade does.  The build appends
-- extension/sql/code (every function, view, operation and grant of 1.1,
-- each written to be run again), so this file holds the changes that
-- re-running the code cannot make: the shop's tables, the catalogue's
-- tables, and objects whose signature changed or that are gone.
-- The upgrade test (test/stages/upgrade.sh) proves that 1.0 + this equals
-- a fresh 1.1.

-- render_mail takes scalars, not the orders/customers row types, so that
-- no function of the engine depends on the shop's tables.
DROP FUNCTION bulkorder.render_mail(text, bulkorder.orders, bulkorder.customers);

-- No foreign key from the shop's tables into the extension's catalogue:
-- DROP EXTENSION ... CASCADE would drop it and nothing would put it back.
-- upload_csv and import_shipments check the page themselves.
ALTER TABLE bulkorder.uploads DROP CONSTRAINT uploads_page_fkey;

-- ---------------------------------------------------------------------------
-- retry_failed / revert_job (issue 11).  The same lines as shop/80_revert.sql,
-- shop/10_domain.sql (payment_requests_status_check) and
-- install/10_catalog.sql, in the same order.

-- a retry names the job it retries, a revert the job it undoes
ALTER TABLE bulkorder.bulk_jobs
    ADD COLUMN retry_of bigint,
    ADD COLUMN reverts bigint;
CREATE INDEX bulk_jobs_reverts_idx ON bulkorder.bulk_jobs (reverts) WHERE reverts IS NOT NULL;
-- a revert withdraws a pending request: a fourth status
ALTER TABLE bulkorder.payment_requests DROP CONSTRAINT payment_requests_status_check;
ALTER TABLE bulkorder.payment_requests ADD CONSTRAINT payment_requests_status_check
    CHECK (status IN ('pending', 'ok', 'ng', 'withdrawn'));
-- ... and an unsent mail
ALTER TABLE bulkorder.mail_outbox ADD COLUMN withdrawn_at timestamptz;
-- a revert finds the outbox rows of one job's targets by these
CREATE INDEX payment_requests_job_idx ON bulkorder.payment_requests (job_id, order_no);
CREATE INDEX mail_outbox_job_idx ON bulkorder.mail_outbox (job_id, order_no);

-- the catalogue says whether and how each operation is reverted
ALTER TABLE bulkorder_catalog.operations
    ADD COLUMN reversible boolean NOT NULL DEFAULT true,
    ADD COLUMN irreversible_reason text;
ALTER TABLE bulkorder_catalog.operations
    ADD COLUMN revert_condition text,
    ADD COLUMN revert_rules jsonb NOT NULL DEFAULT '[]',
    ADD COLUMN revert_before_sql text,
    ADD COLUMN revert_apply_sql text,
    ADD COLUMN revert_prelock_sql text,
    ADD COLUMN revert_lock_sql text,
    ADD COLUMN revert_visible_condition text;

-- the history views show retry_of, reverts and reverted_by.  A released
-- view cannot be replaced by an extension script: one that is not a member
-- (any more) is taken back for the replacement; code/98_release.sql releases
-- them all again at the end.
DO $history$
DECLARE
    v record;
BEGIN
    FOR v IN SELECT * FROM (VALUES ('order_bulk_history', 'orders'),
                                   ('subscription_bulk_history', 'subscriptions'),
                                   ('shipment_bulk_history', 'shipments'),
                                   ('customer_bulk_history', 'customers')) AS x(view, page)
    LOOP
        IF NOT EXISTS (SELECT FROM pg_catalog.pg_depend d
                       WHERE d.classid = 'pg_catalog.pg_class'::regclass
                         AND d.objid = format('bulkorder.%I', v.view)::regclass
                         AND d.refclassid = 'pg_catalog.pg_extension'::regclass
                         AND d.deptype = 'e') THEN
            EXECUTE format('ALTER EXTENSION bulkorder ADD VIEW bulkorder.%I', v.view);
        END IF;
        EXECUTE format($v$CREATE OR REPLACE VIEW bulkorder.%I AS
    SELECT j.job_id, j.page, j.operation, j.params, j.status, j.total_count, j.processed_count,
           j.success_count, j.failure_count, j.requested_by, j.operator, j.source, j.request_key,
           j.is_async, j.cancel_requested, j.last_target, j.error_message, j.requested_at,
           j.started_at, j.finished_at, j.retry_of, j.reverts,
           (SELECT min(r.job_id) FROM bulkorder.bulk_jobs r
            WHERE r.reverts = j.job_id AND r.status IN ('queued', 'running', 'done')) AS reverted_by
    FROM bulkorder.bulk_jobs j WHERE j.page = %L$v$, v.view, v.page);
    END LOOP;
END
$history$;
