-- bulkorder 1.1 → 1.2: what only an upgrade does.  The build appends the
-- shop/ files 1.2 added (shop/96_queue_1_2.sql: the queue's columns and
-- table; shop/99_shops.sql: many shops), which a fresh install runs too,
-- then extension/sql/code (every function, view, operation and grant of
-- 1.2, each written to be run again): see UPGRADE_SHOP_SQL and CODE_SQL in
-- the Makefile.  This file holds the other changes that re-running the
-- code cannot make: the shop's tables, the catalogue's tables, and objects
-- whose signature changed or that are gone.

-- ==== Tracking numbers as carriers issue them (issue 24): the carrier's
-- format, the codes of a spoiled cell, and the orders' marks.  The same
-- statements as the fresh install (shop/10_domain.sql, shop/60_csv.sql): the
-- same names, expressions and column order.  Every 1.1 delivery method gets
-- 'text', which accepts what 1.1 stored; a shop sets 'jp12' or 's10' on its
-- carriers.
ALTER TABLE bulkorder.delivery_methods
    ADD COLUMN tracking_format text NOT NULL DEFAULT 'text'
        CONSTRAINT delivery_methods_tracking_format_check CHECK (tracking_format IN ('jp12', 's10', 'text'));
ALTER TABLE bulkorder.upload_lines DROP CONSTRAINT upload_lines_error_code_check;
ALTER TABLE bulkorder.upload_lines
    ADD CONSTRAINT upload_lines_error_code_check
        CHECK (error_code IN ('not_a_number', 'not_found', 'duplicate_key',
                              'rounded_number', 'not_an_integer', 'negative_number',
                              'currency_format', 'formula_text', 'invalid_tracking_no'));
ALTER TABLE bulkorder.upload_shipments
    ADD COLUMN tracking_errors text[] NOT NULL DEFAULT '{}';

-- ==== The index of an upload's lines with an error on the upload alone
-- (issue 25; shop/60_csv.sql: the same statement).  On (upload_id,
-- line_no), each error line staged in key order landed at a random place of
-- it: a descent of the tree per line, 5% of a million-line upload's
-- instructions.  upload_errors() sorts them by line itself.
DROP INDEX bulkorder.upload_lines_errors_idx;
CREATE INDEX upload_lines_errors_idx ON bulkorder.upload_lines (upload_id)
    WHERE error_code IS NOT NULL;

-- A whole-call check's hint in Japanese (install/10_catalog.sql: the same
-- statement).
ALTER TABLE bulkorder_catalog.operation_param_checks
    ADD COLUMN hint_ja text;

-- Functions whose arguments changed (code/ creates them anew):
-- grant_operator(role, shop), grant_reader / grant_payment_connector /
-- grant_mail_connector(role_name, shop) and generate_subscription_orders
-- (as_of, shop) take the shop; a call with the old arguments still works.
DROP FUNCTION bulkorder.grant_operator(name);
DROP FUNCTION bulkorder.grant_reader(name);
DROP FUNCTION bulkorder.grant_payment_connector(name);
DROP FUNCTION bulkorder.grant_mail_connector(name);
DROP FUNCTION bulkorder.generate_subscription_orders(date);
