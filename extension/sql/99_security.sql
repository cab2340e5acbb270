-- Nothing for PUBLIC: an operator or a BI role is granted what it needs
-- (README, "Roles").  Functions that change data are SECURITY DEFINER with a
-- pinned search_path, so an operator needs no privilege on the tables and
-- every change goes through the rules.

-- The shop's data lives in extension tables: have pg_dump keep it.  (One
-- statement each: every call updates the same pg_extension row.)
SELECT pg_catalog.pg_extension_config_dump('bulkorder.customer_ranks', '');
SELECT pg_catalog.pg_extension_config_dump('bulkorder.customers', '');
SELECT pg_catalog.pg_extension_config_dump('bulkorder.delivery_methods', '');
SELECT pg_catalog.pg_extension_config_dump('bulkorder.delivery_time_slots', '');
SELECT pg_catalog.pg_extension_config_dump('bulkorder.frequencies', '');
SELECT pg_catalog.pg_extension_config_dump('bulkorder.products', '');
SELECT pg_catalog.pg_extension_config_dump('bulkorder.product_payment_methods', '');
SELECT pg_catalog.pg_extension_config_dump('bulkorder.product_delivery_methods', '');
SELECT pg_catalog.pg_extension_config_dump('bulkorder.product_frequencies', '');
SELECT pg_catalog.pg_extension_config_dump('bulkorder.subscriptions', '');
SELECT pg_catalog.pg_extension_config_dump('bulkorder.subscription_items', '');
SELECT pg_catalog.pg_extension_config_dump('bulkorder.orders', '');
SELECT pg_catalog.pg_extension_config_dump('bulkorder.order_items', '');
SELECT pg_catalog.pg_extension_config_dump('bulkorder.payment_requests', '');
SELECT pg_catalog.pg_extension_config_dump('bulkorder.mail_outbox', '');
SELECT pg_catalog.pg_extension_config_dump('bulkorder.bulk_jobs', '');
SELECT pg_catalog.pg_extension_config_dump('bulkorder.bulk_job_items', '');
SELECT pg_catalog.pg_extension_config_dump('bulkorder.notifications', '');
-- ... and the sequences behind their keys, or a restored shop would hand out
-- keys it already has.
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('bulkorder.bulk_jobs', 'job_id'), '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('bulkorder.customers', 'customer_id'), '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('bulkorder.frequencies', 'frequency_id'), '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('bulkorder.mail_outbox', 'mail_id'), '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('bulkorder.notifications', 'notification_id'), '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('bulkorder.orders', 'order_no'), '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('bulkorder.payment_requests', 'request_id'), '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('bulkorder.products', 'product_id'), '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('bulkorder.subscriptions', 'course_order_no'), '');

-- Installed rows come back with CREATE EXTENSION; only the shop's own are dumped.
SELECT pg_catalog.pg_extension_config_dump('bulkorder.payment_methods',
    $$WHERE code NOT IN ('credit_card', 'cod', 'bank_transfer', 'np_atobarai', 'np_atobarai_realtime',
                         'gmo_ps_atobarai', 'dsk_atobarai', 'score_atobarai', 'subsc_atobarai_eco')$$);
SELECT pg_catalog.pg_extension_config_dump('bulkorder.mail_templates',
    $$WHERE code NOT IN ('cod_auto_change', 'ship_complete')$$);

-- The two roles a shop needs, as functions so that a DBA grants exactly
-- what the README describes and nothing more.  Run them as the extension's
-- owner: SELECT bulkorder.grant_operator('shop_operator');

-- An operator runs and previews jobs, uploads CSV files, cancels jobs and
-- reads lists, history, failures and notifications; the tables themselves
-- change only through the SECURITY DEFINER functions.
CREATE FUNCTION bulkorder.grant_operator(role_name name)
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
CREATE FUNCTION bulkorder.grant_reader(role_name name)
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
