-- Delivery frequency arithmetic (お届け頻度), shared by subscription order
-- generation, the subscriptions page and shipments' delivery_dates.  This is
-- the ONE implementation: nothing else adds months to a delivery date.
--
-- The month rule shops expect: a delivery anchored on day A of the month
-- lands on day A, or on the month's last day when the month is shorter,
-- and returns to day A where the month has one (31st → Feb 28/29 → Mar 31).
--
--   days N          from_date + N
--   weeks N         from_date + 7·N
--   months N        day A of the N-th month after from_date's month, or that
--                   month's last day; A = anchor_day, else the day of from_date
--   day_of_month D  day D (or the last day of a shorter month) of the month
--                   `every` months after from_date's month when from_date is on
--                   or after its own month's day D, else of the month
--                   `every − 1` months on; with every = 1 ("monthly on day D"):
--                   the first day-D date after from_date
--
-- A subscription keeps its anchor in subscriptions.anchor_day (NULL = the
-- day of its next delivery date); bulkorder.effective_anchor_day() below
-- decides which anchor applies to a given date.
--
-- One inlinable SQL expression per kind (the planner folds it into the
-- calling statement: no function call per row).  Month arithmetic starts
-- from January of from_date's year, a month with every day 1-31, and adds
-- months with PostgreSQL's date + interval, which keeps the day or falls
-- back to the last day of a shorter month.  date + interval is a timestamp
-- WITHOUT time zone: no time zone or DST can move the date.
CREATE OR REPLACE FUNCTION bulkorder.frequency_next_date(from_date date, kind text, every integer,
                                              day_of_month integer, anchor_day integer DEFAULT NULL)
RETURNS date
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT CASE kind
        WHEN 'days' THEN from_date + every
        WHEN 'weeks' THEN from_date + 7 * every
        WHEN 'months' THEN
            (make_date(extract(year FROM from_date)::integer, 1,
                       coalesce(anchor_day, extract(day FROM from_date)::integer))
             + make_interval(months => extract(month FROM from_date)::integer - 1 + every))::date
        WHEN 'day_of_month' THEN
            -- on or after this month's day D: day D `every` months on;
            -- before it (off the cycle): day D of the month `every - 1` on
            (make_date(extract(year FROM from_date)::integer, 1, day_of_month)
             + make_interval(months => extract(month FROM from_date)::integer - 1 + every
                 - CASE WHEN from_date < (make_date(extract(year FROM from_date)::integer, 1, day_of_month)
                                          + make_interval(months => extract(month FROM from_date)::integer - 1))::date
                        THEN 1 ELSE 0 END))::date
    END
$$;

CREATE OR REPLACE FUNCTION bulkorder.frequency_next_date(from_date date, frequency_id bigint, anchor_day integer DEFAULT NULL)
RETURNS date
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT bulkorder.frequency_next_date(from_date, f.kind, f.every, f.day_of_month, anchor_day)
    FROM bulkorder.frequencies f
    WHERE f.frequency_id = frequency_next_date.frequency_id
$$;

-- The anchor day that applies to a subscription whose cycle date (its next
-- delivery date) is cycle_date and whose stored anchor is anchor_day: the
-- stored anchor while the date agrees with it (it is day A, or the last day
-- of a month shorter than A), else the day of the date itself.  So a date
-- set by hand, by an admin tool or by another page re-anchors the cycle,
-- while Feb 28 of a cycle anchored on the 31st goes back to Mar 31.
CREATE OR REPLACE FUNCTION bulkorder.effective_anchor_day(cycle_date date, anchor_day integer)
RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT CASE
        WHEN anchor_day IS NOT NULL
             AND (extract(day FROM cycle_date)::integer = anchor_day
                  OR (extract(day FROM cycle_date + 1) = 1          -- the month's last day
                      AND anchor_day > extract(day FROM cycle_date)::integer))
        THEN anchor_day
        ELSE extract(day FROM cycle_date)::integer
    END
$$;
