-- bulkorder 1.1 → 1.2: what only an upgrade does.  The build appends
-- extension/sql/code (every function, view, operation and grant of 1.2,
-- each written to be run again), so this file holds the changes that
-- re-running the code cannot make: the shop's tables, the catalogue's
-- tables, and objects whose signature changed or that are gone.

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
