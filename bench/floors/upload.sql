-- upload floor: COPY of the file into a scratch table, then the join that
-- resolves its keys (distinct, well-formed numbers; found among the orders
-- not deleted).  @FILE@ the file's path (a literal).
TRUNCATE bench.csv_stage, bench.csv_resolved;

COPY bench.csv_stage FROM @FILE@ (FORMAT csv, HEADER true, ENCODING 'UTF8');

INSERT INTO bench.csv_resolved
SELECT s.key, o.order_no IS NOT NULL
FROM (SELECT DISTINCT trim(a)::bigint AS key FROM bench.csv_stage WHERE trim(a) ~ '^[0-9]{1,18}$') s
LEFT JOIN bulkorder.orders o ON @SHOP(o,orders)@ o.order_no = s.key AND o.deleted_at IS NULL;
