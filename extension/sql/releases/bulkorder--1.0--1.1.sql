-- Generated from extension/sql by make: edit the sources, not this file.
\echo Use "ALTER EXTENSION bulkorder UPDATE TO '1.1'" to load this file. \quit

-- ==== extension/sql/upgrades/1.0--1.1.sql
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

-- ==== extension/sql/code/10_text.sql
-- Helpers of the operations' SQL: mail rendering, tags, free text.

-- Render a template for one order: {{order_no}}, {{customer_name}},
-- {{tracking_no}}, {{payment_method}} (the method's name, which the caller
-- joins from payment_methods), {{course_order_no}}.  Scalar arguments, not
-- the orders/customers row types: the engine's functions must not depend on
-- the shop's tables, which a restore creates only after CREATE EXTENSION.
-- One expression, no SET clause and no sub-SELECT, so that the planner
-- inlines it into the effect statements that call it once per order (a
-- sub-SELECT, as the payment method's name lookup was, forbids inlining:
-- every call then ran the function's own plan, 2 calls per mail).
CREATE OR REPLACE FUNCTION bulkorder.render_mail(template text, order_no bigint, customer_name text,
                                                 tracking_no text, payment_method_name text,
                                                 course_order_no bigint)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(template,
        '{{order_no}}', coalesce(order_no::text, '')),
        '{{customer_name}}', coalesce(customer_name, '')),
        '{{tracking_no}}', coalesce(tracking_no, '')),
        '{{payment_method}}', coalesce(payment_method_name, '')),
        '{{course_order_no}}', coalesce(course_order_no::text, ''))
$$;

-- The tags rule shared by orders and customers: keep the existing order,
-- append what is new, drop what is removed, never a duplicate.
CREATE OR REPLACE FUNCTION bulkorder.merge_tags(tags text[], add text[], remove text[])
RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce(array_agg(tag ORDER BY pos), '{}')
    FROM (SELECT tag, min(pos) AS pos
          FROM unnest(coalesce(tags, '{}') || coalesce(add, '{}')) WITH ORDINALITY AS u(tag, pos)
          WHERE tag <> ALL (coalesce(remove, '{}'))
          GROUP BY tag) s
$$;

-- Append on a new line, or overwrite; appending to NULL or '' stores the
-- text alone.
CREATE OR REPLACE FUNCTION bulkorder.edit_text(current_text text, new_text text, mode text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE   -- no SET clause: kept inlinable, it runs per row
AS $$
    SELECT CASE
        WHEN mode = 'overwrite' OR coalesce(current_text, '') = '' THEN new_text
        ELSE current_text || E'\n' || new_text
    END
$$;

-- ==== extension/sql/code/15_frequency.sql
-- Delivery frequency arithmetic (お届け頻度), shared by subscription order
-- generation, the subscriptions page and shipments' delivery_dates.  This is
-- the ONE implementation: nothing else adds months to a delivery date.
--
-- The month rule shops expect: a delivery anchored on day A of the month
-- lands on day A, or on the month's last day when the month is shorter,
-- and returns to day A where the month has one (31st → Feb 28/29 → Mar 31).
--
--   days N          from_date + N
--   weeks N         from_date + 7·N
--   months N        day A of the N-th month after from_date's month, or that
--                   month's last day; A = anchor_day, else the day of from_date
--   day_of_month D  day D (or the last day of a shorter month) of the month
--                   `every` months after from_date's month when from_date is on
--                   or after its own month's day D, else of the month
--                   `every − 1` months on; with every = 1 ("monthly on day D"):
--                   the first day-D date after from_date
--
-- A subscription keeps its anchor in subscriptions.anchor_day (NULL = the
-- day of its next delivery date); bulkorder.effective_anchor_day() below
-- decides which anchor applies to a given date.
--
-- One inlinable SQL expression per kind (the planner folds it into the
-- calling statement: no function call per row).  Month arithmetic starts
-- from January of from_date's year, a month with every day 1-31, and adds
-- months with PostgreSQL's date + interval, which keeps the day or falls
-- back to the last day of a shorter month.  date + interval is a timestamp
-- WITHOUT time zone: no time zone or DST can move the date.
CREATE OR REPLACE FUNCTION bulkorder.frequency_next_date(from_date date, kind text, every integer,
                                              day_of_month integer, anchor_day integer DEFAULT NULL)
RETURNS date
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT CASE kind
        WHEN 'days' THEN from_date + every
        WHEN 'weeks' THEN from_date + 7 * every
        WHEN 'months' THEN
            (make_date(extract(year FROM from_date)::integer, 1,
                       coalesce(anchor_day, extract(day FROM from_date)::integer))
             + make_interval(months => extract(month FROM from_date)::integer - 1 + every))::date
        WHEN 'day_of_month' THEN
            -- on or after this month's day D: day D `every` months on;
            -- before it (off the cycle): day D of the month `every - 1` on
            (make_date(extract(year FROM from_date)::integer, 1, day_of_month)
             + make_interval(months => extract(month FROM from_date)::integer - 1 + every
                 - CASE WHEN from_date < (make_date(extract(year FROM from_date)::integer, 1, day_of_month)
                                          + make_interval(months => extract(month FROM from_date)::integer - 1))::date
                        THEN 1 ELSE 0 END))::date
    END
$$;

CREATE OR REPLACE FUNCTION bulkorder.frequency_next_date(from_date date, frequency_id bigint, anchor_day integer DEFAULT NULL)
RETURNS date
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT bulkorder.frequency_next_date(from_date, f.kind, f.every, f.day_of_month, anchor_day)
    FROM bulkorder.frequencies f
    WHERE f.frequency_id = frequency_next_date.frequency_id
$$;

-- The anchor day that applies to a subscription whose cycle date (its next
-- delivery date) is cycle_date and whose stored anchor is anchor_day: the
-- stored anchor while the date agrees with it (it is day A, or the last day
-- of a month shorter than A), else the day of the date itself.  So a date
-- set by hand, by an admin tool or by another page re-anchors the cycle,
-- while Feb 28 of a cycle anchored on the 31st goes back to Mar 31.
CREATE OR REPLACE FUNCTION bulkorder.effective_anchor_day(cycle_date date, anchor_day integer)
RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT CASE
        WHEN anchor_day IS NOT NULL
             AND (extract(day FROM cycle_date)::integer = anchor_day
                  OR (extract(day FROM cycle_date + 1) = 1          -- the month's last day
                      AND anchor_day > extract(day FROM cycle_date)::integer))
        THEN anchor_day
        ELSE extract(day FROM cycle_date)::integer
    END
$$;

-- ==== extension/sql/code/20_jobs.sql
-- Jobs: the history trigger and the notification bell (SPEC §4).

CREATE OR REPLACE FUNCTION bulkorder.delete_job_items()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    DELETE FROM bulkorder.bulk_job_items i USING deleted_jobs d WHERE i.job_id = d.job_id;
    RETURN NULL;
END
$$;

-- The trigger belongs to the shop's table, not to the extension: a restore
-- creates it from the dump after the table (which does not exist yet when
-- the restore runs CREATE EXTENSION), and CREATE EXTENSION after a
-- DROP EXTENSION ... CASCADE puts it back on the table that stayed.
DO $$
BEGIN
    IF pg_catalog.to_regclass('bulkorder.bulk_jobs') IS NOT NULL THEN
        CREATE OR REPLACE TRIGGER bulk_jobs_delete_items
            AFTER DELETE ON bulkorder.bulk_jobs
            REFERENCING OLD TABLE AS deleted_jobs
            FOR EACH STATEMENT EXECUTE FUNCTION bulkorder.delete_job_items();
    END IF;
END
$$;

-- Marks notifications read (the bell of the admin tool), recording who did:
-- read_by is the calling role (SET ROLE counts, as for run_bulk's
-- requested_by), read_by_operator options.operator, the person a pooled role
-- acts for (1 to 200 characters).  A notification already read keeps who
-- read it first.
CREATE OR REPLACE FUNCTION bulkorder.mark_notifications_read(notification_ids bigint[],
                                                             options jsonb DEFAULT '{}')
RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    who text := coalesce(nullif(current_setting('role'), 'none'), session_user);
    operator_name text;
    bad text;
    n integer;
BEGIN
    IF options IS NOT NULL THEN
        IF jsonb_typeof(options) <> 'object' THEN
            RAISE EXCEPTION 'options must be a JSON object' USING ERRCODE = '22023';
        END IF;
        SELECT k INTO bad FROM jsonb_object_keys(options) k WHERE k <> 'operator' LIMIT 1;
        IF bad IS NOT NULL THEN
            RAISE EXCEPTION 'unknown option "%"', bad USING ERRCODE = '22023',
                HINT = 'The only option of mark_notifications_read is operator.';
        END IF;
        IF jsonb_typeof(options -> 'operator') NOT IN ('string', 'null') THEN
            RAISE EXCEPTION 'option "operator" must be text' USING ERRCODE = '22023';
        END IF;
        operator_name := options ->> 'operator';
        IF char_length(operator_name) NOT BETWEEN 1 AND 200 THEN
            RAISE EXCEPTION 'option "operator" must be 1 to 200 characters long' USING ERRCODE = '22023';
        END IF;
    END IF;
    UPDATE bulkorder.notifications
       SET read_at = now(), read_by = who, read_by_operator = operator_name
     WHERE notification_id = ANY (notification_ids) AND read_at IS NULL;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;

-- ==== extension/sql/code/30_catalog.sql
-- The pages of the catalogue and its readable listing.

INSERT INTO bulkorder_catalog.pages VALUES
    ('orders', '注文一覧', 'orders', 'bulkorder.orders', 'order_no', '注文番号', 't.deleted_at IS NULL'),
    ('subscriptions', '定期注文マスター', 'subscription masters', 'bulkorder.subscriptions', 'course_order_no', 'コース注文番号', 'true'),
    ('shipments', '出荷一覧', 'shipments', 'bulkorder.orders', 'order_no', '注文番号', 't.deleted_at IS NULL'),
    ('customers', '顧客一覧', 'customers', 'bulkorder.customers', 'customer_id', '顧客ID', 'true')
ON CONFLICT (page) DO UPDATE
    SET name_ja = excluded.name_ja, name_en = excluded.name_en, target_table = excluded.target_table,
        key_column = excluded.key_column, key_name_ja = excluded.key_name_ja,
        visible_condition = excluded.visible_condition;

-- A readable listing of the catalogue for operators and admin tools:
-- shipped is false for an operation the shop declared itself.
CREATE OR REPLACE VIEW bulkorder.operation_catalog AS
    SELECT o.page, pg.name_ja AS page_name_ja, o.operation, o.name_ja, o.name_en,
           o.params, o.wrapper,
           coalesce((SELECT jsonb_agg(jsonb_build_object('error_code', r.error_code,
                                                         'message', r.message_ja)
                                      ORDER BY r.position)
                     FROM bulkorder_catalog.operation_rules r
                     WHERE r.page = o.page AND r.operation = o.operation), '[]') AS rules,
           o.shipped, o.reversible, o.irreversible_reason
    FROM bulkorder_catalog.operations o
    JOIN bulkorder_catalog.pages pg USING (page);

-- ==== extension/sql/code/35_define_operation.sql
-- Declaring an operation: bulkorder.define_operation(...) writes one
-- operation whole (its catalogue row, rules and whole-call checks),
-- compiles the statements the engine will build from it, and creates its
-- typed wrapper; bulkorder.drop_operation(page, operation) removes a shop's
-- own.  Every shipped operation (code/operations/) is one call of it; a
-- shop's operations are calls made later by a superuser (README, "Adding an
-- operation").

-- The engine's composition of a declaration, prepared and planned once and
-- thrown away (extension/src/catalog.c): a broken fragment raises its own
-- error when it is declared.
CREATE OR REPLACE FUNCTION bulkorder_catalog.compile_operation(page text, operation text)
RETURNS void
AS 'MODULE_PATHNAME', 'bulkorder_compile_operation'
LANGUAGE C VOLATILE STRICT;

-- True while bulkorder's own CREATE/ALTER EXTENSION script runs: what
-- define_operation declares then is a shipped operation.
CREATE OR REPLACE FUNCTION bulkorder_catalog.in_extension_script()
RETURNS boolean
AS 'MODULE_PATHNAME', 'bulkorder_in_extension_script'
LANGUAGE C VOLATILE;

-- "The pages are …": the hint of an unknown page, as the engine gives it.
CREATE OR REPLACE FUNCTION bulkorder_catalog.page_list_hint()
RETURNS text
AS 'MODULE_PATHNAME', 'bulkorder_page_list_hint'
LANGUAGE C STABLE;

-- The typed wrapper of an operation, as SQL:
--   bulkorder.<wrapper>(<page key>s bigint[], <params in declared order>) RETURNS bigint
-- A parameter with a default gets the same default here.  identity is the
-- argument list as pg_get_function_identity_arguments prints it.
CREATE OR REPLACE FUNCTION bulkorder_catalog.wrapper_sql(p_page text, p_operation text, p_params jsonb,
                                                         p_wrapper text, OUT identity text, OUT ddl text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    keys_arg text := (SELECT pg.key_column || 's' FROM bulkorder_catalog.pages pg WHERE pg.page = p_page);
    args text := '';
    build text := '';
    prm record;
BEGIN
    identity := pg_catalog.format('%I bigint[]', keys_arg);
    -- jsonb keeps no key order, so arguments follow "position" (else name)
    FOR prm IN
        SELECT e.key AS name, e.value AS spec, e.value->>'type' AS sqltype
        FROM pg_catalog.jsonb_each(p_params) e
        ORDER BY (e.value->>'position')::int NULLS LAST, e.key
    LOOP
        identity := identity || pg_catalog.format(', %I %s', prm.name, prm.sqltype);
        args := args || pg_catalog.format(', %I %s', prm.name, prm.sqltype);
        IF prm.spec ? 'default' THEN
            args := args || pg_catalog.format(' DEFAULT %s',
                CASE WHEN prm.sqltype = 'text[]'
                     THEN pg_catalog.format('%L::text[]',
                                            ARRAY(SELECT pg_catalog.jsonb_array_elements_text(prm.spec->'default')))
                     ELSE pg_catalog.format('(%L::jsonb->>0)::%s',
                                            pg_catalog.jsonb_build_array(prm.spec->'default'), prm.sqltype)
                END);
        END IF;
        build := build || pg_catalog.format(', %L, to_jsonb(%I)', prm.name, prm.name);
    END LOOP;
    ddl := pg_catalog.format(
        'CREATE OR REPLACE FUNCTION bulkorder.%I(%I bigint[]%s) RETURNS bigint '
        'LANGUAGE sql VOLATILE SET search_path = pg_catalog, pg_temp '
        'AS $w$ SELECT bulkorder.run_bulk(%L, %L, %I, jsonb_build_object(%s), ''{"source": "api"}'') $w$',
        p_wrapper, keys_arg, args, p_page, p_operation, keys_arg, pg_catalog.ltrim(build, ', '));
END
$fn$;

-- A function of schema bulkorder is the wrapper of page/operation when its
-- body runs that operation (the catalogue row may be gone: every upgrade
-- deletes the shipped rows before declaring them again).
CREATE OR REPLACE FUNCTION bulkorder_catalog.is_wrapper_of(fn regprocedure, p_page text, p_operation text)
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT pg_catalog.starts_with(p.prosrc,
                                  pg_catalog.format(' SELECT bulkorder.run_bulk(%L, %L, ', p_page, p_operation))
    FROM pg_catalog.pg_proc p WHERE p.oid = fn
$fn$;

-- A function that belongs to the extension (created by its script).
CREATE OR REPLACE FUNCTION bulkorder_catalog.is_extension_member(fn regprocedure)
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT EXISTS (SELECT FROM pg_catalog.pg_depend d
                   WHERE d.classid = 'pg_catalog.pg_proc'::regclass AND d.objid = fn
                     AND d.refclassid = 'pg_catalog.pg_extension'::regclass
                     AND d.refobjid = (SELECT e.oid FROM pg_catalog.pg_extension e WHERE e.extname = 'bulkorder')
                     AND d.deptype = 'e')
$fn$;

-- pg_restore of a shop that replaced a shipped operation: CREATE EXTENSION
-- has just declared the shipped one, and the dump's row of the shop's
-- replacement takes its place (its rules and checks go with it).
CREATE OR REPLACE FUNCTION bulkorder_catalog.displace_shipped()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    IF NOT NEW.shipped THEN
        DELETE FROM bulkorder_catalog.operations o
        WHERE o.page = NEW.page AND o.operation = NEW.operation AND o.shipped;
    END IF;
    RETURN NEW;
END
$fn$;

CREATE OR REPLACE TRIGGER displace_shipped
BEFORE INSERT ON bulkorder_catalog.operations
FOR EACH ROW EXECUTE FUNCTION bulkorder_catalog.displace_shipped();

-- A declaration's JSON object (a parameter's spec, revert, target_join, a
-- rule, a check): an object with no key but the allowed ones; what names it
-- in the errors.
CREATE OR REPLACE FUNCTION bulkorder_catalog.check_object(opname text, value jsonb, what text,
                                                          allowed text[], hint text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    bad text;
BEGIN
    IF pg_catalog.jsonb_typeof(value) <> 'object' THEN
        RAISE EXCEPTION '%: % must be a JSON object', opname, what USING ERRCODE = '22023';
    END IF;
    SELECT pg_catalog.string_agg(k, ', ' ORDER BY k) INTO bad
    FROM pg_catalog.jsonb_object_keys(value) k
    WHERE k <> ALL (allowed);
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION '%: unknown key % in %', opname, bad, what USING ERRCODE = '22023', HINT = hint;
    END IF;
END
$fn$;

-- The keys of a declaration's JSON object that hold text: each required
-- one, and each optional one given, a non-empty string.
CREATE OR REPLACE FUNCTION bulkorder_catalog.check_strings(opname text, value jsonb, what text,
                                                           required text[], optional text[], hint text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    bad text;
BEGIN
    SELECT pg_catalog.string_agg(k, ', ' ORDER BY k) INTO bad
    FROM pg_catalog.unnest(required || optional) k
    WHERE (k = ANY (required) OR value ? k)
      AND (pg_catalog.jsonb_typeof(value->k) IS DISTINCT FROM 'string'
           OR pg_catalog.btrim(value->>k) = '');
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION '%: %.% must be a non-empty string', opname, what, bad
            USING ERRCODE = '22023', HINT = hint;
    END IF;
END
$fn$;

-- The eligibility rules of a declaration (define_operation's rules, and its
-- revert's): a JSON array of objects, each with exactly code, condition,
-- message_ja and message_en as non-empty strings, and a code of the form
-- ^[a-z][a-z0-9_]*$ that is not one of the engine's own (reserved).
-- list_name and rule_name name them in the errors ('rules' / 'rule').
CREATE OR REPLACE FUNCTION bulkorder_catalog.check_rules(opname text, rules jsonb, list_name text,
                                                         rule_name text, reserved text[], code_hint text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    elem record;
    bad text;
BEGIN
    IF pg_catalog.jsonb_typeof(rules) <> 'array' THEN
        RAISE EXCEPTION '%: % must be a JSON array of objects', opname, list_name USING ERRCODE = '22023';
    END IF;
    FOR elem IN SELECT r.value AS rule, r.n FROM pg_catalog.jsonb_array_elements(rules) WITH ORDINALITY r(value, n) LOOP
        IF pg_catalog.jsonb_typeof(elem.rule) <> 'object' THEN
            RAISE EXCEPTION '%: % % is not a JSON object', opname, rule_name, elem.n USING ERRCODE = '22023';
        END IF;
        PERFORM bulkorder_catalog.check_object(opname, elem.rule, pg_catalog.format('%s %s', rule_name, elem.n),
            ARRAY['code', 'condition', 'message_ja', 'message_en'], 'A rule has code, condition, message_ja and message_en.');
        SELECT pg_catalog.string_agg(k, ', ' ORDER BY k) INTO bad
        FROM pg_catalog.unnest(ARRAY['code', 'condition', 'message_ja', 'message_en']) k
        WHERE pg_catalog.jsonb_typeof(elem.rule->k) IS DISTINCT FROM 'string' OR pg_catalog.btrim(elem.rule->>k) = '';
        IF bad IS NOT NULL THEN
            RAISE EXCEPTION '%: % % has no %', opname, rule_name, elem.n, bad
                USING ERRCODE = '22023',
                      HINT = 'Every rule needs its error code, its condition and both messages (Japanese and English), as non-empty strings.';
        END IF;
        IF elem.rule->>'code' !~ '^[a-z][a-z0-9_]*$' OR elem.rule->>'code' = ANY (reserved) THEN
            RAISE EXCEPTION '%: % % has error code "%"', opname, rule_name, elem.n, elem.rule->>'code'
                USING ERRCODE = '22023', HINT = code_hint;
        END IF;
    END LOOP;
END
$fn$;

REVOKE ALL ON FUNCTION bulkorder_catalog.compile_operation(text, text),
                       bulkorder_catalog.in_extension_script(),
                       bulkorder_catalog.page_list_hint(),
                       bulkorder_catalog.wrapper_sql(text, text, jsonb, text),
                       bulkorder_catalog.is_wrapper_of(regprocedure, text, text),
                       bulkorder_catalog.is_extension_member(regprocedure),
                       bulkorder_catalog.displace_shipped(),
                       bulkorder_catalog.check_rules(text, jsonb, text, text, text[], text),
                       bulkorder_catalog.check_object(text, jsonb, text, text[], text),
                       bulkorder_catalog.check_strings(text, jsonb, text, text[], text[], text)
    FROM PUBLIC;

-- Declare an operation whole (README, "Adding an operation").
--   rules   [{"code", "condition", "message_ja", "message_en"}, …]: the
--           eligibility rules, in the order they are checked
--   checks  [{"condition", "message", "hint"?, "sqlstate"? (22023)}, …]: the
--           whole-call checks over p, in order
--   revert  {"reversible": bool (true), "reason": text (required when false,
--           and then the only other key), "condition", "rules", "before_sql",
--           "apply_sql", "prelock_sql", "lock_sql", "visible_condition"}:
--           how a revert undoes it (the revert_* columns; catalog.c)
-- Returns the wrapper.
CREATE OR REPLACE FUNCTION bulkorder.define_operation(
    page text,
    operation text,
    name_ja text,
    name_en text,
    wrapper text,
    params jsonb DEFAULT '{}',
    changed_columns text[] DEFAULT '{}',
    set_clause text DEFAULT NULL,
    apply_sql text DEFAULT NULL,
    before_sql text DEFAULT NULL,
    effects text[] DEFAULT '{}',
    prelock_sql text DEFAULT NULL,
    lock_sql text DEFAULT NULL,
    rules jsonb DEFAULT '[]',
    checks jsonb DEFAULT '[]',
    revert jsonb DEFAULT NULL,
    replace_shipped boolean DEFAULT false,
    target_join jsonb DEFAULT NULL)
RETURNS regprocedure
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
#variable_conflict use_column
DECLARE
    v_page text := define_operation.page;
    v_operation text := define_operation.operation;
    v_params jsonb := coalesce(define_operation.params, '{}');
    v_rules jsonb := coalesce(define_operation.rules, '[]');
    v_checks jsonb := coalesce(define_operation.checks, '[]');
    v_wrapper text := define_operation.wrapper;
    opname text := pg_catalog.format('%s/%s', define_operation.page, define_operation.operation);
    shipped_ctx boolean := bulkorder_catalog.in_extension_script();
    keys_arg text;
    existing record;
    old_fn regprocedure;
    fn regprocedure;
    prm record;
    elem record;
    bad text;
    v_reversible boolean := true;
    v_reason text;
    w record;
    acl aclitem[];
BEGIN
    -- what every declaration needs
    IF v_page IS NULL OR v_operation IS NULL OR define_operation.name_ja IS NULL
       OR define_operation.name_en IS NULL OR v_wrapper IS NULL THEN
        RAISE EXCEPTION 'page, operation, name_ja, name_en and wrapper must not be null'
            USING ERRCODE = '22004';
    END IF;
    SELECT pg.key_column || 's' INTO keys_arg FROM bulkorder_catalog.pages pg WHERE pg.page = v_page;
    IF keys_arg IS NULL THEN
        RAISE EXCEPTION 'unknown page "%"', v_page
            USING ERRCODE = '22023', HINT = bulkorder_catalog.page_list_hint();
    END IF;
    IF v_operation !~ '^[a-z][a-z0-9_]*$' OR pg_catalog.length(v_operation) > 63 THEN
        RAISE EXCEPTION 'operation code "%" is not a lowercase snake_case code', v_operation
            USING ERRCODE = '22023', HINT = 'A code matches ^[a-z][a-z0-9_]*$ (at most 63 characters).';
    END IF;
    IF v_operation = 'revert' THEN
        -- a job named revert is an undo (revert_job): the engine reads its
        -- params as the job it reverts, never as this operation's
        RAISE EXCEPTION 'operation code "revert" is reserved'
            USING ERRCODE = '22023',
                  DETAIL = 'A job whose operation is revert is the undo of another job (bulkorder.revert_job).',
                  HINT = 'Choose another code, e.g. revert_to_awaiting.';
    END IF;
    IF pg_catalog.btrim(define_operation.name_ja) = '' OR pg_catalog.btrim(define_operation.name_en) = '' THEN
        RAISE EXCEPTION '%: name_ja and name_en must not be empty', opname USING ERRCODE = '22023';
    END IF;
    IF v_wrapper !~ '^[a-z][a-z0-9_]*$' OR pg_catalog.length(v_wrapper) > 63 THEN
        RAISE EXCEPTION '%: wrapper name "%" is not a lowercase snake_case name', opname, v_wrapper
            USING ERRCODE = '22023', HINT = 'A wrapper name matches ^[a-z][a-z0-9_]*$ (at most 63 characters), e.g. bulk_gift_wrap.';
    END IF;

    -- the parameter schema (extension/src/params.c checks values against it)
    IF pg_catalog.jsonb_typeof(v_params) <> 'object' THEN
        RAISE EXCEPTION '%: params must be a JSON object of parameter specs', opname USING ERRCODE = '22023';
    END IF;
    FOR prm IN SELECT e.key AS name, e.value AS spec FROM pg_catalog.jsonb_each(v_params) e ORDER BY e.key LOOP
        IF prm.name !~ '^[a-z][a-z0-9_]*$' OR prm.name = keys_arg THEN
            RAISE EXCEPTION '%: parameter name "%" is not usable', opname, prm.name
                USING ERRCODE = '22023',
                      HINT = pg_catalog.format('A parameter name matches ^[a-z][a-z0-9_]*$ and is not %s (the wrapper''s keys).', keys_arg);
        END IF;
        PERFORM bulkorder_catalog.check_object(opname, prm.spec, pg_catalog.format('the spec of parameter "%s"', prm.name),
            ARRAY['type', 'default', 'nullable', 'enum', 'max_length', 'min', 'max', 'position'],
            'A parameter spec takes type, default, nullable, enum, max_length, min, max and position.');
        IF prm.spec->>'type' IS NULL
           OR prm.spec->>'type' NOT IN ('boolean', 'text', 'integer', 'bigint', 'date', 'text[]') THEN
            RAISE EXCEPTION '%: parameter "%" has unknown type %', opname, prm.name, coalesce(prm.spec->'type', 'null')
                USING ERRCODE = '22023', HINT = 'The types are boolean, text, integer, bigint, date and text[].';
        END IF;
        IF prm.spec ? 'nullable' AND pg_catalog.jsonb_typeof(prm.spec->'nullable') <> 'boolean'
           OR prm.spec ? 'position' AND pg_catalog.jsonb_typeof(prm.spec->'position') <> 'number'
           OR prm.spec ? 'enum' AND pg_catalog.jsonb_typeof(prm.spec->'enum') <> 'array'
           OR EXISTS (SELECT FROM pg_catalog.jsonb_each(prm.spec) b
                      WHERE b.key IN ('max_length', 'min', 'max') AND pg_catalog.jsonb_typeof(b.value) <> 'number') THEN
            RAISE EXCEPTION '%: the spec of parameter "%" is malformed', opname, prm.name
                USING ERRCODE = '22023',
                      HINT = 'nullable is a boolean, enum an array, position, max_length, min and max numbers.';
        END IF;
        IF prm.spec ? 'default' AND NOT (
               (prm.spec->'default' = 'null' AND coalesce((prm.spec->>'nullable')::boolean, false))
            OR pg_catalog.jsonb_typeof(prm.spec->'default') =
               CASE prm.spec->>'type' WHEN 'boolean' THEN 'boolean' WHEN 'text' THEN 'string'
                                      WHEN 'date' THEN 'string' WHEN 'text[]' THEN 'array' ELSE 'number' END) THEN
            RAISE EXCEPTION '%: the default of parameter "%" is not of type %', opname, prm.name, prm.spec->>'type'
                USING ERRCODE = '22023', HINT = 'A default of null needs "nullable": true.';
        END IF;
    END LOOP;

    -- the change
    IF (define_operation.set_clause IS NULL) = (define_operation.apply_sql IS NULL) THEN
        RAISE EXCEPTION '%: give exactly one of set_clause and apply_sql', opname
            USING ERRCODE = '22023',
                  HINT = 'set_clause updates the page''s row (UPDATE t SET <set_clause>); apply_sql defines applied(target, after) from eligible.';
    END IF;
    IF define_operation.changed_columns IS NULL OR NULL = ANY (define_operation.changed_columns)
       OR define_operation.effects IS NULL OR NULL = ANY (define_operation.effects) THEN
        RAISE EXCEPTION '%: changed_columns and effects must not be or hold null', opname USING ERRCODE = '22004';
    END IF;

    -- the eligibility rules
    PERFORM bulkorder_catalog.check_rules(opname, v_rules, 'rules', 'rule', ARRAY['not_found'],
        'An error code matches ^[a-z][a-z0-9_]*$; not_found is the engine''s own.');
    SELECT r->>'code' INTO bad FROM pg_catalog.jsonb_array_elements(v_rules) r
    GROUP BY r->>'code' HAVING pg_catalog.count(*) > 1 LIMIT 1;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION '%: error code "%" is given to more than one rule', opname, bad USING ERRCODE = '22023';
    END IF;

    -- the row of other data joined to each target (README, "Adding an
    -- operation": target_join); the compilation below checks the SQL
    IF define_operation.target_join IS NOT NULL THEN
        PERFORM bulkorder_catalog.check_object(opname, define_operation.target_join, 'target_join',
            ARRAY['table', 'alias', 'key', 'on'], 'target_join takes table, alias, key and on.');
        PERFORM bulkorder_catalog.check_strings(opname, define_operation.target_join, 'target_join',
            ARRAY['table', 'alias', 'key'], ARRAY['on'], 'table, alias and key are required; on is optional.');
        IF define_operation.target_join->>'alias' !~ '^[a-z_][a-z0-9_]*$'
           OR define_operation.target_join->>'alias' IN ('t', 'i', 'p', 'prm', 'bulkorder_old') THEN
            RAISE EXCEPTION '%: target_join.alias "%" is not usable', opname, define_operation.target_join->>'alias'
                USING ERRCODE = '22023',
                      HINT = 'An alias matches ^[a-z_][a-z0-9_]*$ and is none of the statements'' own names t, i, p, prm and bulkorder_old.';
        END IF;
    END IF;

    -- the whole-call checks
    IF pg_catalog.jsonb_typeof(v_checks) <> 'array' THEN
        RAISE EXCEPTION '%: checks must be a JSON array of objects', opname USING ERRCODE = '22023';
    END IF;
    FOR elem IN SELECT c.value AS chk, c.n FROM pg_catalog.jsonb_array_elements(v_checks) WITH ORDINALITY c(value, n) LOOP
        IF pg_catalog.jsonb_typeof(elem.chk) <> 'object' THEN
            RAISE EXCEPTION '%: check % is not a JSON object', opname, elem.n USING ERRCODE = '22023';
        END IF;
        PERFORM bulkorder_catalog.check_object(opname, elem.chk, pg_catalog.format('check %s', elem.n),
            ARRAY['condition', 'message', 'hint', 'sqlstate'], 'A check has condition, message, and optionally hint and sqlstate.');
        IF pg_catalog.jsonb_typeof(elem.chk->'condition') IS DISTINCT FROM 'string'
           OR pg_catalog.jsonb_typeof(elem.chk->'message') IS DISTINCT FROM 'string'
           OR pg_catalog.btrim(elem.chk->>'condition') = '' OR pg_catalog.btrim(elem.chk->>'message') = ''
           OR elem.chk ? 'hint' AND pg_catalog.jsonb_typeof(elem.chk->'hint') NOT IN ('string', 'null')
           OR elem.chk ? 'sqlstate' AND (elem.chk->>'sqlstate') !~ '^[0-9A-Z]{5}$' THEN
            RAISE EXCEPTION '%: check % needs a condition and a message (strings); hint is a string, sqlstate five characters [0-9A-Z]', opname, elem.n
                USING ERRCODE = '22023';
        END IF;
    END LOOP;

    -- the revert declaration (README, "Adding an operation": revert)
    IF define_operation.revert IS NOT NULL THEN
        PERFORM bulkorder_catalog.check_object(opname, define_operation.revert, 'revert',
            ARRAY['reversible', 'reason', 'condition', 'rules', 'before_sql', 'apply_sql',
                  'prelock_sql', 'lock_sql', 'visible_condition'],
            'revert takes reversible, reason, condition, rules, before_sql, apply_sql, prelock_sql, lock_sql and visible_condition.');
        IF define_operation.revert ? 'reversible' AND pg_catalog.jsonb_typeof(define_operation.revert->'reversible') <> 'boolean' THEN
            RAISE EXCEPTION '%: revert.reversible must be a boolean', opname USING ERRCODE = '22023';
        END IF;
        PERFORM bulkorder_catalog.check_strings(opname, define_operation.revert, 'revert', '{}',
            ARRAY['reason', 'condition', 'before_sql', 'apply_sql', 'prelock_sql', 'lock_sql', 'visible_condition'],
            'Its reason, condition and statements are optional; each one given is a non-empty string.');
        v_reversible := coalesce((define_operation.revert->>'reversible')::boolean, true);
        v_reason := define_operation.revert->>'reason';
        IF NOT v_reversible AND v_reason IS NULL THEN
            RAISE EXCEPTION '%: an irreversible operation needs revert.reason', opname
                USING ERRCODE = '22023', HINT = 'Say why a job of it cannot be undone; revert_job shows the reason.';
        ELSIF v_reversible AND v_reason IS NOT NULL THEN
            RAISE EXCEPTION '%: revert.reason is for an irreversible operation', opname
                USING ERRCODE = '22023', HINT = 'Give "reversible": false with the reason, or no reason.';
        END IF;
        SELECT pg_catalog.string_agg(k, ', ' ORDER BY k) INTO bad
        FROM pg_catalog.jsonb_object_keys(define_operation.revert) k WHERE k NOT IN ('reversible', 'reason');
        IF NOT v_reversible AND bad IS NOT NULL THEN
            RAISE EXCEPTION '%: an irreversible operation declares no revert statements (revert.% given)', opname, bad
                USING ERRCODE = '22023', HINT = 'Give "reversible": false with only its reason.';
        END IF;
        -- the revert's own rules, checked after changed_since (catalog.c)
        IF define_operation.revert ? 'rules' THEN
            PERFORM bulkorder_catalog.check_rules(opname, define_operation.revert->'rules', 'revert.rules',
                'revert rule', ARRAY['not_found', 'side_effect_done', 'changed_since'],
                'An error code matches ^[a-z][a-z0-9_]*$; not_found, side_effect_done and changed_since are the revert''s own.');
            SELECT r.value->>'code' INTO bad
            FROM pg_catalog.jsonb_array_elements(define_operation.revert->'rules') r
            GROUP BY r.value->>'code' HAVING count(*) > 1 LIMIT 1;
            IF bad IS NOT NULL THEN
                RAISE EXCEPTION '%: revert rule code "%" is given twice', opname, bad USING ERRCODE = '22023';
            END IF;
        END IF;
    END IF;

    -- shipped or the shop's
    SELECT o.* INTO existing FROM bulkorder_catalog.operations o
    WHERE o.page = v_page AND o.operation = v_operation;
    IF shipped_ctx AND existing.shipped IS FALSE THEN
        -- an install or upgrade meets the shop's declaration of this code
        -- (its replacement of the shipped one, or its own operation that a
        -- later version ships too): the shop's stays.  A WARNING, as an
        -- extension script shows no NOTICE.
        RAISE WARNING 'bulkorder: keeping the shop''s declaration of operation %', opname
            USING HINT = 'Compare it with the shipped declaration in the release notes; drop or redefine it to take the shipped one.';
        SELECT p.oid::regprocedure INTO fn FROM pg_catalog.pg_proc p
        WHERE p.pronamespace = 'bulkorder'::regnamespace AND p.proname = existing.wrapper;
        RETURN fn;
    END IF;
    IF NOT shipped_ctx AND existing.shipped AND NOT coalesce(define_operation.replace_shipped, false) THEN
        RAISE EXCEPTION 'operation % is shipped with bulkorder', opname
            USING ERRCODE = '42710',
                  HINT = 'Choose another code, or pass replace_shipped => true to replace the shipped declaration (README, "Adding an operation").';
    END IF;
    -- (an install's script may run before the shop's tables exist: pg_restore)
    IF NOT shipped_ctx THEN
        IF EXISTS (SELECT FROM bulkorder.bulk_jobs j
                   WHERE j.page = v_page AND j.operation = v_operation AND j.status IN ('queued', 'running')) THEN
            RAISE EXCEPTION 'operation % has a queued or running job', opname
                USING ERRCODE = '55006', HINT = 'Wait for it, or cancel it with bulkorder.cancel_job(job_id).';
        END IF;
    END IF;

    -- the wrapper's name is free: no other operation's, no other function's
    SELECT o.page || '/' || o.operation INTO bad FROM bulkorder_catalog.operations o
    WHERE o.wrapper = v_wrapper AND (o.page, o.operation) <> (v_page, v_operation);
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION '%: wrapper name "%" is the wrapper of operation %', opname, v_wrapper, bad
            USING ERRCODE = '42723';
    END IF;
    SELECT p.oid::regprocedure INTO fn FROM pg_catalog.pg_proc p
    WHERE p.pronamespace = 'bulkorder'::regnamespace AND p.proname = v_wrapper
      AND NOT bulkorder_catalog.is_wrapper_of(p.oid::regprocedure, v_page, v_operation)
    LIMIT 1;
    IF fn IS NOT NULL THEN
        RAISE EXCEPTION '%: wrapper name "%" is taken by function %', opname, v_wrapper, fn
            USING ERRCODE = '42723', HINT = 'Choose another wrapper name.';
    END IF;

    w := bulkorder_catalog.wrapper_sql(v_page, v_operation, v_params, v_wrapper);
    -- this operation's wrapper as it is: under its recorded name, or (the
    -- row deleted by an upgrade) under the name given
    SELECT p.oid::regprocedure INTO old_fn FROM pg_catalog.pg_proc p
    WHERE p.pronamespace = 'bulkorder'::regnamespace AND p.proname IN (existing.wrapper, v_wrapper)
      AND bulkorder_catalog.is_wrapper_of(p.oid::regprocedure, v_page, v_operation)
    ORDER BY p.proname = existing.wrapper DESC NULLS LAST
    LIMIT 1;
    -- a wrapper the extension's script created (a shipped operation's) is
    -- public API and comes back with every CREATE EXTENSION: a shop's
    -- replacement keeps it as it is
    IF NOT shipped_ctx AND old_fn IS NOT NULL AND existing.wrapper IS NOT NULL
       AND bulkorder_catalog.is_extension_member(old_fn)
       AND w.ddl IS DISTINCT FROM (bulkorder_catalog.wrapper_sql(v_page, v_operation, existing.params, existing.wrapper)).ddl THEN
        RAISE EXCEPTION '%: a replacement of a shipped operation keeps its wrapper %', opname, old_fn
            USING ERRCODE = '0A000',
                  HINT = 'Keep the wrapper name and the parameters'' names, types, order and defaults; rules, checks, the change and its effects may differ.';
    END IF;

    -- write the declaration: nothing of it stays if anything below fails
    IF existing.shipped AND NOT shipped_ctx THEN
        DELETE FROM bulkorder_catalog.operations o WHERE o.page = v_page AND o.operation = v_operation;
    END IF;
    DELETE FROM bulkorder_catalog.operation_rules r WHERE r.page = v_page AND r.operation = v_operation;
    DELETE FROM bulkorder_catalog.operation_param_checks c WHERE c.page = v_page AND c.operation = v_operation;
    INSERT INTO bulkorder_catalog.operations AS o
        (page, operation, name_ja, name_en, params, changed_columns, set_clause, apply_sql, before_sql,
         effects, lock_sql, prelock_sql, wrapper, reversible, irreversible_reason, shipped,
         revert_condition, revert_rules, revert_before_sql, revert_apply_sql, revert_prelock_sql,
         revert_lock_sql, revert_visible_condition, target_join)
    VALUES (v_page, v_operation, define_operation.name_ja, define_operation.name_en, v_params,
            define_operation.changed_columns, define_operation.set_clause, define_operation.apply_sql,
            define_operation.before_sql, define_operation.effects, define_operation.lock_sql,
            define_operation.prelock_sql, v_wrapper, v_reversible, v_reason, shipped_ctx,
            define_operation.revert->>'condition', coalesce(define_operation.revert->'rules', '[]'),
            define_operation.revert->>'before_sql', define_operation.revert->>'apply_sql',
            define_operation.revert->>'prelock_sql', define_operation.revert->>'lock_sql',
            define_operation.revert->>'visible_condition', define_operation.target_join)
    ON CONFLICT ON CONSTRAINT operations_pkey DO UPDATE
        SET name_ja = excluded.name_ja, name_en = excluded.name_en, params = excluded.params,
            changed_columns = excluded.changed_columns, set_clause = excluded.set_clause,
            apply_sql = excluded.apply_sql, before_sql = excluded.before_sql, effects = excluded.effects,
            lock_sql = excluded.lock_sql, prelock_sql = excluded.prelock_sql, wrapper = excluded.wrapper,
            reversible = excluded.reversible, irreversible_reason = excluded.irreversible_reason,
            shipped = excluded.shipped, revert_condition = excluded.revert_condition,
            revert_rules = excluded.revert_rules, revert_before_sql = excluded.revert_before_sql,
            revert_apply_sql = excluded.revert_apply_sql, revert_prelock_sql = excluded.revert_prelock_sql,
            revert_lock_sql = excluded.revert_lock_sql,
            revert_visible_condition = excluded.revert_visible_condition,
            target_join = excluded.target_join;
    INSERT INTO bulkorder_catalog.operation_rules
        (page, operation, position, error_code, condition, message_ja, message_en)
    SELECT v_page, v_operation, r.n, r.value->>'code', r.value->>'condition',
           r.value->>'message_ja', r.value->>'message_en'
    FROM pg_catalog.jsonb_array_elements(v_rules) WITH ORDINALITY r(value, n);
    INSERT INTO bulkorder_catalog.operation_param_checks
        (page, operation, position, condition, sqlstate, message, hint)
    SELECT v_page, v_operation, c.n, c.value->>'condition', coalesce(c.value->>'sqlstate', '22023'),
           c.value->>'message', c.value->>'hint'
    FROM pg_catalog.jsonb_array_elements(v_checks) WITH ORDINALITY c(value, n);

    -- the statements the engine will build, compiled now; skipped, as
    -- CREATE FUNCTION skips its body, when check_function_bodies is off
    -- (pg_restore re-creates the extension before the shop's tables)
    IF pg_catalog.current_setting('check_function_bodies')::boolean THEN
        PERFORM bulkorder_catalog.compile_operation(v_page, v_operation);
    END IF;

    -- the wrapper: replaced in place when its arguments stay (grants kept),
    -- else re-created with the grants the old one had
    IF old_fn IS NOT NULL AND ((SELECT p.proname::text FROM pg_catalog.pg_proc p WHERE p.oid = old_fn) <> v_wrapper
                               OR pg_catalog.pg_get_function_identity_arguments(old_fn) <> w.identity) THEN
        SELECT p.proacl INTO acl FROM pg_catalog.pg_proc p WHERE p.oid = old_fn;
        EXECUTE pg_catalog.format('DROP FUNCTION %s', old_fn);
        old_fn := NULL;
    ELSIF old_fn IS NOT NULL THEN
        SELECT p.proacl INTO acl FROM pg_catalog.pg_proc p WHERE p.oid = old_fn;
    END IF;
    BEGIN
        EXECUTE w.ddl;
    EXCEPTION WHEN invalid_function_definition THEN
        -- same arguments, a default removed: CREATE OR REPLACE cannot
        EXECUTE pg_catalog.format('DROP FUNCTION %s', old_fn);
        EXECUTE w.ddl;
    END;
    SELECT p.oid::regprocedure INTO fn FROM pg_catalog.pg_proc p
    WHERE p.pronamespace = 'bulkorder'::regnamespace AND p.proname = v_wrapper;
    EXECUTE pg_catalog.format('COMMENT ON FUNCTION %s IS %L', fn,
        pg_catalog.format('%s > %s (%s)', (SELECT pg.name_ja FROM bulkorder_catalog.pages pg WHERE pg.page = v_page),
                          define_operation.name_ja, opname));
    -- nothing for PUBLIC; the roles that had the old wrapper, and every
    -- operator (a role that may run run_bulk, which runs any operation
    -- already), may run the new one
    EXECUTE pg_catalog.format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', fn);
    FOR prm IN
        SELECT a.grantee::regrole AS grantee
        FROM (SELECT x.grantee, x.privilege_type FROM pg_catalog.aclexplode(acl) x
              UNION
              SELECT x.grantee, x.privilege_type
              FROM pg_catalog.aclexplode((SELECT p.proacl FROM pg_catalog.pg_proc p
                                          WHERE p.oid = 'bulkorder.run_bulk(text, text, bigint[], jsonb, jsonb)'::regprocedure)) x) a
        WHERE a.privilege_type = 'EXECUTE' AND a.grantee <> 0
          AND a.grantee <> (SELECT p.proowner FROM pg_catalog.pg_proc p WHERE p.oid = fn)
        ORDER BY a.grantee
    LOOP
        EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION %s TO %s', fn, prm.grantee);
    END LOOP;
    RETURN fn;
END
$fn$;

COMMENT ON FUNCTION bulkorder.define_operation(text, text, text, text, text, jsonb, text[], text, text, text,
                                               text[], text, text, jsonb, jsonb, jsonb, boolean, jsonb) IS
'Declare a bulk operation whole and create its typed wrapper (README, "Adding an operation")';

-- Remove a shop's own operation and its wrapper.  Shipped operations (and
-- a shop's replacement of one, whose wrapper is shipped) are refused.
CREATE OR REPLACE FUNCTION bulkorder.drop_operation(page text, operation text)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
#variable_conflict use_column
DECLARE
    v_page text := drop_operation.page;
    v_operation text := drop_operation.operation;
    opname text := pg_catalog.format('%s/%s', drop_operation.page, drop_operation.operation);
    existing record;
    fn regprocedure;
BEGIN
    IF v_page IS NULL OR v_operation IS NULL THEN
        RAISE EXCEPTION 'page and operation must not be null' USING ERRCODE = '22004';
    END IF;
    SELECT o.* INTO existing FROM bulkorder_catalog.operations o
    WHERE o.page = v_page AND o.operation = v_operation
    FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown operation "%" for page "%"', v_operation, v_page USING ERRCODE = '22023';
    END IF;
    SELECT p.oid::regprocedure INTO fn FROM pg_catalog.pg_proc p
    WHERE p.pronamespace = 'bulkorder'::regnamespace AND p.proname = existing.wrapper
      AND bulkorder_catalog.is_wrapper_of(p.oid::regprocedure, v_page, v_operation);
    IF existing.shipped THEN
        RAISE EXCEPTION 'operation % is shipped with bulkorder and cannot be dropped', opname
            USING ERRCODE = '42501';
    END IF;
    IF fn IS NOT NULL AND bulkorder_catalog.is_extension_member(fn) THEN
        RAISE EXCEPTION 'operation % replaces a shipped operation and cannot be dropped', opname
            USING ERRCODE = '42501',
                  HINT = 'Its wrapper is shipped: redefine it with define_operation(..., replace_shipped => true) instead.';
    END IF;
    IF EXISTS (SELECT FROM bulkorder.bulk_jobs j
               WHERE j.page = v_page AND j.operation = v_operation AND j.status IN ('queued', 'running')) THEN
        RAISE EXCEPTION 'operation % has a queued or running job', opname
            USING ERRCODE = '55006', HINT = 'Wait for it, or cancel it with bulkorder.cancel_job(job_id).';
    END IF;
    DELETE FROM bulkorder_catalog.operations o WHERE o.page = v_page AND o.operation = v_operation;
    IF fn IS NOT NULL THEN
        EXECUTE pg_catalog.format('DROP FUNCTION %s', fn);
    END IF;
END
$fn$;

COMMENT ON FUNCTION bulkorder.drop_operation(text, text) IS
'Remove a shop''s own operation and its typed wrapper';

-- ==== extension/sql/code/50_api.sql
-- The SQL API of the engine (SPEC §4).  SECURITY DEFINER with a pinned
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

-- Retrying the failures and undoing a job (SPEC §7; extension/src/revert.c).
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

-- ==== extension/sql/code/55_payments.sql
-- The payment connector's way back in (SPEC §2, outboxes).
--
-- A connector process takes pending rows of bulkorder.payment_requests with
-- FOR UPDATE SKIP LOCKED (so several connectors never take the same one),
-- asks the provider, and reports the answer here in the same transaction.
-- Taking a row lock needs an UPDATE privilege on some column: a connector
-- role is granted UPDATE (attempts, last_attempt_at) only, which it uses to
-- record a try that got no answer, so the status itself moves only through
-- complete_payment_request.

-- complete_payment_request(request_id, ok, result_code, message) RETURNS boolean
--   Settles a pending request with the provider's answer and moves its order on:
--     reauthorize  order.auth_status → ok / ng, order.auth_message → message
--     ship_report  ok: order.ship_report_status → ok and a shipping order → shipped
--                  ng: order.ship_report_status → ng (the order stays shipping,
--                      so 一括再出荷報告 can try again)
--     void         the request only
--   Returns true when this call settled the request, false when the request
--   was already settled with exactly this answer (a connector retrying after
--   a lost COMMIT acknowledgement): the call is idempotent.
--   Errors: NULL request_id or ok (22004); unknown request_id (P0002); a
--   different answer for a request already settled (55000).
CREATE OR REPLACE FUNCTION bulkorder.complete_payment_request(request_id bigint, ok boolean,
                                                   result_code text, message text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    req bulkorder.payment_requests;
    new_status text;
BEGIN
    IF complete_payment_request.request_id IS NULL OR complete_payment_request.ok IS NULL THEN
        RAISE EXCEPTION 'request_id and ok must not be NULL'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    new_status := CASE WHEN complete_payment_request.ok THEN 'ok' ELSE 'ng' END;

    -- the request first, then its order: the same order every caller takes
    SELECT r.* INTO req
    FROM bulkorder.payment_requests r
    WHERE r.request_id = complete_payment_request.request_id
    FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'payment request % does not exist', complete_payment_request.request_id
            USING ERRCODE = 'no_data_found';
    END IF;

    IF req.status <> 'pending' THEN
        IF req.status = new_status
           AND req.result_code IS NOT DISTINCT FROM complete_payment_request.result_code
           AND req.message IS NOT DISTINCT FROM complete_payment_request.message THEN
            RETURN false;       -- the same report again: nothing to do
        END IF;
        RAISE EXCEPTION 'payment request % is already settled', req.request_id
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = format('It was settled as %s (result code %s) at %s; this report says %s (result code %s).',
                                  req.status, coalesce(req.result_code, 'none'), req.completed_at,
                                  new_status, coalesce(complete_payment_request.result_code, 'none')),
                  HINT = 'A request is settled once; queue a new request (一括再与信 / 一括再出荷報告) to try again.';
    END IF;

    UPDATE bulkorder.payment_requests r
    SET status = new_status,
        result_code = complete_payment_request.result_code,
        message = complete_payment_request.message,
        completed_at = now()
    WHERE r.request_id = req.request_id;

    IF req.kind = 'reauthorize' THEN
        UPDATE bulkorder.orders o
        SET auth_status = new_status,
            auth_message = complete_payment_request.message
        WHERE o.order_no = req.order_no;
    ELSIF req.kind = 'ship_report' THEN
        UPDATE bulkorder.orders o
        SET ship_report_status = new_status,
            status = CASE WHEN complete_payment_request.ok AND o.status = 'shipping'
                          THEN 'shipped' ELSE o.status END
        WHERE o.order_no = req.order_no;
    END IF;
    RETURN true;
END
$fn$;

COMMENT ON FUNCTION bulkorder.complete_payment_request(bigint, boolean, text, text) IS
'A payment connector reports the provider''s answer to a request: true when settled now, false for a repeated identical report';

-- The connectors' roles, granted like grant_operator / grant_reader (run as
-- the extension's owner): exactly what the README's connector loops need.
-- A payment connector reads the requests, locks them (FOR UPDATE needs an
-- UPDATE privilege: it gets attempts and last_attempt_at only, to record a
-- try without an answer) and reports through complete_payment_request.  A
-- mail connector reads the outbox and sets sent_at.  Neither reads the
-- shop's tables nor runs jobs.
CREATE OR REPLACE FUNCTION bulkorder.grant_payment_connector(role_name name)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    -- a role of pg_roles: '' would be broken SQL, and GRANT … TO "public"
    -- would grant to PUBLIC
    IF role_name IS NULL THEN
        RAISE EXCEPTION 'role_name must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    ELSIF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = role_name) THEN
        RAISE EXCEPTION 'role "%" does not exist', role_name USING ERRCODE = 'undefined_object';
    END IF;
    EXECUTE format('GRANT USAGE ON SCHEMA bulkorder TO %I', role_name);
    EXECUTE format('GRANT SELECT, UPDATE (attempts, last_attempt_at) ON bulkorder.payment_requests TO %I',
                   role_name);
    EXECUTE format('GRANT EXECUTE ON FUNCTION bulkorder.complete_payment_request(bigint, boolean, text, text) TO %I',
                   role_name);
END
$fn$;

CREATE OR REPLACE FUNCTION bulkorder.grant_mail_connector(role_name name)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    -- a role of pg_roles: '' would be broken SQL, and GRANT … TO "public"
    -- would grant to PUBLIC
    IF role_name IS NULL THEN
        RAISE EXCEPTION 'role_name must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    ELSIF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = role_name) THEN
        RAISE EXCEPTION 'role "%" does not exist', role_name USING ERRCODE = 'undefined_object';
    END IF;
    EXECUTE format('GRANT USAGE ON SCHEMA bulkorder TO %I', role_name);
    EXECUTE format('GRANT SELECT, UPDATE (sent_at) ON bulkorder.mail_outbox TO %I', role_name);
END
$fn$;

-- ==== extension/sql/code/operations/00_common.sql
-- The shipped operations: one bulkorder.define_operation call each, in the
-- file of its page.  This file holds what several calls share.

-- Every install and every upgrade declares the shipped operations anew
-- (their rules and checks go with them, ON DELETE CASCADE).  A shop's own
-- operations (shipped = false) are never touched: define_operation keeps a
-- shop's declaration of a shipped code (README, "Adding an operation").
DELETE FROM bulkorder_catalog.operations WHERE shipped;

-- The free-text fields (お客様からの通信欄 / お客様への返信 / 備考欄 /
-- 連携用補足テキスト) of the orders, subscriptions and customers pages:
-- append on a new line or overwrite, 4000 characters at most, the same on
-- every page that has them.
CREATE OR REPLACE FUNCTION bulkorder_catalog.text_field_params()
RETURNS jsonb
LANGUAGE sql IMMUTABLE
AS $fn$
    SELECT '{"text": {"type": "text", "max_length": 4000, "position": 1},
             "mode": {"type": "text", "enum": ["append", "overwrite"], "position": 2}}'::jsonb
$fn$;

CREATE OR REPLACE FUNCTION bulkorder_catalog.text_field_set(field text)
RETURNS text
LANGUAGE sql IMMUTABLE
AS $fn$
    SELECT pg_catalog.format('%1$I = bulkorder.edit_text(t.%1$I, p->>''text'', p->>''mode'')', field)
$fn$;

CREATE OR REPLACE FUNCTION bulkorder_catalog.text_field_rules(field text)
RETURNS jsonb
LANGUAGE sql IMMUTABLE
AS $fn$
    SELECT pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
        'code', 'text_too_long',
        'condition', pg_catalog.format('length(bulkorder.edit_text(t.%1$I, p->>''text'', p->>''mode'')) <= 4000', field),
        'message_ja', '追記すると4000文字を超えるため更新できません',
        'message_en', 'the text would exceed 4000 characters'))
$fn$;

-- キャンセル/返品/削除 may also cancel the payment (the seed's step ③,
-- "also cancel the payment"): a void request for every changed order whose
-- method has a gateway.
CREATE OR REPLACE FUNCTION bulkorder_catalog.void_payment_effect()
RETURNS text
LANGUAGE sql IMMUTABLE
AS $fn$
    SELECT $$INSERT INTO bulkorder.payment_requests (order_no, payment_method, kind, job_id)
        SELECT a.target, o.payment_method, 'void', $3
        FROM applied a
        JOIN bulkorder.orders o ON o.order_no = a.target
        JOIN bulkorder.payment_methods pm ON pm.code = o.payment_method AND pm.has_gateway
        WHERE (SELECT (p->>'void_payment')::boolean FROM prm)$$
$fn$;

-- The first rule of every subscriptions-page operation but the free-text
-- ones: an ended master's course is never changed (dates, method,
-- frequency, products, status, generation error).  Its free-text fields
-- stay open ("any" in the README's table): operators note on an ended
-- course why it ended.
CREATE OR REPLACE FUNCTION bulkorder_catalog.subscription_ended_rule()
RETURNS jsonb
LANGUAGE sql IMMUTABLE
AS $fn$
    SELECT pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
        'code', 'subscription_ended',
        'condition', $$t.status <> 'ended'$$,
        'message_ja', '終了した定期注文マスターは変更できません',
        'message_en', 'an ended subscription master cannot be changed'))
$fn$;

REVOKE ALL ON FUNCTION bulkorder_catalog.text_field_params(), bulkorder_catalog.text_field_set(text),
                       bulkorder_catalog.text_field_rules(text), bulkorder_catalog.void_payment_effect(),
                       bulkorder_catalog.subscription_ended_rule()
    FROM PUBLIC;

-- ==== extension/sql/code/operations/10_orders.sql
-- Orders page (受注管理 > 注文一覧): README, "Orders".  One
-- define_operation call per operation.  Which payment methods can be
-- re-authorized, need a shipment report, or (NP後払い) are re-authorized
-- only for one exact refusal message is data: the columns reauthorizable,
-- needs_ship_report and reauth_message of payment_methods.

-- キャンセル: awaiting orders only; with void_payment, a void request
SELECT bulkorder.define_operation('orders', 'cancel',
    name_ja => 'キャンセル', name_en => 'cancel',
    wrapper => 'bulk_cancel',
    params => '{"void_payment": {"type": "boolean"}}',
    changed_columns => '{status}',
    set_clause => $$status = 'cancelled'$$,
    effects => ARRAY[bulkorder_catalog.void_payment_effect()],
    rules => jsonb_build_array(
        jsonb_build_object('code', 'not_awaiting_shipment', 'condition', $$t.status = 'awaiting_shipment'$$,
            'message_ja', '出荷待ちの注文ではないためキャンセルできません',
            'message_en', 'only orders awaiting shipment can be cancelled')));

-- 返品: shipped orders only; payment as for cancel
SELECT bulkorder.define_operation('orders', 'return',
    name_ja => '返品', name_en => 'return',
    wrapper => 'bulk_return',
    params => '{"void_payment": {"type": "boolean"}}',
    changed_columns => '{status}',
    set_clause => $$status = 'returned'$$,
    effects => ARRAY[bulkorder_catalog.void_payment_effect()],
    rules => jsonb_build_array(
        jsonb_build_object('code', 'not_shipped', 'condition', $$t.status = 'shipped'$$,
            'message_ja', '出荷済みの注文ではないため返品できません',
            'message_en', 'only shipped orders can be returned')));

-- 削除: deleted_at set (a deleted order is on no list); payment as for cancel
SELECT bulkorder.define_operation('orders', 'delete',
    name_ja => '削除', name_en => 'delete',
    wrapper => 'bulk_delete',
    params => '{"void_payment": {"type": "boolean"}}',
    changed_columns => '{deleted_at}',
    set_clause => $$deleted_at = now()$$,
    effects => ARRAY[bulkorder_catalog.void_payment_effect()],
    rules => jsonb_build_array(
        jsonb_build_object('code', 'order_shipping', 'condition', $$t.status <> 'shipping'$$,
            'message_ja', '出荷作業中の注文は削除できません',
            'message_en', 'an order being shipped cannot be deleted')),
    -- 削除: the revert sees the orders the job deleted.  An order whose
    -- course_seq a later generated order of its subscription took again
    -- (SPEC §3 delete) cannot come back: two orders would share one place.
    revert => jsonb_build_object(
        'visible_condition', 'true',
        'rules', jsonb_build_array(jsonb_build_object(
        'code', 'course_seq_reused',
        'condition', $$s.before->>'deleted_at' IS NOT NULL
            OR t.course_order_no IS NULL OR t.course_seq IS NULL
            OR NOT EXISTS (SELECT 1 FROM bulkorder.orders o
                           WHERE o.course_order_no = t.course_order_no AND o.course_seq = t.course_seq
                             AND o.order_no <> t.order_no AND o.deleted_at IS NULL)$$,
        'message_ja', '削除後に同じ回数の定期注文が生成されているため元に戻せません',
        'message_en', 'a later generated order of the subscription took this order''s place (course_seq)'))));

-- 出荷停止: hold an awaiting or shipping order; release any
SELECT bulkorder.define_operation('orders', 'shipping_hold',
    name_ja => '出荷停止', name_en => 'shipping hold',
    wrapper => 'bulk_shipping_hold',
    params => '{"hold": {"type": "boolean"}}',
    changed_columns => '{shipping_hold}',
    set_clause => $$shipping_hold = (p->>'hold')::boolean$$,
    rules => jsonb_build_array(
        jsonb_build_object('code', 'not_holdable',
            'condition', $$NOT (p->>'hold')::boolean OR t.status IN ('awaiting_shipment', 'shipping')$$,
            'message_ja', '出荷待ち・出荷作業中の注文のみ出荷停止にできます',
            'message_en', 'only orders awaiting shipment or being shipped can be held')));

-- タグ設定: tags added and removed, no duplicates (the customers page
-- declares the same operation)
SELECT bulkorder.define_operation('orders', 'tags',
    name_ja => 'タグ設定', name_en => 'tags',
    wrapper => 'bulk_tags',
    params => '{"add": {"type": "text[]", "default": [], "max_length": 50, "position": 1},
                "remove": {"type": "text[]", "default": [], "max_length": 50, "position": 2}}',
    changed_columns => '{tags}',
    set_clause => $$tags = bulkorder.merge_tags(t.tags,
                                   ARRAY(SELECT jsonb_array_elements_text(p->'add')),
                                   ARRAY(SELECT jsonb_array_elements_text(p->'remove')))$$,
    checks => jsonb_build_array(
        jsonb_build_object('condition', $$jsonb_array_length(p->'add') + jsonb_array_length(p->'remove') > 0$$,
            'message', 'params.add and params.remove are both empty',
            'hint', 'Name at least one tag to add or remove.'),
        jsonb_build_object('condition', $$NOT EXISTS (SELECT 1 FROM jsonb_array_elements_text(p->'add') a(tag)
                   WHERE a.tag = '' OR p->'remove' ? a.tag)$$,
            'message', 'a tag is empty or both added and removed',
            'hint', 'Each tag must be non-empty and named in add or remove, not both.')));

-- The free-text fields (00_common.sql)
SELECT bulkorder.define_operation('orders', 'customer_message',
    name_ja => 'お客様からの通信欄', name_en => 'message from the customer',
    wrapper => 'bulk_customer_message',
    params => bulkorder_catalog.text_field_params(),
    changed_columns => '{customer_message}',
    set_clause => bulkorder_catalog.text_field_set('customer_message'),
    rules => bulkorder_catalog.text_field_rules('customer_message'));

SELECT bulkorder.define_operation('orders', 'reply_message',
    name_ja => 'お客様への返信', name_en => 'reply to the customer',
    wrapper => 'bulk_reply_message',
    params => bulkorder_catalog.text_field_params(),
    changed_columns => '{reply_message}',
    set_clause => bulkorder_catalog.text_field_set('reply_message'),
    rules => bulkorder_catalog.text_field_rules('reply_message'));

SELECT bulkorder.define_operation('orders', 'remarks',
    name_ja => '備考欄', name_en => 'remarks',
    wrapper => 'bulk_remarks',
    params => bulkorder_catalog.text_field_params(),
    changed_columns => '{remarks}',
    set_clause => bulkorder_catalog.text_field_set('remarks'),
    rules => bulkorder_catalog.text_field_rules('remarks'));

SELECT bulkorder.define_operation('orders', 'integration_text',
    name_ja => '連携用補足テキスト', name_en => 'integration text',
    wrapper => 'bulk_integration_text',
    params => bulkorder_catalog.text_field_params(),
    changed_columns => '{integration_text}',
    set_clause => bulkorder_catalog.text_field_set('integration_text'),
    rules => bulkorder_catalog.text_field_rules('integration_text'));

-- 配送方法: method and time slot of an awaiting order (NULL slot = 指定なし);
-- the subscription master is not touched.  The shipments page declares the
-- same operation.
SELECT bulkorder.define_operation('orders', 'delivery_method',
    name_ja => '配送方法', name_en => 'delivery method',
    wrapper => 'bulk_delivery_method',
    params => '{"delivery_method": {"type": "text", "position": 1},
                "time_slot": {"type": "text", "nullable": true, "position": 2}}',
    changed_columns => '{delivery_method,delivery_time_slot}',
    set_clause => $$delivery_method = p->>'delivery_method', delivery_time_slot = p->>'time_slot'$$,
    rules => jsonb_build_array(
        jsonb_build_object('code', 'not_awaiting_shipment', 'condition', $$t.status = 'awaiting_shipment'$$,
            'message_ja', '出荷待ちの注文ではないため配送方法を変更できません',
            'message_en', 'only orders awaiting shipment can have their delivery method changed')),
    checks => jsonb_build_array(
        jsonb_build_object('condition', $$EXISTS (SELECT 1 FROM bulkorder.delivery_methods m WHERE m.code = p->>'delivery_method')$$,
            'message', 'unknown delivery method',
            'hint', 'The delivery methods are the codes of bulkorder.delivery_methods.'),
        jsonb_build_object('condition', $$p->>'time_slot' IS NULL
              OR EXISTS (SELECT 1 FROM bulkorder.delivery_time_slots s
                         WHERE s.delivery_method = p->>'delivery_method' AND s.code = p->>'time_slot')$$,
            'message', 'the time slot does not belong to the delivery method',
            'hint', 'Pick a slot of bulkorder.delivery_time_slots for that method, or null (指定なし).')));

-- 一括再与信: auth_status → pending, and a reauthorize request
SELECT bulkorder.define_operation('orders', 'reauthorize',
    name_ja => '一括再与信', name_en => 're-authorize payment',
    wrapper => 'bulk_reauthorize',
    changed_columns => '{auth_status}',
    set_clause => $$auth_status = 'pending'$$,
    effects => ARRAY[$$INSERT INTO bulkorder.payment_requests (order_no, payment_method, kind, job_id)
        SELECT a.target, o.payment_method, 'reauthorize', $3
        FROM applied a
        JOIN bulkorder.orders o ON o.order_no = a.target$$],
    rules => jsonb_build_array(
        jsonb_build_object('code', 'auth_not_ng', 'condition', $$t.auth_status = 'ng'$$,
            'message_ja', '与信NGの注文ではないため再与信できません',
            'message_en', 'only orders whose authorization failed (ng) can be re-authorized'),
        jsonb_build_object('code', 'not_reauthorizable',
            'condition', $$EXISTS (SELECT 1 FROM bulkorder.payment_methods pm
               WHERE pm.code = t.payment_method AND pm.reauthorizable)$$,
            'message_ja', '再与信できない決済方法です(再与信できるのはNP後払い・NP後払い(リアルタイム)・GMO-PS後払い・DSK後払い・スコア後払い・サブスク後払いECO)',
            'message_en', 'the payment method cannot be re-authorized'),
        jsonb_build_object('code', 'auth_message_not_retryable',
            'condition', $$(SELECT pm.reauth_message IS NULL OR pm.reauth_message = t.auth_message
        FROM bulkorder.payment_methods pm WHERE pm.code = t.payment_method)$$,
            'message_ja', 'この与信NGは再与信の対象外です(NP後払いは「NPの与信がNGになりました。NG999。」の注文のみ再与信できます)',
            'message_en', 'this refusal cannot be retried (NP後払い: only orders whose message is exactly "NPの与信がNGになりました。NG999。")')));

-- 決済方法: to 代引き only (the enum rejects anything else for the whole
-- call); the 代引き自動変更 mail, rendered from its template (the changed
-- order: payment method cod), when that template is enabled
SELECT bulkorder.define_operation('orders', 'payment_method',
    name_ja => '決済方法', name_en => 'payment method',
    wrapper => 'bulk_payment_method',
    params => '{"payment_method": {"type": "text", "enum": ["cod"], "position": 1}}',
    changed_columns => '{payment_method,auth_status}',
    set_clause => $$payment_method = p->>'payment_method', auth_status = 'not_required'$$,
    effects => ARRAY[$$INSERT INTO bulkorder.mail_outbox
            (template_code, order_no, customer_id, to_address, subject, body, job_id)
        SELECT mt.code, o.order_no, c.customer_id, c.email,
               bulkorder.render_mail(mt.subject, o.order_no, c.name, o.tracking_no, pm.name, o.course_order_no), bulkorder.render_mail(mt.body, o.order_no, c.name, o.tracking_no, pm.name, o.course_order_no), $3
        FROM applied a
        CROSS JOIN LATERAL jsonb_populate_record((SELECT x FROM bulkorder.orders x
                                                  WHERE x.order_no = a.target), a.after) AS o
        JOIN bulkorder.customers c ON c.customer_id = o.customer_id
        JOIN bulkorder.payment_methods pm ON pm.code = o.payment_method
        JOIN bulkorder.mail_templates mt ON mt.code = 'cod_auto_change' AND mt.enabled$$],
    rules => jsonb_build_array(
        jsonb_build_object('code', 'not_awaiting_shipment', 'condition', $$t.status = 'awaiting_shipment'$$,
            'message_ja', '出荷待ちの注文ではないため決済方法を変更できません',
            'message_en', 'only orders awaiting shipment can change their payment method'),
        jsonb_build_object('code', 'auth_not_ng', 'condition', $$t.auth_status = 'ng'$$,
            'message_ja', '与信NGの注文ではないため代引きに変更できません',
            'message_en', 'only orders whose authorization failed (ng) can be changed to cash on delivery')));

-- 一括再出荷報告: ship_report_status → pending, and a ship_report request
SELECT bulkorder.define_operation('orders', 'reship_report',
    name_ja => '一括再出荷報告', name_en => 'report shipment again',
    wrapper => 'bulk_reship_report',
    changed_columns => '{ship_report_status}',
    set_clause => $$ship_report_status = 'pending'$$,
    effects => ARRAY[$$INSERT INTO bulkorder.payment_requests (order_no, payment_method, kind, job_id)
        SELECT a.target, o.payment_method, 'ship_report', $3
        FROM applied a
        JOIN bulkorder.orders o ON o.order_no = a.target$$],
    rules => jsonb_build_array(
        jsonb_build_object('code', 'not_shipping', 'condition', $$t.status = 'shipping'$$,
            'message_ja', '出荷作業中の注文ではないため再出荷報告できません',
            'message_en', 'only orders being shipped can report their shipment again'),
        jsonb_build_object('code', 'ship_report_not_ng', 'condition', $$t.ship_report_status = 'ng'$$,
            'message_ja', '出荷報告NGの注文ではないため再出荷報告できません',
            'message_en', 'only orders whose shipment report failed (ng) can report again'),
        jsonb_build_object('code', 'ship_report_not_supported',
            'condition', $$EXISTS (SELECT 1 FROM bulkorder.payment_methods pm
               WHERE pm.code = t.payment_method AND pm.needs_ship_report)$$,
            'message_ja', '出荷報告が必要な決済方法ではありません(対象はNP後払い・NP後払い(リアルタイム)・DSK後払い・サブスク後払いECO)',
            'message_en', 'the payment method takes no shipment report')));

-- 出荷完了メールステータス変更: a sent flag means the shipment import sends no mail
SELECT bulkorder.define_operation('orders', 'ship_mail_status',
    name_ja => '出荷完了メールステータス変更', name_en => 'shipment mail status',
    wrapper => 'bulk_ship_mail_status',
    params => '{"sent": {"type": "boolean", "position": 1}}',
    changed_columns => '{ship_mail_sent}',
    set_clause => $$ship_mail_sent = (p->>'sent')::boolean$$,
    rules => jsonb_build_array(
        jsonb_build_object('code', 'not_before_shipping',
            'condition', $$t.status IN ('awaiting_shipment', 'shipping')$$,
            'message_ja', '出荷前(出荷待ち・出荷作業中)の注文ではないため変更できません',
            'message_en', 'only orders not yet shipped (awaiting shipment or being shipped) can change it')));

-- 商品を一括追加/削除 record the same before image: the order's line of the
-- product (null fields where there is none).
CREATE OR REPLACE FUNCTION bulkorder_catalog.order_line_before()
RETURNS text
LANGUAGE sql IMMUTABLE
AS $fn$
    SELECT $$(SELECT jsonb_build_object('product_id', (p->>'product_id')::bigint,
                                              'quantity', i.quantity, 'unit_price', i.unit_price)
                    FROM (SELECT) AS one
                    LEFT JOIN bulkorder.order_items i
                           ON i.order_no = t.order_no AND i.product_id = (p->>'product_id')::bigint)$$
$fn$;
REVOKE ALL ON FUNCTION bulkorder_catalog.order_line_before() FROM PUBLIC;

-- How a revert undoes 商品を一括追加 / 商品を一括削除: the order's line of the
-- product, as the image records it (quantity null: no line).
CREATE OR REPLACE FUNCTION bulkorder_catalog.order_line_revert()
RETURNS jsonb
LANGUAGE sql IMMUTABLE
AS $fn$
    SELECT jsonb_build_object(
        'condition', $r$(SELECT i.quantity IS NOT DISTINCT FROM (s.after->>'quantity')::integer
                                 AND i.unit_price IS NOT DISTINCT FROM (s.after->>'unit_price')::integer
                          FROM (SELECT) AS one
                          LEFT JOIN bulkorder.order_items i
                                 ON i.order_no = t.order_no AND i.product_id = (s.after->>'product_id')::bigint)$r$,
        'before_sql', $r$(SELECT jsonb_build_object('product_id', (s.after->>'product_id')::bigint,
                                                     'quantity', i.quantity, 'unit_price', i.unit_price)
                           FROM (SELECT) AS one
                           LEFT JOIN bulkorder.order_items i
                                  ON i.order_no = t.order_no AND i.product_id = (s.after->>'product_id')::bigint)$r$,
        'apply_sql', $r$line_removed AS (
        DELETE FROM bulkorder.order_items i
         USING eligible s
         WHERE s.before->>'quantity' IS NULL
           AND i.order_no = s.target AND i.product_id = (s.before->>'product_id')::bigint
     RETURNING i.order_no AS target, i.product_id),
       line_added AS (
        INSERT INTO bulkorder.order_items (order_no, product_id, quantity, unit_price)
        SELECT s.target, (s.before->>'product_id')::bigint, (s.before->>'quantity')::integer,
               (s.before->>'unit_price')::integer
          FROM eligible s
         WHERE s.before->>'quantity' IS NOT NULL
     RETURNING order_no AS target, product_id, quantity, unit_price),
       applied AS (
        SELECT target, jsonb_build_object('product_id', product_id, 'quantity', NULL, 'unit_price', NULL) AS after
          FROM line_removed
        UNION ALL
        SELECT target, jsonb_build_object('product_id', product_id, 'quantity', quantity, 'unit_price', unit_price)
          FROM line_added)$r$)
$fn$;
REVOKE ALL ON FUNCTION bulkorder_catalog.order_line_revert() FROM PUBLIC;

-- 商品を一括追加: a price-0 line; before/after are the line's columns
SELECT bulkorder.define_operation('orders', 'add_products',
    name_ja => '商品を一括追加', name_en => 'add products',
    wrapper => 'bulk_add_products',
    params => '{"product_id": {"type": "bigint", "position": 1},
                "quantity": {"type": "integer", "default": 1, "min": 1, "max": 9999, "position": 2}}',
    changed_columns => '{product_id,quantity,unit_price}',
    apply_sql => $$applied AS (
        INSERT INTO bulkorder.order_items (order_no, product_id, quantity, unit_price)
        SELECT e.target, pr.product_id, (prm.p->>'quantity')::integer, pr.price
        FROM eligible e CROSS JOIN prm
        JOIN bulkorder.products pr ON pr.product_id = (prm.p->>'product_id')::bigint
        RETURNING order_no AS target,
                  jsonb_build_object('product_id', product_id, 'quantity', quantity,
                                     'unit_price', unit_price) AS after)$$,
    before_sql => bulkorder_catalog.order_line_before(),
    rules => jsonb_build_array(
        jsonb_build_object('code', 'not_awaiting_shipment', 'condition', $$t.status = 'awaiting_shipment'$$,
            'message_ja', '出荷待ちの注文ではないため商品を追加できません',
            'message_en', 'products can only be added to orders awaiting shipment'),
        jsonb_build_object('code', 'payment_method_not_allowed',
            'condition', $$EXISTS (SELECT 1 FROM bulkorder.product_payment_methods ppm
               WHERE ppm.product_id = (p->>'product_id')::bigint
                 AND ppm.payment_method = t.payment_method)$$,
            'message_ja', 'この商品は注文の決済方法では購入できません',
            'message_en', 'the product does not allow the order''s payment method'),
        jsonb_build_object('code', 'delivery_method_not_allowed',
            'condition', $$EXISTS (SELECT 1 FROM bulkorder.product_delivery_methods pdm
               WHERE pdm.product_id = (p->>'product_id')::bigint
                 AND pdm.delivery_method = t.delivery_method)$$,
            'message_ja', 'この商品は注文の配送方法では配送できません',
            'message_en', 'the product does not allow the order''s delivery method'),
        jsonb_build_object('code', 'product_already_in_order',
            'condition', $$NOT EXISTS (SELECT 1 FROM bulkorder.order_items i
                   WHERE i.order_no = t.order_no AND i.product_id = (p->>'product_id')::bigint)$$,
            'message_ja', 'この商品はすでに注文に含まれています',
            'message_en', 'the order already has this product')),
    checks => jsonb_build_array(
        jsonb_build_object('condition', $$EXISTS (SELECT 1 FROM bulkorder.products pr WHERE pr.product_id = (p->>'product_id')::bigint)$$,
            'message', 'unknown product',
            'hint', 'params.product_id must be a product_id of bulkorder.products.'),
        jsonb_build_object('condition', $$EXISTS (SELECT 1 FROM bulkorder.products pr
               WHERE pr.product_id = (p->>'product_id')::bigint AND pr.price = 0)$$,
            'message', 'only products at price 0 can be added in bulk',
            'hint', 'Choose a free item (販売価格0円の商品).')),
    revert => bulkorder_catalog.order_line_revert());

-- 商品を一括削除: the price-0 line is deleted
SELECT bulkorder.define_operation('orders', 'remove_products',
    name_ja => '商品を一括削除', name_en => 'remove products',
    wrapper => 'bulk_remove_products',
    params => '{"product_id": {"type": "bigint", "position": 1}}',
    changed_columns => '{product_id,quantity,unit_price}',
    apply_sql => $$applied AS (
        DELETE FROM bulkorder.order_items i
        USING eligible e, prm
        WHERE i.order_no = e.target AND i.product_id = (prm.p->>'product_id')::bigint
        RETURNING i.order_no AS target,
                  jsonb_build_object('product_id', i.product_id, 'quantity', NULL,
                                     'unit_price', NULL) AS after)$$,
    before_sql => bulkorder_catalog.order_line_before(),
    rules => jsonb_build_array(
        jsonb_build_object('code', 'not_awaiting_shipment', 'condition', $$t.status = 'awaiting_shipment'$$,
            'message_ja', '出荷待ちの注文ではないため商品を削除できません',
            'message_en', 'products can only be removed from orders awaiting shipment'),
        jsonb_build_object('code', 'product_not_in_order',
            'condition', $$EXISTS (SELECT 1 FROM bulkorder.order_items i
               WHERE i.order_no = t.order_no AND i.product_id = (p->>'product_id')::bigint)$$,
            'message_ja', 'この商品は注文に含まれていません',
            'message_en', 'the order does not have this product'),
        jsonb_build_object('code', 'product_not_free',
            'condition', $$EXISTS (SELECT 1 FROM bulkorder.order_items i
               WHERE i.order_no = t.order_no AND i.product_id = (p->>'product_id')::bigint
                 AND i.unit_price = 0)$$,
            'message_ja', '販売価格が0円の商品のみ削除できます',
            'message_en', 'only products at price 0 can be removed')),
    checks => jsonb_build_array(
        jsonb_build_object('condition', $$EXISTS (SELECT 1 FROM bulkorder.products pr WHERE pr.product_id = (p->>'product_id')::bigint)$$,
            'message', 'unknown product',
            'hint', 'params.product_id must be a product_id of bulkorder.products.')),
    revert => bulkorder_catalog.order_line_revert());

-- 定期注文自動生成エラー解除 and its revert record the same before image: the
-- order's flag and its master's, with the master's reason.  (m, not s: in a
-- revert's statements s is the reverted item.)
CREATE OR REPLACE FUNCTION bulkorder_catalog.autogen_error_before()
RETURNS text
LANGUAGE sql IMMUTABLE
AS $fn$
    SELECT $$jsonb_build_object('autogen_error', t.autogen_error,
                          'course_order_no', t.course_order_no,
                          'subscription_autogen_error',
                          (SELECT m.autogen_error FROM bulkorder.subscriptions m
                           WHERE m.course_order_no = t.course_order_no),
                          'subscription_autogen_error_reason',
                          (SELECT m.autogen_error_reason FROM bulkorder.subscriptions m
                           WHERE m.course_order_no = t.course_order_no))$$
$fn$;
REVOKE ALL ON FUNCTION bulkorder_catalog.autogen_error_before() FROM PUBLIC;

-- 定期注文自動生成エラー解除: the order's flag and its master's (with the
-- master's reason).  Masters are locked after the orders, in key order.
SELECT bulkorder.define_operation('orders', 'clear_autogen_error',
    name_ja => '定期注文自動生成エラー解除', name_en => 'clear the autogeneration error',
    wrapper => 'bulk_clear_autogen_error',
    changed_columns => '{autogen_error}',
    apply_sql => $$cleared AS (
        UPDATE bulkorder.orders o SET autogen_error = false
        FROM eligible e
        WHERE o.order_no = e.target
        RETURNING o.order_no, o.course_order_no),
     masters AS (
        UPDATE bulkorder.subscriptions s SET autogen_error = false, autogen_error_reason = NULL
        WHERE s.course_order_no IN (SELECT c.course_order_no FROM cleared c)
        RETURNING s.course_order_no),
     applied AS (
        SELECT c.order_no AS target,
               jsonb_build_object('autogen_error', false,
                                  'course_order_no', c.course_order_no,
                                  'subscription_autogen_error',
                                  CASE WHEN c.course_order_no IS NOT NULL THEN false END) AS after
        FROM cleared c)$$,
    before_sql => bulkorder_catalog.autogen_error_before(),
    lock_sql => $$SELECT 1 FROM bulkorder.subscriptions s
       WHERE s.course_order_no IN (SELECT o.course_order_no FROM bulkorder.orders o
                                   WHERE o.order_no = ANY ($1) AND o.autogen_error
                                     AND o.deleted_at IS NULL)
       ORDER BY s.course_order_no
       FOR NO KEY UPDATE OF s$$,
    rules => jsonb_build_array(
        jsonb_build_object('code', 'no_autogen_error', 'condition', $$t.autogen_error$$,
            'message_ja', '定期注文自動生成エラーがない注文です',
            'message_en', 'the order has no autogeneration error')),
    -- 定期注文自動生成エラー解除 (orders page): the order's flag and its
    -- master's flag and reason.  1.1 records the master's reason in the before
    -- image; an item recorded by 1.0 lacks it, and reverting it fails
    -- (revert_image_incomplete) rather than bring the error back without its reason.
    revert => jsonb_build_object(
        'condition', $$t.autogen_error = (s.after->>'autogen_error')::boolean
        AND (SELECT m.autogen_error FROM bulkorder.subscriptions m
             WHERE m.course_order_no = t.course_order_no)
            IS NOT DISTINCT FROM (s.after->>'subscription_autogen_error')::boolean$$,
        'rules', jsonb_build_array(jsonb_build_object(
        'code', 'revert_image_incomplete',
        'condition', $$s.before ? 'subscription_autogen_error_reason'
            OR NOT coalesce((s.before->>'subscription_autogen_error')::boolean, false)$$,
        'message_ja', 'bulkorder 1.0 で記録された一括更新のため定期注文マスターのエラー理由がなく、元に戻せません',
        'message_en', 'recorded by bulkorder 1.0 without the master''s error reason: it cannot be restored exactly')),
        'before_sql', bulkorder_catalog.autogen_error_before(),
        'apply_sql', $$flag_restored AS (
        UPDATE bulkorder.orders o SET autogen_error = (s.before->>'autogen_error')::boolean
          FROM eligible s
         WHERE o.order_no = s.target
     RETURNING o.order_no AS target, o.autogen_error, o.course_order_no, s.before AS src_before),
       master_restored AS (
        UPDATE bulkorder.subscriptions m
           SET autogen_error = x.autogen_error, autogen_error_reason = x.reason
          FROM (SELECT DISTINCT ON ((s.before->>'course_order_no')::bigint)
                       (s.before->>'course_order_no')::bigint AS course_order_no,
                       (s.before->>'subscription_autogen_error')::boolean AS autogen_error,
                       s.before->>'subscription_autogen_error_reason' AS reason
                  FROM eligible s
                 WHERE s.before->>'subscription_autogen_error' IS NOT NULL
                 ORDER BY 1) AS x
         WHERE m.course_order_no = x.course_order_no
     RETURNING m.course_order_no, m.autogen_error, m.autogen_error_reason),
       applied AS (
        SELECT f.target,
               jsonb_build_object('autogen_error', f.autogen_error,
                                  'course_order_no', f.course_order_no,
                                  'subscription_autogen_error', (f.src_before->>'subscription_autogen_error')::boolean,
                                  'subscription_autogen_error_reason', f.src_before->>'subscription_autogen_error_reason') AS after
          FROM flag_restored f)$$,
        'lock_sql', $$SELECT 1 FROM bulkorder.subscriptions m
        WHERE m.course_order_no IN (SELECT o.course_order_no FROM bulkorder.orders o WHERE o.order_no = ANY ($1))
        ORDER BY m.course_order_no
          FOR NO KEY UPDATE OF m$$));

-- ブラックリスト: the order's customer.  Several orders of one customer
-- update it once; each order's item shows the customer's status.
-- Customers come before orders in the lock order (the customers page locks
-- a customer, then its orders), so they are locked before the page's rows:
-- prelock_sql, in key order.  An order's customer_id never changes, so
-- reading it unlocked is safe.
SELECT bulkorder.define_operation('orders', 'blacklist',
    name_ja => 'ブラックリスト', name_en => 'blacklist',
    wrapper => 'bulk_blacklist',
    params => '{"action": {"type": "text", "enum": ["blacklist", "candidate", "remove"], "position": 1}}',
    changed_columns => '{customer_id,blacklist_status}',
    apply_sql => $$new_status AS (
        SELECT CASE prm.p->>'action' WHEN 'blacklist' THEN 'blacklisted'
                                     WHEN 'candidate' THEN 'candidate'
                                     ELSE 'none' END AS blacklist_status
        FROM prm),
     customers_changed AS (
        UPDATE bulkorder.customers c
        SET blacklist_status = ns.blacklist_status
        FROM new_status ns
        WHERE c.customer_id IN (SELECT o.customer_id FROM eligible e
                                JOIN bulkorder.orders o ON o.order_no = e.target)
        RETURNING c.customer_id),
     -- not joined to customers_changed: a join of two CTE scans has no
     -- index and would be quadratic on large jobs
     applied AS (
        SELECT e.target,
               jsonb_build_object('customer_id', o.customer_id,
                                  'blacklist_status', ns.blacklist_status) AS after
        FROM eligible e
        JOIN bulkorder.orders o ON o.order_no = e.target
        CROSS JOIN new_status ns)$$,
    before_sql => $$jsonb_build_object('customer_id', t.customer_id,
                          'blacklist_status', (SELECT c.blacklist_status FROM bulkorder.customers c
                                               WHERE c.customer_id = t.customer_id))$$,
    prelock_sql => $$SELECT 1 FROM bulkorder.customers c
       WHERE c.customer_id IN (SELECT o.customer_id FROM bulkorder.orders o
                               WHERE o.order_no = ANY ($1) AND o.deleted_at IS NULL)
       ORDER BY c.customer_id
       FOR NO KEY UPDATE OF c$$,
    -- ブラックリスト (orders page): the orders' customers, locked before the
    -- orders as the operation does.
    revert => jsonb_build_object(
        'condition', $$(SELECT c.blacklist_status FROM bulkorder.customers c
                          WHERE c.customer_id = t.customer_id) = s.after->>'blacklist_status'$$,
        'before_sql', $$jsonb_build_object('customer_id', t.customer_id,
                          'blacklist_status', (SELECT c.blacklist_status FROM bulkorder.customers c
                                               WHERE c.customer_id = t.customer_id))$$,
        'apply_sql', $$customers_restored AS (
        UPDATE bulkorder.customers c SET blacklist_status = x.blacklist_status
          FROM (SELECT DISTINCT ON (o.customer_id) o.customer_id, s.before->>'blacklist_status' AS blacklist_status
                  FROM eligible s
                  JOIN bulkorder.orders o ON o.order_no = s.target
                 ORDER BY o.customer_id) AS x
         WHERE c.customer_id = x.customer_id
     RETURNING c.customer_id),
       applied AS (
        SELECT s.target,
               jsonb_build_object('customer_id', o.customer_id,
                                  'blacklist_status', s.before->>'blacklist_status') AS after
          FROM eligible s
          JOIN bulkorder.orders o ON o.order_no = s.target)$$,
        'prelock_sql', $$SELECT 1 FROM bulkorder.customers c
       WHERE c.customer_id IN (SELECT o.customer_id FROM bulkorder.orders o WHERE o.order_no = ANY ($1))
       ORDER BY c.customer_id
       FOR NO KEY UPDATE OF c$$));

-- ==== extension/sql/code/operations/20_subscriptions.sql
-- Subscription masters page (受注管理 > 定期注文マスター): README,
-- "Subscription masters".  One define_operation call per operation.  Every
-- operation but the four free-text ones starts with the rule that nothing
-- changes an `ended` (終了) master (00_common.sql).

-- 次回配送関連日: one or both dates; the one not given keeps its stored
-- value.  Giving the delivery date re-anchors a monthly cycle on its day.
SELECT bulkorder.define_operation('subscriptions', 'next_dates',
    name_ja => '次回配送関連日', name_en => 'next delivery dates',
    wrapper => 'bulk_subscription_next_dates',
    params => '{"next_ship_date": {"type": "date", "nullable": true, "default": null, "position": 1},
                "next_delivery_date": {"type": "date", "nullable": true, "default": null, "position": 2}}',
    changed_columns => '{next_ship_date,next_delivery_date,anchor_day}',
    set_clause => $$next_ship_date = coalesce((p->>'next_ship_date')::date, t.next_ship_date),
       next_delivery_date = coalesce((p->>'next_delivery_date')::date, t.next_delivery_date),
       anchor_day = coalesce(extract(day FROM (p->>'next_delivery_date')::date)::integer, t.anchor_day)$$,
    rules => bulkorder_catalog.subscription_ended_rule() || jsonb_build_array(
        -- the resulting dates, a given one combined with the stored other one
        jsonb_build_object('code', 'ship_after_delivery',
            'condition', $$coalesce((p->>'next_ship_date')::date, t.next_ship_date) IS NULL
       OR coalesce((p->>'next_delivery_date')::date, t.next_delivery_date) IS NULL
       OR coalesce((p->>'next_ship_date')::date, t.next_ship_date)
          <= coalesce((p->>'next_delivery_date')::date, t.next_delivery_date)$$,
            'message_ja', '次回発送予定日が次回お届け予定日より後になるため変更できません',
            'message_en', 'the next ship date would be after the next delivery date')),
    checks => jsonb_build_array(
        jsonb_build_object('condition', $$p->>'next_ship_date' IS NOT NULL OR p->>'next_delivery_date' IS NOT NULL$$,
            'message', 'neither next_ship_date nor next_delivery_date is given',
            'hint', 'Give the next ship date, the next delivery date, or both.'),
        jsonb_build_object('condition', $$p->>'next_ship_date' IS NULL OR p->>'next_delivery_date' IS NULL
       OR (p->>'next_ship_date')::date <= (p->>'next_delivery_date')::date$$,
            'message', 'next_ship_date is after next_delivery_date',
            'hint', 'The next ship date must be on or before the next delivery date.')));

-- 次回発送方法: every product of the master must allow the method
SELECT bulkorder.define_operation('subscriptions', 'next_delivery_method',
    name_ja => '次回発送方法', name_en => 'next delivery method',
    wrapper => 'bulk_subscription_next_delivery_method',
    params => '{"delivery_method": {"type": "text", "position": 1},
                "time_slot": {"type": "text", "nullable": true, "default": null, "position": 2}}',
    changed_columns => '{delivery_method,delivery_time_slot}',
    set_clause => $$delivery_method = p->>'delivery_method', delivery_time_slot = p->>'time_slot'$$,
    rules => bulkorder_catalog.subscription_ended_rule() || jsonb_build_array(
        jsonb_build_object('code', 'delivery_method_not_allowed',
            'condition', $$NOT EXISTS (SELECT 1 FROM bulkorder.subscription_items si
                   WHERE si.course_order_no = t.course_order_no
                     AND NOT EXISTS (SELECT 1 FROM bulkorder.product_delivery_methods pd
                                     WHERE pd.product_id = si.product_id
                                       AND pd.delivery_method = p->>'delivery_method'))$$,
            'message_ja', '定期商品にこの配送方法に対応していない商品があるため変更できません',
            'message_en', 'a product of the subscription does not allow this delivery method')),
    checks => jsonb_build_array(
        jsonb_build_object('condition', $$EXISTS (SELECT 1 FROM bulkorder.delivery_methods dm WHERE dm.code = p->>'delivery_method')$$,
            'message', 'unknown delivery method',
            'hint', 'The delivery methods are the codes of bulkorder.delivery_methods.'),
        jsonb_build_object('condition', $$p->>'time_slot' IS NULL
       OR EXISTS (SELECT 1 FROM bulkorder.delivery_time_slots ts
                  WHERE ts.delivery_method = p->>'delivery_method' AND ts.code = p->>'time_slot')$$,
            'message', 'the time slot does not belong to the delivery method',
            'hint', 'Give one of the method''s slots in bulkorder.delivery_time_slots, or null (指定なし).')));

-- 定期自動生成エラー: the flag and its reason, on the master
SELECT bulkorder.define_operation('subscriptions', 'clear_autogen_error',
    name_ja => '定期自動生成エラー', name_en => 'clear auto-generation error',
    wrapper => 'bulk_subscription_clear_autogen_error',
    changed_columns => '{autogen_error,autogen_error_reason}',
    set_clause => $$autogen_error = false, autogen_error_reason = NULL$$,
    rules => bulkorder_catalog.subscription_ended_rule() || jsonb_build_array(
        jsonb_build_object('code', 'no_autogen_error', 'condition', $$t.autogen_error$$,
            'message_ja', '定期自動生成エラーはありません',
            'message_en', 'the subscription has no auto-generation error')));

-- お届け頻度設定: takes effect from the next delivery on: the next dates
-- already set stay; generation advances them by the new frequency.
SELECT bulkorder.define_operation('subscriptions', 'frequency',
    name_ja => 'お届け頻度設定', name_en => 'delivery frequency',
    wrapper => 'bulk_subscription_frequency',
    params => '{"frequency_id": {"type": "bigint", "position": 1}}',
    changed_columns => '{frequency_id}',
    set_clause => $$frequency_id = (p->>'frequency_id')::bigint$$,
    rules => bulkorder_catalog.subscription_ended_rule() || jsonb_build_array(
        jsonb_build_object('code', 'frequency_not_allowed',
            'condition', $$NOT EXISTS (SELECT 1 FROM bulkorder.subscription_items si
                   WHERE si.course_order_no = t.course_order_no
                     AND NOT EXISTS (SELECT 1 FROM bulkorder.product_frequencies pf
                                     WHERE pf.product_id = si.product_id
                                       AND pf.frequency_id = (p->>'frequency_id')::bigint))$$,
            'message_ja', '定期商品にこのお届け頻度に対応していない商品があるため変更できません',
            'message_en', 'a product of the subscription does not allow this delivery frequency')),
    checks => jsonb_build_array(
        jsonb_build_object('condition', $$EXISTS (SELECT 1 FROM bulkorder.frequencies f WHERE f.frequency_id = (p->>'frequency_id')::bigint)$$,
            'message', 'unknown frequency',
            'hint', 'The frequencies are the rows of bulkorder.frequencies.')));

-- 定期商品: the master's line of the from-product now holds the
-- to-product, with the same quantity.  before/after: that line.
SELECT bulkorder.define_operation('subscriptions', 'swap_product',
    name_ja => '定期商品', name_en => 'swap product',
    wrapper => 'bulk_subscription_swap_product',
    params => '{"from_product_id": {"type": "bigint", "position": 1},
                "to_product_id": {"type": "bigint", "position": 2}}',
    changed_columns => '{product_id,quantity}',
    apply_sql => $$applied AS (
         UPDATE bulkorder.subscription_items si
         SET product_id = (prm.p->>'to_product_id')::bigint
         FROM eligible e, prm
         WHERE si.course_order_no = e.target
           AND si.product_id = (prm.p->>'from_product_id')::bigint
         RETURNING si.course_order_no AS target,
                   jsonb_build_object('product_id', si.product_id, 'quantity', si.quantity) AS after)$$,
    before_sql => $$(SELECT jsonb_build_object('product_id', si.product_id, 'quantity', si.quantity)
        FROM bulkorder.subscription_items si
        WHERE si.course_order_no = t.course_order_no
          AND si.product_id = (p->>'from_product_id')::bigint)$$,
    rules => bulkorder_catalog.subscription_ended_rule() || jsonb_build_array(
        jsonb_build_object('code', 'product_not_in_subscription',
            'condition', $$EXISTS (SELECT 1 FROM bulkorder.subscription_items si
               WHERE si.course_order_no = t.course_order_no
                 AND si.product_id = (p->>'from_product_id')::bigint)$$,
            'message_ja', '変更前の商品が定期商品に含まれていません',
            'message_en', 'the subscription does not contain the product to replace'),
        -- Decision: a master that already has the to-product fails rather
        -- than merging two lines (which would change the quantity delivered).
        jsonb_build_object('code', 'already_has_product',
            'condition', $$NOT EXISTS (SELECT 1 FROM bulkorder.subscription_items si
                   WHERE si.course_order_no = t.course_order_no
                     AND si.product_id = (p->>'to_product_id')::bigint)$$,
            'message_ja', '変更後の商品がすでに定期商品に含まれているため入れ替えできません',
            'message_en', 'the subscription already contains the replacement product'),
        jsonb_build_object('code', 'payment_method_not_allowed',
            'condition', $$EXISTS (SELECT 1 FROM bulkorder.product_payment_methods pp
               WHERE pp.product_id = (p->>'to_product_id')::bigint
                 AND pp.payment_method = t.payment_method)$$,
            'message_ja', '変更後の商品がこの定期注文の決済方法に対応していません',
            'message_en', 'the replacement product does not allow the subscription''s payment method'),
        jsonb_build_object('code', 'delivery_method_not_allowed',
            'condition', $$t.delivery_method IS NULL
       OR EXISTS (SELECT 1 FROM bulkorder.product_delivery_methods pd
                  WHERE pd.product_id = (p->>'to_product_id')::bigint
                    AND pd.delivery_method = t.delivery_method)$$,
            'message_ja', '変更後の商品がこの定期注文の配送方法に対応していません',
            'message_en', 'the replacement product does not allow the subscription''s delivery method'),
        jsonb_build_object('code', 'frequency_not_allowed',
            'condition', $$t.frequency_id IS NULL
       OR EXISTS (SELECT 1 FROM bulkorder.product_frequencies pf
                  WHERE pf.product_id = (p->>'to_product_id')::bigint
                    AND pf.frequency_id = t.frequency_id)$$,
            'message_ja', '変更後の商品がこの定期注文のお届け頻度に対応していません',
            'message_en', 'the replacement product does not allow the subscription''s delivery frequency')),
    checks => jsonb_build_array(
        jsonb_build_object('condition', $$(p->>'from_product_id')::bigint <> (p->>'to_product_id')::bigint$$,
            'message', 'from_product_id and to_product_id are the same product'),
        jsonb_build_object('condition', $$EXISTS (SELECT 1 FROM bulkorder.products pr
               WHERE pr.product_id = (p->>'to_product_id')::bigint AND pr.is_public)$$,
            'message', 'the replacement product does not exist or is not public',
            'hint', 'Only a public product can be delivered by a subscription.')),
    -- 定期商品 (swap_product): the master's line goes back to the other product,
    -- quantity kept, where the line is as the job left it and the master has no
    -- line of that product again.
    revert => jsonb_build_object(
        'condition', $$EXISTS (SELECT 1 FROM bulkorder.subscription_items si
                 WHERE si.course_order_no = t.course_order_no
                   AND si.product_id = (s.after->>'product_id')::bigint
                   AND si.quantity = (s.after->>'quantity')::integer)
        AND NOT EXISTS (SELECT 1 FROM bulkorder.subscription_items si
                        WHERE si.course_order_no = t.course_order_no
                          AND si.product_id = (s.before->>'product_id')::bigint)$$,
        'before_sql', $$(SELECT jsonb_build_object('product_id', si.product_id, 'quantity', si.quantity)
                           FROM bulkorder.subscription_items si
                           WHERE si.course_order_no = t.course_order_no
                             AND si.product_id = (s.after->>'product_id')::bigint)$$,
        'apply_sql', $$applied AS (
        UPDATE bulkorder.subscription_items si SET product_id = (s.before->>'product_id')::bigint
          FROM eligible s
         WHERE si.course_order_no = s.target AND si.product_id = (s.after->>'product_id')::bigint
     RETURNING si.course_order_no AS target,
               jsonb_build_object('product_id', si.product_id, 'quantity', si.quantity) AS after)$$));

-- コース注文状況: 継続 / 停止.  終了 is not a bulk change: the enum leaves it
-- out, so "ended" rejects the call.
SELECT bulkorder.define_operation('subscriptions', 'course_status',
    name_ja => 'コース注文状況', name_en => 'course status',
    wrapper => 'bulk_subscription_course_status',
    params => '{"status": {"type": "text", "enum": ["active", "paused"], "position": 1}}',
    changed_columns => '{status}',
    set_clause => $$status = p->>'status'$$,
    rules => bulkorder_catalog.subscription_ended_rule());

-- The free-text fields (00_common.sql): open on an ended master too
SELECT bulkorder.define_operation('subscriptions', 'customer_message',
    name_ja => 'お客様からの通信欄', name_en => 'message from the customer',
    wrapper => 'bulk_subscription_customer_message',
    params => bulkorder_catalog.text_field_params(),
    changed_columns => '{customer_message}',
    set_clause => bulkorder_catalog.text_field_set('customer_message'),
    rules => bulkorder_catalog.text_field_rules('customer_message'));

SELECT bulkorder.define_operation('subscriptions', 'reply_message',
    name_ja => 'お客様への返信', name_en => 'reply to the customer',
    wrapper => 'bulk_subscription_reply_message',
    params => bulkorder_catalog.text_field_params(),
    changed_columns => '{reply_message}',
    set_clause => bulkorder_catalog.text_field_set('reply_message'),
    rules => bulkorder_catalog.text_field_rules('reply_message'));

SELECT bulkorder.define_operation('subscriptions', 'remarks',
    name_ja => '備考欄', name_en => 'remarks',
    wrapper => 'bulk_subscription_remarks',
    params => bulkorder_catalog.text_field_params(),
    changed_columns => '{remarks}',
    set_clause => bulkorder_catalog.text_field_set('remarks'),
    rules => bulkorder_catalog.text_field_rules('remarks'));

SELECT bulkorder.define_operation('subscriptions', 'integration_text',
    name_ja => '連携用補足テキスト', name_en => 'integration text',
    wrapper => 'bulk_subscription_integration_text',
    params => bulkorder_catalog.text_field_params(),
    changed_columns => '{integration_text}',
    set_clause => bulkorder_catalog.text_field_set('integration_text'),
    rules => bulkorder_catalog.text_field_rules('integration_text'));

-- ==== extension/sql/code/operations/30_shipments.sql
-- Shipments page (仕入・出荷管理 > 出荷一覧): README, "Shipments".  Its rows
-- are orders (bulkorder_catalog.pages: target_table bulkorder.orders), but
-- its jobs are its own: they show in shipment_bulk_history, not in
-- order_bulk_history.  One define_operation call per operation.

-- 配送関連日程: an awaiting order's scheduled ship and delivery dates.  With
-- update_subscription (「定期注文マスターも同時に更新」) the order's master
-- gets its next dates recomputed from the new dates and its frequency, by
-- bulkorder.frequency_next_date, the one implementation of that arithmetic:
--   next_delivery_date = frequency_next_date(delivery_date, frequency)
--   next_ship_date     = next_delivery_date - (delivery_date - ship_date)
-- The ship date keeps the order's lead time (as generation does), so a
-- day-of-month cycle can never put the next shipment in the same month; the
-- delivery day becomes the master's month anchor.
-- An order with no master (a one-off order) just changes.  An ended master
-- has no next delivery: it is left as it is and the order still changes.
-- A live master without a frequency cannot be recomputed: that order fails
-- (subscription_frequency_missing) and nothing of it changes.  The item's
-- before/after hold the order's dates and, where the master was updated,
-- its next_ship_date / next_delivery_date.
SELECT bulkorder.define_operation('shipments', 'delivery_dates',
    name_ja => '配送関連日程', name_en => 'delivery dates',
    wrapper => 'bulk_shipment_delivery_dates',
    params => '{"ship_date": {"type": "date", "position": 1},
                "delivery_date": {"type": "date", "position": 2},
                "update_subscription": {"type": "boolean", "position": 3}}',
    changed_columns => '{scheduled_ship_date,scheduled_delivery_date}',
    apply_sql => $$shipment_orders AS (
         UPDATE bulkorder.orders AS t
            SET scheduled_ship_date = (prm.p->>'ship_date')::date,
                scheduled_delivery_date = (prm.p->>'delivery_date')::date
           FROM eligible e, prm
          WHERE t.order_no = e.target
      RETURNING t.order_no AS target, t.course_order_no,
                t.scheduled_ship_date, t.scheduled_delivery_date),
       shipment_masters AS (
         UPDATE bulkorder.subscriptions AS s
            SET next_delivery_date = bulkorder.frequency_next_date((prm.p->>'delivery_date')::date, s.frequency_id),
                next_ship_date = bulkorder.frequency_next_date((prm.p->>'delivery_date')::date, s.frequency_id)
                                 - ((prm.p->>'delivery_date')::date - (prm.p->>'ship_date')::date),
                anchor_day = extract(day FROM (prm.p->>'delivery_date')::date)::integer
           FROM (SELECT DISTINCT so.course_order_no FROM shipment_orders so) AS so, prm
          WHERE (prm.p->>'update_subscription')::boolean
            AND s.course_order_no = so.course_order_no
            AND s.status <> 'ended'
      RETURNING s.course_order_no, s.next_ship_date, s.next_delivery_date),
       applied AS (
         SELECT so.target,
                jsonb_build_object('scheduled_ship_date', so.scheduled_ship_date,
                                   'scheduled_delivery_date', so.scheduled_delivery_date)
                || CASE WHEN m.course_order_no IS NULL THEN '{}'::jsonb
                        ELSE jsonb_build_object('next_ship_date', m.next_ship_date,
                                                'next_delivery_date', m.next_delivery_date) END
                AS after
           FROM shipment_orders so
           LEFT JOIN shipment_masters m ON m.course_order_no = so.course_order_no)$$,
    before_sql => $$jsonb_build_object('scheduled_ship_date', t.scheduled_ship_date,
                          'scheduled_delivery_date', t.scheduled_delivery_date)
       || CASE WHEN (p->>'update_subscription')::boolean
               THEN coalesce((SELECT jsonb_build_object('next_ship_date', s.next_ship_date,
                                                        'next_delivery_date', s.next_delivery_date,
                                                        'course_order_no', s.course_order_no,
                                                        'anchor_day', s.anchor_day)
                              FROM bulkorder.subscriptions s
                              WHERE s.course_order_no = t.course_order_no AND s.status <> 'ended'),
                             '{}'::jsonb)
               ELSE '{}'::jsonb END$$,
    -- the masters the change will update, in their key order (the orders
    -- are locked already, so their status read here is stable)
    lock_sql => $$SELECT 1 FROM bulkorder.subscriptions s
        WHERE ($2->>'update_subscription')::boolean
          AND s.course_order_no IN (SELECT o.course_order_no FROM bulkorder.orders o
                                    WHERE o.order_no = ANY ($1)
                                      AND o.status = 'awaiting_shipment' AND o.deleted_at IS NULL)
        ORDER BY s.course_order_no
          FOR NO KEY UPDATE OF s$$,
    rules => jsonb_build_array(
        jsonb_build_object('code', 'not_awaiting_shipment', 'condition', $$t.status = 'awaiting_shipment'$$,
            'message_ja', '出荷待ちの注文ではないため配送関連日程を変更できません',
            'message_en', 'only orders awaiting shipment can have their delivery dates changed'),
        jsonb_build_object('code', 'subscription_frequency_missing',
            'condition', $$NOT (p->>'update_subscription')::boolean
       OR t.course_order_no IS NULL
       OR EXISTS (SELECT 1 FROM bulkorder.subscriptions s
                  WHERE s.course_order_no = t.course_order_no
                    AND (s.status = 'ended' OR s.frequency_id IS NOT NULL))$$,
            'message_ja', '定期注文マスターにお届け頻度が設定されていないため次回配送関連日を計算できません',
            'message_en', 'the subscription master has no delivery frequency to compute its next dates from')),
    checks => jsonb_build_array(
        jsonb_build_object('condition', $$(p->>'ship_date')::date <= (p->>'delivery_date')::date$$,
            'message', 'ship_date is after delivery_date',
            'hint', 'The scheduled ship date must be on or before the delivery date.')),
    -- 配送関連日程: the order's dates and, where the job moved them, its master's
    -- next dates and month anchor.  1.1 records the master (course_order_no) and
    -- its anchor_day in the before image; an item of 1.0 that moved a master
    -- lacks them and fails revert_image_incomplete.
    revert => jsonb_build_object(
        'condition', $$t.scheduled_ship_date IS NOT DISTINCT FROM (s.after->>'scheduled_ship_date')::date
        AND t.scheduled_delivery_date IS NOT DISTINCT FROM (s.after->>'scheduled_delivery_date')::date
        AND (NOT s.after ? 'next_ship_date'
             OR EXISTS (SELECT 1 FROM bulkorder.subscriptions m
                        WHERE m.course_order_no = t.course_order_no
                          AND m.next_ship_date IS NOT DISTINCT FROM (s.after->>'next_ship_date')::date
                          AND m.next_delivery_date IS NOT DISTINCT FROM (s.after->>'next_delivery_date')::date))$$,
        'rules', jsonb_build_array(jsonb_build_object(
        'code', 'revert_image_incomplete',
        'condition', $$NOT s.before ? 'next_ship_date' OR s.before ? 'anchor_day'$$,
        'message_ja', 'bulkorder 1.0 で記録された一括更新のため定期注文マスターの基準日がなく、元に戻せません',
        'message_en', 'recorded by bulkorder 1.0 without the master''s anchor day: it cannot be restored exactly')),
        'before_sql', $$jsonb_build_object('scheduled_ship_date', t.scheduled_ship_date,
                          'scheduled_delivery_date', t.scheduled_delivery_date)
       || CASE WHEN s.after ? 'next_ship_date'
               THEN coalesce((SELECT jsonb_build_object('next_ship_date', m.next_ship_date,
                                                        'next_delivery_date', m.next_delivery_date,
                                                        'course_order_no', m.course_order_no,
                                                        'anchor_day', m.anchor_day)
                              FROM bulkorder.subscriptions m
                              WHERE m.course_order_no = t.course_order_no), '{}'::jsonb)
               ELSE '{}'::jsonb END$$,
        'apply_sql', $$dates_restored AS (
        UPDATE bulkorder.orders AS t
           SET scheduled_ship_date = (s.before->>'scheduled_ship_date')::date,
               scheduled_delivery_date = (s.before->>'scheduled_delivery_date')::date
          FROM eligible s
         WHERE t.order_no = s.target
     RETURNING t.order_no AS target, t.scheduled_ship_date, t.scheduled_delivery_date, s.before AS src_before),
       master_restored AS (
        UPDATE bulkorder.subscriptions m
           SET next_ship_date = x.next_ship_date, next_delivery_date = x.next_delivery_date,
               anchor_day = x.anchor_day
          FROM (SELECT DISTINCT ON ((s.before->>'course_order_no')::bigint)
                       (s.before->>'course_order_no')::bigint AS course_order_no,
                       (s.before->>'next_ship_date')::date AS next_ship_date,
                       (s.before->>'next_delivery_date')::date AS next_delivery_date,
                       (s.before->>'anchor_day')::integer AS anchor_day
                  FROM eligible s
                 WHERE s.before ? 'course_order_no'
                 ORDER BY 1) AS x
         WHERE m.course_order_no = x.course_order_no
     RETURNING m.course_order_no),
       applied AS (
        SELECT d.target,
               jsonb_build_object('scheduled_ship_date', d.scheduled_ship_date,
                                  'scheduled_delivery_date', d.scheduled_delivery_date)
               || CASE WHEN d.src_before ? 'next_ship_date'
                       THEN jsonb_build_object('next_ship_date', d.src_before->'next_ship_date',
                                               'next_delivery_date', d.src_before->'next_delivery_date',
                                               'course_order_no', d.src_before->'course_order_no',
                                               'anchor_day', d.src_before->'anchor_day')
                       ELSE '{}'::jsonb END AS after
          FROM dates_restored d)$$,
        'lock_sql', $$SELECT 1 FROM bulkorder.subscriptions m
        WHERE m.course_order_no IN (SELECT o.course_order_no FROM bulkorder.orders o WHERE o.order_no = ANY ($1))
        ORDER BY m.course_order_no
          FOR NO KEY UPDATE OF m$$));

-- 注文ステータス: shipped → awaiting_shipment, nothing else.  The tracking
-- number, ship_mail_sent and ship_report_status stay as they are: the next
-- shipment import overwrites the tracking number, and whether a second
-- completion mail goes out is the operator's call (orders page
-- ship_mail_status).
SELECT bulkorder.define_operation('shipments', 'revert_to_awaiting',
    name_ja => '注文ステータス', name_en => 'back to awaiting shipment',
    wrapper => 'bulk_shipment_revert_to_awaiting',
    changed_columns => '{status}',
    set_clause => $$status = 'awaiting_shipment'$$,
    rules => jsonb_build_array(
        jsonb_build_object('code', 'not_shipped', 'condition', $$t.status = 'shipped'$$,
            'message_ja', '出荷済みの注文ではないため出荷待ちに戻せません',
            'message_en', 'only shipped orders can be set back to awaiting shipment')));

-- 配送方法: as on the orders page (10_orders.sql), for the shipments page's
-- own jobs.
SELECT bulkorder.define_operation('shipments', 'delivery_method',
    name_ja => '配送方法', name_en => 'delivery method',
    wrapper => 'bulk_shipment_delivery_method',
    params => '{"delivery_method": {"type": "text", "position": 1},
                "time_slot": {"type": "text", "nullable": true, "position": 2}}',
    changed_columns => '{delivery_method,delivery_time_slot}',
    set_clause => $$delivery_method = p->>'delivery_method', delivery_time_slot = p->>'time_slot'$$,
    rules => jsonb_build_array(
        jsonb_build_object('code', 'not_awaiting_shipment', 'condition', $$t.status = 'awaiting_shipment'$$,
            'message_ja', '出荷待ちの注文ではないため配送方法を変更できません',
            'message_en', 'only orders awaiting shipment can have their delivery method changed')),
    checks => jsonb_build_array(
        jsonb_build_object('condition', $$EXISTS (SELECT 1 FROM bulkorder.delivery_methods m WHERE m.code = p->>'delivery_method')$$,
            'message', 'unknown delivery method',
            'hint', 'The delivery methods are the codes of bulkorder.delivery_methods.'),
        jsonb_build_object('condition', $$p->>'time_slot' IS NULL
              OR EXISTS (SELECT 1 FROM bulkorder.delivery_time_slots s
                         WHERE s.delivery_method = p->>'delivery_method' AND s.code = p->>'time_slot')$$,
            'message', 'the time slot does not belong to the delivery method',
            'hint', 'Pick a slot of bulkorder.delivery_time_slots for that method, or null (指定なし).')));

-- ==== extension/sql/code/operations/35_shipments_import.sql
-- Shipments page (仕入・出荷管理 > 出荷一覧): the shipment data import
-- (出荷データ取り込み): README, "The shipment data import".
--
-- bulkorder.import_shipments(content, options) (extension/src/csv.c) stages
-- the file as an upload (bulkorder.uploads, upload_lines, upload_shipments:
-- 60_csv.sql) and runs this operation through run_bulk over the file's
-- order numbers with params {"upload_id": N}.  The tracking numbers are
-- data, the order's row of bulkorder.upload_shipments joined to it as s
-- (target_join: one index probe per order for every rule and the change),
-- so the one engine checks, locks, applies and records the import like any
-- other job, and it shows in shipment_bulk_history.
--
-- An order needing a shipment report (payment_methods.needs_ship_report)
-- goes to shipping with ship_report_status pending and a ship_report
-- request (complete_payment_request moves it on); the others go to shipped.
-- A ship_complete mail is queued unless ship_mail_sent, which is then set
-- (left as it was when the template is disabled: no mail went).
SELECT bulkorder.define_operation('shipments', 'import_shipments',
    name_ja => '出荷データ取り込み', name_en => 'shipment import',
    wrapper => 'bulk_shipment_import_shipments',
    params => '{"upload_id": {"type": "bigint", "min": 1, "position": 1}}',
    changed_columns => '{status,ship_report_status,tracking_no,ship_mail_sent}',
    -- the payment method read once per order for both fields (one row
    -- always, as the CASEs over a missing one would give)
    set_clause => $$(status, ship_report_status) =
           (SELECT CASE WHEN pm.needs_ship_report THEN 'shipping' ELSE 'shipped' END,
                   CASE WHEN pm.needs_ship_report THEN 'pending' ELSE t.ship_report_status END
              FROM (VALUES (1)) AS one LEFT JOIN bulkorder.payment_methods pm ON pm.code = t.payment_method),
       tracking_no = s.tracking_nos[1],
       ship_mail_sent = t.ship_mail_sent
                        OR EXISTS (SELECT 1 FROM bulkorder.mail_templates mt
                                   WHERE mt.code = 'ship_complete' AND mt.enabled)$$,
    -- every effect reads bulkorder.orders as it was before the change (one
    -- statement, one snapshot), found by applied.old_tid (no second probe
    -- of the key's index), and the new tracking number from applied.after
    -- (the only field the mail shows that the import changes)
    effects => ARRAY[
     -- a ship_report request where the method needs one: where the change
     -- set shipping (the set clause's own test of needs_ship_report)
     $$INSERT INTO bulkorder.payment_requests (order_no, payment_method, kind, job_id)
        SELECT a.target, o.payment_method, 'ship_report', $3
        FROM applied a
        JOIN bulkorder.orders o ON o.ctid = a.old_tid AND o.order_no = a.target
        WHERE a.after->>'status' = 'shipping'$$,
     $$INSERT INTO bulkorder.mail_outbox
            (template_code, order_no, customer_id, to_address, subject, body, job_id)
        SELECT mt.code, o.order_no, o.customer_id, c.email,
               bulkorder.render_mail(mt.subject, o.order_no, c.name, a.after->>'tracking_no', pm.name, o.course_order_no),
               bulkorder.render_mail(mt.body, o.order_no, c.name, a.after->>'tracking_no', pm.name, o.course_order_no), $3
        FROM applied a
        JOIN bulkorder.orders o ON o.ctid = a.old_tid AND o.order_no = a.target
        JOIN bulkorder.customers c ON c.customer_id = o.customer_id
        JOIN bulkorder.payment_methods pm ON pm.code = o.payment_method
        JOIN bulkorder.mail_templates mt ON mt.code = 'ship_complete' AND mt.enabled
        WHERE NOT o.ship_mail_sent$$],
    rules => jsonb_build_array(
        jsonb_build_object('code', 'not_awaiting_shipment',
            'condition', $$t.status = 'awaiting_shipment'$$,
            'message_ja', '出荷待ちの注文ではないため出荷データを取り込めません',
            'message_en', 'only orders awaiting shipment can be imported as shipped'),
        jsonb_build_object('code', 'shipping_hold',
            'condition', $$NOT t.shipping_hold$$,
            'message_ja', '出荷停止中の注文のため出荷データを取り込めません(出荷停止を解除してから再度取り込んでください)',
            'message_en', 'the order is on shipping hold: release the hold, then import it again'),
        -- a tracking number a spreadsheet rounded (2.34568E+11): csv.c marks
        -- its line and the order (s.rounded) and keeps it out of
        -- tracking_nos, so this comes before the other tracking-number rules;
        -- nothing is stored, mailed or reported
        jsonb_build_object('code', 'rounded_number',
            'condition', $$NOT coalesce(s.rounded, false)$$,
            'message_ja', 'B列の送り状番号が表計算ソフトで指数表記(2.34568E+11 など)に丸められていて、元の番号が分かりません。B列の書式を「文字列」にして送り状番号を入力し直し、保存し直してから取り込んでください',
            'message_en', 'the spreadsheet rounded the tracking number in column B into scientific notation (such as 2.34568E+11): the real number is unknown. Format column B as text, enter the full tracking number, save the file and import it again'),
        jsonb_build_object('code', 'missing_tracking_no',
            'condition', $$coalesce(cardinality(s.tracking_nos), 0) > 0$$,
            'message_ja', 'B列に送り状番号がありません',
            'message_en', 'column B holds no tracking number'),
        jsonb_build_object('code', 'tracking_no_conflict',
            'condition', $$cardinality(s.tracking_nos) = 1$$,
            'message_ja', 'ファイル内で同じ注文番号に異なる送り状番号が指定されています',
            'message_en', 'the file gives this order more than one tracking number'),
        jsonb_build_object('code', 'tracking_no_too_long',
            'condition', $$length(s.tracking_nos[1]) <= 100$$,
            'message_ja', '送り状番号が100文字を超えています',
            'message_en', 'the tracking number is longer than 100 characters')),
    -- params.upload_id must name a staged shipment file (run_bulk and the
    -- wrapper can re-apply one, e.g. to orders whose hold was released)
    checks => jsonb_build_array(
        jsonb_build_object('condition', $$EXISTS (SELECT 1 FROM bulkorder.uploads u
               WHERE u.upload_id = (p->>'upload_id')::bigint AND u.purpose = 'import_shipments')$$,
            'message', 'params.upload_id does not name a shipment file upload',
            'hint', 'Upload the file with bulkorder.import_shipments(content, options).')),
    target_join => jsonb_build_object('table', 'bulkorder.upload_shipments', 'alias', 's', 'key', 'order_no',
        'on', $$s.upload_id = (p->>'upload_id')::bigint$$));

-- ==== extension/sql/code/operations/40_customers.sql
-- Customers page (顧客管理 > 顧客一覧): README, "Customers".  The seed only
-- says customer information can be bulk-updated; these are the updates
-- shop operators expect.  One define_operation call per operation.

-- ブラックリスト: blacklist / candidate (ブラックリスト候補) / remove.
-- Blacklisting is what the shop then uses to stop that customer's
-- shipments, so blacklisting a customer also puts the customer's
-- awaiting_shipment orders on shipping_hold, in the same statement: an
-- operator who blacklists a fraudulent customer expects the parcels not to
-- leave.  Only `blacklist` holds: `candidate` is "under review" and holds
-- nothing, and `remove` releases nothing (a hold may have other reasons; the
-- orders page's shipping_hold releases it).  Orders already `shipping` are
-- in the warehouse's hands and are not touched (hold them on the orders page
-- if needed); deleted orders are not touched.  The orders this job put on
-- hold are recorded in the customer's item: after.held_orders, their order
-- numbers in key order (absent when none).  The hold is a data-modifying CTE
-- of the operation's own apply_sql rather than an effects[] entry because
-- only the apply step can add to the item's after image.
SELECT bulkorder.define_operation('customers', 'blacklist',
    name_ja => 'ブラックリスト', name_en => 'blacklist',
    wrapper => 'bulk_customer_blacklist',
    params => '{"action": {"type": "text", "enum": ["blacklist", "candidate", "remove"], "position": 1}}',
    changed_columns => '{blacklist_status}',
    apply_sql => $$listed AS (
         UPDATE bulkorder.customers AS t
            SET blacklist_status = CASE prm.p->>'action' WHEN 'blacklist' THEN 'blacklisted'
                                                         WHEN 'candidate' THEN 'candidate'
                                                         ELSE 'none' END
           FROM eligible e, prm
          WHERE t.customer_id = e.target
      RETURNING t.customer_id AS target, t.blacklist_status),
       held AS (
         UPDATE bulkorder.orders AS o
            SET shipping_hold = true
           FROM listed l, prm
          WHERE prm.p->>'action' = 'blacklist'
            AND o.customer_id = l.target
            AND o.status = 'awaiting_shipment'
            AND o.deleted_at IS NULL
            AND NOT o.shipping_hold
      RETURNING o.customer_id, o.order_no),
       applied AS (
         SELECT l.target,
                jsonb_build_object('blacklist_status', l.blacklist_status)
                || CASE WHEN h.orders IS NULL THEN '{}'::jsonb
                        ELSE jsonb_build_object('held_orders', h.orders) END AS after
           FROM listed l
           LEFT JOIN (SELECT customer_id, jsonb_agg(order_no ORDER BY order_no) AS orders
                        FROM held GROUP BY customer_id) h ON h.customer_id = l.target)$$,
    -- the orders the hold will update, in their key order
    lock_sql => $$SELECT 1 FROM bulkorder.orders o
        WHERE $2->>'action' = 'blacklist'
          AND o.customer_id = ANY ($1)
          AND o.status = 'awaiting_shipment'
          AND o.deleted_at IS NULL
        ORDER BY o.order_no
          FOR NO KEY UPDATE OF o$$,
    -- ブラックリスト (customers page): the status, and the orders it put on
    -- hold (after.held_orders) released, where they are all still held.  The
    -- revert's before image keeps held_orders, so its own revert holds them again.
    revert => jsonb_build_object(
        'condition', $$t.blacklist_status = s.after->>'blacklist_status'
        AND NOT EXISTS (SELECT 1 FROM bulkorder.orders o
                        WHERE o.order_no IN (SELECT h::bigint FROM jsonb_array_elements_text(coalesce(s.after->'held_orders', '[]')) h)
                          AND NOT o.shipping_hold)
        AND NOT EXISTS (SELECT 1 FROM bulkorder.orders o
                        WHERE o.order_no IN (SELECT h::bigint FROM jsonb_array_elements_text(coalesce(s.before->'held_orders', '[]')) h)
                          AND o.shipping_hold)
        AND cardinality(ARRAY(SELECT jsonb_array_elements_text(coalesce(s.after->'held_orders', '[]'))))
            = (SELECT count(*) FROM bulkorder.orders o
               WHERE o.order_no IN (SELECT h::bigint FROM jsonb_array_elements_text(coalesce(s.after->'held_orders', '[]')) h)
                 AND o.deleted_at IS NULL)$$,
        'before_sql', $$jsonb_build_object('blacklist_status', t.blacklist_status)
        || CASE WHEN s.after ? 'held_orders' THEN jsonb_build_object('held_orders', s.after->'held_orders')
                ELSE '{}'::jsonb END$$,
        'apply_sql', $$listed AS (
        UPDATE bulkorder.customers AS t SET blacklist_status = s.before->>'blacklist_status'
          FROM eligible s
         WHERE t.customer_id = s.target
     RETURNING t.customer_id AS target, t.blacklist_status, s.before AS src_before),
       hold_restored AS (
        UPDATE bulkorder.orders o SET shipping_hold = x.hold
          FROM (SELECT h::bigint AS order_no, false AS hold
                  FROM eligible s,
                       jsonb_array_elements_text(coalesce(s.after->'held_orders', '[]')) h
                UNION ALL
                SELECT h::bigint, true
                  FROM eligible s,
                       jsonb_array_elements_text(coalesce(s.before->'held_orders', '[]')) h) AS x
         WHERE o.order_no = x.order_no
     RETURNING o.order_no),
       applied AS (
        SELECT l.target,
               jsonb_build_object('blacklist_status', l.blacklist_status)
               || CASE WHEN l.src_before ? 'held_orders' THEN jsonb_build_object('held_orders', l.src_before->'held_orders')
                       ELSE '{}'::jsonb END AS after
          FROM listed l)$$,
        'lock_sql', $$SELECT 1 FROM bulkorder.orders o
        WHERE o.order_no IN (SELECT h::bigint
                               FROM bulkorder.bulk_job_items i,
                                    jsonb_array_elements_text(coalesce(i.after->'held_orders', '[]')
                                                              || coalesce(i.before->'held_orders', '[]')) h
                              WHERE i.job_id = ($2->>'job_id')::bigint AND i.target = ANY ($1) AND i.ok)
        ORDER BY o.order_no
          FOR NO KEY UPDATE OF o$$));

-- タグ設定: as on the orders page (10_orders.sql): the same parameters,
-- bulkorder.merge_tags and the same whole-job checks.
SELECT bulkorder.define_operation('customers', 'tags',
    name_ja => 'タグ設定', name_en => 'tags',
    wrapper => 'bulk_customer_tags',
    params => '{"add": {"type": "text[]", "default": [], "max_length": 50, "position": 1},
                "remove": {"type": "text[]", "default": [], "max_length": 50, "position": 2}}',
    changed_columns => '{tags}',
    set_clause => $$tags = bulkorder.merge_tags(t.tags,
                                   ARRAY(SELECT jsonb_array_elements_text(p->'add')),
                                   ARRAY(SELECT jsonb_array_elements_text(p->'remove')))$$,
    checks => jsonb_build_array(
        jsonb_build_object('condition', $$jsonb_array_length(p->'add') + jsonb_array_length(p->'remove') > 0$$,
            'message', 'params.add and params.remove are both empty',
            'hint', 'Name at least one tag to add or remove.'),
        jsonb_build_object('condition', $$NOT EXISTS (SELECT 1 FROM jsonb_array_elements_text(p->'add') a(tag)
                   WHERE a.tag = '' OR p->'remove' ? a.tag)$$,
            'message', 'a tag is empty or both added and removed',
            'hint', 'Each tag must be non-empty and named in add or remove, not both.')));

-- 備考欄: the free-text field (00_common.sql)
SELECT bulkorder.define_operation('customers', 'remarks',
    name_ja => '備考欄', name_en => 'remarks',
    wrapper => 'bulk_customer_remarks',
    params => bulkorder_catalog.text_field_params(),
    changed_columns => '{remarks}',
    set_clause => bulkorder_catalog.text_field_set('remarks'),
    rules => bulkorder_catalog.text_field_rules('remarks'));

-- メルマガ購読, 会員ランク and ポイント.
--   rank: a code of bulkorder.customer_ranks, or null to clear the rank
--         (a customer without a rank is valid data); anything else rejects
--         the call.
--   points: a non-zero delta; a customer whose balance would go below zero
--         fails (insufficient_points) and keeps the balance, as does one
--         whose balance would pass the integer maximum (points_overflow).
SELECT bulkorder.define_operation('customers', 'mail_opt_in',
    name_ja => 'メルマガ購読', name_en => 'newsletter opt-in',
    wrapper => 'bulk_customer_mail_opt_in',
    params => '{"opt_in": {"type": "boolean", "position": 1}}',
    changed_columns => '{mail_opt_in}',
    set_clause => $$mail_opt_in = (p->>'opt_in')::boolean$$);

SELECT bulkorder.define_operation('customers', 'rank',
    name_ja => '会員ランク', name_en => 'customer rank',
    wrapper => 'bulk_customer_rank',
    params => '{"rank": {"type": "text", "nullable": true, "position": 1}}',
    changed_columns => '{rank}',
    set_clause => $$rank = p->>'rank'$$,
    checks => jsonb_build_array(
        jsonb_build_object('condition', $$p->>'rank' IS NULL OR EXISTS (SELECT 1 FROM bulkorder.customer_ranks r WHERE r.code = p->>'rank')$$,
            'message', 'unknown customer rank',
            'hint', 'The ranks are the codes of bulkorder.customer_ranks; null clears the rank.')));

SELECT bulkorder.define_operation('customers', 'points',
    name_ja => 'ポイント', name_en => 'points',
    wrapper => 'bulk_customer_points',
    params => '{"delta": {"type": "integer", "position": 1}}',
    changed_columns => '{points}',
    set_clause => $$points = t.points + (p->>'delta')::integer$$,
    rules => jsonb_build_array(
        jsonb_build_object('code', 'insufficient_points',
            'condition', $$t.points::bigint + (p->>'delta')::bigint >= 0$$,
            'message_ja', 'ポイント残高が不足するため減算できません',
            'message_en', 'the point balance would go below zero'),
        jsonb_build_object('code', 'points_overflow',
            'condition', $$t.points::bigint + (p->>'delta')::bigint <= 2147483647$$,
            'message_ja', 'ポイント残高が上限を超えるため加算できません',
            'message_en', 'the point balance would exceed its maximum')),
    checks => jsonb_build_array(
        jsonb_build_object('condition', $$(p->>'delta')::integer <> 0$$,
            'message', 'params.delta is zero',
            'hint', 'Give a positive delta to add points or a negative one to take them.')),
    -- ポイント: as the delta given (SPEC §7): the revert subtracts the job's
    -- delta from today's balance, whatever happened to it since.
    revert => jsonb_build_object(
        'condition', 'true',
        'rules', jsonb_build_array(
        jsonb_build_object(
            'code', 'points_below_zero',
            'condition', $$t.points::bigint - ((s.after->>'points')::bigint - (s.before->>'points')::bigint) >= 0$$,
            'message_ja', 'ポイント残高が不足するため取り消せません',
            'message_en', 'the point balance would go below zero'),
        jsonb_build_object(
            'code', 'points_overflow',
            'condition', $$t.points::bigint - ((s.after->>'points')::bigint - (s.before->>'points')::bigint) <= 2147483647$$,
            'message_ja', 'ポイント残高が上限を超えるため取り消せません',
            'message_en', 'the point balance would exceed its maximum')),
        'apply_sql', $$applied AS (
        UPDATE bulkorder.customers AS t
           SET points = t.points - ((s.after->>'points')::integer - (s.before->>'points')::integer)
          FROM eligible s
         WHERE t.customer_id = s.target
     RETURNING t.customer_id AS target, jsonb_build_object('points', t.points) AS after)$$));

-- ==== extension/sql/code/60_csv.sql
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

-- Raises 22023 for an unknown (or purged) upload.
CREATE OR REPLACE FUNCTION bulkorder.check_upload(upload_id bigint)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF $1 IS NULL THEN
        RAISE EXCEPTION 'upload_id must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM bulkorder.uploads u WHERE u.upload_id = $1) THEN
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
    WHERE l.upload_id = $1 AND l.error_code IS NULL;
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
    JOIN bulkorder.upload_lines l ON l.upload_id = u.upload_id AND l.error_code IS NOT NULL
    WHERE u.upload_id = $1
    ORDER BY l.line_no;
END
$$;

COMMENT ON FUNCTION bulkorder.upload_errors(bigint) IS
'Every line of the upload that gave no key: not_a_number, rounded_number, not_found, duplicate_key';

-- Delete uploads older than the given age, with their lines; an import
-- whose job is still queued or running is kept.  Returns how many uploads
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
                          WHERE j.job_id = u.job_id AND j.status IN ('queued', 'running'))
        RETURNING u.upload_id),
    lines AS (
        DELETE FROM bulkorder.upload_lines l USING gone WHERE l.upload_id = gone.upload_id),
    shipments AS (
        DELETE FROM bulkorder.upload_shipments s USING gone WHERE s.upload_id = gone.upload_id)
    SELECT count(*) INTO purged FROM gone;
    RETURN purged;
END
$$;

COMMENT ON FUNCTION bulkorder.purge_uploads(interval) IS
'Delete uploads (and their lines) older than the interval; for pg_cron';

-- ==== extension/sql/code/65_generation.sql
-- Subscription order generation (定期注文の自動生成), SPEC §6.
--
-- bulkorder.generate_subscription_orders(as_of) creates the next order of
-- every due master — `active`, no autogen_error, next_ship_date <= as_of —
-- and advances the master to its following delivery.  Meant to run every
-- morning from pg_cron (README).
--
-- One order per master per call: the order of the master's current next
-- dates.  The master then moves one cycle on; a master more than one cycle
-- behind (dates left in the past) catches up one order per call instead of
-- receiving a pile of back-dated orders at once.
--
-- Safe to repeat and to run concurrently: the due masters are locked in key
-- order, then re-read; a master another call has just advanced is no longer
-- due when its lock is granted, so no cycle is ever ordered twice.
--
-- The order: customer, payment method, delivery method and slot of the
-- master; scheduled dates = the master's next dates; its products at their
-- current price; course_seq = the master's non-deleted orders + 1; status
-- awaiting_shipment; auth_status `pending` where the payment method has a
-- gateway (the payment connector authorizes it), else `not_required`.  The
-- notes that belong on every delivery are copied: customer_message (the
-- customer's standing instructions), remarks and integration_text;
-- reply_message (the shop's answer on the master) is not.
--
-- Advancing: the delivery date drives the cycle (frequency_next_date with
-- the master's effective anchor day, kept in anchor_day for monthly cycles);
-- the ship date keeps its lead time before the delivery date.  A master with
-- no delivery date advances its ship date alone.
--
-- A master whose order cannot be created gets autogen_error = true and
-- autogen_error_reason (every reason, in Japanese) and is left as it is;
-- clear it with the subscriptions page's clear_autogen_error once fixed.
--
-- One master's data never stops the run for the others (SPEC §8).  The
-- checks below name what they foresee, a next date that is no real date
-- (infinity, outside 1900-01-01 .. 2199-12-31, written by hand) included:
-- such an active master is flagged on every run whatever as_of, since it
-- would otherwise never come due or never advance.  Whatever they do not
-- foresee (a trigger of the shop, a date arithmetic overflow) breaks the one
-- set-based statement: it is then run again master by master, each in a
-- subtransaction of its own, and a master whose statement still fails is
-- flagged with the error's text.  A transient error (a deadlock, a lock or
-- statement timeout, a cancel, no memory) is no fault of the master and
-- fails the run instead, as before.
-- A run that made or refused anything leaves a notification (job_id NULL)
-- with its counts.

CREATE OR REPLACE FUNCTION bulkorder.generate_subscription_orders(as_of date)
RETURNS bulkorder.generation_result
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    keys bigint[];
    batch bigint[];
    one_by_one boolean := false;
    i integer := 0;
    made integer;
    flagged_count integer;
    err text;
    result bulkorder.generation_result := ROW(0, 0);
BEGIN
    IF as_of IS NULL THEN
        RAISE EXCEPTION 'as_of must not be null'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Pass the date up to which due subscriptions get their order, e.g. current_date.';
    END IF;
    IF NOT (as_of BETWEEN '1900-01-01' AND '2199-12-31') THEN
        RAISE EXCEPTION 'as_of is out of range: "%"', as_of
            USING ERRCODE = 'datetime_field_overflow',
                  DETAIL = CASE WHEN pg_catalog.current_setting('bulkorder.language', true) = 'en'
                                THEN 'A date argument takes a date from 1900-01-01 to 2199-12-31; infinity is not a date.'
                                ELSE 'as_of は 1900-01-01 から 2199-12-31 までの日付で指定してください。' END;
    END IF;

    -- Lock the due masters in key order (two generations, or a generation
    -- and a bulk job, never deadlock).  A row another transaction has
    -- changed meanwhile is re-checked on its newest version.
    SELECT coalesce(array_agg(d.course_order_no ORDER BY d.course_order_no), '{}')
    INTO keys
    FROM (SELECT s.course_order_no
          FROM bulkorder.subscriptions s
          WHERE s.status = 'active' AND NOT s.autogen_error
            AND (s.next_ship_date <= as_of
                 OR NOT (s.next_ship_date BETWEEN '1900-01-01' AND '2199-12-31')
                 OR NOT (s.next_delivery_date BETWEEN '1900-01-01' AND '2199-12-31'))
          ORDER BY s.course_order_no
          FOR NO KEY UPDATE OF s) d;

    -- Order numbers come from the orders sequence, but an explicit key is
    -- accepted on insert (an admin tool, a migration): move the sequence past
    -- the highest order number first, never back.
    PERFORM pg_catalog.setval(seq.name, m.max_no)
    FROM (SELECT pg_catalog.pg_get_serial_sequence('bulkorder.orders', 'order_no')::regclass AS name) seq,
         (SELECT max(o.order_no) AS max_no FROM bulkorder.orders o) m
    WHERE cardinality(keys) > 0
      AND m.max_no > coalesce(pg_catalog.pg_sequence_last_value(seq.name), 0);

    -- All due masters in one statement; if it fails, one master at a time,
    -- each in a subtransaction (the header above).
    LOOP
        IF one_by_one THEN
            i := i + 1;
            EXIT WHEN i > cardinality(keys);
            batch := ARRAY[keys[i]];
        ELSE
            batch := keys;
        END IF;
        BEGIN
            -- A new statement, so a new snapshot: items, products and customers as
            -- committed by whoever held a lock before us.
            WITH due AS MATERIALIZED (
                SELECT s.*, f.kind, f.every, f.day_of_month,
                       coalesce(s.next_delivery_date, s.next_ship_date) AS cycle_date
                FROM bulkorder.subscriptions s
                LEFT JOIN bulkorder.frequencies f ON f.frequency_id = s.frequency_id
                WHERE s.course_order_no = ANY (batch)
                  AND s.status = 'active' AND NOT s.autogen_error
                  AND (s.next_ship_date <= as_of
                       OR NOT (s.next_ship_date BETWEEN '1900-01-01' AND '2199-12-31')
                       OR NOT (s.next_delivery_date BETWEEN '1900-01-01' AND '2199-12-31'))
            ),
            -- every line of every due master with what its product allows
            lines AS MATERIALIZED (
                SELECT d.course_order_no, si.product_id,
                       format('商品「%s」(商品ID %s)', coalesce(pr.name, ''), pr.product_id) AS product,
                       pr.is_public,
                       pp.product_id IS NOT NULL AS payment_ok,
                       d.delivery_method IS NULL OR pd.product_id IS NOT NULL AS delivery_ok,
                       d.frequency_id IS NULL OR pf.product_id IS NOT NULL AS frequency_ok,
                       d.payment_method, d.delivery_method, d.frequency_id
                FROM due d
                JOIN bulkorder.subscription_items si ON si.course_order_no = d.course_order_no
                JOIN bulkorder.products pr ON pr.product_id = si.product_id
                LEFT JOIN bulkorder.product_payment_methods pp
                       ON pp.product_id = si.product_id AND pp.payment_method = d.payment_method
                LEFT JOIN bulkorder.product_delivery_methods pd
                       ON pd.product_id = si.product_id AND pd.delivery_method = d.delivery_method
                LEFT JOIN bulkorder.product_frequencies pf
                       ON pf.product_id = si.product_id AND pf.frequency_id = d.frequency_id
            ),
            -- why a master cannot get its order, in readable Japanese
            reasons AS (
                SELECT d.course_order_no, 0 AS prio, NULL::bigint AS product_id,
                       format('次回発送予定日 (%s) が正しい日付ではありません。', d.next_ship_date) AS reason
                FROM due d WHERE NOT (d.next_ship_date BETWEEN '1900-01-01' AND '2199-12-31')
                UNION ALL
                SELECT d.course_order_no, 0, NULL,
                       format('次回お届け予定日 (%s) が正しい日付ではありません。', d.next_delivery_date)
                FROM due d WHERE NOT (d.next_delivery_date BETWEEN '1900-01-01' AND '2199-12-31')
                UNION ALL
                SELECT d.course_order_no, 1, NULL,
                       'お客様がブラックリストに登録されています。'
                FROM due d
                JOIN bulkorder.customers c ON c.customer_id = d.customer_id
                WHERE c.blacklist_status = 'blacklisted'
                UNION ALL
                SELECT d.course_order_no, 2, NULL, 'お届け頻度が設定されていません。'
                FROM due d WHERE d.frequency_id IS NULL
                UNION ALL
                SELECT d.course_order_no, 3, NULL, '定期商品が登録されていません。'
                FROM due d WHERE NOT EXISTS (SELECT 1 FROM lines l WHERE l.course_order_no = d.course_order_no)
                UNION ALL
                SELECT l.course_order_no, 4, l.product_id, l.product || 'は公開されていません。'
                FROM lines l WHERE NOT l.is_public
                UNION ALL
                SELECT l.course_order_no, 5, l.product_id,
                       format('%sは決済方法「%s」に対応していません。', l.product,
                              coalesce(nullif(pm.name, ''), l.payment_method))
                FROM lines l JOIN bulkorder.payment_methods pm ON pm.code = l.payment_method
                WHERE NOT l.payment_ok
                UNION ALL
                SELECT l.course_order_no, 6, l.product_id,
                       format('%sは配送方法「%s」に対応していません。', l.product,
                              coalesce(nullif(dm.name, ''), l.delivery_method))
                FROM lines l JOIN bulkorder.delivery_methods dm ON dm.code = l.delivery_method
                WHERE NOT l.delivery_ok
                UNION ALL
                SELECT l.course_order_no, 7, l.product_id,
                       format('%sはお届け頻度「%s」に対応していません。', l.product,
                              coalesce(f.name, f.frequency_id::text))
                FROM lines l JOIN bulkorder.frequencies f ON f.frequency_id = l.frequency_id
                WHERE NOT l.frequency_ok
            ),
            checked AS MATERIALIZED (
                SELECT d.course_order_no,
                       string_agg(r.reason, '' ORDER BY r.prio, r.product_id) AS reason
                FROM due d
                LEFT JOIN reasons r ON r.course_order_no = d.course_order_no
                GROUP BY d.course_order_no
            ),
            ok AS MATERIALIZED (
                SELECT d.*,
                       bulkorder.effective_anchor_day(d.cycle_date, d.anchor_day) AS anchor,
                       (SELECT count(*) FROM bulkorder.orders o
                        WHERE o.course_order_no = d.course_order_no AND o.deleted_at IS NULL) + 1 AS seq
                FROM due d
                JOIN checked c ON c.course_order_no = d.course_order_no AND c.reason IS NULL
            ),
            new_orders AS (
                INSERT INTO bulkorder.orders
                    (customer_id, course_order_no, course_seq, status, payment_method, auth_status,
                     delivery_method, delivery_time_slot, scheduled_ship_date, scheduled_delivery_date,
                     customer_message, remarks, integration_text)
                SELECT ok.customer_id, ok.course_order_no, ok.seq, 'awaiting_shipment', ok.payment_method,
                       CASE WHEN pm.has_gateway THEN 'pending' ELSE 'not_required' END,
                       ok.delivery_method, ok.delivery_time_slot, ok.next_ship_date, ok.next_delivery_date,
                       ok.customer_message, ok.remarks, ok.integration_text
                FROM ok
                JOIN bulkorder.payment_methods pm ON pm.code = ok.payment_method
                ORDER BY ok.course_order_no
                RETURNING order_no, course_order_no
            ),
            new_items AS (
                INSERT INTO bulkorder.order_items (order_no, product_id, quantity, unit_price)
                SELECT n.order_no, si.product_id, si.quantity, pr.price
                FROM new_orders n
                JOIN bulkorder.subscription_items si ON si.course_order_no = n.course_order_no
                JOIN bulkorder.products pr ON pr.product_id = si.product_id
                RETURNING 1
            ),
            advanced AS (
                UPDATE bulkorder.subscriptions s
                SET next_delivery_date = CASE WHEN ok.next_delivery_date IS NOT NULL THEN nx.cycle END,
                    next_ship_date = nx.cycle - coalesce(ok.next_delivery_date - ok.next_ship_date, 0),
                    anchor_day = CASE WHEN ok.kind = 'months' THEN ok.anchor END
                FROM ok
                CROSS JOIN LATERAL (SELECT bulkorder.frequency_next_date(ok.cycle_date, ok.kind, ok.every,
                                                                         ok.day_of_month, ok.anchor) AS cycle) nx
                WHERE s.course_order_no = ok.course_order_no
                RETURNING 1
            ),
            flagged AS (
                UPDATE bulkorder.subscriptions s
                SET autogen_error = true,
                    autogen_error_reason = '定期注文を自動生成できませんでした: ' || c.reason
                FROM checked c
                WHERE c.reason IS NOT NULL AND s.course_order_no = c.course_order_no
                RETURNING 1
            )
            SELECT (SELECT count(*) FROM new_orders)::integer,
                   (SELECT count(*) FROM flagged)::integer
            INTO made, flagged_count;   -- (data-modifying CTEs run whether read or not)
            result.created := result.created + made;
            result.failed := result.failed + flagged_count;
        EXCEPTION WHEN OTHERS THEN
            -- not the master's fault: the run fails, as any statement would
            IF left(SQLSTATE, 2) IN ('40', '53', '55', '57', '58') THEN
                RAISE;
            END IF;
            IF NOT one_by_one THEN
                one_by_one := true;
                CONTINUE;
            END IF;
            GET STACKED DIAGNOSTICS err = MESSAGE_TEXT;
            UPDATE bulkorder.subscriptions s
            SET autogen_error = true,
                autogen_error_reason = '定期注文を自動生成できませんでした: '
                    || 'マスターのデータから注文を作成できません (' || err || ')'
            WHERE s.course_order_no = batch[1];
            result.failed := result.failed + 1;
        END;
        EXIT WHEN NOT one_by_one;
    END LOOP;

    -- tell the operators (the bell of the admin tool), when anything happened
    IF result.created + result.failed > 0 THEN
        INSERT INTO bulkorder.notifications (job_id, recipient, message)
        VALUES (NULL, NULL,
                format('定期注文を自動生成しました(%s 発送分まで): 作成 %s件、エラー %s件',
                       to_char(as_of, 'YYYY-MM-DD'), result.created, result.failed)
                || CASE WHEN result.failed > 0
                        THEN '。エラーの定期注文マスターは定期自動生成エラーとして一覧に表示されます'
                        ELSE '' END);
    END IF;

    RETURN result;
END
$fn$;

COMMENT ON FUNCTION bulkorder.generate_subscription_orders(date) IS
'定期注文の自動生成: the next order of every active master due by as_of (next_ship_date <= as_of); returns (created, failed)';

-- ==== extension/sql/code/70_async.sql
-- Asynchronous jobs (SPEC §7): run_bulk(..., options => '{"async": true}')
-- queues the job; a background worker of the extension (job_worker.c) runs it
-- chunk by chunk, each chunk committing its changes, its items, the job's
-- counts and the resume cursor bulk_jobs.last_target together.

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

-- ==== extension/sql/code/98_release.sql
-- The shop's data outlives the extension (SPEC §8).  Its tables, their key
-- sequences and the views over them are created by the install script and
-- then released from the extension: DROP EXTENSION bulkorder leaves them and
-- their rows, pg_dump dumps them as the shop's own tables, and Citus can
-- distribute them.  The engine (functions, the catalogue and its listing)
-- stays the extension's.  Runs at every install and upgrade; it releases
-- whatever is still a member, so a table added by a later version is
-- released by the same lines.
DO $release$
DECLARE
    obj record;
BEGIN
    FOR obj IN
        SELECT c.oid::regclass AS rel,
               CASE c.relkind WHEN 'r' THEN 'TABLE' WHEN 'S' THEN 'SEQUENCE' ELSE 'VIEW' END AS kind
        FROM pg_catalog.pg_depend d
        JOIN pg_catalog.pg_class c ON c.oid = d.objid
        WHERE d.classid = 'pg_catalog.pg_class'::regclass
          AND d.refclassid = 'pg_catalog.pg_extension'::regclass
          AND d.refobjid = (SELECT oid FROM pg_catalog.pg_extension WHERE extname = 'bulkorder')
          AND d.deptype = 'e'
          AND c.relnamespace = 'bulkorder'::regnamespace
          AND c.relkind IN ('r', 'S', 'v')
          -- a view over the catalogue is the engine's
          AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend vd
                          JOIN pg_catalog.pg_rewrite rw ON rw.oid = vd.objid
                          JOIN pg_catalog.pg_class src ON src.oid = vd.refobjid
                          WHERE rw.ev_class = c.oid
                            AND vd.classid = 'pg_catalog.pg_rewrite'::regclass
                            AND vd.refclassid = 'pg_catalog.pg_class'::regclass
                            AND src.relnamespace = 'bulkorder_catalog'::regnamespace)
        ORDER BY c.relkind, c.relname
    LOOP
        EXECUTE pg_catalog.format('ALTER EXTENSION bulkorder DROP %s %s', obj.kind, obj.rel);
    END LOOP;
END
$release$;

COMMENT ON SCHEMA bulkorder IS
'bulkorder 1.1: the shop''s tables (they outlive DROP EXTENSION bulkorder) and the bulk-update engine';

-- ==== extension/sql/code/99_security.sql
-- Nothing for PUBLIC: an operator or a BI role is granted what it needs
-- (README, "Roles").  Functions that change data are SECURITY DEFINER with a
-- pinned search_path, so an operator needs no privilege on the tables and
-- every change goes through the rules.

-- The two roles a shop needs, as functions so that a DBA grants exactly
-- what the README describes and nothing more.  Run them as the extension's
-- owner: SELECT bulkorder.grant_operator('shop_operator');

-- An operator runs and previews jobs, uploads CSV files, cancels jobs and
-- reads lists, history, failures and notifications; the tables themselves
-- change only through the SECURITY DEFINER functions.
CREATE OR REPLACE FUNCTION bulkorder.grant_operator(role_name name)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    fn regprocedure;
    rel regclass;
BEGIN
    -- a role of pg_roles: '' would be broken SQL, and GRANT … TO "public"
    -- would grant to PUBLIC
    IF role_name IS NULL THEN
        RAISE EXCEPTION 'role_name must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    ELSIF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = role_name) THEN
        RAISE EXCEPTION 'role "%" does not exist', role_name USING ERRCODE = 'undefined_object';
    END IF;
    EXECUTE format('GRANT USAGE ON SCHEMA bulkorder TO %I', role_name);
    FOR fn IN
        SELECT p.oid::regprocedure
        FROM pg_proc p
        WHERE p.pronamespace = 'bulkorder'::regnamespace
          AND (p.proname IN ('run_bulk', 'preview_bulk', 'cancel_job', 'upload_csv', 'upload_targets',
                             'retry_failed', 'revert_job', 'preview_revert',
                             'upload_errors', 'import_shipments', 'mark_notifications_read')
               OR p.proname IN (SELECT wrapper FROM bulkorder_catalog.operations))
    LOOP
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO %I', fn, role_name);
    END LOOP;
    FOR rel IN
        SELECT c.oid::regclass
        FROM pg_class c
        WHERE c.relnamespace = 'bulkorder'::regnamespace
          AND c.relname IN ('order_list', 'subscription_list', 'shipment_list', 'customer_list',
                            'bulk_jobs', 'bulk_job_items', 'bulk_job_failures', 'bulk_job_targets', 'notifications',
                            'order_bulk_history', 'subscription_bulk_history', 'shipment_bulk_history',
                            'customer_bulk_history', 'operation_catalog', 'upload_list',
                            'payment_methods', 'delivery_methods', 'delivery_time_slots', 'frequencies',
                            'products', 'customer_ranks', 'mail_templates')
    LOOP
        EXECUTE format('GRANT SELECT ON %s TO %I', rel, role_name);
    END LOOP;
END
$fn$;

-- A read-only BI role: every table and view of the schema, no function.
CREATE OR REPLACE FUNCTION bulkorder.grant_reader(role_name name)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    -- a role of pg_roles: '' would be broken SQL, and GRANT … TO "public"
    -- would grant to PUBLIC
    IF role_name IS NULL THEN
        RAISE EXCEPTION 'role_name must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    ELSIF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = role_name) THEN
        RAISE EXCEPTION 'role "%" does not exist', role_name USING ERRCODE = 'undefined_object';
    END IF;
    EXECUTE format('GRANT USAGE ON SCHEMA bulkorder TO %I', role_name);
    EXECUTE format('GRANT SELECT ON ALL TABLES IN SCHEMA bulkorder TO %I', role_name);
END
$fn$;


-- Last: nothing for PUBLIC, whatever the files above created.
REVOKE ALL ON ALL TABLES IN SCHEMA bulkorder FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA bulkorder FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA bulkorder FROM PUBLIC;
REVOKE ALL ON SCHEMA bulkorder FROM PUBLIC;
