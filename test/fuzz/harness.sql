-- The fuzz stage's oracle, in a schema of its own (bulkorder_fuzz) of the
-- fuzz database: never part of the extension.  Run as a superuser after
-- CREATE EXTENSION and the demo shop, with psql variable :op (the operator
-- role).
--
-- After every fuzz call the generated script calls
--   bulkorder_fuzz.check(call, sqlstates, messages, rolled_back)
-- which fingerprints every table of the schemas bulkorder and
-- bulkorder_catalog and compares it with the fingerprint taken after the
-- previous call.  Per table: the row count and a sum of 64-bit hashes of
-- each row version's (xmin, ctid).  Any row that a committed transaction
-- inserted, updated or deleted changes it, even to the same values, and it
-- reads no column (cheap on jsonb-heavy job items).  A call that failed (or ran in a transaction that was rolled back)
-- must leave them all unchanged.  The comparison is skipped while an
-- asynchronous job is open before or after the call: its worker changes
-- tables on its own.  Findings go to bulkorder_fuzz.findings, every call to
-- bulkorder_fuzz.calls.

\set ON_ERROR_STOP on
CREATE SCHEMA bulkorder_fuzz;

CREATE TABLE bulkorder_fuzz.calls (
    call integer PRIMARY KEY,
    role text NOT NULL,
    sqlstate text NOT NULL,
    message text,
    rolled_back boolean NOT NULL,
    compared boolean NOT NULL,
    at timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE TABLE bulkorder_fuzz.findings (
    call integer NOT NULL,
    kind text NOT NULL,
    detail text
);

-- the jobs compact() dropped, for the summary
CREATE TABLE bulkorder_fuzz.jobs_seen (
    job_id bigint PRIMARY KEY,
    status text,
    is_async boolean,
    error_message text
);

CREATE TABLE bulkorder_fuzz.state (
    one boolean PRIMARY KEY DEFAULT true CHECK (one),
    fp jsonb,
    jobs_open boolean
);
INSERT INTO bulkorder_fuzz.state VALUES (true, NULL, NULL);

-- The fingerprint function is generated from the tables there are now, so
-- tables that later versions add are covered without editing this file.
DO $$
DECLARE
    body text;
BEGIN
    SELECT string_agg(format('SELECT %L AS t, count(*) AS n, coalesce(sum(pg_catalog.hashtextextended(x.xmin::text || x.ctid::text, 0)), 0) AS h FROM %s x',
                             c.oid::regclass::text, c.oid::regclass), E'\n    UNION ALL ' ORDER BY c.oid::regclass::text)
      INTO body
      FROM pg_class c
     WHERE c.relnamespace IN ('bulkorder'::regnamespace, 'bulkorder_catalog'::regnamespace)
       AND c.relkind IN ('r', 'p');
    EXECUTE format($f$
        CREATE FUNCTION bulkorder_fuzz.fingerprint() RETURNS jsonb
        LANGUAGE sql STABLE
        SET search_path = pg_catalog, pg_temp
        AS $b$ SELECT jsonb_object_agg(t, n || ':' || h) FROM (%s) s $b$ $f$, body);
END
$$;

-- every job of the run: those still there and those compact() dropped
CREATE FUNCTION bulkorder_fuzz.all_jobs() RETURNS TABLE (job_id bigint, status text, is_async boolean, error_message text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT job_id, status, is_async, error_message FROM bulkorder.bulk_jobs
    UNION ALL
    SELECT * FROM bulkorder_fuzz.jobs_seen s
     WHERE NOT EXISTS (SELECT 1 FROM bulkorder.bulk_jobs j WHERE j.job_id = s.job_id)
$$;

CREATE FUNCTION bulkorder_fuzz.jobs_open() RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT EXISTS (SELECT 1 FROM bulkorder.bulk_jobs WHERE status IN ('queued', 'running')) $$;

-- Take a new reference fingerprint (after the harness itself changed data).
CREATE FUNCTION bulkorder_fuzz.snapshot() RETURNS void
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$ UPDATE bulkorder_fuzz.state SET fp = bulkorder_fuzz.fingerprint(), jobs_open = bulkorder_fuzz.jobs_open() $$;

CREATE FUNCTION bulkorder_fuzz.check(p_call integer, p_states text[], p_messages text[],
                                     p_rolled_back boolean, p_preview_then_run boolean DEFAULT false,
                                     p_typed boolean DEFAULT false)
RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    prev record;
    now_fp jsonb;
    now_open boolean;
    -- the first statement of the call that failed (a call may be a transaction)
    i integer := array_position(ARRAY(SELECT s <> '00000' FROM unnest(p_states) s), true);
    st text := coalesce(p_states[i], '00000');
    msg text := p_messages[i];
    failed boolean := i IS NOT NULL OR p_rolled_back;
    compared boolean := false;
    changed text;
    verdict text := 'ok';
BEGIN
    SELECT * INTO prev FROM bulkorder_fuzz.state;
    -- one statement: the fingerprint and the open jobs from one snapshot
    SELECT bulkorder_fuzz.fingerprint(), bulkorder_fuzz.jobs_open() INTO now_fp, now_open;
    IF failed AND prev.fp IS NOT NULL AND NOT prev.jobs_open AND NOT now_open THEN
        compared := true;
        SELECT string_agg(format('%s (%s -> %s)', k, prev.fp->>k, now_fp->>k), ', ' ORDER BY k)
          INTO changed
          FROM (SELECT jsonb_object_keys(prev.fp) UNION SELECT jsonb_object_keys(now_fp)) AS s(k)
         WHERE prev.fp->k IS DISTINCT FROM now_fp->k;
        IF changed IS NOT NULL THEN
            INSERT INTO bulkorder_fuzz.findings VALUES
                (p_call, 'left a change behind',
                 format('SQLSTATE %s%s; changed: %s', st,
                        CASE WHEN p_rolled_back THEN ', rolled back' ELSE '' END, changed));
            verdict := 'FINDING';
        END IF;
    END IF;
    -- preview_bulk and then run_bulk with the same arguments: what the
    -- preview accepted, the run accepts (a refusal for the same reason is
    -- fine; the statement timeout and lock conflicts are not the run's call)
    IF p_preview_then_run AND p_states[1] = '00000' AND p_states[2] <> '00000'
       AND p_states[2] NOT IN ('57014', '40001', '40P01', '55P03') THEN
        INSERT INTO bulkorder_fuzz.findings VALUES
            (p_call, 'preview_bulk accepted what run_bulk refused', p_states[2] || ': ' || p_messages[2]);
        verdict := 'FINDING';
    END IF;
    FOR n IN 1 .. coalesce(array_length(p_states, 1), 0) LOOP
        -- run_bulk/preview_bulk with well-typed arguments (literals of their
        -- types, params and options valid JSON): a value of the wrong type
        -- inside params must be refused as such (22023, docs/api.md), not fail
        -- a cast inside the engine
        IF p_typed AND p_states[n] = '22P02' THEN
            INSERT INTO bulkorder_fuzz.findings VALUES
                (p_call, 'a cast failed inside the engine (22P02, not 22023)', p_messages[n]);
            verdict := 'FINDING';
        END IF;
        -- an internal error (XX000 "can't happen", XX001 data corrupted, XX002 index corrupted)
        IF p_states[n] LIKE 'XX%' THEN
            INSERT INTO bulkorder_fuzz.findings VALUES (p_call, 'internal error', p_states[n] || ': ' || p_messages[n]);
            verdict := 'FINDING';
        END IF;
        -- the generated calls are well-formed SQL naming no table or column:
        -- these come from SQL the extension built (an injection, a broken
        -- statement of the catalogue)
        IF p_states[n] IN ('42601', '42P01', '42703', '42702', '42P02', '42P10') THEN
            INSERT INTO bulkorder_fuzz.findings VALUES (p_call, 'broken SQL inside the extension', p_states[n] || ': ' || p_messages[n]);
            verdict := 'FINDING';
        END IF;
        -- a call that ran into statement_timeout: a hang
        IF p_states[n] = '57014' THEN
            INSERT INTO bulkorder_fuzz.findings VALUES (p_call, 'statement timeout (a hang?)', p_messages[n]);
            verdict := 'FINDING';
        END IF;
    END LOOP;
    INSERT INTO bulkorder_fuzz.calls (call, role, sqlstate, message, rolled_back, compared)
    VALUES (p_call, session_user, st, CASE WHEN i IS NOT NULL THEN left(msg, 500) END,
            p_rolled_back, compared);
    -- a big job or upload makes every later fingerprint slow: drop it now
    IF (SELECT sum(split_part(v, ':', 1)::bigint) FROM jsonb_each_text(now_fp) e(k, v)) > 30000 THEN
        PERFORM bulkorder_fuzz.compact(20);
    ELSE
        UPDATE bulkorder_fuzz.state SET fp = now_fp, jobs_open = now_open;
    END IF;
    RETURN verdict;
END
$$;

-- Every so often the harness drops old finished jobs and uploads, and the
-- big ones at once, so that the fingerprint stays cheap however long the
-- run (not a fuzz call: the fingerprint is taken again after it).
CREATE FUNCTION bulkorder_fuzz.compact(keep integer) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    DELETE FROM bulkorder.uploads u
     WHERE (u.upload_id < (SELECT min(upload_id) FROM (SELECT upload_id FROM bulkorder.uploads
                                                        ORDER BY upload_id DESC LIMIT keep) s)
            OR u.line_count > 2000)
       AND NOT EXISTS (SELECT 1 FROM bulkorder.bulk_jobs j
                        WHERE j.job_id = u.job_id AND j.status IN ('queued', 'running'));
    DELETE FROM bulkorder.upload_lines l WHERE NOT EXISTS (SELECT 1 FROM bulkorder.uploads u WHERE u.upload_id = l.upload_id);
    DELETE FROM bulkorder.upload_shipments l WHERE NOT EXISTS (SELECT 1 FROM bulkorder.uploads u WHERE u.upload_id = l.upload_id);
    WITH gone AS (
        DELETE FROM bulkorder.bulk_jobs j
         WHERE (j.job_id < (SELECT min(job_id) FROM (SELECT job_id FROM bulkorder.bulk_jobs
                                                      ORDER BY job_id DESC LIMIT keep) s)
                OR j.total_count > 2000)
           AND j.status NOT IN ('queued', 'running')
        RETURNING j.job_id, j.status, j.is_async, j.error_message)
    INSERT INTO bulkorder_fuzz.jobs_seen SELECT * FROM gone ON CONFLICT DO NOTHING;
    PERFORM bulkorder_fuzz.snapshot();
EXCEPTION WHEN OTHERS THEN
    -- a table added later may refer to jobs or uploads: keep everything then
    RAISE WARNING 'fuzz: compact skipped: %', SQLERRM;
    PERFORM bulkorder_fuzz.snapshot();
END
$$;

REVOKE ALL ON SCHEMA bulkorder_fuzz FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA bulkorder_fuzz FROM PUBLIC;
GRANT USAGE ON SCHEMA bulkorder_fuzz TO :"op";
GRANT EXECUTE ON FUNCTION bulkorder_fuzz.check(integer, text[], text[], boolean, boolean, boolean) TO :"op";

-- The generator's view of the database: the functions to call, the
-- catalogue, the shop's keys and the settings (written to a file by the stage).
CREATE FUNCTION bulkorder_fuzz.metadata(op name) RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
SELECT jsonb_build_object(
  'functions', (SELECT jsonb_agg(jsonb_build_object(
        'name', p.proname,
        'identity', p.oid::regprocedure::text,
        'args', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                         'name', coalesce(p.proargnames[i], ''),
                         'type', format_type(p.proargtypes[i - 1], NULL)) ORDER BY i), '[]')
                   FROM generate_series(1, p.pronargs) i),
        'ndefaults', p.pronargdefaults,
        'retset', p.proretset,
        'rettype', format_type(p.prorettype, NULL),
        'strict', p.proisstrict,
        'security_definer', p.prosecdef,
        'operator_may_call', has_function_privilege(op, p.oid, 'EXECUTE'))
        ORDER BY p.oid::regprocedure::text)
      FROM pg_proc p
     WHERE p.pronamespace = 'bulkorder'::regnamespace
       AND p.prokind = 'f'),
  'pages', (SELECT jsonb_agg(page ORDER BY page) FROM bulkorder_catalog.pages),
  'operations', (SELECT jsonb_agg(jsonb_build_object('page', page, 'operation', operation,
                                                     'params', params, 'wrapper', wrapper)
                                  ORDER BY page, operation)
                   FROM bulkorder_catalog.operations),
  'keys', jsonb_build_object(
      'orders', (SELECT jsonb_agg(order_no ORDER BY order_no) FROM bulkorder.orders),
      'customers', (SELECT jsonb_agg(customer_id ORDER BY customer_id) FROM bulkorder.customers),
      'subscriptions', (SELECT jsonb_agg(course_order_no ORDER BY course_order_no) FROM bulkorder.subscriptions)),
  'products', (SELECT jsonb_agg(product_id ORDER BY product_id) FROM bulkorder.products),
  'delivery_methods', (SELECT jsonb_agg(code ORDER BY code) FROM bulkorder.delivery_methods),
  'time_slots', (SELECT jsonb_agg(jsonb_build_array(delivery_method, code) ORDER BY 1) FROM bulkorder.delivery_time_slots),
  'ranks', (SELECT jsonb_agg(code ORDER BY code) FROM bulkorder.customer_ranks),
  'frequencies', (SELECT jsonb_agg(frequency_id ORDER BY frequency_id) FROM bulkorder.frequencies),
  'payment_methods', (SELECT jsonb_agg(code ORDER BY code) FROM bulkorder.payment_methods),
  'settings', (SELECT jsonb_agg(jsonb_build_object('name', name, 'vartype', vartype, 'context', context,
                                                   'min', min_val, 'max', max_val, 'enumvals', enumvals)
                                ORDER BY name)
                 FROM pg_settings WHERE name LIKE 'bulkorder.%'))
$$;
