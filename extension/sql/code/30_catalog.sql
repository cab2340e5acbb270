-- The pages of the catalogue and its readable listing.

INSERT INTO bulkorder_catalog.pages VALUES
    ('orders', '注文一覧', 'orders', 'bulkorder.orders', 'order_no', '注文番号', 't.deleted_at IS NULL'),
    ('subscriptions', '定期注文マスター', 'subscription masters', 'bulkorder.subscriptions', 'course_order_no', 'コース注文番号', 'true'),
    ('shipments', '出荷一覧', 'shipments', 'bulkorder.orders', 'order_no', '注文番号', 't.deleted_at IS NULL'),
    ('customers', '顧客一覧', 'customers', 'bulkorder.customers', 'customer_id', '顧客ID', 'true')
ON CONFLICT (page) DO UPDATE
    SET name_ja = excluded.name_ja, name_en = excluded.name_en, target_table = excluded.target_table,
        key_column = excluded.key_column, key_name_ja = excluded.key_name_ja,
        visible_condition = excluded.visible_condition;

-- A readable listing of the catalogue for operators and admin tools:
-- shipped is false for an operation the shop declared itself.
CREATE OR REPLACE VIEW bulkorder.operation_catalog AS
    SELECT o.page, pg.name_ja AS page_name_ja, o.operation, o.name_ja, o.name_en,
           o.params, o.wrapper,
           coalesce((SELECT jsonb_agg(jsonb_build_object('error_code', r.error_code,
                                                         'message', r.message_ja)
                                      ORDER BY r.position)
                     FROM bulkorder_catalog.operation_rules r
                     WHERE r.page = o.page AND r.operation = o.operation), '[]') AS rules,
           o.shipped, o.reversible, o.irreversible_reason
    FROM bulkorder_catalog.operations o
    JOIN bulkorder_catalog.pages pg USING (page);
