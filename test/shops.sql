-- Many shops: shop_id leads every key of every shop table, row-level
-- security on every table, the views show shop_id, and only a superuser
-- creates shops.
BEGIN;
CREATE EXTENSION bulkorder;
SELECT plan(12);

CREATE TEMP VIEW shop_tables AS
    SELECT c.oid::regclass AS tbl
    FROM pg_class c
    WHERE c.relnamespace = 'bulkorder'::regnamespace AND c.relkind = 'r'
      AND c.relname NOT IN ('shops', 'shop_roles');

SELECT cmp_ok((SELECT count(*) FROM shop_tables)::int, '>=', 24, 'the shop tables are there');
SELECT is_empty($$SELECT tbl::text FROM shop_tables t
                  WHERE NOT EXISTS (SELECT FROM pg_attribute a
                                    WHERE a.attrelid = t.tbl AND a.attname = 'shop_id'
                                      AND a.atttypid = 'bigint'::regtype AND a.attnotnull)$$,
                'every shop table has shop_id bigint NOT NULL');
SELECT is_empty($$SELECT c.conname FROM pg_constraint c JOIN shop_tables t ON t.tbl = c.conrelid
                  WHERE c.contype IN ('p', 'u', 'f')
                    AND (SELECT a.attname FROM pg_attribute a
                         WHERE a.attrelid = c.conrelid AND a.attnum = c.conkey[1]) <> 'shop_id'$$,
                'shop_id leads every primary, unique and foreign key');
SELECT is_empty($$SELECT c.conname FROM pg_constraint c JOIN shop_tables t ON t.tbl = c.conrelid
                  WHERE c.contype = 'f'
                    AND (SELECT a.attname FROM pg_attribute a
                         WHERE a.attrelid = c.confrelid AND a.attnum = c.confkey[1]) <> 'shop_id'$$,
                'every foreign key refers to the same shop''s row');
SELECT is_empty($$SELECT i.indexrelid::regclass::text FROM pg_index i JOIN shop_tables t ON t.tbl = i.indrelid
                  WHERE i.indisunique
                    AND (SELECT a.attname FROM pg_attribute a
                         WHERE a.attrelid = i.indrelid AND a.attnum = i.indkey[0]) <> 'shop_id'$$,
                'shop_id leads every unique index');
SELECT set_eq($$SELECT t.tbl::text FROM shop_tables t WHERE NOT EXISTS (
                    SELECT FROM pg_constraint c WHERE c.conrelid = t.tbl AND c.contype = 'p')$$,
              ARRAY['bulkorder.upload_lines'],
              'every shop table but upload_lines (a million-line upload, no key) has a primary key');
SELECT is_empty($$SELECT c.relname FROM pg_class c
                  WHERE c.relnamespace = 'bulkorder'::regnamespace AND c.relkind = 'r'
                    AND NOT (c.relrowsecurity AND EXISTS (SELECT FROM pg_policy p WHERE p.polrelid = c.oid))$$,
                'row-level security, with a policy, on every table of the schema');
SELECT is_empty($$SELECT c.relname FROM pg_class c
                  WHERE c.relnamespace = 'bulkorder'::regnamespace AND c.relkind = 'v'
                    AND c.relname IN ('order_list', 'subscription_list', 'shipment_list', 'customer_list',
                                      'order_bulk_history', 'subscription_bulk_history', 'shipment_bulk_history',
                                      'customer_bulk_history', 'bulk_job_failures', 'upload_list', 'bulk_job_targets')
                    AND NOT EXISTS (SELECT FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'shop_id')$$,
                'the list, history and job views show shop_id');
SELECT col_default_is('bulkorder', 'orders', 'shop_id', 'bulkorder.session_shop_id()',
                      'shop_id defaults to the session''s shop');
SELECT results_eq($$SELECT shop_id, code FROM bulkorder.shops$$, $$VALUES (1::bigint, 'default')$$,
                  'CREATE EXTENSION makes shop 1, code default');
SELECT ok(NOT has_function_privilege('public', 'bulkorder.create_shop(text, text)', 'EXECUTE'),
          'create_shop is not granted to PUBLIC');
CREATE ROLE bo_shop_operator NOLOGIN;
SELECT bulkorder.grant_operator('bo_shop_operator');
SELECT ok(NOT has_function_privilege('bo_shop_operator', 'bulkorder.create_shop(text, text)', 'EXECUTE'),
          'nor to an operator');

SELECT * FROM finish();
ROLLBACK;
