-- The shipment data import (出荷データ取り込み, docs/csv.md): a job of the
-- shipments page, one item per order number of the file; every payment
-- method's outcome, every failure code, the completion mail and its flag,
-- what the file's own problems become, malformed bytes, request keys, and
-- re-applying a staged file.
CREATE EXTENSION bulkorder;
\set VERBOSITY default
\i test/fixtures/shop.sql

-- more orders awaiting shipment, one per remaining payment method and case
INSERT INTO bulkorder.orders (order_no, customer_id, status, payment_method, ship_mail_sent, shipping_hold)
VALUES (3001, 1, 'awaiting_shipment', 'dsk_atobarai', false, false),
       (3002, 2, 'awaiting_shipment', 'subsc_atobarai_eco', false, false),
       (3003, 3, 'awaiting_shipment', 'np_atobarai_realtime', false, false),
       (3004, 1, 'awaiting_shipment', 'bank_transfer', true, false),   -- mail already sent
       (3005, 2, 'awaiting_shipment', 'credit_card', false, true),     -- on shipping hold
       (3006, 3, 'awaiting_shipment', 'credit_card', false, false),
       (3007, 3, 'awaiting_shipment', 'credit_card', false, false),
       (3008, 3, 'awaiting_shipment', 'credit_card', false, false),
       (3009, 2, 'awaiting_shipment', 'cod', false, false),
       (3010, 1, 'awaiting_shipment', 'credit_card', false, false);

\set order_state 'SELECT order_no, status, ship_report_status, tracking_no, ship_mail_sent FROM bulkorder.orders WHERE order_no IN '

-- 1. Excel's Shift_JIS file (header 注文番号,送り状番号,配送業者; CRLF; a blank
--    row; a full-width tracking number; spaces around one): five orders
--    awaiting shipment, one per kind of method
\set content `base64 -w0 test/fixtures/csv/shipments_sjis.csv`
SELECT bulkorder.import_shipments(decode(:'content', 'base64'),
                                  '{"encoding": "SJIS", "operator": "tanaka"}') AS job \gset
SELECT page, operation, status, total_count, processed_count, success_count, failure_count,
       operator, source, params ? 'upload_id' AS has_upload
FROM bulkorder.shipment_bulk_history WHERE job_id = :job;
SELECT target, ok, error_code, before, after FROM bulkorder.bulk_job_items WHERE job_id = :job ORDER BY target;
-- NP後払い needs a shipment report: shipping + a ship_report request; the
-- others (card, GMO-PS後払い, 代引き, スコア後払い) are shipped
:order_state (1001, 1006, 1008, 1011, 2003) ORDER BY 1;
SELECT order_no, payment_method, kind, status, job_id = :job AS this_job
FROM bulkorder.payment_requests ORDER BY request_id;
-- one completion mail each, rendered with the new tracking number
SELECT template_code, order_no, customer_id, to_address, subject, body, job_id = :job AS this_job
FROM bulkorder.mail_outbox ORDER BY order_no;
SELECT message FROM bulkorder.notifications WHERE job_id = :job ORDER BY notification_id;
-- the staged file: listed, linked to its job, no line errors
SELECT params->>'upload_id' AS upload FROM bulkorder.bulk_jobs WHERE job_id = :job \gset
SELECT page, purpose, encoding, has_header, line_count, blank_line_count, key_count, error_count,
       operator, job_id = :job AS linked
FROM bulkorder.upload_list WHERE upload_id = :upload;
SELECT * FROM bulkorder.upload_errors(:upload);
-- the job is on the shipments history page only
SELECT (SELECT count(*) FROM bulkorder.order_bulk_history WHERE job_id = :job) AS orders,
       (SELECT count(*) FROM bulkorder.shipment_bulk_history WHERE job_id = :job) AS shipments;

-- 2. every outcome (UTF-8 with BOM): not awaiting shipment (shipping,
--    shipped, cancelled, returned), deleted and unknown orders, the three
--    other report methods, a sent mail, a hold, missing / conflicting /
--    too long tracking numbers, a repeated line, a line without a number
\set content `base64 -w0 test/fixtures/csv/shipments_cases.csv`
SELECT bulkorder.import_shipments(decode(:'content', 'base64')) AS job \gset
SELECT status, total_count, processed_count, success_count, failure_count, source
FROM bulkorder.bulk_jobs WHERE job_id = :job;
SELECT target, ok, error_code, message FROM bulkorder.bulk_job_items WHERE job_id = :job ORDER BY target;
SELECT target, error_code FROM bulkorder.bulk_job_failures WHERE job_id = :job ORDER BY target;
:order_state (1002, 1003, 1004, 1005, 1007, 3001, 3002, 3003, 3004, 3005, 3006, 3007, 3008, 3009) ORDER BY 1;
-- DSK後払い, サブスク後払いECO and NP後払い(リアルタイム) also report
SELECT order_no, payment_method, kind, status FROM bulkorder.payment_requests
WHERE job_id = :job ORDER BY order_no;
-- no mail for 3004: its completion mail was marked sent before
SELECT order_no, body FROM bulkorder.mail_outbox WHERE job_id = :job ORDER BY order_no;
-- the file's own problems are the upload's: the repeated lines and the
-- line without an order number (they are not items)
SELECT params->>'upload_id' AS upload FROM bulkorder.bulk_jobs WHERE job_id = :job \gset
SELECT line_count, key_count, error_count, has_bom, has_header FROM bulkorder.upload_list WHERE upload_id = :upload;
SELECT * FROM bulkorder.upload_errors(:upload);
SELECT bulkorder.upload_targets(:upload) AS order_numbers_in_file_order;
-- items keep the messages of the job's language; a preview in English
SET bulkorder.language = 'en';
SELECT * FROM bulkorder.preview_bulk('shipments', 'import_shipments', '{1002,3005,3006,3007,3008,424242}',
                                     jsonb_build_object('upload_id', :upload));
RESET bulkorder.language;

-- the shipment report's answer moves them on (payment connector):
-- accepted → shipped, refused → ng (and 一括再出荷報告 can retry it)
SELECT bulkorder.complete_payment_request(request_id, order_no <> 3002, 'R', NULL)
FROM bulkorder.payment_requests WHERE job_id = :job AND order_no IN (3001, 3002) ORDER BY request_id;
:order_state (3001, 3002, 3003) ORDER BY 1;

-- 3. re-applying a staged file: release the hold of 3005, then the typed
--    wrapper over that order of the same upload (preview first)
SELECT bulkorder.bulk_shipping_hold('{3005}', false) IS NOT NULL AS released;
SELECT * FROM bulkorder.preview_bulk('shipments', 'import_shipments', '{3005,3006}',
                                     jsonb_build_object('upload_id', :upload));
SELECT bulkorder.bulk_shipment_import_shipments('{3005}', :upload) AS job \gset
SELECT operation, success_count, failure_count, source FROM bulkorder.bulk_jobs WHERE job_id = :job;
:order_state (3005);
-- the staged data must be a shipment file
SELECT bulkorder.upload_csv('orders', '1001') AS targets_upload \gset
SELECT bulkorder.run_bulk('shipments', 'import_shipments', '{3010}',
                          jsonb_build_object('upload_id', :targets_upload));
SELECT bulkorder.run_bulk('shipments', 'import_shipments', '{3010}', '{}');
SELECT bulkorder.run_bulk('shipments', 'import_shipments', '{3010}', '{"upload_id": 0}');

-- 4. a disabled completion mail: none is queued and the flag stays unset
UPDATE bulkorder.mail_templates SET enabled = false WHERE code = 'ship_complete';
SELECT bulkorder.import_shipments(convert_to(E'3010,9999-0001\n', 'UTF8')) AS job \gset
:order_state (3010);
SELECT count(*) AS mails FROM bulkorder.mail_outbox WHERE job_id = :job;
UPDATE bulkorder.mail_templates SET enabled = true WHERE code = 'ship_complete';

-- 5. a request key: the second call with the same file returns the first
--    job and keeps nothing; another file with the key is refused (22023)
SELECT count(*) AS uploads_before FROM bulkorder.uploads \gset
SELECT bulkorder.import_shipments(convert_to(E'1001,X\n', 'UTF8'), '{"request_key": "ship-7"}') AS first \gset
SELECT bulkorder.import_shipments(convert_to(E'1001,X\n', 'UTF8'),
                                  '{"request_key": "ship-7", "source": "retry"}') = :first AS same_job;
SELECT bulkorder.import_shipments(convert_to(E'1001,Y\n1011,Z\n', 'UTF8'), '{"request_key": "ship-7"}');
SELECT count(*) - :uploads_before AS new_uploads FROM bulkorder.uploads;
SELECT total_count FROM bulkorder.bulk_jobs WHERE job_id = :first;

-- 6. rejected calls change nothing: malformed bytes (an SQLSTATE naming the
--    line), an unknown option, a NULL file
SELECT count(*) AS jobs_before FROM bulkorder.bulk_jobs \gset
SELECT count(*) AS uploads_before FROM bulkorder.uploads \gset
\set content `base64 -w0 test/fixtures/csv/invalid_sjis.csv`
SELECT bulkorder.import_shipments(decode(:'content', 'base64'), '{"encoding": "SJIS"}');
\set content `base64 -w0 test/fixtures/csv/shipments_sjis.csv`
SELECT bulkorder.import_shipments(decode(:'content', 'base64'));
SELECT bulkorder.import_shipments(decode(:'content', 'base64'), '{"encoding": "SJIS", "colour": "red"}');
SELECT bulkorder.import_shipments(decode(:'content', 'base64'), '{"encoding": "SJIS", "source": 5}');
SELECT bulkorder.import_shipments(decode(:'content', 'base64'), '{"encoding": "SJIS", "async": "yes"}');
SELECT bulkorder.import_shipments(decode(:'content', 'base64'), '{"encoding": "SJIS", "request_key": ""}');
SELECT bulkorder.import_shipments(NULL);
SELECT count(*) = :jobs_before AS no_job, (SELECT count(*) = :uploads_before FROM bulkorder.uploads) AS no_upload
FROM bulkorder.bulk_jobs;
-- a rollback leaves no trace of an import
BEGIN;
SELECT bulkorder.import_shipments(convert_to(E'1007,R-1\n', 'UTF8')) IS NOT NULL AS imported;
ROLLBACK;
:order_state (1007);

-- 7. the purge keeps a staged import while its job is queued or running
SELECT params->>'upload_id' AS upload FROM bulkorder.bulk_jobs WHERE job_id = :first \gset
UPDATE bulkorder.uploads SET uploaded_at = now() - interval '90 days';
UPDATE bulkorder.bulk_jobs SET status = 'running' WHERE job_id = :first;
SELECT bulkorder.purge_uploads('30 days') > 0 AS purged_some;
SELECT upload_id = :upload AS kept_running_import FROM bulkorder.upload_list;
UPDATE bulkorder.bulk_jobs SET status = 'done' WHERE job_id = :first;
SELECT bulkorder.purge_uploads('30 days') AS purged_last;
SELECT count(*) AS lines, (SELECT count(*) FROM bulkorder.upload_shipments) AS shipments
FROM bulkorder.upload_lines;
-- the job history stays
SELECT count(*) AS jobs FROM bulkorder.shipment_bulk_history;

-- the shop's tables outlive DROP EXTENSION: dropping the schema leaves nothing
SET client_min_messages = warning;
DROP SCHEMA bulkorder CASCADE;
