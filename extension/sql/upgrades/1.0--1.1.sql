-- bulkorder 1.0 → 1.1: what only an upgrade does.  The build appends
-- extension/sql/code (every function, view, operation and grant of 1.1,
-- each written to be run again), so this file holds the changes that
-- re-running the code cannot make: the shop's tables, the catalogue's
-- tables, and objects whose signature changed or that are gone.
-- The upgrade test (test/stages/upgrade.sh) proves that 1.0 + this equals
-- a fresh 1.1.

-- render_mail takes scalars, not the orders/customers row types, so that
-- no function of the engine depends on the shop's tables.
DROP FUNCTION bulkorder.render_mail(text, bulkorder.orders, bulkorder.customers);

-- No foreign key from the shop's tables into the extension's catalogue:
-- DROP EXTENSION ... CASCADE would drop it and nothing would put it back.
-- upload_csv and import_shipments check the page themselves.
ALTER TABLE bulkorder.uploads DROP CONSTRAINT uploads_page_fkey;
