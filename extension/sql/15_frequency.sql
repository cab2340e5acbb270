-- Delivery frequency arithmetic (お届け頻度), shared by subscription order
-- generation, the subscriptions page and shipments' delivery_dates.
--
-- The month rule shops expect: a delivery anchored on day A of the month
-- lands on day A, or on the month's last day when the month is shorter,
-- and returns to day A where the month has one (31st → Feb 28/29 → Mar 31).
-- anchor_day defaults to the day of from_date.
CREATE FUNCTION bulkorder.frequency_next_date(from_date date, kind text, every integer,
                                              day_of_month integer, anchor_day integer DEFAULT NULL)
RETURNS date
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT CASE kind
        WHEN 'days' THEN from_date + every
        WHEN 'weeks' THEN from_date + 7 * every
        WHEN 'months' THEN
            (date_trunc('month', from_date) + make_interval(months => every))::date
            + least(coalesce(anchor_day, extract(day FROM from_date)::integer),
                    extract(day FROM date_trunc('month', from_date) + make_interval(months => every + 1)
                                     - interval '1 day')::integer) - 1
        WHEN 'day_of_month' THEN
            -- the first date after from_date on day D (or its month's last day)
            (SELECT min(m::date + least(day_of_month,
                                        extract(day FROM m + interval '1 month' - interval '1 day')::integer) - 1)
             FROM generate_series(date_trunc('month', from_date), date_trunc('month', from_date) + interval '1 month',
                                  interval '1 month') AS m
             WHERE m::date + least(day_of_month,
                                   extract(day FROM m + interval '1 month' - interval '1 day')::integer) - 1 > from_date)
    END
$$;

CREATE FUNCTION bulkorder.frequency_next_date(from_date date, frequency_id bigint, anchor_day integer DEFAULT NULL)
RETURNS date
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT bulkorder.frequency_next_date(from_date, f.kind, f.every, f.day_of_month, anchor_day)
    FROM bulkorder.frequencies f
    WHERE f.frequency_id = frequency_next_date.frequency_id
$$;
