-- Delivery frequency arithmetic (お届け頻度): month ends, leap years,
-- December → January, weeks, days, day of month, and the anchor day.
CREATE EXTENSION bulkorder;
\set VERBOSITY default
SET DateStyle = ISO;
\i test/fixtures/shop.sql

-- Each case with the date a shop expects, written by hand.
CREATE TEMP TABLE cases (from_date date, kind text, every integer, dom integer, anchor integer, expected date);
INSERT INTO cases VALUES
    -- every N months: the same day, or the last day of a shorter month
    ('2026-01-15', 'months', 1, NULL, NULL, '2026-02-15'),
    ('2026-01-31', 'months', 1, NULL, NULL, '2026-02-28'),
    ('2026-01-30', 'months', 1, NULL, NULL, '2026-02-28'),
    ('2026-01-29', 'months', 1, NULL, NULL, '2026-02-28'),
    ('2028-01-29', 'months', 1, NULL, NULL, '2028-02-29'),
    ('2028-01-31', 'months', 1, NULL, NULL, '2028-02-29'),
    ('2000-01-31', 'months', 1, NULL, NULL, '2000-02-29'),
    ('2100-01-31', 'months', 1, NULL, NULL, '2100-02-28'),
    ('2026-03-31', 'months', 1, NULL, NULL, '2026-04-30'),
    -- back to the anchor day where the month has it
    ('2026-02-28', 'months', 1, NULL, NULL, '2026-03-28'),
    ('2026-02-28', 'months', 1, NULL, 31, '2026-03-31'),
    ('2026-02-28', 'months', 1, NULL, 30, '2026-03-30'),
    ('2028-02-29', 'months', 1, NULL, 31, '2028-03-31'),
    ('2026-04-30', 'months', 1, NULL, 31, '2026-05-31'),
    ('2026-11-30', 'months', 1, NULL, 31, '2026-12-31'),
    -- December → January, and several months at once
    ('2026-12-31', 'months', 1, NULL, NULL, '2027-01-31'),
    ('2026-12-15', 'months', 1, NULL, NULL, '2027-01-15'),
    ('2026-12-31', 'months', 2, NULL, NULL, '2027-02-28'),
    ('2027-12-31', 'months', 2, NULL, NULL, '2028-02-29'),
    ('2026-11-30', 'months', 2, NULL, NULL, '2027-01-30'),
    ('2026-11-30', 'months', 3, NULL, 31, '2027-02-28'),
    ('2026-10-31', 'months', 3, NULL, NULL, '2027-01-31'),
    ('2028-02-29', 'months', 12, NULL, NULL, '2029-02-28'),
    ('2026-06-10', 'months', 18, NULL, NULL, '2027-12-10'),
    -- weeks and days cross month and year ends, leap days included
    ('2026-12-28', 'weeks', 1, NULL, NULL, '2027-01-04'),
    ('2026-02-22', 'weeks', 2, NULL, NULL, '2026-03-08'),
    ('2028-02-22', 'weeks', 2, NULL, NULL, '2028-03-07'),
    ('2026-12-25', 'days', 10, NULL, NULL, '2027-01-04'),
    ('2026-02-25', 'days', 10, NULL, NULL, '2026-03-07'),
    ('2028-02-25', 'days', 10, NULL, NULL, '2028-03-06'),
    ('2026-01-31', 'days', 1, NULL, 31, '2026-02-01'),          -- the anchor is for months only
    -- monthly on day D: the first day D after the date (the last day of a shorter month)
    ('2026-01-15', 'day_of_month', 1, 31, NULL, '2026-01-31'),
    ('2026-01-31', 'day_of_month', 1, 31, NULL, '2026-02-28'),
    ('2026-02-28', 'day_of_month', 1, 31, NULL, '2026-03-31'),
    ('2028-01-31', 'day_of_month', 1, 31, NULL, '2028-02-29'),
    ('2028-02-29', 'day_of_month', 1, 31, NULL, '2028-03-31'),
    ('2026-04-30', 'day_of_month', 1, 31, NULL, '2026-05-31'),
    ('2026-12-31', 'day_of_month', 1, 31, NULL, '2027-01-31'),
    ('2026-12-20', 'day_of_month', 1, 31, NULL, '2026-12-31'),
    ('2026-12-14', 'day_of_month', 1, 15, NULL, '2026-12-15'),
    ('2026-12-15', 'day_of_month', 1, 15, NULL, '2027-01-15'),
    ('2026-12-16', 'day_of_month', 1, 15, NULL, '2027-01-15'),
    ('2026-12-01', 'day_of_month', 1, 1, NULL, '2027-01-01'),
    ('2026-12-31', 'day_of_month', 1, 1, NULL, '2027-01-01'),
    ('2026-01-29', 'day_of_month', 1, 29, NULL, '2026-02-28'),
    ('2026-02-28', 'day_of_month', 1, 29, NULL, '2026-03-29'),
    ('2028-01-30', 'day_of_month', 1, 29, NULL, '2028-02-29'),
    -- every 2 months on day D
    ('2026-12-31', 'day_of_month', 2, 31, NULL, '2027-02-28'),
    ('2027-02-28', 'day_of_month', 2, 31, NULL, '2027-04-30'),
    ('2026-12-10', 'day_of_month', 2, 31, NULL, '2027-01-31');

SELECT from_date, kind, every, dom, anchor,
       bulkorder.frequency_next_date(from_date, kind, every, dom, anchor) AS next_date,
       bulkorder.frequency_next_date(from_date, kind, every, dom, anchor) = expected AS as_expected
FROM cases ORDER BY kind, from_date, every, dom, anchor;
SELECT count(*) AS wrong FROM cases
WHERE bulkorder.frequency_next_date(from_date, kind, every, dom, anchor) IS DISTINCT FROM expected;

-- no date, no next date
SELECT bulkorder.frequency_next_date(NULL::date, 'months', 1, NULL) IS NULL AS null_in_null_out;

-- by frequency_id (the fixture's 1ヶ月 / 2ヶ月 / 2週間 / 10日 / 毎月31日); unknown → NULL
SELECT f.frequency_id, f.name, bulkorder.frequency_next_date('2026-01-31'::date, f.frequency_id) AS next_date
FROM bulkorder.frequencies f ORDER BY 1;
SELECT bulkorder.frequency_next_date('2026-02-28'::date, 1::bigint, 31) AS anchored,
       bulkorder.frequency_next_date('2026-02-28'::date, 99::bigint) AS unknown;

-- Which anchor applies to a date: the stored one while the date agrees
-- with it (day A, or the last day of a month shorter than A), else the
-- date's own day.
SELECT d, a, bulkorder.effective_anchor_day(d, a) AS anchor
FROM (VALUES ('2026-02-28'::date, 31), ('2028-02-29', 31), ('2028-02-28', 31), ('2026-04-30', 31),
             ('2026-04-30', 30), ('2026-04-29', 31), ('2026-03-31', 31), ('2026-02-28', 29),
             ('2026-02-28', 28), ('2026-04-30', 15), ('2026-03-15', NULL)) v(d, a)
ORDER BY d, a;

-- A cycle anchored on the 31st through a year and into a leap February.
WITH RECURSIVE chain(n, d, anchor) AS (
    SELECT 0, '2026-12-31'::date, 31
    UNION ALL
    SELECT n + 1, bulkorder.frequency_next_date(d, 'months', 1, NULL, bulkorder.effective_anchor_day(d, anchor)),
           bulkorder.effective_anchor_day(d, anchor)
    FROM chain WHERE n < 15)
SELECT n, d FROM chain ORDER BY n;

-- Monthly on the 30th, through a leap February.
WITH RECURSIVE chain(n, d) AS (
    SELECT 0, '2027-12-30'::date
    UNION ALL
    SELECT n + 1, bulkorder.frequency_next_date(d, 'day_of_month', 1, 30) FROM chain WHERE n < 4)
SELECT n, d FROM chain ORDER BY n;

-- the shop's tables outlive DROP EXTENSION: dropping the schema leaves nothing
SET client_min_messages = warning;
DROP SCHEMA bulkorder CASCADE;
