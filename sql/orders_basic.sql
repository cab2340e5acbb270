-- Orders page, first operations: cancel, return, delete, shipping_hold, tags
-- and the four text fields; every eligible case and every failure code.
CREATE EXTENSION bulkorder;
\set ECHO none
\i test/fixtures/shop.sql
\set ECHO all

-- cancel: only awaiting_shipment; void requests only for gateway methods
SELECT bulkorder.bulk_cancel('{1001,1002,1003,1004,1005,1011,1012,77}', true) AS job \gset
SELECT target, ok, error_code, before, after FROM bulkorder.bulk_job_items
WHERE job_id = :job ORDER BY target;
SELECT order_no, kind, payment_method FROM bulkorder.payment_requests WHERE job_id = :job ORDER BY 1;
-- without void_payment no request is written
SELECT bulkorder.bulk_cancel('{1007}', false) AS job \gset
SELECT count(*) AS void_requests FROM bulkorder.payment_requests WHERE job_id = :job;
SELECT status FROM bulkorder.orders WHERE order_no = 1007;

-- return: only shipped
SELECT bulkorder.bulk_return('{1001,1003,2001,1005}', true) AS job \gset
SELECT target, ok, error_code, before, after FROM bulkorder.bulk_job_items
WHERE job_id = :job ORDER BY target;
SELECT order_no, kind FROM bulkorder.payment_requests WHERE job_id = :job ORDER BY 1;

-- delete: anything but shipping; a deleted order is then invisible
SELECT bulkorder.bulk_delete('{1002,1004,1008}', true) AS job \gset
SELECT target, ok, error_code, after ? 'deleted_at' AS has_after FROM bulkorder.bulk_job_items
WHERE job_id = :job ORDER BY target;
SELECT order_no, deleted_at IS NOT NULL AS deleted FROM bulkorder.orders WHERE order_no IN (1002, 1004, 1008) ORDER BY 1;
SELECT order_no, kind FROM bulkorder.payment_requests WHERE job_id = :job ORDER BY 1;
SELECT target, error_code FROM bulkorder.preview_bulk('orders', 'tags', '{1004,1008}', '{"add": ["x"]}');
SELECT count(*) FROM bulkorder.order_list WHERE order_no IN (1004, 1008);
-- deleting twice: the second time it is not found
SELECT bulkorder.bulk_delete('{1004}', false) AS job \gset
SELECT target, error_code FROM bulkorder.bulk_job_items WHERE job_id = :job;

-- shipping_hold: hold only awaiting_shipment/shipping, holding twice succeeds
SELECT bulkorder.bulk_shipping_hold('{1006,1009,1003,1005}', true) AS job \gset
SELECT target, ok, error_code, before, after FROM bulkorder.bulk_job_items
WHERE job_id = :job ORDER BY target;
SELECT bulkorder.bulk_shipping_hold('{1006}', true) AS job \gset
SELECT target, ok FROM bulkorder.bulk_job_items WHERE job_id = :job;
-- release: any order
SELECT bulkorder.bulk_shipping_hold('{1006,1003}', false) AS job \gset
SELECT target, ok, after FROM bulkorder.bulk_job_items WHERE job_id = :job ORDER BY target;

-- tags: add, remove, never a duplicate, order kept
UPDATE bulkorder.orders SET tags = '{定期,VIP}' WHERE order_no = 1009;
SELECT bulkorder.bulk_tags('{1009,1010}', '{要確認,VIP,要確認}', '{定期}') AS job \gset
SELECT target, ok, before, after FROM bulkorder.bulk_job_items WHERE job_id = :job ORDER BY target;
SELECT bulkorder.bulk_tags('{1009}', remove => '{VIP,存在しない}') AS job \gset
SELECT after FROM bulkorder.bulk_job_items WHERE job_id = :job;
\set VERBOSITY sqlstate
SELECT bulkorder.bulk_tags('{1009}');
SELECT bulkorder.bulk_tags('{1009}', '{a}', '{a}');
SELECT bulkorder.bulk_tags('{1009}', '{""}');
SELECT bulkorder.bulk_tags('{1009}', ARRAY[NULL]::text[]);
SELECT bulkorder.bulk_tags('{1009}', ARRAY[repeat('t', 51)]);
\set VERBOSITY default

-- text fields: append on a new line, overwrite, append to NULL/empty stores the text alone
UPDATE bulkorder.orders SET remarks = '' WHERE order_no = 1010;
SELECT bulkorder.bulk_remarks('{1001,1010}', '電話連絡済み', 'append') AS job \gset
SELECT target, before, after FROM bulkorder.bulk_job_items WHERE job_id = :job ORDER BY target;
SELECT bulkorder.bulk_remarks('{1001}', '再配達希望', 'append') AS job \gset
SELECT after->>'remarks' AS remarks FROM bulkorder.bulk_job_items WHERE job_id = :job;
SELECT bulkorder.bulk_remarks('{1001}', '上書き', 'overwrite') AS job \gset
SELECT after FROM bulkorder.bulk_job_items WHERE job_id = :job;
SELECT bulkorder.bulk_customer_message('{1003}', '置き配希望', 'append') AS j1,
       bulkorder.bulk_reply_message('{1003}', '承知しました', 'overwrite') AS j2,
       bulkorder.bulk_integration_text('{1003}', 'WMS:A-12', 'append') AS j3 \gset
SELECT customer_message, reply_message, integration_text FROM bulkorder.orders WHERE order_no = 1003;
-- the 4000-character cap: a clear per-target failure where appending would pass it
UPDATE bulkorder.orders SET customer_message = repeat('あ', 3995) WHERE order_no = 1011;
SELECT bulkorder.bulk_customer_message('{1011,1001}', '12345', 'append') AS job \gset
SELECT target, ok, error_code, message FROM bulkorder.bulk_job_items WHERE job_id = :job ORDER BY target;
SELECT length(customer_message) FROM bulkorder.orders WHERE order_no = 1011;
-- a text longer than the cap rejects the whole call; a wrong mode too
\set VERBOSITY sqlstate
SELECT bulkorder.bulk_remarks('{1001}', repeat('x', 4001), 'overwrite');
SELECT bulkorder.bulk_remarks('{1001}', 'x', 'prepend');
SELECT bulkorder.bulk_remarks('{1001}', NULL, 'append');
\set VERBOSITY default

-- preview and run agree for every operation of this file
CREATE FUNCTION pg_temp.preview_equals_run(op text, keys bigint[], params jsonb)
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    previewed text;
    ran text;
    job bigint;
BEGIN
    SELECT string_agg(format('%s:%s:%s', target, ok, error_code), ',' ORDER BY target)
    INTO previewed FROM bulkorder.preview_bulk('orders', op, keys, params);
    job := bulkorder.run_bulk('orders', op, keys, params);
    SELECT string_agg(format('%s:%s:%s', target, ok, error_code), ',' ORDER BY target)
    INTO ran FROM bulkorder.bulk_job_items WHERE job_id = job;
    RETURN previewed IS NOT NULL AND previewed = ran;
END
$$;
SELECT o.operation,
       pg_temp.preview_equals_run(o.operation, '{1001,1002,1003,1005,1006,1009,1010,1011,1012,5}', o.params)
FROM (VALUES ('cancel', '{"void_payment": false}'::jsonb), ('return', '{"void_payment": false}'),
             ('shipping_hold', '{"hold": true}'), ('tags', '{"add": ["p"]}'),
             ('remarks', '{"text": "p", "mode": "append"}'), ('delete', '{"void_payment": false}')) AS o(operation, params);

-- the shop's tables outlive DROP EXTENSION: dropping the schema leaves nothing
SET client_min_messages = warning;
DROP SCHEMA bulkorder CASCADE;
