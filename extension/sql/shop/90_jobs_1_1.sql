-- Columns 1.1 adds to bulk_jobs.  They come after every column of 1.0
-- (20_jobs.sql, 70_async.sql) so that a fresh install has the column order
-- of an upgraded 1.0 (releases/bulkorder--1.0--1.1.sql adds them in the same order).

ALTER TABLE bulkorder.bulk_jobs
    -- with a request key: SHA-256 of the request (page, operation, sorted
    -- distinct targets, normalised params; for import_shipments the file and
    -- its read options), so that the key's second use can tell a retry of
    -- the same request from another one (jobs.c, "Request keys")
    ADD COLUMN request_hash bytea;
