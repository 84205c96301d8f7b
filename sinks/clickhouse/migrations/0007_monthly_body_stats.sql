-- Monthly body-level aggregates (day = the month's first day), for ratings and workload over
-- long periods: whole months come from here, edge days from daily_body_stats. Written by the
-- same refresh (reports.store.refresh); same columns as daily_body_stats.
CREATE TABLE IF NOT EXISTS monthly_body_stats AS daily_body_stats;
