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
-- append what is new, drop what is removed, never a duplicate.  No SET
-- clause (a SET search_path made every call save and restore the GUCs, once
-- per row): every function, operator and type is pg_catalog-qualified
-- instead, so that the caller's search_path cannot change what it means.
CREATE OR REPLACE FUNCTION bulkorder.merge_tags(tags text[], add text[], remove text[])
RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT coalesce(pg_catalog.array_agg(s.tag ORDER BY s.pos), '{}'::pg_catalog.text[])
    FROM (SELECT u.tag, pg_catalog.min(u.pos) AS pos
          FROM pg_catalog.unnest(coalesce(tags, '{}'::pg_catalog.text[])
                                 OPERATOR(pg_catalog.||) coalesce(add, '{}'::pg_catalog.text[]))
               WITH ORDINALITY AS u(tag, pos)
          WHERE u.tag OPERATOR(pg_catalog.<>) ALL (coalesce(remove, '{}'::pg_catalog.text[]))
          GROUP BY u.tag) s
$$;

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
