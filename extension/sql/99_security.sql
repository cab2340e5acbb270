-- Nothing for PUBLIC: an operator or a BI role is granted what it needs
-- (README, "Roles").  Functions that change data are SECURITY DEFINER with a
-- pinned search_path, so an operator needs no privilege on the tables and
-- every change goes through the rules.
REVOKE ALL ON ALL TABLES IN SCHEMA bulkorder FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA bulkorder FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA bulkorder FROM PUBLIC;
REVOKE ALL ON SCHEMA bulkorder FROM PUBLIC;

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
-- Installed rows come back with CREATE EXTENSION; only the shop's own are dumped.
SELECT pg_catalog.pg_extension_config_dump('bulkorder.payment_methods',
    $$WHERE code NOT IN ('credit_card', 'cod', 'bank_transfer', 'np_atobarai', 'np_atobarai_realtime',
                         'gmo_ps_atobarai', 'dsk_atobarai', 'score_atobarai', 'subsc_atobarai_eco')$$);
SELECT pg_catalog.pg_extension_config_dump('bulkorder.mail_templates',
    $$WHERE code NOT IN ('cod_auto_change', 'ship_complete')$$);
