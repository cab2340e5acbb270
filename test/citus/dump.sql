-- What a workload left behind, as lines "table|row" (test/stages/citus.sh
-- sorts them): the same on a single node and on a Citus cluster, or the
-- stage fails.
--
-- Left out, because Citus gives them other values by design: the ids each
-- node draws from a range of its own (Citus gives every node one, so that
-- they never collide): payment_requests.request_id, mail_outbox.mail_id,
-- notifications.notification_id; and the times: a timestamp column becomes
-- whether it is set, a time in a before or after image becomes <time>.
-- Everything else is compared, row by row, in every table of the shops.
\set ON_ERROR_STOP on
\pset format unaligned
\pset tuples_only on
\pset footer off
SELECT format($q$SELECT %L || '|' || regexp_replace((to_jsonb(t) - %L::text[] || jsonb_build_object(%s))::text,
                     '"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+\+[0-9:]+"', '"<time>"', 'g') FROM %s t$q$,
              c.relname,
              ARRAY['request_id', 'mail_id', 'notification_id'] || coalesce(c.times, '{}'),
              coalesce((SELECT string_agg(format('%L, t.%I IS NOT NULL', x, x), ', ') FROM unnest(c.times) x), ''),
              c.oid::regclass)
FROM (SELECT cl.oid, cl.relname,
             array_agg(a.attname ORDER BY a.attnum) FILTER (WHERE a.atttypid = 'timestamptz'::regtype) AS times
      FROM pg_class cl
      JOIN pg_attribute a ON a.attrelid = cl.oid AND a.attnum > 0 AND NOT a.attisdropped
      WHERE cl.relnamespace = 'bulkorder'::regnamespace AND cl.relkind = 'r'
        AND cl.relname !~ '_[0-9]+$'
      GROUP BY cl.oid, cl.relname) c
ORDER BY c.relname
\gexec
