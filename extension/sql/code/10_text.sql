-- Helpers of the operations' SQL: mail rendering, tags, free text.

-- Render a template for one order: {{order_no}}, {{customer_name}},
-- {{tracking_no}}, {{payment_method}} (the method's name, which the caller
-- joins from payment_methods), {{course_order_no}}.  Scalar arguments, not
-- the orders/customers row types: the engine's functions must not depend on
-- the shop's tables, which a restore creates only after CREATE EXTENSION.
-- One expression, no SET clause and no sub-SELECT, so that the planner
-- inlines it into the effect statements that call it once per order (a
-- sub-SELECT, as the payment method's name lookup was, forbids inlining:
-- every call then ran the function's own plan, 2 calls per mail).
CREATE OR REPLACE FUNCTION bulkorder.render_mail(template text, order_no bigint, customer_name text,
                                                 tracking_no text, payment_method_name text,
                                                 course_order_no bigint)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(template,
        '{{order_no}}', coalesce(order_no::text, '')),
        '{{customer_name}}', coalesce(customer_name, '')),
        '{{tracking_no}}', coalesce(tracking_no, '')),
        '{{payment_method}}', coalesce(payment_method_name, '')),
        '{{course_order_no}}', coalesce(course_order_no::text, ''))
$$;

-- The tags rule shared by orders and customers: keep the existing order,
-- append what is new, drop what is removed, never a duplicate.  In C
-- (extension/src/tags.c, which gives what the SQL definition of 1.1 gave,
-- NULLs included): a SQL body aggregating over unnest can never be inlined,
-- so the tags operation's set clause started an executor for it once per
-- row.  Nothing in it depends on search_path.
CREATE OR REPLACE FUNCTION bulkorder.merge_tags(tags text[], add text[], remove text[])
RETURNS text[]
LANGUAGE C IMMUTABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'bulkorder_merge_tags';

-- Append on a new line, or overwrite; appending to NULL or '' stores the
-- text alone.
CREATE OR REPLACE FUNCTION bulkorder.edit_text(current_text text, new_text text, mode text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE   -- no SET clause: kept inlinable, it runs per row
AS $$
    SELECT CASE
        WHEN mode = 'overwrite' OR coalesce(current_text, '') = '' THEN new_text
        ELSE current_text || E'\n' || new_text
    END
$$;
