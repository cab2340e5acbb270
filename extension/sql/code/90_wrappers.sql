-- Typed wrappers, one per catalogued operation, generated from the
-- catalogue so that every operation has one and they all look alike:
--   bulkorder.<wrapper>(<page keys> bigint[], <params in declared order>) RETURNS bigint
-- A parameter with a default in the catalogue gets the same default here.
CREATE OR REPLACE FUNCTION bulkorder.create_operation_wrapper(p_page text, p_operation text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    op record;
    keys_arg text;
    args text := '';
    build text := '';
    prm record;
BEGIN
    SELECT o.* INTO STRICT op FROM bulkorder_catalog.operations o
    WHERE o.page = p_page AND o.operation = p_operation;

    keys_arg := CASE p_page WHEN 'subscriptions' THEN 'course_order_nos'
                            WHEN 'customers' THEN 'customer_ids'
                            ELSE 'order_nos' END;
    -- jsonb keeps no key order, so arguments follow "position" (else name)
    FOR prm IN
        SELECT e.key AS name, e.value AS spec,
               CASE e.value->>'type' WHEN 'text[]' THEN 'text[]' ELSE e.value->>'type' END AS sqltype
        FROM jsonb_each(op.params) e
        ORDER BY (e.value->>'position')::int NULLS LAST, e.key
    LOOP
        args := args || format(', %I %s', prm.name, prm.sqltype);
        IF prm.spec ? 'default' THEN
            args := args || format(' DEFAULT %s',
                CASE WHEN prm.sqltype = 'text[]'
                     THEN format('%L::text[]', ARRAY(SELECT jsonb_array_elements_text(prm.spec->'default')))
                     ELSE format('(%L::jsonb->>0)::%s', jsonb_build_array(prm.spec->'default'), prm.sqltype)
                END);
        END IF;
        build := build || format(', %L, to_jsonb(%I)', prm.name, prm.name);
    END LOOP;

    EXECUTE format(
        'CREATE OR REPLACE FUNCTION bulkorder.%I(%I bigint[]%s) RETURNS bigint '
        'LANGUAGE sql VOLATILE SET search_path = pg_catalog, pg_temp '
        'AS $w$ SELECT bulkorder.run_bulk(%L, %L, %I, jsonb_build_object(%s), ''{"source": "api"}'') $w$',
        op.wrapper, keys_arg, args, p_page, p_operation, keys_arg, ltrim(build, ', '));
    EXECUTE format('COMMENT ON FUNCTION bulkorder.%I IS %L', op.wrapper,
        format('%s > %s (%s/%s)',
               (SELECT name_ja FROM bulkorder_catalog.pages WHERE page = p_page), op.name_ja, p_page, p_operation));
END
$fn$;

SELECT bulkorder.create_operation_wrapper(page, operation)
FROM bulkorder_catalog.operations ORDER BY page, operation;
