-- Jobs: the history trigger and the notification bell (docs/api.md).

CREATE OR REPLACE FUNCTION bulkorder.delete_job_items()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    DELETE FROM bulkorder.bulk_job_items i USING deleted_jobs d
    WHERE i.shop_id = d.shop_id AND i.job_id = d.job_id;
    -- nor do cancel_job's requests (1.2) have one: it would lock the job's row
    DELETE FROM bulkorder.bulk_job_cancel_requests r USING deleted_jobs d
    WHERE r.shop_id = d.shop_id AND r.job_id = d.job_id;
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

-- Marks notifications read (the bell of the admin tool), recording who did:
-- read_by is the calling role (SET ROLE counts, as for run_bulk's
-- requested_by), read_by_operator options.operator, the person a pooled role
-- acts for (1 to 200 characters).  A notification already read keeps who
-- read it first.  Only the call's shop's notifications (options.shop).
CREATE OR REPLACE FUNCTION bulkorder.mark_notifications_read(notification_ids bigint[],
                                                             options jsonb DEFAULT '{}')
RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    who text := coalesce(nullif(current_setting('role'), 'none'), session_user);
    opts record;
    n integer;
BEGIN
    -- the options, as every call's are read; the call's shop: another
    -- shop's notifications are none of its own
    opts := bulkorder_catalog.call_options(options, 'NOTIFICATIONS_OPTION_UNKNOWN');
    UPDATE bulkorder.notifications
       SET read_at = now(), read_by = who, read_by_operator = opts.operator
     WHERE shop_id = opts.shop_id AND notification_id = ANY (notification_ids) AND read_at IS NULL;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;
