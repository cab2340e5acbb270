-- Jobs: the history trigger and the notification bell (SPEC §4).

CREATE OR REPLACE FUNCTION bulkorder.delete_job_items()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    DELETE FROM bulkorder.bulk_job_items i USING deleted_jobs d WHERE i.job_id = d.job_id;
    RETURN NULL;
END
$$;

-- The trigger belongs to the shop's table, not to the extension: a restore
-- creates it from the dump after the table (which does not exist yet when
-- the restore runs CREATE EXTENSION), and CREATE EXTENSION after a
-- DROP EXTENSION ... CASCADE puts it back on the table that stayed.
DO $$
BEGIN
    IF pg_catalog.to_regclass('bulkorder.bulk_jobs') IS NOT NULL THEN
        CREATE OR REPLACE TRIGGER bulk_jobs_delete_items
            AFTER DELETE ON bulkorder.bulk_jobs
            REFERENCING OLD TABLE AS deleted_jobs
            FOR EACH STATEMENT EXECUTE FUNCTION bulkorder.delete_job_items();
    END IF;
END
$$;

-- Marks notifications read (the bell of the admin tool).
CREATE OR REPLACE FUNCTION bulkorder.mark_notifications_read(notification_ids bigint[])
RETURNS integer
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    WITH u AS (
        UPDATE bulkorder.notifications SET read_at = now()
        WHERE notification_id = ANY (notification_ids) AND read_at IS NULL
        RETURNING 1)
    SELECT count(*)::integer FROM u
$$;
