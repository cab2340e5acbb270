-- CSV uploads and the shipment import: the public names, SECURITY DEFINER
-- with a pinned search_path, nothing for PUBLIC, the staging tables are
-- the shop's (pg_dump keeps them), and a role with EXECUTE only can use them but not the tables.
BEGIN;
CREATE EXTENSION bulkorder;
SELECT plan(17);

SELECT has_function('bulkorder', 'upload_csv', ARRAY['text', 'bytea', 'jsonb']);
SELECT has_function('bulkorder', 'upload_targets', ARRAY['bigint']);
SELECT has_function('bulkorder', 'upload_errors', ARRAY['bigint']);
SELECT has_function('bulkorder', 'import_shipments', ARRAY['bytea', 'jsonb']);
SELECT has_function('bulkorder', 'purge_uploads', ARRAY['interval']);
SELECT has_view('bulkorder', 'upload_list', 'the upload list');
SELECT function_returns('bulkorder', 'upload_errors', ARRAY['bigint'], 'setof record');

SELECT is(
    (SELECT array_agg(p.proname::text ORDER BY p.proname)
     FROM pg_proc p
     WHERE p.pronamespace = 'bulkorder'::regnamespace
       AND p.proname IN ('upload_csv', 'upload_targets', 'upload_errors', 'import_shipments', 'purge_uploads')
       AND p.prosecdef
       AND p.proconfig @> ARRAY['search_path=pg_catalog, pg_temp']),
    ARRAY['import_shipments', 'purge_uploads', 'upload_csv', 'upload_errors', 'upload_targets'],
    'the CSV functions are SECURITY DEFINER with a pinned search_path');

SELECT is(
    (SELECT count(*)::int FROM pg_class c, aclexplode(c.relacl) a
     WHERE c.oid IN ('bulkorder.uploads'::regclass, 'bulkorder.upload_lines'::regclass,
                     'bulkorder.upload_shipments'::regclass, 'bulkorder.upload_list'::regclass)
       AND a.grantee = 0),
    0, 'PUBLIC has no privilege on the staging tables and the list');

SELECT is(
    (SELECT count(*)::int FROM pg_proc p, aclexplode(p.proacl) a
     WHERE p.pronamespace = 'bulkorder'::regnamespace
       AND p.proname IN ('upload_csv', 'upload_targets', 'upload_errors', 'import_shipments', 'purge_uploads')
       AND a.grantee = 0),
    0, 'PUBLIC cannot execute the CSV functions');

SELECT is(
    (SELECT count(*)::integer FROM pg_depend d
     WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'bulkorder') AND d.deptype = 'e'
       AND d.classid = 'pg_class'::regclass
       AND d.objid IN ('bulkorder.uploads'::regclass, 'bulkorder.upload_lines'::regclass,
                       'bulkorder.upload_shipments'::regclass)),
    0, 'the staging tables are the shop''s own, not the extension''s: pg_dump keeps them as tables');

SELECT is(
    (SELECT wrapper FROM bulkorder_catalog.operations WHERE page = 'shipments' AND operation = 'import_shipments'),
    'bulk_shipment_import_shipments', 'the import is a catalogued operation of the shipments page');
SELECT has_function('bulkorder', 'bulk_shipment_import_shipments', ARRAY['bigint[]', 'bigint']);

-- a role without grants
CREATE ROLE bulkorder_csv_nobody;
SET LOCAL ROLE bulkorder_csv_nobody;
SELECT throws_ok($$SELECT bulkorder.upload_csv('orders', '1001')$$, '42501',
                 NULL, 'a role without grants cannot upload');
RESET ROLE;

-- an operator role with EXECUTE (and schema usage) only
CREATE ROLE bulkorder_csv_operator;
GRANT USAGE ON SCHEMA bulkorder TO bulkorder_csv_operator;
GRANT EXECUTE ON FUNCTION bulkorder.upload_csv(text, bytea, jsonb), bulkorder.upload_targets(bigint),
      bulkorder.upload_errors(bigint) TO bulkorder_csv_operator;
INSERT INTO bulkorder.customers (customer_id, name) VALUES (1, 'a');
INSERT INTO bulkorder.orders (order_no, customer_id, status, payment_method)
VALUES (1001, 1, 'awaiting_shipment', 'credit_card');
SET LOCAL ROLE bulkorder_csv_operator;
SELECT is(bulkorder.upload_targets(bulkorder.upload_csv('orders', convert_to(E'1001\nx\n', 'UTF8'))),
          ARRAY[1001]::bigint[], 'an operator with EXECUTE uploads and gets the keys');
SELECT throws_ok('SELECT count(*) FROM bulkorder.upload_lines', '42501',
                 NULL, 'but cannot read the staging table itself');
RESET ROLE;
SELECT is((SELECT uploaded_by FROM bulkorder.upload_list ORDER BY upload_id DESC LIMIT 1),
          'bulkorder_csv_operator', 'the upload records the calling role, not the definer');

SELECT * FROM finish();
ROLLBACK;
