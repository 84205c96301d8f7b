-- Monthly aggregates at the full grain of daily_stats (day = the month's first day): a breakdown
-- over many months reads one row per month and cell instead of one per day; the days at the
-- edges of a period that are not whole months still come from daily_stats. Written by the same
-- refresh as daily_stats (reports.store.refresh), from its result; same columns, so the two
-- can be read together with UNION ALL and their states merged.
CREATE TABLE IF NOT EXISTS monthly_stats AS daily_stats;
