-- What this CREATE EXTENSION finds, decided once and read by the blocks
-- below (setting bulkorder_install.mode for the rest of the script):
--   fresh    nothing of the shop yet: create its tables, then release them
--            from the extension (shop/, code/98_release.sql)
--   adopt    the shop's tables outlived a DROP EXTENSION bulkorder CASCADE:
--            keep them and their rows, put the engine back around them
--   restore  pg_restore (or psql on a pg_dump file) is re-creating the
--            database: the dump holds the shop's tables and creates them
--            after this statement, so create none here
--   citus_worker  a Citus worker node, where Citus runs the coordinator's
--            CREATE EXTENSION: the shop's tables are the coordinator's, and
--            Citus creates its shards and shell tables here itself
-- The schema comment written by code/98_release.sql marks a schema that
-- bulkorder made, and names the version whose tables it holds.
DO $mode$
DECLARE
    marker text := pg_catalog.obj_description('bulkorder'::regnamespace, 'pg_namespace');
    marker_version text := pg_catalog.substring(marker, '^bulkorder ([0-9][0-9.]*):');
    has_tables boolean := pg_catalog.to_regclass('bulkorder.bulk_jobs') IS NOT NULL;
    citus_worker boolean := false;
    mode text;
BEGIN
    -- citus_is_coordinator() is false only on a node added as a worker
    IF pg_catalog.to_regproc('pg_catalog.citus_is_coordinator') IS NOT NULL THEN
        EXECUTE 'SELECT NOT pg_catalog.citus_is_coordinator()' INTO citus_worker;
    END IF;
    IF has_tables AND marker_version IS NULL THEN
        RAISE EXCEPTION 'schema "bulkorder" already holds tables that bulkorder did not create'
            USING ERRCODE = '42P07',
                  HINT = 'Rename or drop that schema, then run CREATE EXTENSION bulkorder again.';
    ELSIF has_tables AND marker_version <> '@EXTVERSION@' THEN
        RAISE EXCEPTION 'schema "bulkorder" holds the shop''s tables of bulkorder %, not @EXTVERSION@', marker_version
            USING ERRCODE = '55000',
                  DETAIL = 'They outlived DROP EXTENSION bulkorder; their rows are kept.',
                  HINT = pg_catalog.format('Put version %s back, then update it: CREATE EXTENSION bulkorder VERSION %L; ALTER EXTENSION bulkorder UPDATE;',
                                           marker_version, marker_version);
    ELSIF citus_worker AND NOT has_tables THEN
        mode := 'citus_worker';
        -- the engine's SQL functions name tables this node does not have
        PERFORM pg_catalog.set_config('check_function_bodies', 'off', true);
    ELSIF has_tables THEN
        mode := 'adopt';
        RAISE NOTICE 'bulkorder: keeping the shop''s tables in schema "bulkorder" and their rows';
    ELSIF marker_version IS NOT NULL AND pg_catalog.current_setting('check_function_bodies') = 'off' THEN
        -- pg_dump's output turns check_function_bodies off before it runs
        -- CREATE EXTENSION, and has re-created the marked schema
        mode := 'restore';
    ELSE
        mode := 'fresh';
    END IF;
    PERFORM pg_catalog.set_config('bulkorder_install.mode', mode, true);
END
$mode$;
