-- define_operation / drop_operation: a shop's own operation
-- (docs/define_operation.md), validated and compiled when declared, run by
-- the one engine, redefined, dropped; shipped operations are protected.
CREATE EXTENSION bulkorder;
\set ECHO none
\i test/fixtures/shop.sql
\set ECHO all
\set VERBOSITY default
\set SHOW_CONTEXT never

-- every shipped operation was declared through define_operation
SELECT count(*) AS operations, count(*) FILTER (WHERE shipped) AS shipped,
       count(*) FILTER (WHERE reversible) AS reversible
FROM bulkorder.operation_catalog;
SELECT page, operation, wrapper, shipped, reversible, irreversible_reason
FROM bulkorder.operation_catalog WHERE operation = 'cancel';

-- docs/define_operation.md's example: the shop's own column, and an
-- operation that sets it
ALTER TABLE bulkorder.orders ADD COLUMN gift_wrap boolean NOT NULL DEFAULT false;
CREATE ROLE bulkorder_test_operator;
SELECT bulkorder.grant_operator('bulkorder_test_operator');

SELECT bulkorder.define_operation('orders', 'gift_wrap',
    name_ja => 'ギフト包装', name_en => 'gift wrapping',
    wrapper => 'bulk_gift_wrap',
    params => '{"wrap": {"type": "boolean", "position": 1}}',
    changed_columns => '{gift_wrap}',
    set_clause => $$gift_wrap = (p->>'wrap')::boolean$$,
    rules => '[{"code": "not_awaiting_shipment",
                "condition": "t.status = ''awaiting_shipment''",
                "message_ja": "出荷待ちの注文ではないためギフト包装を変更できません",
                "message_en": "only orders awaiting shipment can change their gift wrapping"}]');

SELECT page, operation, name_ja, wrapper, params, rules, shipped, reversible
FROM bulkorder.operation_catalog WHERE operation = 'gift_wrap';
SELECT pg_get_function_arguments('bulkorder.bulk_gift_wrap'::regproc) AS arguments,
       obj_description('bulkorder.bulk_gift_wrap'::regproc, 'pg_proc') AS comment;
-- not for PUBLIC; an operator (a role that may run run_bulk) may run it
SELECT has_function_privilege('public', 'bulkorder.bulk_gift_wrap(bigint[], boolean)', 'EXECUTE') AS public_may,
       has_function_privilege('bulkorder_test_operator', 'bulkorder.bulk_gift_wrap(bigint[], boolean)', 'EXECUTE') AS operator_may;
-- and it is no member of the extension: pg_dump dumps it with the shop
SELECT count(*) AS member_of_extension FROM pg_depend
WHERE objid = 'bulkorder.bulk_gift_wrap'::regproc AND deptype = 'e';

-- the one engine: preview, run, history, failures
SELECT * FROM bulkorder.preview_bulk('orders', 'gift_wrap', '{1001,1002,1099}', '{"wrap": true}');
SET ROLE bulkorder_test_operator;
SELECT bulkorder.bulk_gift_wrap('{1001,1002,1099}', true) AS job \gset
RESET ROLE;
SELECT page, operation, params, status, total_count, success_count, failure_count, source
FROM bulkorder.order_bulk_history WHERE job_id = :job;
SELECT target, ok, error_code, message, before, after FROM bulkorder.bulk_job_items
WHERE job_id = :job ORDER BY target;
SELECT order_no, gift_wrap FROM bulkorder.orders WHERE order_no IN (1001, 1002) ORDER BY 1;
-- its parameters are checked as any operation's
SELECT bulkorder.run_bulk('orders', 'gift_wrap', '{1001}', '{"wrap": "yes"}');
SELECT bulkorder.run_bulk('orders', 'gift_wrap', '{1001}', '{}');

---------------------------------------------------------------------------
-- Declarations that are refused: each error's SQLSTATE, message, hint and
-- (for broken SQL) the piece being compiled; nothing of them stays (the
-- catalogue still holds the same rows, no function is created).
CREATE FUNCTION pg_temp.refused(stmt text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    state text; msg text; hint text; ctx text;
BEGIN
    EXECUTE stmt;
    RETURN 'accepted';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, hint = PG_EXCEPTION_HINT,
                            ctx = PG_EXCEPTION_CONTEXT;
    ctx := split_part(ctx, E'\n', 1);
    RETURN state || ': ' || msg || coalesce(nullif(E'\n  hint: ' || hint, E'\n  hint: '), '')
           || CASE WHEN ctx LIKE 'PL/pgSQL%' OR ctx LIKE 'SQL statement%' OR ctx = '' THEN ''
                   ELSE E'\n  context: ' || ctx END;
END
$$;
CREATE TEMP TABLE before AS
SELECT (SELECT count(*) FROM bulkorder_catalog.operations) AS operations,
       (SELECT count(*) FROM bulkorder_catalog.operation_rules) AS rules,
       (SELECT count(*) FROM pg_proc WHERE pronamespace = 'bulkorder'::regnamespace) AS functions;
-- required arguments
SELECT pg_temp.refused($sql$SELECT bulkorder.define_operation('orders', 'x_op', NULL, 'x', 'bulk_x_op', changed_columns => '{remarks}', set_clause => 'remarks = t.remarks')$sql$);
-- an unknown page, a bad code, a bad wrapper name
SELECT pg_temp.refused($sql$SELECT bulkorder.define_operation('invoices', 'x_op', 'x', 'x', 'bulk_x_op', changed_columns => '{remarks}', set_clause => 'remarks = t.remarks')$sql$);
SELECT pg_temp.refused($sql$SELECT bulkorder.define_operation('orders', 'Gift-Wrap', 'x', 'x', 'bulk_x_op', changed_columns => '{remarks}', set_clause => 'remarks = t.remarks')$sql$);
SELECT pg_temp.refused($sql$SELECT bulkorder.define_operation('orders', 'x_op', 'x', 'x', 'bulk x op', changed_columns => '{remarks}', set_clause => 'remarks = t.remarks')$sql$);
-- parameter specs: an unknown type, an unknown key, a default of the wrong type, a bad name
SELECT pg_temp.refused($sql$SELECT bulkorder.define_operation('orders', 'x_op', 'x', 'x', 'bulk_x_op', changed_columns => '{remarks}', set_clause => 'remarks = t.remarks',
    params => '{"n": {"type": "numeric"}}')$sql$);
SELECT pg_temp.refused($sql$SELECT bulkorder.define_operation('orders', 'x_op', 'x', 'x', 'bulk_x_op', changed_columns => '{remarks}', set_clause => 'remarks = t.remarks',
    params => '{"n": {"type": "integer", "maximum": 3}}')$sql$);
SELECT pg_temp.refused($sql$SELECT bulkorder.define_operation('orders', 'x_op', 'x', 'x', 'bulk_x_op', changed_columns => '{remarks}', set_clause => 'remarks = t.remarks',
    params => '{"n": {"type": "integer", "default": "1"}}')$sql$);
SELECT pg_temp.refused($sql$SELECT bulkorder.define_operation('orders', 'x_op', 'x', 'x', 'bulk_x_op', changed_columns => '{remarks}', set_clause => 'remarks = t.remarks',
    params => '{"order_nos": {"type": "integer"}}')$sql$);
-- the change: exactly one of set_clause and apply_sql
SELECT pg_temp.refused($sql$SELECT bulkorder.define_operation('orders', 'x_op', 'x', 'x', 'bulk_x_op')$sql$);
SELECT pg_temp.refused($sql$SELECT bulkorder.define_operation('orders', 'x_op', 'x', 'x', 'bulk_x_op', changed_columns => '{remarks}', set_clause => 'remarks = t.remarks',
    apply_sql => 'applied AS (SELECT target, NULL::jsonb AS after FROM eligible)')$sql$);
-- rules: both messages, a code, known keys, distinct codes
SELECT pg_temp.refused($sql$SELECT bulkorder.define_operation('orders', 'x_op', 'x', 'x', 'bulk_x_op', changed_columns => '{remarks}', set_clause => 'remarks = t.remarks',
    rules => '[{"code": "x_failed", "condition": "true", "message_ja": "だめです"}]')$sql$);
SELECT pg_temp.refused($sql$SELECT bulkorder.define_operation('orders', 'x_op', 'x', 'x', 'bulk_x_op', changed_columns => '{remarks}', set_clause => 'remarks = t.remarks',
    rules => '[{"condition": "true", "message_ja": "だめです", "message_en": "no"}]')$sql$);
SELECT pg_temp.refused($sql$SELECT bulkorder.define_operation('orders', 'x_op', 'x', 'x', 'bulk_x_op', changed_columns => '{remarks}', set_clause => 'remarks = t.remarks',
    rules => '[{"code": "x_failed", "condition": "true", "message_ja": "だめです", "message_en": "no", "level": 1}]')$sql$);
SELECT pg_temp.refused($sql$SELECT bulkorder.define_operation('orders', 'x_op', 'x', 'x', 'bulk_x_op', changed_columns => '{remarks}', set_clause => 'remarks = t.remarks',
    rules => '[{"code": "not_found", "condition": "true", "message_ja": "だめです", "message_en": "no"}]')$sql$);
SELECT pg_temp.refused($sql$SELECT bulkorder.define_operation('orders', 'x_op', 'x', 'x', 'bulk_x_op', changed_columns => '{remarks}', set_clause => 'remarks = t.remarks',
    rules => '[{"code": "x_failed", "condition": "true", "message_ja": "a", "message_en": "a"},
               {"code": "x_failed", "condition": "false", "message_ja": "b", "message_en": "b"}]')$sql$);
-- checks: a message, a valid sqlstate
SELECT pg_temp.refused($sql$SELECT bulkorder.define_operation('orders', 'x_op', 'x', 'x', 'bulk_x_op', changed_columns => '{remarks}', set_clause => 'remarks = t.remarks',
    checks => '[{"condition": "true"}]')$sql$);
SELECT pg_temp.refused($sql$SELECT bulkorder.define_operation('orders', 'x_op', 'x', 'x', 'bulk_x_op', changed_columns => '{remarks}', set_clause => 'remarks = t.remarks',
    checks => '[{"condition": "true", "message": "m", "sqlstate": "bad"}]')$sql$);
-- ... of an error: not class 00 (success), 01 (warning) or 02 (no data)
-- (issue 23; 1.1 took them, and a failed check raised "ERROR: 00000")
SELECT s AS sqlstate, pg_temp.refused(format($sql$SELECT bulkorder.define_operation('orders', 'x_op', 'x', 'x', 'bulk_x_op', changed_columns => '{remarks}', set_clause => 'remarks = t.remarks',
    checks => '[{"condition": "true", "message": "m"}, {"condition": "true", "message": "m", "sqlstate": "%s"}]')$sql$, s))
FROM unnest(ARRAY['00000', '01000', '02000', '01P01']) s;
-- set_clause without changed_columns: no image, no undo (issue 23; 1.1 gave
-- the revert's internal syntax error)
SELECT pg_temp.refused($sql$SELECT bulkorder.define_operation('orders', 'x_op', 'x', 'x', 'bulk_x_op', set_clause => 'remarks = t.remarks')$sql$);
-- target_join: an object of known keys, table, alias and key given, an
-- alias that is none of the statements' own; on reads the joined row and p
-- only (an UPDATE's FROM cannot read its target), said by the compilation
SELECT pg_temp.refused($sql$SELECT bulkorder.define_operation('orders', 'x_op', 'x', 'x', 'bulk_x_op', changed_columns => '{remarks}', set_clause => 'remarks = t.remarks',
    target_join => '["bulkorder.customers"]')$sql$);
SELECT pg_temp.refused($sql$SELECT bulkorder.define_operation('orders', 'x_op', 'x', 'x', 'bulk_x_op', changed_columns => '{remarks}', set_clause => 'remarks = t.remarks',
    target_join => '{"table": "bulkorder.order_items", "alias": "x", "key": "order_no", "using": "x"}')$sql$);
SELECT pg_temp.refused($sql$SELECT bulkorder.define_operation('orders', 'x_op', 'x', 'x', 'bulk_x_op', changed_columns => '{remarks}', set_clause => 'remarks = t.remarks',
    target_join => '{"table": "bulkorder.order_items", "alias": "x", "on": ""}')$sql$);
SELECT pg_temp.refused($sql$SELECT bulkorder.define_operation('orders', 'x_op', 'x', 'x', 'bulk_x_op', changed_columns => '{remarks}', set_clause => 'remarks = t.remarks',
    target_join => '{"table": "bulkorder.order_items", "alias": "prm", "key": "order_no"}')$sql$);
SELECT pg_temp.refused($sql$SELECT bulkorder.define_operation('orders', 'x_op', 'x', 'x', 'bulk_x_op', changed_columns => '{remarks}', set_clause => 'remarks = t.remarks',
    target_join => '{"table": "bulkorder.customers", "alias": "c", "key": "customer_id", "on": "c.customer_id = t.customer_id"}')$sql$);
SELECT pg_temp.refused($sql$SELECT bulkorder.define_operation('orders', 'x_op', 'x', 'x', 'bulk_x_op', changed_columns => '{remarks}', set_clause => 'remarks = t.remarks',
    target_join => '{"table": "bulkorder.no_such_table", "alias": "x", "key": "order_no"}')$sql$);
-- the revert declaration: known keys; an irreversible operation says why
SELECT pg_temp.refused($sql$SELECT bulkorder.define_operation('orders', 'x_op', 'x', 'x', 'bulk_x_op', changed_columns => '{remarks}', set_clause => 'remarks = t.remarks',
    revert => '{"reversible": true, "how": "by hand"}')$sql$);
SELECT pg_temp.refused($sql$SELECT bulkorder.define_operation('orders', 'x_op', 'x', 'x', 'bulk_x_op', changed_columns => '{remarks}', set_clause => 'remarks = t.remarks',
    revert => '{"reversible": false}')$sql$);
-- revert keys: types, an irreversible operation declares nothing else, its
-- rules as the operation's (the revert's own codes taken)
SELECT pg_temp.refused($sql$SELECT bulkorder.define_operation('orders', 'x_op', 'x', 'x', 'bulk_x_op', changed_columns => '{remarks}', set_clause => 'remarks = t.remarks',
    revert => '{"reversible": "yes"}')$sql$);
SELECT pg_temp.refused($sql$SELECT bulkorder.define_operation('orders', 'x_op', 'x', 'x', 'bulk_x_op', changed_columns => '{remarks}', set_clause => 'remarks = t.remarks',
    revert => '{"condition": true, "apply_sql": ""}')$sql$);
SELECT pg_temp.refused($sql$SELECT bulkorder.define_operation('orders', 'x_op', 'x', 'x', 'bulk_x_op', changed_columns => '{remarks}', set_clause => 'remarks = t.remarks',
    revert => '{"reversible": false, "reason": "no", "condition": "true"}')$sql$);
SELECT pg_temp.refused($sql$SELECT bulkorder.define_operation('orders', 'x_op', 'x', 'x', 'bulk_x_op', changed_columns => '{remarks}', set_clause => 'remarks = t.remarks',
    revert => '{"reason": "no"}')$sql$);
SELECT pg_temp.refused($sql$SELECT bulkorder.define_operation('orders', 'x_op', 'x', 'x', 'bulk_x_op', changed_columns => '{remarks}', set_clause => 'remarks = t.remarks',
    revert => '{"rules": {"code": "x"}}')$sql$);
SELECT pg_temp.refused($sql$SELECT bulkorder.define_operation('orders', 'x_op', 'x', 'x', 'bulk_x_op', changed_columns => '{remarks}', set_clause => 'remarks = t.remarks',
    revert => '{"rules": [{"code": "x_late", "condition": "true", "message_ja": "遅い"}]}')$sql$);
SELECT pg_temp.refused($sql$SELECT bulkorder.define_operation('orders', 'x_op', 'x', 'x', 'bulk_x_op', changed_columns => '{remarks}', set_clause => 'remarks = t.remarks',
    revert => '{"rules": [{"code": "changed_since", "condition": "true", "message_ja": "a", "message_en": "a"}]}')$sql$);
SELECT pg_temp.refused($sql$SELECT bulkorder.define_operation('orders', 'x_op', 'x', 'x', 'bulk_x_op', changed_columns => '{remarks}', set_clause => 'remarks = t.remarks',
    revert => '{"rules": [{"code": "x_late", "condition": "true", "message_ja": "a", "message_en": "a"},
                          {"code": "x_late", "condition": "true", "message_ja": "b", "message_en": "b"}]}')$sql$);
-- broken revert statements are rejected now, naming the revert's piece
SELECT pg_temp.refused($sql$SELECT bulkorder.define_operation('orders', 'x_op', 'x', 'x', 'bulk_x_op', changed_columns => '{remarks}', set_clause => 'remarks = t.remarks',
    revert => '{"apply_sql": "applied AS (SELEKT target FROM eligible)"}')$sql$);
SELECT pg_temp.refused($sql$SELECT bulkorder.define_operation('orders', 'x_op', 'x', 'x', 'bulk_x_op', changed_columns => '{remarks}', set_clause => 'remarks = t.remarks',
    revert => '{"condition": "t.no_such_column = 1"}')$sql$);
SELECT pg_temp.refused($sql$SELECT bulkorder.define_operation('orders', 'x_op', 'x', 'x', 'bulk_x_op', changed_columns => '{remarks}', set_clause => 'remarks = t.remarks',
    revert => '{"lock_sql": "SELECT 1 FROM bulkorder.no_such_table"}')$sql$);
-- revert is no operation code: a job named revert is an undo
SELECT pg_temp.refused($sql$SELECT bulkorder.define_operation('orders', 'revert', 'x', 'x', 'bulk_x_op', changed_columns => '{remarks}', set_clause => 'remarks = t.remarks')$sql$);
-- a wrapper name that is taken: another operation's, another function's
SELECT pg_temp.refused($sql$SELECT bulkorder.define_operation('orders', 'x_op', 'x', 'x', 'bulk_cancel', changed_columns => '{remarks}', set_clause => 'remarks = t.remarks')$sql$);
SELECT pg_temp.refused($sql$SELECT bulkorder.define_operation('orders', 'x_op', 'x', 'x', 'run_bulk', changed_columns => '{remarks}', set_clause => 'remarks = t.remarks')$sql$);
-- broken SQL is rejected now, with the statement's own error, naming the piece
SELECT pg_temp.refused($sql$SELECT bulkorder.define_operation('orders', 'x_op', 'x', 'x', 'bulk_x_op', changed_columns => '{remarks}', set_clause => 'no_such_column = 1')$sql$);
SELECT pg_temp.refused($sql$SELECT bulkorder.define_operation('orders', 'x_op', 'x', 'x', 'bulk_x_op', changed_columns => '{remarks}', set_clause => 'remarks = t.remarks',
    rules => '[{"code": "x_failed", "condition": "t.no_such_column > 0", "message_ja": "a", "message_en": "a"}]')$sql$);
SELECT pg_temp.refused($sql$SELECT bulkorder.define_operation('orders', 'x_op', 'x', 'x', 'bulk_x_op',
    apply_sql => 'applied AS (SELEKT target FROM eligible)')$sql$);
SELECT pg_temp.refused($sql$SELECT bulkorder.define_operation('orders', 'x_op', 'x', 'x', 'bulk_x_op', changed_columns => '{remarks}', set_clause => 'remarks = t.remarks',
    checks => '[{"condition": "p->>''n'' > 1 +", "message": "m"}]')$sql$);
SELECT pg_temp.refused($sql$SELECT bulkorder.define_operation('orders', 'x_op', 'x', 'x', 'bulk_x_op', changed_columns => '{remarks}', set_clause => 'remarks = t.remarks',
    lock_sql => 'SELECT 1 FROM bulkorder.no_such_table')$sql$);
-- A piece that ends the statement the engine composes it in, and starts
-- another, is refused, naming the piece: every piece of SQL a declaration
-- holds (issue 23; 1.1 composed such pieces into texts that SPI ran
-- statement after statement, the later ones outside the job's items).
SELECT piece, pg_temp.refused(format($sql$SELECT bulkorder.define_operation('orders', 'x_op', 'x', 'x', 'bulk_x_op', changed_columns => '{remarks}', %s)$sql$,
                                     CASE WHEN piece IN ('set_clause', 'apply_sql') THEN '' ELSE $a$set_clause => 'remarks = t.remarks', $a$ END
                                     || decl))
FROM (VALUES
    ('set_clause', $d$set_clause => 'remarks = t.remarks; DELETE FROM bulkorder.order_items'$d$),
    ('apply_sql', $d$apply_sql => 'applied AS (SELECT target, NULL::jsonb AS after FROM eligible) SELECT 1; DELETE FROM bulkorder.order_items; WITH x AS (SELECT 1)'$d$),
    ('before_sql', $d$before_sql => $$'{}'::jsonb); DELETE FROM bulkorder.order_items WHERE (false$$$d$),
    ('effects', $d$effects => ARRAY['SELECT 1', 'SELECT 1) SELECT 1; DELETE FROM bulkorder.order_items; WITH x AS (SELECT 1']$d$),
    ('prelock_sql', $d$prelock_sql => 'SELECT 1) AS a; DELETE FROM bulkorder.order_items; SELECT count(*) FROM (SELECT 1'$d$),
    ('lock_sql', $d$lock_sql => 'SELECT 1) AS a; DELETE FROM bulkorder.order_items; SELECT count(*) FROM (SELECT 1'$d$),
    ('rule', $d$rules => '[{"code": "x_ok", "condition": "true); DELETE FROM bulkorder.order_items WHERE (false", "message_ja": "a", "message_en": "a"}]'$d$),
    ('check', $d$checks => '[{"condition": "true); DELETE FROM bulkorder.order_items WHERE (false", "message": "m"}]'$d$),
    ('target_join.table', $d$target_join => '{"table": "bulkorder.customers AS c; DELETE FROM bulkorder.order_items; SELECT 1 FROM bulkorder.customers", "alias": "c", "key": "customer_id"}'$d$),
    ('target_join.on', $d$target_join => '{"table": "bulkorder.customers", "alias": "c", "key": "customer_id", "on": "true); DELETE FROM bulkorder.order_items WHERE (false"}'$d$),
    ('revert.condition', $d$revert => '{"condition": "true); DELETE FROM bulkorder.order_items WHERE (false"}'$d$),
    ('revert.before_sql', $d$revert => '{"before_sql": "NULL); DELETE FROM bulkorder.order_items WHERE (false"}'$d$),
    ('revert.apply_sql', $d$revert => '{"apply_sql": "applied AS (SELECT target, after FROM eligible) SELECT 1; DELETE FROM bulkorder.order_items; WITH x AS (SELECT 1)"}'$d$),
    ('revert.prelock_sql', $d$revert => '{"prelock_sql": "SELECT 1) AS a; DELETE FROM bulkorder.order_items; SELECT count(*) FROM (SELECT 1"}'$d$),
    ('revert.lock_sql', $d$revert => '{"lock_sql": "SELECT 1) AS a; DELETE FROM bulkorder.order_items; SELECT count(*) FROM (SELECT 1"}'$d$),
    ('revert.visible_condition', $d$revert => '{"visible_condition": "true); DELETE FROM bulkorder.order_items WHERE (false"}'$d$),
    ('revert rule', $d$revert => '{"rules": [{"code": "x_ok", "condition": "true); DELETE FROM bulkorder.order_items WHERE (false", "message_ja": "a", "message_en": "a"}]}'$d$)
) AS t(piece, decl);
-- a semicolon in a string or a comment ends nothing: accepted
SELECT pg_temp.refused($sql$SELECT bulkorder.define_operation('orders', 'x_op', 'x', 'x', 'bulk_x_op', changed_columns => '{remarks}',
    set_clause => $$remarks = 'a;b' /* ; */$$,
    rules => '[{"code": "x_ok", "condition": "t.remarks IS DISTINCT FROM '';''", "message_ja": "a", "message_en": "a"}]')$sql$);
SELECT bulkorder.drop_operation('orders', 'x_op');
-- a shipped operation is not replaced by accident
SELECT pg_temp.refused($sql$SELECT bulkorder.define_operation('orders', 'cancel', 'x', 'x', 'bulk_cancel', changed_columns => '{remarks}', set_clause => 'remarks = t.remarks')$sql$);
SELECT (SELECT count(*) FROM bulkorder_catalog.operations) = b.operations AS same_operations,
       (SELECT count(*) FROM bulkorder_catalog.operation_rules) = b.rules AS same_rules,
       (SELECT count(*) FROM pg_proc WHERE pronamespace = 'bulkorder'::regnamespace) = b.functions AS same_functions
FROM before b;

---------------------------------------------------------------------------
-- Redefining: the call again replaces the row, its rules and checks.  New
-- parameters change the wrapper's arguments; its grants stay.
\set VERBOSITY default
SELECT bulkorder.define_operation('orders', 'gift_wrap',
    name_ja => 'ギフト包装', name_en => 'gift wrapping',
    wrapper => 'bulk_gift_wrap',
    params => '{"wrap": {"type": "boolean", "position": 1},
                "note": {"type": "text", "max_length": 20, "nullable": true, "default": null, "position": 2}}',
    changed_columns => '{gift_wrap,remarks}',
    set_clause => $$gift_wrap = (p->>'wrap')::boolean,
                    remarks = coalesce(p->>'note', t.remarks)$$,
    rules => '[{"code": "not_awaiting_shipment",
                "condition": "t.status = ''awaiting_shipment''",
                "message_ja": "出荷待ちの注文ではないためギフト包装を変更できません",
                "message_en": "only orders awaiting shipment can change their gift wrapping"},
               {"code": "not_credit_card",
                "condition": "t.payment_method = ''credit_card''",
                "message_ja": "クレジットカード払いの注文のみギフト包装できます",
                "message_en": "only orders paid by credit card can be gift-wrapped"}]',
    checks => '[{"condition": "p->>''note'' IS NULL OR (p->>''wrap'')::boolean",
                 "message": "a note needs the gift wrapping", "hint": "Give wrap: true with a note."}]',
    revert => '{"reversible": false, "reason": "the wrapping paper is already cut"}');
SELECT p.oid::regprocedure AS wrapper, pg_get_function_arguments(p.oid) AS arguments,
       has_function_privilege('bulkorder_test_operator', p.oid, 'EXECUTE') AS operator_may,
       has_function_privilege('public', p.oid, 'EXECUTE') AS public_may
FROM pg_proc p WHERE p.proname = 'bulk_gift_wrap';
SELECT operation, rules, reversible, irreversible_reason FROM bulkorder.operation_catalog WHERE operation = 'gift_wrap';
SELECT * FROM bulkorder.preview_bulk('orders', 'gift_wrap', '{1001,1006}', '{"wrap": false}');
SELECT bulkorder.bulk_gift_wrap('{1001}', true, note => 'リボン付き') AS job \gset
SELECT target, ok, before, after FROM bulkorder.bulk_job_items WHERE job_id = :job;
-- declared irreversible: undoing its job is refused (0A000), with the reason
SELECT pg_temp.refused(format('SELECT bulkorder.revert_job(%s)', :job));
SELECT pg_temp.refused(format('SELECT * FROM bulkorder.preview_revert(%s)', :job));
SELECT bulkorder.revert_job(:job);
SELECT count(*) AS revert_jobs FROM bulkorder.bulk_jobs WHERE reverts = :job;
-- the new whole-call check
SELECT bulkorder.bulk_gift_wrap('{1001}', false, note => 'リボン付き');
-- a broken redefinition leaves the operation as it was
SELECT pg_temp.refused($sql$SELECT bulkorder.define_operation('orders', 'gift_wrap', 'ギフト包装', 'gift wrapping',
    'bulk_gift_wrap', params => '{"wrap": {"type": "boolean"}}', changed_columns => '{gift_wrap}',
    set_clause => $$gift_wrap = (p->>'wrap')::boolean$$,
    rules => '[{"code": "too_late", "condition": "t.shipped_at IS NULL", "message_ja": "遅い", "message_en": "too late"}]')$sql$);
SELECT p.oid::regprocedure AS wrapper, o.reversible, jsonb_array_length(o.rules) AS rules
FROM bulkorder.operation_catalog o JOIN pg_proc p ON p.proname = o.wrapper
WHERE o.operation = 'gift_wrap';
-- a new wrapper name: the old wrapper goes
SELECT bulkorder.define_operation('orders', 'gift_wrap', 'ギフト包装', 'gift wrapping', 'bulk_order_gift_wrap',
    params => '{"wrap": {"type": "boolean"}}', changed_columns => '{gift_wrap}',
    set_clause => $$gift_wrap = (p->>'wrap')::boolean$$);
SELECT proname FROM pg_proc WHERE proname IN ('bulk_gift_wrap', 'bulk_order_gift_wrap');
SELECT has_function_privilege('bulkorder_test_operator', 'bulkorder.bulk_order_gift_wrap(bigint[], boolean)', 'EXECUTE') AS operator_may;

---------------------------------------------------------------------------
-- Replacing a shipped operation takes replace_shipped => true, and keeps its
-- wrapper (public API); the replacement is the shop's (shipped = false).
\set VERBOSITY default
SELECT bulkorder.define_operation('orders', 'cancel', 'キャンセル', 'cancel', 'bulk_cancel',
    params => '{"void_payment": {"type": "boolean"}, "reason": {"type": "text"}}',
    changed_columns => '{status}', set_clause => $$status = 'cancelled'$$,
    replace_shipped => true);
SELECT bulkorder.define_operation('orders', 'cancel', 'キャンセル', 'cancel', 'bulk_cancel',
    params => '{"void_payment": {"type": "boolean"}}',
    changed_columns => '{status}', set_clause => $$status = 'cancelled'$$,
    effects => ARRAY[bulkorder_catalog.void_payment_effect()],
    rules => '[{"code": "not_awaiting_shipment", "condition": "t.status = ''awaiting_shipment''",
                "message_ja": "出荷待ちの注文ではないためキャンセルできません",
                "message_en": "only orders awaiting shipment can be cancelled"},
               {"code": "on_shipping_hold", "condition": "NOT t.shipping_hold",
                "message_ja": "出荷停止中の注文はキャンセルできません(先に出荷停止を解除してください)",
                "message_en": "an order on shipping hold cannot be cancelled"}]',
    replace_shipped => true);
SELECT operation, shipped, rules FROM bulkorder.operation_catalog WHERE page = 'orders' AND operation = 'cancel';
UPDATE bulkorder.orders SET shipping_hold = true WHERE order_no = 1006;
SELECT * FROM bulkorder.preview_bulk('orders', 'cancel', '{1003,1006,1007}', '{"void_payment": false}');
-- still the shipped wrapper, a member of the extension
SELECT count(*) AS member_of_extension FROM pg_depend
WHERE objid = 'bulkorder.bulk_cancel(bigint[], boolean)'::regprocedure AND deptype = 'e';

---------------------------------------------------------------------------
-- A shop's operation that changes another row (the order's customer) and
-- declares how it is undone: revert_job restores whole rows.
\set VERBOSITY default
SELECT bulkorder.define_operation('orders', 'customer_note',
    name_ja => '顧客メモ', name_en => 'customer note',
    wrapper => 'bulk_customer_note',
    params => '{"note": {"type": "text", "max_length": 100, "position": 1}}',
    changed_columns => '{customer_id}',
    apply_sql => $$noted AS (
        UPDATE bulkorder.customers c SET remarks = prm.p->>'note'
          FROM prm
         WHERE c.customer_id IN (SELECT o.customer_id FROM eligible e JOIN bulkorder.orders o ON o.order_no = e.target)
     RETURNING c.customer_id),
       applied AS (
        SELECT e.target, jsonb_build_object('customer_id', o.customer_id, 'customer_remarks', prm.p->>'note') AS after
          FROM eligible e JOIN bulkorder.orders o ON o.order_no = e.target CROSS JOIN prm)$$,
    before_sql => $$jsonb_build_object('customer_id', t.customer_id,
        'customer_remarks', (SELECT c.remarks FROM bulkorder.customers c WHERE c.customer_id = t.customer_id))$$,
    prelock_sql => $$SELECT 1 FROM bulkorder.customers c
        WHERE c.customer_id IN (SELECT o.customer_id FROM bulkorder.orders o WHERE o.order_no = ANY ($1))
        ORDER BY c.customer_id FOR NO KEY UPDATE OF c$$,
    revert => jsonb_build_object(
        'condition', $$(SELECT c.remarks FROM bulkorder.customers c WHERE c.customer_id = t.customer_id)
            IS NOT DISTINCT FROM s.after->>'customer_remarks'$$,
        'rules', jsonb_build_array(jsonb_build_object('code', 'customer_gone',
            'condition', $$EXISTS (SELECT 1 FROM bulkorder.customers c WHERE c.customer_id = t.customer_id)$$,
            'message_ja', '顧客が見つかりません', 'message_en', 'the customer is gone')),
        'before_sql', $$jsonb_build_object('customer_id', t.customer_id,
            'customer_remarks', (SELECT c.remarks FROM bulkorder.customers c WHERE c.customer_id = t.customer_id))$$,
        'apply_sql', $$restored AS (
        UPDATE bulkorder.customers c SET remarks = x.remarks
          FROM (SELECT DISTINCT ON (o.customer_id) o.customer_id, s.before->>'customer_remarks' AS remarks
                  FROM eligible s JOIN bulkorder.orders o ON o.order_no = s.target
                 ORDER BY o.customer_id) AS x
         WHERE c.customer_id = x.customer_id
     RETURNING c.customer_id),
       applied AS (
        SELECT s.target, jsonb_build_object('customer_id', o.customer_id,
                                            'customer_remarks', s.before->>'customer_remarks') AS after
          FROM eligible s JOIN bulkorder.orders o ON o.order_no = s.target)$$,
        'prelock_sql', $$SELECT 1 FROM bulkorder.customers c
        WHERE c.customer_id IN (SELECT o.customer_id FROM bulkorder.orders o WHERE o.order_no = ANY ($1))
        ORDER BY c.customer_id FOR NO KEY UPDATE OF c$$));
SELECT revert_condition IS NOT NULL AS condition, jsonb_array_length(revert_rules) AS rules,
       revert_before_sql IS NOT NULL AS before_sql, revert_apply_sql IS NOT NULL AS apply_sql,
       revert_prelock_sql IS NOT NULL AS prelock_sql, revert_lock_sql IS NULL AS no_lock_sql,
       revert_visible_condition IS NULL AS no_visible_condition
FROM bulkorder_catalog.operations WHERE page = 'orders' AND operation = 'customer_note';
UPDATE bulkorder.customers SET remarks = '既存のメモ' WHERE customer_id = 2;
CREATE TEMP TABLE customers_before AS SELECT * FROM bulkorder.customers;
CREATE TEMP TABLE orders_before AS SELECT * FROM bulkorder.orders;
SELECT bulkorder.bulk_customer_note('{1001,1003,1005}', 'VIP対応') AS note_job \gset
SELECT customer_id, remarks FROM bulkorder.customers WHERE customer_id IN (1, 2, 3) ORDER BY 1;
-- customer 3 is changed by hand since: its order fails changed_since, the others revert
UPDATE bulkorder.customers SET remarks = '電話で確認済み' WHERE customer_id = 3;
SELECT * FROM bulkorder.preview_revert(:note_job);
SELECT bulkorder.revert_job(:note_job) AS undo_job \gset
SELECT target, ok, error_code, before, after FROM bulkorder.bulk_job_items WHERE job_id = :undo_job ORDER BY target;
-- whole rows: customers 1 and 2 as before the job, customer 3 as changed by hand, no order touched
SELECT d.customer_id, d.remarks
FROM ((SELECT * FROM bulkorder.customers EXCEPT SELECT * FROM customers_before)
      UNION ALL
      (SELECT * FROM customers_before EXCEPT SELECT * FROM bulkorder.customers)) d
ORDER BY d.customer_id, d.remarks;
SELECT count(*) AS orders_changed
FROM ((SELECT * FROM bulkorder.orders EXCEPT SELECT * FROM orders_before)
      UNION ALL (SELECT * FROM orders_before EXCEPT SELECT * FROM bulkorder.orders)) d;
-- the revert of the revert applies the note again
SELECT bulkorder.revert_job(:undo_job) AS redo_job \gset
SELECT customer_id, remarks FROM bulkorder.customers WHERE customer_id IN (1, 2, 3) ORDER BY 1;
SELECT operation, reverts = :note_job AS reverts_note_job, success_count, failure_count
FROM bulkorder.order_bulk_history WHERE job_id = :undo_job;

---------------------------------------------------------------------------
-- target_join: a row of other data per target, read by the rules and the
-- change through one join (the shipment import's staged file is one).  The
-- shop stages gift messages per campaign; the operation copies the
-- campaign's message of each order into its remarks.
CREATE TABLE bulkorder.gift_messages (
    campaign text NOT NULL,
    order_no bigint NOT NULL,
    message text,
    PRIMARY KEY (campaign, order_no));
INSERT INTO bulkorder.gift_messages VALUES
    ('xmas', 1001, 'メリークリスマス'), ('xmas', 1002, NULL), ('newyear', 1003, '謹賀新年');
SELECT bulkorder.define_operation('orders', 'gift_message',
    name_ja => 'ギフトメッセージ', name_en => 'gift message',
    wrapper => 'bulk_gift_message',
    params => '{"campaign": {"type": "text", "position": 1}}',
    changed_columns => '{remarks}',
    set_clause => $$remarks = m.message$$,
    target_join => jsonb_build_object('table', 'bulkorder.gift_messages', 'alias', 'm', 'key', 'order_no',
                                      'on', $$m.campaign = p->>'campaign'$$),
    rules => jsonb_build_array(
        jsonb_build_object('code', 'no_gift_message', 'condition', 'm.order_no IS NOT NULL',
            'message_ja', 'このキャンペーンのギフトメッセージがありません',
            'message_en', 'the campaign has no gift message for this order'),
        jsonb_build_object('code', 'empty_gift_message', 'condition', 'm.message IS NOT NULL',
            'message_ja', 'ギフトメッセージが空です', 'message_en', 'the gift message is empty')));
SELECT target_join FROM bulkorder_catalog.operations WHERE operation = 'gift_message';
-- 1001 has the campaign's message, 1002 an empty one, 1003 another
-- campaign's only, 1099 is no order: the preview and the job agree
SELECT * FROM bulkorder.preview_bulk('orders', 'gift_message', '{1001,1002,1003,1099}', '{"campaign": "xmas"}');
SELECT bulkorder.bulk_gift_message('{1001,1002,1003,1099}', 'xmas') AS gift_job \gset
SELECT target, ok, error_code, before, after FROM bulkorder.bulk_job_items
WHERE job_id = :gift_job ORDER BY target;
SELECT order_no, remarks FROM bulkorder.orders WHERE order_no IN (1001, 1002, 1003) ORDER BY 1;
-- another campaign: the same kept statements, the join follows p
SELECT bulkorder.bulk_gift_message('{1003}', 'newyear') AS gift_job \gset
SELECT target, ok, error_code, after FROM bulkorder.bulk_job_items WHERE job_id = :gift_job;
SELECT bulkorder.drop_operation('orders', 'gift_message');
DROP TABLE bulkorder.gift_messages;

---------------------------------------------------------------------------
-- drop_operation: a shop's own only
\set VERBOSITY sqlstate
SELECT bulkorder.drop_operation('orders', 'tags');
SELECT bulkorder.drop_operation('orders', 'cancel');
SELECT bulkorder.drop_operation('orders', 'no_such_op');
SELECT bulkorder.drop_operation(NULL, 'gift_wrap');
\set VERBOSITY default
SELECT bulkorder.drop_operation('orders', 'tags');
SELECT bulkorder.drop_operation('orders', 'cancel');
-- a queued job keeps its operation as it is
INSERT INTO bulkorder.bulk_jobs (page, operation, params, status, requested_by)
VALUES ('orders', 'gift_wrap', '{"wrap": true}', 'queued', current_user) RETURNING job_id AS queued_job \gset
SELECT bulkorder.drop_operation('orders', 'gift_wrap');
SELECT pg_temp.refused($sql$SELECT bulkorder.define_operation('orders', 'gift_wrap', 'ギフト包装', 'gift wrapping',
    'bulk_order_gift_wrap', params => '{"wrap": {"type": "boolean"}}', changed_columns => '{gift_wrap}', set_clause => $$gift_wrap = (p->>'wrap')::boolean$$)$sql$);
UPDATE bulkorder.bulk_jobs SET status = 'cancelled' WHERE job_id = :queued_job;
SELECT bulkorder.drop_operation('orders', 'gift_wrap');
SELECT count(*) AS left_in_catalogue FROM bulkorder_catalog.operations WHERE operation = 'gift_wrap';
SELECT count(*) AS left_functions FROM pg_proc WHERE proname IN ('bulk_gift_wrap', 'bulk_order_gift_wrap');
-- its jobs stay in the history
SELECT operation, status, success_count FROM bulkorder.order_bulk_history
WHERE operation = 'gift_wrap' ORDER BY job_id;
\set VERBOSITY sqlstate
SELECT bulkorder.run_bulk('orders', 'gift_wrap', '{1001}', '{"wrap": true}');

-- nobody but the owner may declare: not granted to operators
SET ROLE bulkorder_test_operator;
SELECT bulkorder.drop_operation('orders', 'remarks');
RESET ROLE;

-- A declaration broken behind define_operation's back (an UPDATE of the
-- catalogue) fails each call with the statement's error, and the plans
-- prepared before the broken one are freed, not left in CacheMemoryContext.
\set VERBOSITY sqlstate
UPDATE bulkorder_catalog.operations SET effects = '{"SELEKT 1"}' WHERE page = 'orders' AND operation = 'remarks';
SELECT * FROM bulkorder.preview_bulk('orders', 'remarks', '{1001}', '{"text": "x", "mode": "append"}');
SELECT count(*) AS kept_before FROM pg_backend_memory_contexts
WHERE parent = 'CacheMemoryContext' AND name = 'CachedPlanSource' \gset
SELECT * FROM bulkorder.preview_bulk('orders', 'remarks', '{1001}', '{"text": "x", "mode": "append"}');
SELECT * FROM bulkorder.preview_bulk('orders', 'remarks', '{1001}', '{"text": "x", "mode": "append"}');
SELECT * FROM bulkorder.preview_bulk('orders', 'remarks', '{1001}', '{"text": "x", "mode": "append"}');
SELECT count(*) - :kept_before AS leaked_plans FROM pg_backend_memory_contexts
WHERE parent = 'CacheMemoryContext' AND name = 'CachedPlanSource';
-- a piece that splits its statement, written behind define_operation's
-- back, is refused when the engine prepares the statement (22023), and
-- nothing of it runs (1.1 ran the DELETE, then the job)
UPDATE bulkorder_catalog.operations SET effects = '{}',
    lock_sql = 'SELECT 1) AS a; DELETE FROM bulkorder.order_items; SELECT count(*) FROM (SELECT 1'
WHERE page = 'orders' AND operation = 'remarks';
SELECT count(*) AS items_before FROM bulkorder.order_items \gset
SELECT bulkorder.run_bulk('orders', 'remarks', '{1001}', '{"text": "x", "mode": "append"}');
\set VERBOSITY default
SELECT bulkorder.run_bulk('orders', 'remarks', '{1001}', '{"text": "x", "mode": "append"}');
SELECT count(*) = :items_before AS nothing_deleted FROM bulkorder.order_items;

-- the shop's tables outlive DROP EXTENSION: dropping the schema leaves nothing
SET client_min_messages = warning;
DROP SCHEMA bulkorder CASCADE;
DROP OWNED BY bulkorder_test_operator;
DROP ROLE bulkorder_test_operator;
