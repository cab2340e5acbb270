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

-- ==== queue: no role can stall or starve the job queue; who did what
-- (issue 13 F1/F2/F5/F6).  New columns: the same, in the same order, as
-- shop/70_async.sql and shop/20_jobs.sql add on a fresh install.

-- last_chunk_at: jobs take turns by chunk, the worker runs the open job
-- whose last chunk committed longest ago; cancelled_by(_operator): who
-- cancelled (SPEC §8).
ALTER TABLE bulkorder.bulk_jobs
    ADD COLUMN last_chunk_at timestamptz,
    ADD COLUMN cancelled_by text,
    ADD COLUMN cancelled_by_operator text;

-- who marked a notification read
ALTER TABLE bulkorder.notifications
    ADD COLUMN read_by text,
    ADD COLUMN read_by_operator text;

-- cancel_job and mark_notifications_read take options (operator): the 1.0
-- one-argument functions go.  The new ones are created here, with the old
-- ones' grants (an operator granted in 1.0 keeps the right to call them),
-- then code/ replaces them with the same definitions.
CREATE FUNCTION bulkorder.cancel_job(job_id bigint, options jsonb DEFAULT '{}')
RETURNS boolean
AS 'MODULE_PATHNAME', 'bulkorder_cancel_job'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
CREATE FUNCTION bulkorder.mark_notifications_read(notification_ids bigint[],
                                                  options jsonb DEFAULT '{}')
RETURNS integer
LANGUAGE sql
AS $$ SELECT 0 $$;
DO $$
DECLARE
    f record;
    g record;
BEGIN
    FOR f IN SELECT * FROM (VALUES
            ('bulkorder.cancel_job(bigint)'::regprocedure, 'bulkorder.cancel_job(bigint, jsonb)'),
            ('bulkorder.mark_notifications_read(bigint[])'::regprocedure,
             'bulkorder.mark_notifications_read(bigint[], jsonb)')) v(old, new)
    LOOP
        FOR g IN SELECT a.grantee::regrole AS grantee
                   FROM pg_proc p, aclexplode(p.proacl) a
                  WHERE p.oid = f.old AND a.privilege_type = 'EXECUTE' AND a.grantee <> 0
                    AND a.grantee <> p.proowner
        LOOP
            EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO %s', f.new, g.grantee);
        END LOOP;
    END LOOP;
END
$$;
DROP FUNCTION bulkorder.cancel_job(bigint);
DROP FUNCTION bulkorder.mark_notifications_read(bigint[]);

-- ---------------------------------------------------------------------------
-- define_operation (issue 12): one declaration per operation; operations a
-- shop defines itself.  Column order as install/10_catalog.sql.

-- revert declaration of every operation (shared with the retry/revert
-- work: the same two columns, hence IF NOT EXISTS)
ALTER TABLE bulkorder_catalog.operations
    ADD COLUMN IF NOT EXISTS reversible boolean NOT NULL DEFAULT true,
    ADD COLUMN IF NOT EXISTS irreversible_reason text;
-- which rows the extension's script declared: 1.0 had no way to declare
-- an operation of one's own (rows inserted by hand were overwritten by
-- every upgrade), so every row of 1.0 is a shipped one
ALTER TABLE bulkorder_catalog.operations
    ADD COLUMN shipped boolean NOT NULL DEFAULT false;
UPDATE bulkorder_catalog.operations SET shipped = true;

-- pg_dump keeps a shop's own operations (1.0 registered no config table)
SELECT pg_catalog.pg_extension_config_dump('bulkorder_catalog.operations', 'WHERE NOT shipped');
SELECT pg_catalog.pg_extension_config_dump('bulkorder_catalog.operation_rules',
    'WHERE (page, operation) IN (SELECT page, operation FROM bulkorder_catalog.operations WHERE NOT shipped)');
SELECT pg_catalog.pg_extension_config_dump('bulkorder_catalog.operation_param_checks',
    'WHERE (page, operation) IN (SELECT page, operation FROM bulkorder_catalog.operations WHERE NOT shipped)');

-- the wrappers are created by define_operation now; 1.0's generator is gone
DROP FUNCTION bulkorder.create_operation_wrapper(text, text);

-- ---------------------------------------------------------------------------
-- params: request keys are idempotency keys (issue 13 F4).  The new column
-- comes after the queue's, as shop/90_jobs_1_1.sql adds it after
-- shop/70_async.sql on a fresh install.

-- the key is scoped to page and calling role: the same index name, new columns
DROP INDEX bulkorder.bulk_jobs_request_key_idx;
CREATE UNIQUE INDEX bulk_jobs_request_key_idx ON bulkorder.bulk_jobs (page, requested_by, request_key)
    WHERE request_key IS NOT NULL;
-- the request's fingerprint; NULL on 1.0's jobs, whose key a 1.1 call cannot
-- reuse (README, "Request keys are idempotency keys")
ALTER TABLE bulkorder.bulk_jobs ADD COLUMN request_hash bytea;

-- ==== csv: keys as spreadsheets write them (issue 15): a line whose number a
-- spreadsheet rounded into scientific notation is rounded_number, and a
-- line that is not a number records the likely spreadsheet cause for its
-- message.  Same name, expression and column order as a fresh install.
ALTER TABLE bulkorder.upload_lines DROP CONSTRAINT upload_lines_error_code_check;
ALTER TABLE bulkorder.upload_lines
    ADD CONSTRAINT upload_lines_error_code_check
        CHECK (error_code IN ('not_a_number', 'not_found', 'duplicate_key', 'rounded_number')),
    ADD COLUMN cause text;
-- the shipment import's orders with a rounded line (issue 14: its rule
-- reads this flag with the order's other staged data, in one probe).  1.0
-- had no rounded_number, so false is right for every staged order.
ALTER TABLE bulkorder.upload_shipments
    ADD COLUMN rounded boolean NOT NULL DEFAULT false;

-- ---------------------------------------------------------------------------
-- retry_failed / revert_job (issue 11).  The same lines as shop/95_revert.sql,
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

-- the catalogue says how each operation is reverted (reversible and
-- irreversible_reason are the catalog section's, above)
ALTER TABLE bulkorder_catalog.operations
    ADD COLUMN revert_condition text,
    ADD COLUMN revert_rules jsonb NOT NULL DEFAULT '[]',
    ADD COLUMN revert_before_sql text,
    ADD COLUMN revert_apply_sql text,
    ADD COLUMN revert_prelock_sql text,
    ADD COLUMN revert_lock_sql text,
    ADD COLUMN revert_visible_condition text;

-- define_operation's target_join (issue 14): the same line as
-- install/10_catalog.sql, after the revert's columns
ALTER TABLE bulkorder_catalog.operations
    ADD COLUMN target_join jsonb;

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

-- ---------------------------------------------------------------------------
-- Citus-ready outboxes (issue 10): their keys lead with order_no, so that
-- they can be distributed with the orders they hang off (Citus wants the
-- distribution column in every unique key).  request_id and mail_id keep an
-- index of their own.  A mail row always names its order in 1.0 (only the
-- engine queues mails); a shop that inserted mails of its own without one
-- is told so before anything changes.
DO $outbox$
DECLARE
    n bigint;
BEGIN
    SELECT count(*) INTO n FROM bulkorder.mail_outbox WHERE order_no IS NULL;
    IF n > 0 THEN
        RAISE EXCEPTION '% rows of bulkorder.mail_outbox name no order', n
            USING ERRCODE = '23502',
                  DETAIL = '1.1 keys the mail outbox by (order_no, mail_id).',
                  HINT = 'Give those rows their order_no, or delete the sent ones, then run ALTER EXTENSION bulkorder UPDATE again.';
    END IF;
END
$outbox$;
ALTER TABLE bulkorder.payment_requests
    DROP CONSTRAINT payment_requests_pkey,
    ADD CONSTRAINT payment_requests_pkey PRIMARY KEY (order_no, request_id);
CREATE INDEX payment_requests_request_id_idx ON bulkorder.payment_requests (request_id);
ALTER TABLE bulkorder.mail_outbox
    ALTER COLUMN order_no SET NOT NULL,
    DROP CONSTRAINT mail_outbox_pkey,
    ADD CONSTRAINT mail_outbox_pkey PRIMARY KEY (order_no, mail_id);
CREATE INDEX mail_outbox_mail_id_idx ON bulkorder.mail_outbox (mail_id);
