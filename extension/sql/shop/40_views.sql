-- The list pages, one view each.  A deleted order is on no list.

CREATE VIEW bulkorder.order_list AS
    SELECT o.*, c.name AS customer_name, c.blacklist_status
    FROM bulkorder.orders o
    JOIN bulkorder.customers c USING (customer_id)
    WHERE o.deleted_at IS NULL;

CREATE VIEW bulkorder.subscription_list AS
    SELECT s.*, c.name AS customer_name,
           (SELECT count(*) FROM bulkorder.orders o
            WHERE o.course_order_no = s.course_order_no AND o.deleted_at IS NULL) AS order_count
    FROM bulkorder.subscriptions s
    JOIN bulkorder.customers c USING (customer_id);

CREATE VIEW bulkorder.shipment_list AS
    SELECT o.order_no, o.customer_id, c.name AS customer_name, o.course_order_no, o.status,
           o.payment_method, o.ship_report_status, o.shipping_hold, o.delivery_method,
           o.delivery_time_slot, o.scheduled_ship_date, o.scheduled_delivery_date,
           o.ship_mail_sent, o.tracking_no, c.prefecture, c.address
    FROM bulkorder.orders o
    JOIN bulkorder.customers c USING (customer_id)
    WHERE o.deleted_at IS NULL
      AND o.status IN ('awaiting_shipment', 'shipping', 'shipped');

CREATE VIEW bulkorder.customer_list AS
    SELECT c.*
    FROM bulkorder.customers c;
