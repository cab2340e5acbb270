-- The grant_* functions name a role that exists: an empty name is no broken
-- GRANT statement, and 'public' is no way to grant the schema to PUBLIC
-- (GRANT … TO "public" means PUBLIC).  Found by the fuzz stage.
BEGIN;
CREATE EXTENSION bulkorder;
SELECT plan(10);

SELECT throws_ok(format('SELECT bulkorder.%s(%L)', fn, ''), '42704', 'role "" does not exist',
                 fn || '('''') is refused with 42704')
FROM unnest(ARRAY['grant_operator', 'grant_reader', 'grant_payment_connector', 'grant_mail_connector']) fn;
SELECT throws_ok(format('SELECT bulkorder.%s(%L)', fn, 'public'), '42704', 'role "public" does not exist',
                 fn || '(''public'') grants nothing to PUBLIC')
FROM unnest(ARRAY['grant_operator', 'grant_reader', 'grant_payment_connector', 'grant_mail_connector']) fn;
SELECT throws_ok('SELECT bulkorder.grant_operator(NULL)', '22004', 'role must not be NULL',
                 'a NULL role is refused with 22004');
SELECT is((SELECT count(*) FROM pg_class c, aclexplode(c.relacl) a
           WHERE c.relnamespace = 'bulkorder'::regnamespace AND a.grantee = 0)::int, 0,
          'still nothing granted to PUBLIC');

SELECT * FROM finish();
ROLLBACK;
