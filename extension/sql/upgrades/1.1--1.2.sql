-- bulkorder 1.1 → 1.2: what only an upgrade does.  The build appends
-- extension/sql/code (every function, view, operation and grant of 1.2,
-- each written to be run again), so this file holds the changes that
-- re-running the code cannot make: the shop's tables, the catalogue's
-- tables, and objects whose signature changed or that are gone.

-- Functions whose arguments changed (code/ creates them anew):
-- grant_operator(role, shop), grant_reader / grant_payment_connector /
-- grant_mail_connector(role_name, shop) and generate_subscription_orders
-- (as_of, shop) take the shop; a call with the old arguments still works.
DROP FUNCTION bulkorder.grant_operator(name);
DROP FUNCTION bulkorder.grant_reader(name);
DROP FUNCTION bulkorder.grant_payment_connector(name);
DROP FUNCTION bulkorder.grant_mail_connector(name);
DROP FUNCTION bulkorder.generate_subscription_orders(date);
