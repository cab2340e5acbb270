-- The shop's data outlives the extension (docs/administration.md).  Its
-- tables, their key sequences and the views over them are created by the
-- install script and then released from the extension: DROP EXTENSION
-- bulkorder leaves them and their rows, pg_dump dumps them as the shop's own
-- tables, and Citus can distribute them.  The engine (functions, the catalogue
-- and its listing) stays the extension's.  Runs at every install and upgrade;
-- it releases whatever is still a member, so a table added by a later version
-- is released by the same lines.
DO $release$
DECLARE
    obj record;
BEGIN
    FOR obj IN
        SELECT c.oid::regclass AS rel,
               CASE c.relkind WHEN 'r' THEN 'TABLE' WHEN 'S' THEN 'SEQUENCE' ELSE 'VIEW' END AS kind
        FROM pg_catalog.pg_depend d
        JOIN pg_catalog.pg_class c ON c.oid = d.objid
        WHERE d.classid = 'pg_catalog.pg_class'::regclass
          AND d.refclassid = 'pg_catalog.pg_extension'::regclass
          AND d.refobjid = (SELECT oid FROM pg_catalog.pg_extension WHERE extname = 'bulkorder')
          AND d.deptype = 'e'
          AND c.relnamespace = 'bulkorder'::regnamespace
          AND c.relkind IN ('r', 'S', 'v')
          -- a view over the catalogue is the engine's
          AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend vd
                          JOIN pg_catalog.pg_rewrite rw ON rw.oid = vd.objid
                          JOIN pg_catalog.pg_class src ON src.oid = vd.refobjid
                          WHERE rw.ev_class = c.oid
                            AND vd.classid = 'pg_catalog.pg_rewrite'::regclass
                            AND vd.refclassid = 'pg_catalog.pg_class'::regclass
                            AND src.relnamespace = 'bulkorder_catalog'::regnamespace)
        ORDER BY c.relkind, c.relname
    LOOP
        EXECUTE pg_catalog.format('ALTER EXTENSION bulkorder DROP %s %s', obj.kind, obj.rel);
    END LOOP;
END
$release$;

COMMENT ON SCHEMA bulkorder IS
'bulkorder @EXTVERSION@: the shop''s tables (they outlive DROP EXTENSION bulkorder) and the bulk-update engine';
