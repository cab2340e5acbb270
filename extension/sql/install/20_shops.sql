-- The shops the current role sees (extension/src/shop.c): what the views
-- and the row-level security of the shop's tables show it, from their
-- first statement on (shop/99_shops.sql).  Every role may run it (a view or
-- a policy runs it as the role that reads): it only tells the role its own
-- shops, and nobody can call it by name without USAGE on bulkorder_catalog.
CREATE FUNCTION bulkorder_catalog.visible_shop_ids()
RETURNS bigint[]
AS 'MODULE_PATHNAME', 'bulkorder_visible_shop_ids'
LANGUAGE C STABLE;
GRANT EXECUTE ON FUNCTION bulkorder_catalog.visible_shop_ids() TO PUBLIC;
