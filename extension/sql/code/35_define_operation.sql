-- Declaring an operation: bulkorder.define_operation(...) writes one
-- operation whole (its catalogue row, rules and whole-call checks),
-- compiles the statements the engine will build from it, and creates its
-- typed wrapper; bulkorder.drop_operation(page, operation) removes a shop's
-- own.  Every shipped operation (code/operations/) is one call of it; a
-- shop's operations are calls made later by a superuser
-- (docs/define_operation.md).

-- The engine's composition of a declaration, prepared and planned once and
-- thrown away (extension/src/compile.c): a broken fragment raises its own
-- error when it is declared.
CREATE OR REPLACE FUNCTION bulkorder_catalog.compile_operation(page text, operation text)
RETURNS void
AS 'MODULE_PATHNAME', 'bulkorder_compile_operation'
LANGUAGE C VOLATILE STRICT;

-- Refuse (22023) a piece of SQL of a declaration that forms more than one
-- statement where the engine composes it, naming the piece; kind says where
-- that is (extension/src/compile.c).  Parsed only: no table is read.
CREATE OR REPLACE FUNCTION bulkorder_catalog.check_fragment(opname text, piece text, kind text, fragment text)
RETURNS void
AS 'MODULE_PATHNAME', 'bulkorder_check_fragment'
LANGUAGE C VOLATILE STRICT;

-- True while bulkorder's own CREATE/ALTER EXTENSION script runs: what
-- define_operation declares then is a shipped operation.
CREATE OR REPLACE FUNCTION bulkorder_catalog.in_extension_script()
RETURNS boolean
AS 'MODULE_PATHNAME', 'bulkorder_in_extension_script'
LANGUAGE C VOLATILE;

-- "The pages are …": the hint of an unknown page, as the engine gives it.
CREATE OR REPLACE FUNCTION bulkorder_catalog.page_list_hint()
RETURNS text
AS 'MODULE_PATHNAME', 'bulkorder_page_list_hint'
LANGUAGE C STABLE;

-- The typed wrapper of an operation, as SQL:
--   bulkorder.<wrapper>(<page key>s bigint[], <params in declared order>) RETURNS bigint
-- A parameter with a default gets the same default here.  identity is the
-- argument list as pg_get_function_identity_arguments prints it.
CREATE OR REPLACE FUNCTION bulkorder_catalog.wrapper_sql(p_page text, p_operation text, p_params jsonb,
                                                         p_wrapper text, OUT identity text, OUT ddl text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    keys_arg text := (SELECT pg.key_column || 's' FROM bulkorder_catalog.pages pg WHERE pg.page = p_page);
    args text := '';
    build text := '';
    prm record;
BEGIN
    identity := pg_catalog.format('%I bigint[]', keys_arg);
    -- jsonb keeps no key order, so arguments follow "position" (else name)
    FOR prm IN
        SELECT e.key AS name, e.value AS spec, e.value->>'type' AS sqltype
        FROM pg_catalog.jsonb_each(p_params) e
        ORDER BY (e.value->>'position')::int NULLS LAST, e.key
    LOOP
        identity := identity || pg_catalog.format(', %I %s', prm.name, prm.sqltype);
        args := args || pg_catalog.format(', %I %s', prm.name, prm.sqltype);
        IF prm.spec ? 'default' THEN
            args := args || pg_catalog.format(' DEFAULT %s',
                CASE WHEN prm.sqltype = 'text[]'
                     THEN pg_catalog.format('%L::text[]',
                                            ARRAY(SELECT pg_catalog.jsonb_array_elements_text(prm.spec->'default')))
                     ELSE pg_catalog.format('(%L::jsonb->>0)::%s',
                                            pg_catalog.jsonb_build_array(prm.spec->'default'), prm.sqltype)
                END);
        END IF;
        build := build || pg_catalog.format(', %L, to_jsonb(%I)', prm.name, prm.name);
    END LOOP;
    ddl := pg_catalog.format(
        'CREATE OR REPLACE FUNCTION bulkorder.%I(%I bigint[]%s) RETURNS bigint '
        'LANGUAGE sql VOLATILE SET search_path = pg_catalog, pg_temp '
        'AS $w$ SELECT bulkorder.run_bulk(%L, %L, %I, jsonb_build_object(%s), ''{"source": "api"}'') $w$',
        p_wrapper, keys_arg, args, p_page, p_operation, keys_arg, pg_catalog.ltrim(build, ', '));
END
$fn$;

-- A function of schema bulkorder is the wrapper of page/operation when its
-- body runs that operation (the catalogue row may be gone: every upgrade
-- deletes the shipped rows before declaring them again).
CREATE OR REPLACE FUNCTION bulkorder_catalog.is_wrapper_of(fn regprocedure, p_page text, p_operation text)
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT pg_catalog.starts_with(p.prosrc,
                                  pg_catalog.format(' SELECT bulkorder.run_bulk(%L, %L, ', p_page, p_operation))
    FROM pg_catalog.pg_proc p WHERE p.oid = fn
$fn$;

-- A function that belongs to the extension (created by its script).
CREATE OR REPLACE FUNCTION bulkorder_catalog.is_extension_member(fn regprocedure)
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT EXISTS (SELECT FROM pg_catalog.pg_depend d
                   WHERE d.classid = 'pg_catalog.pg_proc'::regclass AND d.objid = fn
                     AND d.refclassid = 'pg_catalog.pg_extension'::regclass
                     AND d.refobjid = (SELECT e.oid FROM pg_catalog.pg_extension e WHERE e.extname = 'bulkorder')
                     AND d.deptype = 'e')
$fn$;

-- pg_restore of a shop that replaced a shipped operation: CREATE EXTENSION
-- has just declared the shipped one, and the dump's row of the shop's
-- replacement takes its place (its rules and checks go with it).
CREATE OR REPLACE FUNCTION bulkorder_catalog.displace_shipped()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    IF NOT NEW.shipped THEN
        DELETE FROM bulkorder_catalog.operations o
        WHERE o.page = NEW.page AND o.operation = NEW.operation AND o.shipped;
    END IF;
    RETURN NEW;
END
$fn$;

CREATE OR REPLACE TRIGGER displace_shipped
BEFORE INSERT ON bulkorder_catalog.operations
FOR EACH ROW EXECUTE FUNCTION bulkorder_catalog.displace_shipped();

-- A declaration's JSON object (a parameter's spec, revert, target_join, a
-- rule, a check): an object with no key but the allowed ones; what names it
-- in the errors, hint is the message (bulkorder_catalog.message) of the
-- hint.
CREATE OR REPLACE FUNCTION bulkorder_catalog.check_object(opname text, value jsonb, what text,
                                                          allowed text[], hint text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    bad text;
BEGIN
    IF pg_catalog.jsonb_typeof(value) <> 'object' THEN
        RAISE EXCEPTION '%: % must be a JSON object', opname, what USING ERRCODE = '22023';
    END IF;
    SELECT pg_catalog.string_agg(k, ', ' ORDER BY k) INTO bad
    FROM pg_catalog.jsonb_object_keys(value) k
    WHERE k <> ALL (allowed);
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION '%: unknown key % in %', opname, bad, what
            USING ERRCODE = '22023', HINT = bulkorder_catalog.message(hint);
    END IF;
END
$fn$;

-- The keys of a declaration's JSON object that hold text: each required
-- one, and each optional one given, a non-empty string (hint: the message
-- of the hint).
CREATE OR REPLACE FUNCTION bulkorder_catalog.check_strings(opname text, value jsonb, what text,
                                                           required text[], optional text[], hint text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    bad text;
BEGIN
    SELECT pg_catalog.string_agg(k, ', ' ORDER BY k) INTO bad
    FROM pg_catalog.unnest(required || optional) k
    WHERE (k = ANY (required) OR value ? k)
      AND (pg_catalog.jsonb_typeof(value->k) IS DISTINCT FROM 'string'
           OR pg_catalog.btrim(value->>k) = '');
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION '%: %.% must be a non-empty string', opname, what, bad
            USING ERRCODE = '22023', HINT = bulkorder_catalog.message(hint);
    END IF;
END
$fn$;

-- The eligibility rules of a declaration (define_operation's rules, and its
-- revert's): a JSON array of objects, each with exactly code, condition,
-- message_ja and message_en as non-empty strings, and a code of the form
-- ^[a-z][a-z0-9_]*$ that is not one of the engine's own (reserved).
-- list_name and rule_name name them in the errors ('rules' / 'rule'),
-- code_hint is the message of the hint of a bad code.
CREATE OR REPLACE FUNCTION bulkorder_catalog.check_rules(opname text, rules jsonb, list_name text,
                                                         rule_name text, reserved text[], code_hint text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    elem record;
    bad text;
BEGIN
    IF pg_catalog.jsonb_typeof(rules) <> 'array' THEN
        RAISE EXCEPTION '%: % must be a JSON array of objects', opname, list_name USING ERRCODE = '22023';
    END IF;
    FOR elem IN SELECT r.value AS rule, r.n FROM pg_catalog.jsonb_array_elements(rules) WITH ORDINALITY r(value, n) LOOP
        IF pg_catalog.jsonb_typeof(elem.rule) <> 'object' THEN
            RAISE EXCEPTION '%: % % is not a JSON object', opname, rule_name, elem.n USING ERRCODE = '22023';
        END IF;
        PERFORM bulkorder_catalog.check_object(opname, elem.rule, pg_catalog.format('%s %s', rule_name, elem.n),
            ARRAY['code', 'condition', 'message_ja', 'message_en'], 'RULE_KEYS');
        SELECT pg_catalog.string_agg(k, ', ' ORDER BY k) INTO bad
        FROM pg_catalog.unnest(ARRAY['code', 'condition', 'message_ja', 'message_en']) k
        WHERE pg_catalog.jsonb_typeof(elem.rule->k) IS DISTINCT FROM 'string' OR pg_catalog.btrim(elem.rule->>k) = '';
        IF bad IS NOT NULL THEN
            RAISE EXCEPTION '%: % % has no %', opname, rule_name, elem.n, bad
                USING ERRCODE = '22023',
                      HINT = bulkorder_catalog.message('RULE_FIELDS');
        END IF;
        IF elem.rule->>'code' !~ '^[a-z][a-z0-9_]*$' OR elem.rule->>'code' = ANY (reserved) THEN
            RAISE EXCEPTION '%: % % has error code "%"', opname, rule_name, elem.n, elem.rule->>'code'
                USING ERRCODE = '22023', HINT = bulkorder_catalog.message(code_hint);
        END IF;
    END LOOP;
END
$fn$;

-- Every piece of SQL a declaration holds, each checked by check_fragment
-- in the place the engine composes it: the change, images, effects, locks,
-- the conditions of rules, checks and revert rules, the revert's
-- statements, target_join's table and on.  The first that splits its
-- statement is refused, in the order listed.
CREATE OR REPLACE FUNCTION bulkorder_catalog.check_fragments(opname text, p_set_clause text, p_apply_sql text,
                                                             p_before_sql text, p_effects text[],
                                                             p_prelock_sql text, p_lock_sql text,
                                                             p_rules jsonb, p_checks jsonb, p_revert jsonb,
                                                             p_target_join jsonb)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    piece record;
BEGIN
    FOR piece IN
        SELECT x.name, x.kind, x.fragment FROM (
            SELECT 1 AS g, v.n, v.name, v.kind, v.fragment
            FROM (VALUES (1, 'set_clause', 'set_clause', p_set_clause),
                         (2, 'apply_sql', 'ctes', p_apply_sql),
                         (3, 'before_sql', 'expression', p_before_sql),
                         (4, 'prelock_sql', 'query', p_prelock_sql),
                         (5, 'lock_sql', 'query', p_lock_sql),
                         (6, 'target_join.table', 'table', p_target_join->>'table'),
                         (7, 'target_join.on', 'expression', p_target_join->>'on')) AS v(n, name, kind, fragment)
            UNION ALL
            SELECT 2, e.n, pg_catalog.format('effects[%s]', e.n), 'cte', e.effect
            FROM pg_catalog.unnest(p_effects) WITH ORDINALITY e(effect, n)
            UNION ALL
            SELECT 3, r.n, pg_catalog.format('the condition of rule %s (%s)', r.n, r.value->>'code'),
                   'expression', r.value->>'condition'
            FROM pg_catalog.jsonb_array_elements(p_rules) WITH ORDINALITY r(value, n)
            UNION ALL
            SELECT 4, c.n, pg_catalog.format('the condition of check %s', c.n), 'expression', c.value->>'condition'
            FROM pg_catalog.jsonb_array_elements(p_checks) WITH ORDINALITY c(value, n)
            UNION ALL
            SELECT 5, v.n, v.name, v.kind, v.fragment
            FROM (VALUES (1, 'revert.condition', 'expression', p_revert->>'condition'),
                         (2, 'revert.before_sql', 'expression', p_revert->>'before_sql'),
                         (3, 'revert.apply_sql', 'ctes', p_revert->>'apply_sql'),
                         (4, 'revert.prelock_sql', 'query', p_revert->>'prelock_sql'),
                         (5, 'revert.lock_sql', 'query', p_revert->>'lock_sql'),
                         (6, 'revert.visible_condition', 'expression', p_revert->>'visible_condition')) AS v(n, name, kind, fragment)
            UNION ALL
            SELECT 6, r.n, pg_catalog.format('the condition of revert rule %s (%s)', r.n, r.value->>'code'),
                   'expression', r.value->>'condition'
            FROM pg_catalog.jsonb_array_elements(coalesce(p_revert->'rules', '[]')) WITH ORDINALITY r(value, n)) AS x
        WHERE x.fragment IS NOT NULL
        ORDER BY x.g, x.n
    LOOP
        PERFORM bulkorder_catalog.check_fragment(opname, piece.name, piece.kind, piece.fragment);
    END LOOP;
END
$fn$;

REVOKE ALL ON FUNCTION bulkorder_catalog.compile_operation(text, text),
                       bulkorder_catalog.check_fragment(text, text, text, text),
                       bulkorder_catalog.check_fragments(text, text, text, text, text[], text, text, jsonb, jsonb,
                                                         jsonb, jsonb),
                       bulkorder_catalog.in_extension_script(),
                       bulkorder_catalog.page_list_hint(),
                       bulkorder_catalog.wrapper_sql(text, text, jsonb, text),
                       bulkorder_catalog.is_wrapper_of(regprocedure, text, text),
                       bulkorder_catalog.is_extension_member(regprocedure),
                       bulkorder_catalog.displace_shipped(),
                       bulkorder_catalog.check_rules(text, jsonb, text, text, text[], text),
                       bulkorder_catalog.check_object(text, jsonb, text, text[], text),
                       bulkorder_catalog.check_strings(text, jsonb, text, text[], text[], text)
    FROM PUBLIC;

-- Declare an operation whole (docs/define_operation.md).
--   rules   [{"code", "condition", "message_ja", "message_en"}, …]: the
--           eligibility rules, in the order they are checked
--   checks  [{"condition", "message", "hint"?, "hint_ja"?, "sqlstate"? (22023)}, …]:
--           the whole-call checks over p, in order; message is the error's
--           (English, as every errmsg), hint its hint in English, hint_ja in
--           Japanese (a Japanese session without it gets hint)
--   revert  {"reversible": bool (true), "reason": text (required when false,
--           and then the only other key), "condition", "rules", "before_sql",
--           "apply_sql", "prelock_sql", "lock_sql", "visible_condition"}:
--           how a revert undoes it (the revert_* columns; revert_statements.c)
-- Returns the wrapper.
CREATE OR REPLACE FUNCTION bulkorder.define_operation(
    page text,
    operation text,
    name_ja text,
    name_en text,
    wrapper text,
    params jsonb DEFAULT '{}',
    changed_columns text[] DEFAULT '{}',
    set_clause text DEFAULT NULL,
    apply_sql text DEFAULT NULL,
    before_sql text DEFAULT NULL,
    effects text[] DEFAULT '{}',
    prelock_sql text DEFAULT NULL,
    lock_sql text DEFAULT NULL,
    rules jsonb DEFAULT '[]',
    checks jsonb DEFAULT '[]',
    revert jsonb DEFAULT NULL,
    replace_shipped boolean DEFAULT false,
    target_join jsonb DEFAULT NULL)
RETURNS regprocedure
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
#variable_conflict use_column
DECLARE
    v_page text := define_operation.page;
    v_operation text := define_operation.operation;
    v_params jsonb := coalesce(define_operation.params, '{}');
    v_rules jsonb := coalesce(define_operation.rules, '[]');
    v_checks jsonb := coalesce(define_operation.checks, '[]');
    v_wrapper text := define_operation.wrapper;
    opname text := pg_catalog.format('%s/%s', define_operation.page, define_operation.operation);
    shipped_ctx boolean := bulkorder_catalog.in_extension_script(); on_citus boolean := bulkorder_catalog.citus_sequential();
    keys_arg text;
    existing record;
    old_fn regprocedure;
    fn regprocedure;
    prm record;
    elem record;
    bad text;
    v_reversible boolean := true;
    v_reason text;
    w record;
    acl aclitem[];
BEGIN
    -- what every declaration needs
    IF v_page IS NULL OR v_operation IS NULL OR define_operation.name_ja IS NULL
       OR define_operation.name_en IS NULL OR v_wrapper IS NULL THEN
        RAISE EXCEPTION 'page, operation, name_ja, name_en and wrapper must not be null'
            USING ERRCODE = '22004';
    END IF;
    SELECT pg.key_column || 's' INTO keys_arg FROM bulkorder_catalog.pages pg WHERE pg.page = v_page;
    IF keys_arg IS NULL THEN
        RAISE EXCEPTION 'unknown page "%"', v_page
            USING ERRCODE = '22023', HINT = bulkorder_catalog.page_list_hint();
    END IF;
    IF v_operation !~ '^[a-z][a-z0-9_]*$' OR pg_catalog.length(v_operation) > 63 THEN
        RAISE EXCEPTION 'operation code "%" is not a lowercase snake_case code', v_operation
            USING ERRCODE = '22023', HINT = bulkorder_catalog.message('OPERATION_CODE');
    END IF;
    IF v_operation = 'revert' THEN
        -- a job named revert is an undo (revert_job): the engine reads its
        -- params as the job it reverts, never as this operation's
        RAISE EXCEPTION 'operation code "revert" is reserved'
            USING ERRCODE = '22023',
                  DETAIL = bulkorder_catalog.message('REVERT_RESERVED'),
                  HINT = bulkorder_catalog.message('CHOOSE_ANOTHER_OPERATION_CODE');
    END IF;
    IF pg_catalog.btrim(define_operation.name_ja) = '' OR pg_catalog.btrim(define_operation.name_en) = '' THEN
        RAISE EXCEPTION '%: name_ja and name_en must not be empty', opname USING ERRCODE = '22023';
    END IF;
    IF v_wrapper !~ '^[a-z][a-z0-9_]*$' OR pg_catalog.length(v_wrapper) > 63 THEN
        RAISE EXCEPTION '%: wrapper name "%" is not a lowercase snake_case name', opname, v_wrapper
            USING ERRCODE = '22023', HINT = bulkorder_catalog.message('WRAPPER_NAME');
    END IF;

    -- the parameter schema (extension/src/params.c checks values against it)
    IF pg_catalog.jsonb_typeof(v_params) <> 'object' THEN
        RAISE EXCEPTION '%: params must be a JSON object of parameter specs', opname USING ERRCODE = '22023';
    END IF;
    FOR prm IN SELECT e.key AS name, e.value AS spec FROM pg_catalog.jsonb_each(v_params) e ORDER BY e.key LOOP
        IF prm.name !~ '^[a-z][a-z0-9_]*$' OR prm.name = keys_arg THEN
            RAISE EXCEPTION '%: parameter name "%" is not usable', opname, prm.name
                USING ERRCODE = '22023',
                      HINT = bulkorder_catalog.message('PARAM_NAME', keys_arg);
        END IF;
        PERFORM bulkorder_catalog.check_object(opname, prm.spec, pg_catalog.format('the spec of parameter "%s"', prm.name),
            ARRAY['type', 'default', 'nullable', 'enum', 'max_length', 'min', 'max', 'position'],
            'PARAM_SPEC_KEYS');
        IF prm.spec->>'type' IS NULL
           OR prm.spec->>'type' NOT IN ('boolean', 'text', 'integer', 'bigint', 'date', 'text[]') THEN
            RAISE EXCEPTION '%: parameter "%" has unknown type %', opname, prm.name, coalesce(prm.spec->'type', 'null')
                USING ERRCODE = '22023', HINT = bulkorder_catalog.message('PARAM_TYPES');
        END IF;
        IF prm.spec ? 'nullable' AND pg_catalog.jsonb_typeof(prm.spec->'nullable') <> 'boolean'
           OR prm.spec ? 'position' AND pg_catalog.jsonb_typeof(prm.spec->'position') <> 'number'
           OR prm.spec ? 'enum' AND pg_catalog.jsonb_typeof(prm.spec->'enum') <> 'array'
           OR EXISTS (SELECT FROM pg_catalog.jsonb_each(prm.spec) b
                      WHERE b.key IN ('max_length', 'min', 'max') AND pg_catalog.jsonb_typeof(b.value) <> 'number') THEN
            RAISE EXCEPTION '%: the spec of parameter "%" is malformed', opname, prm.name
                USING ERRCODE = '22023',
                      HINT = bulkorder_catalog.message('PARAM_SPEC');
        END IF;
        IF prm.spec ? 'default' AND NOT (
               (prm.spec->'default' = 'null' AND coalesce((prm.spec->>'nullable')::boolean, false))
            OR pg_catalog.jsonb_typeof(prm.spec->'default') =
               CASE prm.spec->>'type' WHEN 'boolean' THEN 'boolean' WHEN 'text' THEN 'string'
                                      WHEN 'date' THEN 'string' WHEN 'text[]' THEN 'array' ELSE 'number' END) THEN
            RAISE EXCEPTION '%: the default of parameter "%" is not of type %', opname, prm.name, prm.spec->>'type'
                USING ERRCODE = '22023', HINT = bulkorder_catalog.message('PARAM_DEFAULT_NULL');
        END IF;
    END LOOP;

    -- the change
    IF (define_operation.set_clause IS NULL) = (define_operation.apply_sql IS NULL) THEN
        RAISE EXCEPTION '%: give exactly one of set_clause and apply_sql', opname
            USING ERRCODE = '22023',
                  HINT = bulkorder_catalog.message('SET_OR_APPLY');
    END IF;
    IF define_operation.changed_columns IS NULL OR NULL = ANY (define_operation.changed_columns)
       OR define_operation.effects IS NULL OR NULL = ANY (define_operation.effects) THEN
        RAISE EXCEPTION '%: changed_columns and effects must not be or hold null', opname USING ERRCODE = '22004';
    END IF;
    -- the images and the undo of a set_clause are its changed columns
    IF define_operation.set_clause IS NOT NULL AND pg_catalog.cardinality(define_operation.changed_columns) = 0 THEN
        RAISE EXCEPTION '%: set_clause needs changed_columns', opname
            USING ERRCODE = '22023',
                  DETAIL = bulkorder_catalog.message('CHANGED_COLUMNS'),
                  HINT = bulkorder_catalog.message('NAME_CHANGED_COLUMNS');
    END IF;

    -- the eligibility rules
    PERFORM bulkorder_catalog.check_rules(opname, v_rules, 'rules', 'rule', ARRAY['not_found'],
        'RULE_CODE');
    SELECT r->>'code' INTO bad FROM pg_catalog.jsonb_array_elements(v_rules) r
    GROUP BY r->>'code' HAVING pg_catalog.count(*) > 1 LIMIT 1;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION '%: error code "%" is given to more than one rule', opname, bad USING ERRCODE = '22023';
    END IF;

    -- the row of other data joined to each target (docs/define_operation.md:
    -- target_join); the compilation below checks the SQL
    IF define_operation.target_join IS NOT NULL THEN
        PERFORM bulkorder_catalog.check_object(opname, define_operation.target_join, 'target_join',
            ARRAY['table', 'alias', 'key', 'on'], 'TARGET_JOIN_KEYS');
        PERFORM bulkorder_catalog.check_strings(opname, define_operation.target_join, 'target_join',
            ARRAY['table', 'alias', 'key'], ARRAY['on'], 'TARGET_JOIN_STRINGS');
        IF define_operation.target_join->>'alias' !~ '^[a-z_][a-z0-9_]*$'
           OR define_operation.target_join->>'alias' IN ('t', 'i', 'p', 'prm', 'bulkorder_old') THEN
            RAISE EXCEPTION '%: target_join.alias "%" is not usable', opname, define_operation.target_join->>'alias'
                USING ERRCODE = '22023',
                      HINT = bulkorder_catalog.message('TARGET_JOIN_ALIAS');
        END IF;
    END IF;

    -- the whole-call checks
    IF pg_catalog.jsonb_typeof(v_checks) <> 'array' THEN
        RAISE EXCEPTION '%: checks must be a JSON array of objects', opname USING ERRCODE = '22023';
    END IF;
    FOR elem IN SELECT c.value AS chk, c.n FROM pg_catalog.jsonb_array_elements(v_checks) WITH ORDINALITY c(value, n) LOOP
        IF pg_catalog.jsonb_typeof(elem.chk) <> 'object' THEN
            RAISE EXCEPTION '%: check % is not a JSON object', opname, elem.n USING ERRCODE = '22023';
        END IF;
        PERFORM bulkorder_catalog.check_object(opname, elem.chk, pg_catalog.format('check %s', elem.n),
            ARRAY['condition', 'message', 'hint', 'hint_ja', 'sqlstate'], 'CHECK_KEYS');
        IF pg_catalog.jsonb_typeof(elem.chk->'condition') IS DISTINCT FROM 'string'
           OR pg_catalog.jsonb_typeof(elem.chk->'message') IS DISTINCT FROM 'string'
           OR pg_catalog.btrim(elem.chk->>'condition') = '' OR pg_catalog.btrim(elem.chk->>'message') = ''
           OR elem.chk ? 'hint' AND pg_catalog.jsonb_typeof(elem.chk->'hint') NOT IN ('string', 'null')
           OR elem.chk ? 'hint_ja' AND pg_catalog.jsonb_typeof(elem.chk->'hint_ja') NOT IN ('string', 'null')
           OR elem.chk ? 'sqlstate' AND (elem.chk->>'sqlstate') !~ '^[0-9A-Z]{5}$' THEN
            RAISE EXCEPTION '%: check % needs a condition and a message (strings); hint and hint_ja are strings, sqlstate five characters [0-9A-Z]', opname, elem.n
                USING ERRCODE = '22023';
        END IF;
        -- a check that fails rejects the call: its SQLSTATE is an error's
        IF pg_catalog.left(elem.chk->>'sqlstate', 2) IN ('00', '01', '02') THEN
            RAISE EXCEPTION '%: check % has sqlstate %, which is no error', opname, elem.n, elem.chk->>'sqlstate'
                USING ERRCODE = '22023',
                      DETAIL = bulkorder_catalog.message('CHECK_SQLSTATE'),
                      HINT = bulkorder_catalog.message('CHECK_ERROR_SQLSTATE');
        END IF;
    END LOOP;

    -- the revert declaration (docs/define_operation.md: revert)
    IF define_operation.revert IS NOT NULL THEN
        PERFORM bulkorder_catalog.check_object(opname, define_operation.revert, 'revert',
            ARRAY['reversible', 'reason', 'condition', 'rules', 'before_sql', 'apply_sql',
                  'prelock_sql', 'lock_sql', 'visible_condition'],
            'REVERT_KEYS');
        IF define_operation.revert ? 'reversible' AND pg_catalog.jsonb_typeof(define_operation.revert->'reversible') <> 'boolean' THEN
            RAISE EXCEPTION '%: revert.reversible must be a boolean', opname USING ERRCODE = '22023';
        END IF;
        PERFORM bulkorder_catalog.check_strings(opname, define_operation.revert, 'revert', '{}',
            ARRAY['reason', 'condition', 'before_sql', 'apply_sql', 'prelock_sql', 'lock_sql', 'visible_condition'],
            'REVERT_STRINGS');
        v_reversible := coalesce((define_operation.revert->>'reversible')::boolean, true);
        v_reason := define_operation.revert->>'reason';
        IF NOT v_reversible AND v_reason IS NULL THEN
            RAISE EXCEPTION '%: an irreversible operation needs revert.reason', opname
                USING ERRCODE = '22023', HINT = bulkorder_catalog.message('IRREVERSIBLE_REASON');
        ELSIF v_reversible AND v_reason IS NOT NULL THEN
            RAISE EXCEPTION '%: revert.reason is for an irreversible operation', opname
                USING ERRCODE = '22023', HINT = bulkorder_catalog.message('REVERSIBLE_REASON');
        END IF;
        SELECT pg_catalog.string_agg(k, ', ' ORDER BY k) INTO bad
        FROM pg_catalog.jsonb_object_keys(define_operation.revert) k WHERE k NOT IN ('reversible', 'reason');
        IF NOT v_reversible AND bad IS NOT NULL THEN
            RAISE EXCEPTION '%: an irreversible operation declares no revert statements (revert.% given)', opname, bad
                USING ERRCODE = '22023', HINT = bulkorder_catalog.message('IRREVERSIBLE_ONLY_REASON');
        END IF;
        -- the revert's own rules, checked after changed_since (revert_statements.c)
        IF define_operation.revert ? 'rules' THEN
            PERFORM bulkorder_catalog.check_rules(opname, define_operation.revert->'rules', 'revert.rules',
                'revert rule', ARRAY['not_found', 'side_effect_done', 'changed_since'],
                'REVERT_RULE_CODE');
            SELECT r.value->>'code' INTO bad
            FROM pg_catalog.jsonb_array_elements(define_operation.revert->'rules') r
            GROUP BY r.value->>'code' HAVING count(*) > 1 LIMIT 1;
            IF bad IS NOT NULL THEN
                RAISE EXCEPTION '%: revert rule code "%" is given twice', opname, bad USING ERRCODE = '22023';
            END IF;
        END IF;
    END IF;

    -- every piece of SQL stays inside the statement the engine composes it in
    PERFORM bulkorder_catalog.check_fragments(opname, define_operation.set_clause, define_operation.apply_sql,
        define_operation.before_sql, define_operation.effects, define_operation.prelock_sql,
        define_operation.lock_sql, v_rules, v_checks, define_operation.revert, define_operation.target_join);

    -- shipped or the shop's
    SELECT o.* INTO existing FROM bulkorder_catalog.operations o
    WHERE o.page = v_page AND o.operation = v_operation;
    IF shipped_ctx AND existing.shipped IS FALSE THEN
        -- an install or upgrade meets the shop's declaration of this code
        -- (its replacement of the shipped one, or its own operation that a
        -- later version ships too): the shop's stays.  A WARNING, as an
        -- extension script shows no NOTICE.
        RAISE WARNING 'bulkorder: keeping the shop''s declaration of operation %', opname
            USING HINT = bulkorder_catalog.message('KEEPING_SHOP_DECLARATION');
        SELECT p.oid::regprocedure INTO fn FROM pg_catalog.pg_proc p
        WHERE p.pronamespace = 'bulkorder'::regnamespace AND p.proname = existing.wrapper;
        RETURN fn;
    END IF;
    IF NOT shipped_ctx AND existing.shipped AND NOT coalesce(define_operation.replace_shipped, false) THEN
        RAISE EXCEPTION 'operation % is shipped with bulkorder', opname
            USING ERRCODE = '42710',
                  HINT = bulkorder_catalog.message('OPERATION_SHIPPED');
    END IF;
    -- (an install's script may run before the shop's tables exist: pg_restore)
    IF NOT shipped_ctx THEN
        IF EXISTS (SELECT 1 FROM bulkorder.bulk_jobs j
                   WHERE j.page = v_page AND j.operation = v_operation AND j.status IN ('queued', 'running')) THEN
            RAISE EXCEPTION 'operation % has a queued or running job', opname
                USING ERRCODE = '55006', HINT = bulkorder_catalog.message('JOB_OPEN_WAIT');
        END IF;
    END IF;

    -- the wrapper's name is free: no other operation's, no other function's
    SELECT o.page || '/' || o.operation INTO bad FROM bulkorder_catalog.operations o
    WHERE o.wrapper = v_wrapper AND (o.page, o.operation) <> (v_page, v_operation);
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION '%: wrapper name "%" is the wrapper of operation %', opname, v_wrapper, bad
            USING ERRCODE = '42723';
    END IF;
    SELECT p.oid::regprocedure INTO fn FROM pg_catalog.pg_proc p
    WHERE p.pronamespace = 'bulkorder'::regnamespace AND p.proname = v_wrapper
      AND NOT bulkorder_catalog.is_wrapper_of(p.oid::regprocedure, v_page, v_operation)
    LIMIT 1;
    IF fn IS NOT NULL THEN
        RAISE EXCEPTION '%: wrapper name "%" is taken by function %', opname, v_wrapper, fn
            USING ERRCODE = '42723', HINT = bulkorder_catalog.message('WRAPPER_TAKEN');
    END IF;

    w := bulkorder_catalog.wrapper_sql(v_page, v_operation, v_params, v_wrapper);
    -- this operation's wrapper as it is: under its recorded name, or (the
    -- row deleted by an upgrade) under the name given
    SELECT p.oid::regprocedure INTO old_fn FROM pg_catalog.pg_proc p
    WHERE p.pronamespace = 'bulkorder'::regnamespace AND p.proname IN (existing.wrapper, v_wrapper)
      AND bulkorder_catalog.is_wrapper_of(p.oid::regprocedure, v_page, v_operation)
    ORDER BY p.proname = existing.wrapper DESC NULLS LAST
    LIMIT 1;
    -- a wrapper the extension's script created (a shipped operation's) is
    -- public API and comes back with every CREATE EXTENSION: a shop's
    -- replacement keeps it as it is
    IF NOT shipped_ctx AND old_fn IS NOT NULL AND existing.wrapper IS NOT NULL
       AND bulkorder_catalog.is_extension_member(old_fn)
       AND w.ddl IS DISTINCT FROM (bulkorder_catalog.wrapper_sql(v_page, v_operation, existing.params, existing.wrapper)).ddl THEN
        RAISE EXCEPTION '%: a replacement of a shipped operation keeps its wrapper %', opname, old_fn
            USING ERRCODE = '0A000',
                  HINT = bulkorder_catalog.message('WRAPPER_KEPT');
    END IF;

    -- write the declaration: nothing of it stays if anything below fails
    IF existing.shipped AND NOT shipped_ctx THEN
        DELETE FROM bulkorder_catalog.operations o WHERE o.page = v_page AND o.operation = v_operation;
    END IF;
    DELETE FROM bulkorder_catalog.operation_rules r WHERE r.page = v_page AND r.operation = v_operation;
    DELETE FROM bulkorder_catalog.operation_param_checks c WHERE c.page = v_page AND c.operation = v_operation;
    INSERT INTO bulkorder_catalog.operations AS o
        (page, operation, name_ja, name_en, params, changed_columns, set_clause, apply_sql, before_sql,
         effects, lock_sql, prelock_sql, wrapper, reversible, irreversible_reason, shipped,
         revert_condition, revert_rules, revert_before_sql, revert_apply_sql, revert_prelock_sql,
         revert_lock_sql, revert_visible_condition, target_join)
    VALUES (v_page, v_operation, define_operation.name_ja, define_operation.name_en, v_params,
            define_operation.changed_columns, define_operation.set_clause, define_operation.apply_sql,
            define_operation.before_sql, define_operation.effects, define_operation.lock_sql,
            define_operation.prelock_sql, v_wrapper, v_reversible, v_reason, shipped_ctx,
            define_operation.revert->>'condition', coalesce(define_operation.revert->'rules', '[]'),
            define_operation.revert->>'before_sql', define_operation.revert->>'apply_sql',
            define_operation.revert->>'prelock_sql', define_operation.revert->>'lock_sql',
            define_operation.revert->>'visible_condition', define_operation.target_join)
    ON CONFLICT ON CONSTRAINT operations_pkey DO UPDATE
        SET name_ja = excluded.name_ja, name_en = excluded.name_en, params = excluded.params,
            changed_columns = excluded.changed_columns, set_clause = excluded.set_clause,
            apply_sql = excluded.apply_sql, before_sql = excluded.before_sql, effects = excluded.effects,
            lock_sql = excluded.lock_sql, prelock_sql = excluded.prelock_sql, wrapper = excluded.wrapper,
            reversible = excluded.reversible, irreversible_reason = excluded.irreversible_reason,
            shipped = excluded.shipped, revert_condition = excluded.revert_condition,
            revert_rules = excluded.revert_rules, revert_before_sql = excluded.revert_before_sql,
            revert_apply_sql = excluded.revert_apply_sql, revert_prelock_sql = excluded.revert_prelock_sql,
            revert_lock_sql = excluded.revert_lock_sql,
            revert_visible_condition = excluded.revert_visible_condition,
            target_join = excluded.target_join;
    INSERT INTO bulkorder_catalog.operation_rules
        (page, operation, position, error_code, condition, message_ja, message_en)
    SELECT v_page, v_operation, r.n, r.value->>'code', r.value->>'condition',
           r.value->>'message_ja', r.value->>'message_en'
    FROM pg_catalog.jsonb_array_elements(v_rules) WITH ORDINALITY r(value, n);
    INSERT INTO bulkorder_catalog.operation_param_checks
        (page, operation, position, condition, sqlstate, message, hint, hint_ja)
    SELECT v_page, v_operation, c.n, c.value->>'condition', coalesce(c.value->>'sqlstate', '22023'),
           c.value->>'message', c.value->>'hint', c.value->>'hint_ja'
    FROM pg_catalog.jsonb_array_elements(v_checks) WITH ORDINALITY c(value, n);

    -- the statements the engine will build, compiled now; skipped, as
    -- CREATE FUNCTION skips its body, when check_function_bodies is off
    -- (pg_restore re-creates the extension before the shop's tables)
    IF pg_catalog.current_setting('check_function_bodies')::boolean THEN
        PERFORM bulkorder_catalog.compile_operation(v_page, v_operation);
    END IF;

    -- the wrapper: replaced in place when its arguments stay (grants kept),
    -- else re-created with the grants the old one had
    IF old_fn IS NOT NULL AND ((SELECT p.proname::text FROM pg_catalog.pg_proc p WHERE p.oid = old_fn) <> v_wrapper
                               OR pg_catalog.pg_get_function_identity_arguments(old_fn) <> w.identity) THEN
        SELECT p.proacl INTO acl FROM pg_catalog.pg_proc p WHERE p.oid = old_fn;
        EXECUTE pg_catalog.format('DROP FUNCTION %s', old_fn);
        old_fn := NULL;
    ELSIF old_fn IS NOT NULL THEN
        SELECT p.proacl INTO acl FROM pg_catalog.pg_proc p WHERE p.oid = old_fn;
    END IF;
    BEGIN
        EXECUTE w.ddl;
    EXCEPTION WHEN invalid_function_definition THEN
        -- same arguments, a default removed: CREATE OR REPLACE cannot
        EXECUTE pg_catalog.format('DROP FUNCTION %s', old_fn);
        EXECUTE w.ddl;
    END;
    SELECT p.oid::regprocedure INTO fn FROM pg_catalog.pg_proc p
    WHERE p.pronamespace = 'bulkorder'::regnamespace AND p.proname = v_wrapper;
    EXECUTE pg_catalog.format('COMMENT ON FUNCTION %s IS %L', fn,
        pg_catalog.format('%s > %s (%s)', (SELECT pg.name_ja FROM bulkorder_catalog.pages pg WHERE pg.page = v_page),
                          define_operation.name_ja, opname));
    -- nothing for PUBLIC; the roles that had the old wrapper, and every
    -- operator (a role that may run run_bulk, which runs any operation
    -- already), may run the new one
    EXECUTE pg_catalog.format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', fn);
    FOR prm IN
        SELECT a.grantee::regrole AS grantee
        FROM (SELECT x.grantee, x.privilege_type FROM pg_catalog.aclexplode(acl) x
              UNION
              SELECT x.grantee, x.privilege_type
              FROM pg_catalog.aclexplode((SELECT p.proacl FROM pg_catalog.pg_proc p
                                          WHERE p.oid = 'bulkorder.run_bulk(text, text, bigint[], jsonb, jsonb)'::regprocedure)) x) a
        WHERE a.privilege_type = 'EXECUTE' AND a.grantee <> 0
          AND a.grantee <> (SELECT p.proowner FROM pg_catalog.pg_proc p WHERE p.oid = fn)
        ORDER BY a.grantee
    LOOP
        EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION %s TO %s', fn, prm.grantee);
    END LOOP;
    -- on a Citus coordinator, the shops' nodes compose their chunks from it
    IF NOT shipped_ctx AND on_citus THEN
        PERFORM bulkorder_catalog.citus_copy_operations();
    END IF;
    RETURN fn;
END
$fn$;

COMMENT ON FUNCTION bulkorder.define_operation(text, text, text, text, text, jsonb, text[], text, text, text,
                                               text[], text, text, jsonb, jsonb, jsonb, boolean, jsonb) IS
'Declare a bulk operation whole and create its typed wrapper (docs/define_operation.md)';

-- Remove a shop's own operation and its wrapper.  Shipped operations (and
-- a shop's replacement of one, whose wrapper is shipped) are refused.
CREATE OR REPLACE FUNCTION bulkorder.drop_operation(page text, operation text)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
#variable_conflict use_column
DECLARE
    v_page text := drop_operation.page;
    v_operation text := drop_operation.operation;
    opname text := pg_catalog.format('%s/%s', drop_operation.page, drop_operation.operation); on_citus boolean := bulkorder_catalog.citus_sequential();
    existing record;
    fn regprocedure;
BEGIN
    IF v_page IS NULL OR v_operation IS NULL THEN
        RAISE EXCEPTION 'page and operation must not be null' USING ERRCODE = '22004';
    END IF;
    SELECT o.* INTO existing FROM bulkorder_catalog.operations o
    WHERE o.page = v_page AND o.operation = v_operation
    FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown operation "%" for page "%"', v_operation, v_page USING ERRCODE = '22023';
    END IF;
    SELECT p.oid::regprocedure INTO fn FROM pg_catalog.pg_proc p
    WHERE p.pronamespace = 'bulkorder'::regnamespace AND p.proname = existing.wrapper
      AND bulkorder_catalog.is_wrapper_of(p.oid::regprocedure, v_page, v_operation);
    IF existing.shipped THEN
        RAISE EXCEPTION 'operation % is shipped with bulkorder and cannot be dropped', opname
            USING ERRCODE = '42501';
    END IF;
    IF fn IS NOT NULL AND bulkorder_catalog.is_extension_member(fn) THEN
        RAISE EXCEPTION 'operation % replaces a shipped operation and cannot be dropped', opname
            USING ERRCODE = '42501',
                  HINT = bulkorder_catalog.message('SHIPPED_WRAPPER');
    END IF;
    IF EXISTS (SELECT 1 FROM bulkorder.bulk_jobs j
               WHERE j.page = v_page AND j.operation = v_operation AND j.status IN ('queued', 'running')) THEN
        RAISE EXCEPTION 'operation % has a queued or running job', opname
            USING ERRCODE = '55006', HINT = bulkorder_catalog.message('JOB_OPEN_WAIT');
    END IF;
    DELETE FROM bulkorder_catalog.operations o WHERE o.page = v_page AND o.operation = v_operation;
    IF fn IS NOT NULL THEN
        EXECUTE pg_catalog.format('DROP FUNCTION %s', fn);
    END IF;
    IF on_citus THEN
        PERFORM bulkorder_catalog.citus_copy_operations();
    END IF;
END
$fn$;

COMMENT ON FUNCTION bulkorder.drop_operation(text, text) IS
'Remove a shop''s own operation and its typed wrapper';
