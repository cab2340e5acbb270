-- Helpers for the orders-page regression tests (sql/orders_*.sql), loaded
-- after the fixture with \i.

-- preview_bulk is stored before each run; items() shows the run's items and
-- whether each equals what the preview said (a missing row shows as NULL).
CREATE TEMP TABLE last_preview (target bigint, ok boolean, error_code text, message text);
CREATE FUNCTION pg_temp.preview(op text, targets bigint[], params jsonb DEFAULT '{}',
                                page text DEFAULT 'orders')
RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM last_preview;
    INSERT INTO last_preview SELECT * FROM bulkorder.preview_bulk(page, op, targets, params);
    RETURN 'previewed';
END $$;
CREATE FUNCTION pg_temp.items(job bigint)
RETURNS TABLE (target bigint, ok boolean, error_code text, message text, before jsonb, after jsonb,
               as_previewed boolean)
LANGUAGE sql AS $$
    SELECT coalesce(i.target, lp.target), i.ok, i.error_code, i.message, i.before, i.after,
           lp.target IS NOT NULL AND i.target IS NOT NULL
           AND (lp.ok, lp.error_code, lp.message) IS NOT DISTINCT FROM (i.ok, i.error_code, i.message)
    FROM (SELECT * FROM bulkorder.bulk_job_items WHERE job_id = job) i
    FULL JOIN last_preview lp ON lp.target = i.target
    ORDER BY 1
$$;
-- an error as (sqlstate, message), to show both
CREATE FUNCTION pg_temp.try(sql text)
RETURNS TABLE (sqlstate text, message text) LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE sql;
    RETURN QUERY SELECT '00000'::text, 'no error'::text;
EXCEPTION WHEN OTHERS THEN
    RETURN QUERY SELECT SQLSTATE::text, SQLERRM::text;
END $$;
