-- The texts of details, hints, item messages and notifications, in
-- Japanese and English, live in one table (extension/src/messages.c): the
-- C code reads it through bulk_errdetail / bulk_errhint / bulk_message, the
-- SQL code through this function.  message('X', args…) is entry BMSG_X in
-- the session's bulkorder.language, its %1$s, %2$s, … filled with args;
-- NULL when that language has none.
CREATE OR REPLACE FUNCTION bulkorder_catalog.message(name text, VARIADIC args text[] DEFAULT '{}')
RETURNS text
AS 'MODULE_PATHNAME', 'bulkorder_message'
LANGUAGE C STABLE STRICT PARALLEL SAFE;

REVOKE ALL ON FUNCTION bulkorder_catalog.message(text, text[]) FROM PUBLIC;
