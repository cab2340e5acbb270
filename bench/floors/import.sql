-- shipment import floor: COPY of the file into a scratch table, then one
-- statement making the import's changes for the orders it may ship: the
-- orders locked in key order, status (shipping with a ship_report request
-- where the payment method needs one, else shipped), tracking number, the
-- ship_complete mail (rendered inline), history rows, before image from the
-- locked row.  @FILE@ the file's path (a literal), @JOB@ the history job id.
-- The outbox rows name their shop (@SHOPCOL@/@SHOPVAL@): left out, shop_id's
-- default would call the product's bulkorder.session_shop_id() per row.
TRUNCATE bench.ship_stage;

COPY bench.ship_stage FROM @FILE@ (FORMAT csv, HEADER true);

WITH staged AS (
    SELECT order_no::bigint AS order_no, min(tracking_no) AS tracking_no
    FROM bench.ship_stage GROUP BY 1),
locked AS MATERIALIZED (
    SELECT o.order_no, o.customer_id, o.course_order_no, o.payment_method, o.status, o.ship_report_status,
           o.tracking_no, o.ship_mail_sent, s.tracking_no AS new_tracking_no, pm.needs_ship_report,
           pm.name AS payment_name
    FROM bulkorder.orders o
    JOIN staged s ON @SHOP(o,orders)@ s.order_no = o.order_no
    JOIN bulkorder.payment_methods pm ON @SHOP(pm,payment_methods)@ pm.code = o.payment_method
    WHERE o.deleted_at IS NULL AND o.status = 'awaiting_shipment' AND NOT o.shipping_hold
    ORDER BY o.order_no
    FOR NO KEY UPDATE OF o),
changed AS (
    UPDATE bulkorder.orders o
    SET status = CASE WHEN l.needs_ship_report THEN 'shipping' ELSE 'shipped' END,
        ship_report_status = CASE WHEN l.needs_ship_report THEN 'pending' ELSE o.ship_report_status END,
        tracking_no = l.new_tracking_no,
        ship_mail_sent = o.ship_mail_sent OR EXISTS (SELECT 1 FROM bulkorder.mail_templates mt
                                                     WHERE @SHOP(mt,mail_templates)@ mt.code = 'ship_complete' AND mt.enabled)
    FROM locked l
    WHERE @SHOP(o,orders)@ o.order_no = l.order_no
    RETURNING o.order_no, o.status, o.ship_report_status, o.tracking_no, o.ship_mail_sent,
              l.status AS old_status, l.ship_report_status AS old_ship_report_status,
              l.tracking_no AS old_tracking_no, l.ship_mail_sent AS old_ship_mail_sent),
requests AS (
    INSERT INTO bulkorder.payment_requests (@SHOPCOL(payment_requests)@ order_no, payment_method, kind)
    SELECT @SHOPVAL(payment_requests)@ order_no, payment_method, 'ship_report' FROM locked WHERE needs_ship_report),
mails AS (
    INSERT INTO bulkorder.mail_outbox (@SHOPCOL(mail_outbox)@ template_code, order_no, customer_id, to_address, subject, body)
    SELECT @SHOPVAL(mail_outbox)@ mt.code, l.order_no, l.customer_id, c.email,
           replace(replace(replace(replace(replace(mt.subject, '{{order_no}}', l.order_no::text),
               '{{customer_name}}', coalesce(c.name, '')), '{{tracking_no}}', l.new_tracking_no),
               '{{payment_method}}', l.payment_name), '{{course_order_no}}', coalesce(l.course_order_no::text, '')),
           replace(replace(replace(replace(replace(mt.body, '{{order_no}}', l.order_no::text),
               '{{customer_name}}', coalesce(c.name, '')), '{{tracking_no}}', l.new_tracking_no),
               '{{payment_method}}', l.payment_name), '{{course_order_no}}', coalesce(l.course_order_no::text, ''))
    FROM locked l
    JOIN bulkorder.customers c ON @SHOP(c,customers)@ c.customer_id = l.customer_id
    JOIN bulkorder.mail_templates mt ON @SHOP(mt,mail_templates)@ mt.code = 'ship_complete' AND mt.enabled
    WHERE NOT l.ship_mail_sent)
INSERT INTO bench.floor_import (job_id, target, ok, before, after)
SELECT @JOB@, order_no, true,
       jsonb_build_object('status', old_status, 'ship_report_status', old_ship_report_status,
                          'tracking_no', old_tracking_no, 'ship_mail_sent', old_ship_mail_sent),
       jsonb_build_object('status', status, 'ship_report_status', ship_report_status,
                          'tracking_no', tracking_no, 'ship_mail_sent', ship_mail_sent)
FROM changed;
