-- Has distribute_shops() (code/80_citus.sql) distributed the shop's
-- tables over a Citus cluster?  Asked by the API's SQL functions that do a
-- shop's work where the shop is (complete_payment_request,
-- define_operation).  One catalogue lookup on a database without Citus;
-- one look per transaction with it.
CREATE OR REPLACE FUNCTION bulkorder_catalog.citus_distributed()
RETURNS boolean
AS 'MODULE_PATHNAME', 'bulkorder_citus_distributed'
LANGUAGE C STABLE;
REVOKE ALL ON FUNCTION bulkorder_catalog.citus_distributed() FROM PUBLIC;

-- The same, for define_operation and drop_operation, which on a Citus
-- coordinator read a distributed table (the operation's open jobs) and then
-- create or drop a function (the wrapper), which Citus creates on the
-- workers too: Citus requires the transaction to use one connection per
-- node for that, so its multi-shard statements run one node after the
-- other from here on (citus.multi_shard_modify_mode = sequential, until the
-- calling function returns).  No SET clause of its own: it would undo the
-- setting as it returns.
CREATE OR REPLACE FUNCTION bulkorder_catalog.citus_sequential()
RETURNS boolean
LANGUAGE plpgsql VOLATILE
AS $fn$
BEGIN
    IF bulkorder_catalog.citus_distributed() THEN
        PERFORM pg_catalog.set_config('citus.multi_shard_modify_mode', 'sequential', true);
        RETURN true;
    END IF;
    RETURN false;
END
$fn$;
REVOKE ALL ON FUNCTION bulkorder_catalog.citus_sequential() FROM PUBLIC;
