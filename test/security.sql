-- Roles and privileges: nothing for PUBLIC, an operator works only through
-- the functions, a BI role only reads, every SECURITY DEFINER function pins
-- its search_path.
BEGIN;
CREATE EXTENSION bulkorder;
\set ECHO none
\i test/fixtures/shop.sql
SELECT plan(19);

CREATE ROLE bo_nobody NOLOGIN;
CREATE ROLE bo_operator NOLOGIN;
CREATE ROLE bo_reader NOLOGIN;
SELECT bulkorder.grant_operator('bo_operator');
SELECT bulkorder.grant_reader('bo_reader');
-- the schema itself must be reachable to even name the function
GRANT USAGE ON SCHEMA bulkorder TO bo_nobody;

SELECT is((SELECT count(*) FROM pg_proc p, aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
           WHERE p.pronamespace = 'bulkorder'::regnamespace AND a.grantee = 0)::int, 0,
          'no function of the schema is executable by PUBLIC');
SELECT is((SELECT count(*) FROM pg_class c, aclexplode(c.relacl) a
           WHERE c.relnamespace = 'bulkorder'::regnamespace AND a.grantee = 0)::int, 0,
          'no table or view of the schema is granted to PUBLIC');
SELECT is((SELECT count(*) FROM pg_proc p
           WHERE p.pronamespace = 'bulkorder'::regnamespace AND p.prosecdef
             AND NOT coalesce(p.proconfig::text LIKE '%search_path=pg_catalog, pg_temp%', false))::int, 0,
          'every SECURITY DEFINER function pins search_path = pg_catalog, pg_temp');
SELECT ok((SELECT prosecdef FROM pg_proc WHERE oid = 'bulkorder.run_bulk(text,text,bigint[],jsonb,jsonb)'::regprocedure),
          'run_bulk is SECURITY DEFINER');

SET ROLE bo_nobody;
SELECT throws_ok($$SELECT bulkorder.run_bulk('orders', 'cancel', '{1001}', '{"void_payment": false}')$$,
                 '42501', NULL, 'a role without grants cannot call run_bulk');
SELECT throws_ok($$SELECT bulkorder.bulk_cancel('{1001}', false)$$, '42501', NULL,
                 'nor a typed wrapper');
SELECT throws_ok($$SELECT * FROM bulkorder.preview_bulk('orders', 'cancel', '{1001}', '{"void_payment": false}')$$,
                 '42501', NULL, 'nor preview_bulk');
SELECT throws_ok($$SELECT * FROM bulkorder.orders$$, '42501', NULL, 'nor read orders');
RESET ROLE;

SET ROLE bo_operator;
SELECT lives_ok($$SELECT bulkorder.bulk_cancel('{1001}', false)$$, 'the operator runs a job through a wrapper');
SELECT is((SELECT status FROM bulkorder.order_list WHERE order_no = 1001), 'cancelled',
          'the change is visible in the list view');
SELECT lives_ok($$SELECT bulkorder.run_bulk('orders', 'tags', '{1003}', '{"add": ["op"]}', '{"operator": "tanaka"}')$$,
                'and through run_bulk');
SELECT is((SELECT requested_by || '/' || operator FROM bulkorder.order_bulk_history WHERE operation = 'tags'),
          'bo_operator/tanaka', 'history records the calling role, not the function owner, and the operator');
SELECT is((SELECT count(*) FROM bulkorder.preview_bulk('orders', 'return', '{1003}', '{"void_payment": true}'))::int, 1,
          'the operator previews');
SELECT throws_ok($$UPDATE bulkorder.orders SET status = 'cancelled' WHERE order_no = 1006$$, '42501', NULL,
                 'the operator cannot bypass the rules with a direct UPDATE');
SELECT throws_ok($$INSERT INTO bulkorder.bulk_job_items (job_id, target, ok) VALUES (1, 1, true)$$, '42501', NULL,
                 'nor forge history');
SELECT throws_ok($$SELECT bulkorder.grant_operator('bo_operator')$$, '42501', NULL,
                 'nor grant itself more');
RESET ROLE;

SET ROLE bo_reader;
SELECT is((SELECT count(*) FROM bulkorder.order_bulk_history)::int, 2, 'the reader sees the history');
SELECT throws_ok($$SELECT bulkorder.bulk_cancel('{1006}', false)$$, '42501', NULL, 'the reader runs no job');
SELECT throws_ok($$DELETE FROM bulkorder.notifications$$, '42501', NULL, 'the reader changes nothing');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
