-- bulkorder on a Citus cluster (extension/src/citus.c; docs/citus.md).
-- bulkorder.distribute_shops() distributes the shop's
-- tables by shop_id and registers the functions that run a chunk of a job
-- as Citus distributed functions, delegated to the node that holds the
-- shop.  Nothing here changes a database without Citus, or one where
-- distribute_shops() has not run.

-- One chunk of work of a job of the shop, on the node that holds the shop:
-- the engine's lock, check, apply and record (mode lock, apply,
-- apply_locked), or the give-up pass of a chunk whose rows are held
-- (give_up: held lists the targets that fail with row_locked).  The engine
-- calls it; nothing is granted on it.
CREATE OR REPLACE FUNCTION bulkorder_catalog.run_chunk(shop bigint, job_id bigint, page text,
                                                       operation text, params jsonb,
                                                       targets bigint[], mode text,
                                                       language text, lock_timeout integer,
                                                       OUT succeeded bigint, OUT failed bigint,
                                                       OUT held bigint[])
RETURNS record
AS 'MODULE_PATHNAME', 'bulkorder_run_chunk'
LANGUAGE C VOLATILE STRICT;

-- The preview of one chunk of a job of the shop, on the node that holds it
-- (preview_bulk, preview_revert).
CREATE OR REPLACE FUNCTION bulkorder_catalog.preview_chunk(shop bigint, page text, operation text,
                                                           params jsonb, targets bigint[],
                                                           read_only boolean, language text)
RETURNS TABLE (target bigint, ok boolean, error_code text, message text)
AS 'MODULE_PATHNAME', 'bulkorder_preview_chunk'
LANGUAGE C VOLATILE STRICT;

REVOKE ALL ON FUNCTION bulkorder_catalog.run_chunk(bigint, bigint, text, text, jsonb, bigint[], text, text, integer),
                       bulkorder_catalog.preview_chunk(bigint, text, text, jsonb, bigint[], boolean, text)
    FROM PUBLIC;

-- The functions distribute_shops() registers as Citus distributed
-- functions: each one's first argument is the shop, the value Citus routes
-- the call by.
CREATE OR REPLACE FUNCTION bulkorder_catalog.citus_delegated_functions()
RETURNS SETOF regprocedure
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
    VALUES ('bulkorder_catalog.run_chunk(bigint, bigint, text, text, jsonb, bigint[], text, text, integer)'::regprocedure),
           ('bulkorder_catalog.preview_chunk(bigint, text, text, jsonb, bigint[], boolean, text)'::regprocedure),
           ('bulkorder_catalog.settle_payment_request(bigint, bigint, boolean, text, text)'::regprocedure),
           ('bulkorder_catalog.take_payment_requests_in_shop(bigint, integer)'::regprocedure),
           ('bulkorder_catalog.take_mails_in_shop(bigint, integer)'::regprocedure)
$fn$;
REVOKE ALL ON FUNCTION bulkorder_catalog.citus_delegated_functions() FROM PUBLIC;

-- distribute_shops(): on a Citus coordinator, as a superuser.
--   * shops and shop_roles become reference tables (every node reads who may
--     act on which shop locally);
--   * every other table of schema bulkorder (they all lead their keys with
--     shop_id) is distributed by shop_id, all in one co-location group with
--     orders, the tables they refer to first;
--   * the chunk functions above become distributed functions delegated by
--     the shop (force_delegation: inside transaction blocks and function
--     calls too);
--   * the operations a shop defined (define_operation) are copied to every
--     worker, where the chunks compose their statements; the shipped ones
--     are there already (every node's CREATE EXTENSION made them).
-- Calling it again distributes what is not distributed yet (a table a
-- later version adds) and copies the shop's operations again (a worker
-- added since).  Shops created later are rows of the reference table shops
-- and of the distributed tables: they are distributed as they are made.
-- Two things of one node change: a job row's deletion no longer deletes its
-- items and cancel requests (Citus runs no trigger on a distributed table:
-- delete them first), and an upload's job cannot be deleted before the
-- upload (Citus refuses ON DELETE SET NULL on a key with the distribution
-- column).
CREATE OR REPLACE FUNCTION bulkorder.distribute_shops()
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    r record;
    anchor regclass;
    pending regclass[];
    ready regclass[];
    distributed regclass[] := '{}';
    f regprocedure;
BEGIN
    IF NOT (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
        RAISE EXCEPTION 'permission denied for function distribute_shops'
            USING ERRCODE = 'insufficient_privilege', HINT = bulkorder_catalog.message('DISTRIBUTE_SUPERUSER');
    END IF;
    IF pg_catalog.to_regproc('pg_catalog.create_distributed_table') IS NULL THEN
        RAISE EXCEPTION 'this database has no Citus'
            USING ERRCODE = 'feature_not_supported',
                  DETAIL = bulkorder_catalog.message('DISTRIBUTE_NO_CITUS'),
                  HINT = bulkorder_catalog.message('DISTRIBUTE_NO_CITUS_HINT');
    END IF;
    IF NOT pg_catalog.citus_is_coordinator() THEN
        RAISE EXCEPTION 'bulkorder.distribute_shops() runs on the coordinator'
            USING ERRCODE = 'feature_not_supported',
                  HINT = bulkorder_catalog.message('DISTRIBUTE_ON_WORKER');
    END IF;
    -- the tables are converted one by one while foreign keys link them
    PERFORM pg_catalog.set_config('citus.enable_local_reference_table_foreign_keys', 'off', true);

    -- what Citus refuses on a distributed table, changed while bulk_jobs
    -- and uploads are still local (see above)
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_dist_partition
                   WHERE logicalrelid = 'bulkorder.bulk_jobs'::regclass) THEN
        DROP TRIGGER IF EXISTS bulk_jobs_delete_items ON bulkorder.bulk_jobs;
    END IF;
    FOR r IN
        SELECT con.conrelid::regclass AS tbl, con.conname, pg_catalog.pg_get_constraintdef(con.oid) AS def
        FROM pg_catalog.pg_constraint con
        WHERE con.connamespace = 'bulkorder'::regnamespace AND con.contype = 'f'
          AND con.confdeltype IN ('n', 'd')
          AND NOT EXISTS (SELECT FROM pg_catalog.pg_dist_partition p WHERE p.logicalrelid = con.conrelid)
    LOOP
        EXECUTE pg_catalog.format('ALTER TABLE %s DROP CONSTRAINT %I, ADD CONSTRAINT %I %s', r.tbl, r.conname,
                                  r.conname,
                                  pg_catalog.regexp_replace(r.def, ' ON DELETE SET (NULL|DEFAULT)( \([^)]*\))?', ''));
    END LOOP;

    -- who may act on which shop: on every node
    FOR r IN
        SELECT c.oid::regclass AS tbl
        FROM pg_catalog.pg_class c
        WHERE c.oid IN ('bulkorder.shops'::regclass, 'bulkorder.shop_roles'::regclass)
          AND NOT EXISTS (SELECT FROM pg_catalog.pg_dist_partition p WHERE p.logicalrelid = c.oid)
        ORDER BY c.relname = 'shop_roles'
    LOOP
        PERFORM pg_catalog.create_reference_table(r.tbl);
        distributed := distributed || r.tbl;
    END LOOP;

    -- the rest by shop_id, co-located with orders: a table after the tables
    -- its foreign keys refer to
    SELECT pg_catalog.array_agg(c.oid::regclass ORDER BY c.relname) INTO pending
    FROM pg_catalog.pg_class c
    WHERE c.relnamespace = 'bulkorder'::regnamespace AND c.relkind = 'r'
      AND c.relname NOT IN ('shops', 'shop_roles')
      AND NOT EXISTS (SELECT FROM pg_catalog.pg_dist_partition p WHERE p.logicalrelid = c.oid);
    WHILE pending IS NOT NULL AND pg_catalog.cardinality(pending) > 0 LOOP
        SELECT pg_catalog.array_agg(t ORDER BY t::text) INTO ready
        FROM pg_catalog.unnest(pending) AS t
        WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_constraint con
                          WHERE con.conrelid = t AND con.contype = 'f' AND con.confrelid <> t
                            AND con.confrelid = ANY (pending));
        IF ready IS NULL THEN
            RAISE EXCEPTION 'the foreign keys of % form a cycle', pending::text
                USING ERRCODE = 'feature_not_supported';
        END IF;
        FOR r IN SELECT t FROM pg_catalog.unnest(ready) AS t LOOP
            IF NOT EXISTS (SELECT FROM pg_catalog.pg_dist_partition p
                           WHERE p.partmethod = 'h' AND p.logicalrelid IN (SELECT c.oid FROM pg_catalog.pg_class c
                                                                          WHERE c.relnamespace = 'bulkorder'::regnamespace)) THEN
                -- the first: a co-location group of the shops' own
                PERFORM pg_catalog.create_distributed_table(r.t, 'shop_id', colocate_with => 'none');
            ELSE
                PERFORM pg_catalog.create_distributed_table(r.t, 'shop_id', colocate_with => (
                    SELECT p.logicalrelid::text FROM pg_catalog.pg_dist_partition p
                    JOIN pg_catalog.pg_class c ON c.oid = p.logicalrelid
                    WHERE p.partmethod = 'h' AND c.relnamespace = 'bulkorder'::regnamespace
                    ORDER BY c.relname = 'orders' DESC, c.relname LIMIT 1));
            END IF;
            distributed := distributed || r.t;
        END LOOP;
        pending := ARRAY(SELECT t FROM pg_catalog.unnest(pending) AS t WHERE t <> ALL (ready));
    END LOOP;
    -- the coordinator keeps no copy of the rows it moved to the shards
    FOREACH anchor IN ARRAY distributed LOOP
        PERFORM pg_catalog.truncate_local_data_after_distributing_table(anchor);
    END LOOP;

    -- each chunk: one delegated call on the shop's node
    FOR f IN SELECT * FROM bulkorder_catalog.citus_delegated_functions() LOOP
        IF NOT EXISTS (SELECT FROM pg_catalog.pg_dist_object o
                       WHERE o.classid = 'pg_catalog.pg_proc'::regclass AND o.objid = f
                         AND o.distribution_argument_index IS NOT NULL) THEN
            PERFORM pg_catalog.create_distributed_function(f, 'shop',
                                                           colocate_with := 'bulkorder.orders',
                                                           force_delegation := true);
        END IF;
    END LOOP;

    -- SET LOCAL bulkorder.shop narrows what a role sees (row-level security,
    -- the views) on the nodes its queries run on too
    EXECUTE pg_catalog.format('ALTER DATABASE %I SET citus.propagate_set_commands = local',
                              pg_catalog.current_database());

    PERFORM bulkorder_catalog.citus_copy_operations();
END
$fn$;

COMMENT ON FUNCTION bulkorder.distribute_shops() IS
'On a Citus coordinator: distribute the shops by shop_id and run each chunk of a job on the node that holds its shop';
REVOKE ALL ON FUNCTION bulkorder.distribute_shops() FROM PUBLIC;

-- The operations the shops defined (define_operation), copied from the
-- coordinator to every worker, where the chunks compose their statements
-- from them: each worker's own are replaced by the coordinator's, whole.
-- define_operation and drop_operation call it on a coordinator whose shops
-- are distributed, after their own change; distribute_shops() calls it too.
-- A copy is a transaction of each worker's own (run_command_on_workers):
-- should the coordinator's transaction roll back after it, a worker keeps an
-- operation the coordinator does not know, which no job can name; the next
-- copy replaces it.
CREATE OR REPLACE FUNCTION bulkorder_catalog.citus_copy_operations()
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    ops jsonb;
    rules jsonb;
    checks jsonb;
    cmd text;
    failure text;
BEGIN
    SELECT coalesce(jsonb_agg(to_jsonb(o)), '[]') INTO ops
    FROM bulkorder_catalog.operations o WHERE NOT o.shipped;
    SELECT coalesce(jsonb_agg(to_jsonb(r)), '[]') INTO rules
    FROM bulkorder_catalog.operation_rules r
    JOIN bulkorder_catalog.operations o USING (page, operation) WHERE NOT o.shipped;
    SELECT coalesce(jsonb_agg(to_jsonb(c)), '[]') INTO checks
    FROM bulkorder_catalog.operation_param_checks c
    JOIN bulkorder_catalog.operations o USING (page, operation) WHERE NOT o.shipped;
    cmd := format($cmd$SELECT bulkorder_catalog.citus_replace_operations(%L, %L, %L)$cmd$, ops, rules, checks);
    SELECT string_agg(pg_catalog.format('%s:%s: %s', w.nodename, w.nodeport, w.result), '; ')
    INTO failure
    FROM pg_catalog.run_command_on_workers(cmd) w
    WHERE NOT w.success;
    IF failure IS NOT NULL THEN
        RAISE EXCEPTION 'could not copy the shops'' operations to every worker'
            USING ERRCODE = 'connection_failure', DETAIL = failure,
                  HINT = bulkorder_catalog.message('DISTRIBUTE_WORKERS_DOWN');
    END IF;
END
$fn$;

-- On a worker: its shop-defined operations become exactly the given rows.
CREATE OR REPLACE FUNCTION bulkorder_catalog.citus_replace_operations(ops jsonb, rules jsonb, checks jsonb)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    DELETE FROM bulkorder_catalog.operation_param_checks c
    USING bulkorder_catalog.operations o
    WHERE o.page = c.page AND o.operation = c.operation AND NOT o.shipped;
    DELETE FROM bulkorder_catalog.operation_rules r
    USING bulkorder_catalog.operations o
    WHERE o.page = r.page AND o.operation = r.operation AND NOT o.shipped;
    DELETE FROM bulkorder_catalog.operations o WHERE NOT o.shipped;
    INSERT INTO bulkorder_catalog.operations
    SELECT * FROM jsonb_populate_recordset(NULL::bulkorder_catalog.operations, ops);
    INSERT INTO bulkorder_catalog.operation_rules
    SELECT * FROM jsonb_populate_recordset(NULL::bulkorder_catalog.operation_rules, rules);
    INSERT INTO bulkorder_catalog.operation_param_checks
    SELECT * FROM jsonb_populate_recordset(NULL::bulkorder_catalog.operation_param_checks, checks);
END
$fn$;

REVOKE ALL ON FUNCTION bulkorder_catalog.citus_copy_operations(),
                       bulkorder_catalog.citus_replace_operations(jsonb, jsonb, jsonb)
    FROM PUBLIC;
