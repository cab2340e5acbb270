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
    EXECUTE format('GRANT USAGE ON SCHEMA bulkorder TO %I', role_name);
    EXECUTE format('GRANT SELECT ON ALL TABLES IN SCHEMA bulkorder TO %I', role_name);
END
$fn$;


-- Last: nothing for PUBLIC, whatever the files above created.
REVOKE ALL ON ALL TABLES IN SCHEMA bulkorder FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA bulkorder FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA bulkorder FROM PUBLIC;
REVOKE ALL ON SCHEMA bulkorder FROM PUBLIC;
