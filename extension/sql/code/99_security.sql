-- Nothing for PUBLIC: an operator or a BI role is granted what it needs
-- (docs/security.md).  Functions that change data are SECURITY DEFINER with a
-- pinned search_path, so an operator needs no privilege on the tables and
-- every change goes through the rules.

-- The roles a shop needs, as functions so that a DBA grants exactly what
-- docs/security.md describes and nothing more, on one shop at a time (shop: a
-- code; NULL: the database's only shop).  Run them as the extension's
-- owner: SELECT bulkorder.grant_operator('shop_operator', 'kenko-shop');

-- What an operator may execute and read (grant_operator, revoke_operator).
CREATE OR REPLACE FUNCTION bulkorder_catalog.operator_objects(OUT functions regprocedure[], OUT relations regclass[])
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT ARRAY(SELECT p.oid::regprocedure
                 FROM pg_proc p
                 WHERE p.pronamespace = 'bulkorder'::regnamespace
                   AND (p.proname IN ('run_bulk', 'preview_bulk', 'cancel_job', 'upload_csv', 'upload_targets',
                                      'retry_failed', 'revert_job', 'preview_revert',
                                      'upload_errors', 'import_shipments', 'mark_notifications_read')
                        OR p.proname IN (SELECT wrapper FROM bulkorder_catalog.operations))
                 ORDER BY 1::text),
           ARRAY(SELECT c.oid::regclass
                 FROM pg_class c
                 WHERE c.relnamespace = 'bulkorder'::regnamespace
                   AND c.relname IN ('order_list', 'subscription_list', 'shipment_list', 'customer_list',
                                     'bulk_jobs', 'bulk_job_items', 'bulk_job_failures', 'bulk_job_targets',
                                     'notifications', 'order_bulk_history', 'subscription_bulk_history',
                                     'shipment_bulk_history', 'customer_bulk_history', 'operation_catalog',
                                     'upload_list', 'payment_methods', 'delivery_methods', 'delivery_time_slots',
                                     'frequencies', 'products', 'customer_ranks', 'mail_templates', 'shops')
                 ORDER BY 1::text)
$fn$;

-- An operator runs and previews jobs, uploads CSV files, cancels jobs and
-- reads lists, history, failures and notifications of the shops it is
-- granted; the tables themselves change only through the SECURITY DEFINER
-- functions.
CREATE OR REPLACE FUNCTION bulkorder.grant_operator(role name, shop text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    objs record := bulkorder_catalog.operator_objects();
    fn regprocedure;
    rel regclass;
BEGIN
    PERFORM bulkorder_catalog.grant_shop_role(grant_operator.role, grant_operator.shop, 'operator');
    FOREACH fn IN ARRAY objs.functions LOOP
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO %I', fn, grant_operator.role);
    END LOOP;
    FOREACH rel IN ARRAY objs.relations LOOP
        EXECUTE format('GRANT SELECT ON %s TO %I', rel, grant_operator.role);
    END LOOP;
END
$fn$;

-- Takes back what grant_operator gave on one shop; once the role is an
-- operator of no shop, its operator privileges go too.
CREATE OR REPLACE FUNCTION bulkorder.revoke_operator(role name, shop text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    objs record := bulkorder_catalog.operator_objects();
    v_shop bigint;
    fn regprocedure;
    rel regclass;
BEGIN
    PERFORM bulkorder_catalog.check_role(revoke_operator.role);
    v_shop := bulkorder_catalog.grant_shop(revoke_operator.shop);
    DELETE FROM bulkorder.shop_roles g
    WHERE g.shop_id = v_shop AND g.role = revoke_operator.role::regrole AND g.kind = 'operator';
    IF NOT EXISTS (SELECT FROM bulkorder.shop_roles g
                   WHERE g.role = revoke_operator.role::regrole AND g.kind = 'operator') THEN
        FOREACH fn IN ARRAY objs.functions LOOP
            EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM %I', fn, revoke_operator.role);
        END LOOP;
        FOREACH rel IN ARRAY objs.relations LOOP
            EXECUTE format('REVOKE SELECT ON %s FROM %I', rel, revoke_operator.role);
        END LOOP;
    END IF;
END
$fn$;

-- A read-only BI role: every table and view of the schema, no function;
-- row-level security and the views show it the rows of its shops.
CREATE OR REPLACE FUNCTION bulkorder.grant_reader(role_name name, shop text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    PERFORM bulkorder_catalog.grant_shop_role(role_name, shop, 'reader');
    EXECUTE format('GRANT SELECT ON ALL TABLES IN SCHEMA bulkorder TO %I', role_name);
END
$fn$;

REVOKE ALL ON FUNCTION bulkorder_catalog.operator_objects() FROM PUBLIC;

-- Last: nothing for PUBLIC, whatever the files above created.
REVOKE ALL ON ALL TABLES IN SCHEMA bulkorder FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA bulkorder FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA bulkorder FROM PUBLIC;
REVOKE ALL ON SCHEMA bulkorder FROM PUBLIC;
