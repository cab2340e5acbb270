-- The operation catalogue.  An operation is data: its page, code, parameter
-- schema, whole-job parameter checks, per-target eligibility rules each with
-- its error code and message, and the change it makes.  The C engine
-- (extension/src/engine.c) turns a declaration into one set-based statement
-- per chunk of targets; nothing here runs per row.
--
-- SQL fragments in the catalogue may use:
--   t        the target row (NULL when the key is unknown or deleted)
--   p        the job's parameters as jsonb, defaults filled in
--   $3       the job id (in apply and effect statements only)
--   eligible CTE (target) of the targets that passed every rule
--   applied  CTE (target, after) that an apply_sql must define

-- The catalogue is the extension's own code, not shop data: it lives in a
-- schema of its own, so that after CREATE EXTENSION the shop's schema holds
-- rows only in payment_methods and mail_templates, and nothing in
-- it is visible to any role but the owner.
CREATE SCHEMA bulkorder_catalog;
REVOKE ALL ON SCHEMA bulkorder_catalog FROM PUBLIC;
COMMENT ON SCHEMA bulkorder_catalog IS 'bulkorder: the operation catalogue (read it through bulkorder.operation_catalog)';

CREATE TABLE bulkorder_catalog.pages (
    page text PRIMARY KEY,
    name_ja text NOT NULL,
    name_en text NOT NULL,
    target_table text NOT NULL,          -- schema-qualified table of the page's rows
    key_column text NOT NULL,
    key_name_ja text NOT NULL,           -- what column A of an upload holds
    visible_condition text NOT NULL DEFAULT 'true'   -- over t: rows the page can see
);

CREATE TABLE bulkorder_catalog.operations (
    page text NOT NULL REFERENCES bulkorder_catalog.pages (page),
    operation text NOT NULL CHECK (operation ~ '^[a-z][a-z0-9_]*$'),
    name_ja text NOT NULL,
    name_en text NOT NULL,
    -- {"name": {"type": "boolean|text|integer|bigint|date|text[]",
    --           "default": …, "nullable": bool, "enum": […],
    --           "max_length": n, "min": n, "max": n}}
    -- A parameter without "default" is required.
    params jsonb NOT NULL DEFAULT '{}',
    -- fields recorded in bulk_job_items.before/after
    changed_columns text[] NOT NULL DEFAULT '{}',
    -- the common change: UPDATE target_table t SET <set_clause>
    set_clause text,
    -- or a custom change: CTEs (comma-separated, without WITH) that read
    -- eligible and define applied(target, after)
    apply_sql text,
    -- custom before image over t (default: changed_columns of t)
    before_sql text,
    -- further data-modifying CTE bodies that read applied (outbox rows, …)
    effects text[] NOT NULL DEFAULT '{}',
    -- rows of other tables the change will update, locked in their key
    -- order before the change, given $1 = the chunk's keys and $2 = the
    -- job's params (jsonb, defaults filled in), so a lock can depend on them
    lock_sql text,
    -- rows of tables that come BEFORE the page's table in the shop-wide
    -- lock order (customers → orders → subscriptions), locked in their key
    -- order before the page's rows, given $1 and $2 as for lock_sql: e.g.
    -- the orders page's blacklist locks the orders' customers first, as the
    -- customers page does, so the two pages never deadlock
    prelock_sql text,
    -- pg_regress/pgTAP checks that every operation has a typed wrapper
    wrapper text NOT NULL,
    PRIMARY KEY (page, operation),
    CHECK ((set_clause IS NULL) <> (apply_sql IS NULL))
);

CREATE TABLE bulkorder_catalog.operation_rules (
    page text NOT NULL,
    operation text NOT NULL,
    position integer NOT NULL,
    error_code text NOT NULL CHECK (error_code ~ '^[a-z][a-z0-9_]*$' AND error_code <> 'not_found'),
    condition text NOT NULL,             -- true when the target is eligible
    message_ja text NOT NULL,
    message_en text NOT NULL,
    PRIMARY KEY (page, operation, position),
    UNIQUE (page, operation, error_code),
    FOREIGN KEY (page, operation) REFERENCES bulkorder_catalog.operations ON DELETE CASCADE
);

-- Added in 1.1 (releases/bulkorder--1.0--1.1.sql adds them in the same order):
-- whether a job of the operation can be undone by revert_job, and why not.
ALTER TABLE bulkorder_catalog.operations
    ADD COLUMN reversible boolean NOT NULL DEFAULT true,
    ADD COLUMN irreversible_reason text;
-- shipped: declared by the extension's own script (code/operations/);
-- false for an operation a shop declared with define_operation.  Every
-- install and upgrade re-declares the shipped rows only, and pg_dump keeps
-- the shop's rows (pg_extension_config_dump below).
ALTER TABLE bulkorder_catalog.operations
    ADD COLUMN shipped boolean NOT NULL DEFAULT false;

-- Whole-job checks on the parameters (a known delivery method, a public
-- product, …): any false rejects the call before anything changes.
CREATE TABLE bulkorder_catalog.operation_param_checks (
    page text NOT NULL,
    operation text NOT NULL,
    position integer NOT NULL,
    condition text NOT NULL,             -- over p; true when acceptable
    sqlstate text NOT NULL DEFAULT '22023' CHECK (sqlstate ~ '^[0-9A-Z]{5}$'),
    message text NOT NULL,
    hint text,
    PRIMARY KEY (page, operation, position),
    FOREIGN KEY (page, operation) REFERENCES bulkorder_catalog.operations ON DELETE CASCADE
);

-- pg_dump keeps the rows a shop declared (define_operation outside the
-- extension's script); the shipped rows come back with CREATE EXTENSION.
SELECT pg_catalog.pg_extension_config_dump('bulkorder_catalog.operations', 'WHERE NOT shipped');
SELECT pg_catalog.pg_extension_config_dump('bulkorder_catalog.operation_rules',
    'WHERE (page, operation) IN (SELECT page, operation FROM bulkorder_catalog.operations WHERE NOT shipped)');
SELECT pg_catalog.pg_extension_config_dump('bulkorder_catalog.operation_param_checks',
    'WHERE (page, operation) IN (SELECT page, operation FROM bulkorder_catalog.operations WHERE NOT shipped)');

-- How a revert undoes the operation (define_operation's revert argument;
-- docs/define_operation.md).  NULL everywhere is the generic revert: the
-- fields named in the original item's after image, where the row still
-- holds them, are set back to its before image.  Fragments may use t (the target row),
-- s (the original item: s.before, s.after), p (the original job's params),
-- src ($2->>'job_id', the job being reverted) and eligible/applied as for
-- apply_sql.
ALTER TABLE bulkorder_catalog.operations
    -- the condition that the target still holds what the job left
    -- (NULL: every field of s.after equals the row's); false → changed_since
    ADD COLUMN revert_condition text,
    -- further per-target rules of the revert, checked after changed_since:
    -- [{"code", "condition", "message_ja", "message_en"}]
    ADD COLUMN revert_rules jsonb NOT NULL DEFAULT '[]',
    -- the revert item's before image over t and s (NULL: the row's values
    -- of the fields of s.after)
    ADD COLUMN revert_before_sql text,
    -- the change: CTEs reading eligible (target, before, after: the images),
    -- defining applied(target, after) (NULL: the generic UPDATE from s.before)
    ADD COLUMN revert_apply_sql text,
    -- rows of other tables the revert updates, locked in their key order
    -- before (revert_prelock_sql) or after (revert_lock_sql) the page's rows
    ADD COLUMN revert_prelock_sql text,
    ADD COLUMN revert_lock_sql text,
    -- the rows a revert can see (NULL: the page's visible_condition); a
    -- revert of 削除 sees the orders it deleted
    ADD COLUMN revert_visible_condition text;

-- A whole-call check's hint in Japanese (1.2), shown to a Japanese
-- session; hint is the English one (and the Japanese one when there is
-- none).
ALTER TABLE bulkorder_catalog.operation_param_checks
    ADD COLUMN hint_ja text;

-- A row of other data per target (define_operation's target_join): one row
-- of table, as alias, whose column key is the target's key (and which meets
-- on, over alias and p), LEFT JOINed to every statement that reads t, so
-- rules and the set clause read it with one probe, not one per fragment.
-- {"table", "alias", "key", "on"}; NULL: none.
ALTER TABLE bulkorder_catalog.operations
    ADD COLUMN target_join jsonb;
