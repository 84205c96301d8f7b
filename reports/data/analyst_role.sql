-- The analyst role of a ClickHouse server (not a migration: the embedded chdb store has no access
-- control, and GRANTs need an admin; run `mcu report analyst-role --apply` or paste this).
-- {db} is the database of the МЦУ tables.
CREATE ROLE IF NOT EXISTS mcu_analyst;
GRANT SELECT ON {db}.analyst_cases TO mcu_analyst;
GRANT SELECT ON {db}.analyst_case_events TO mcu_analyst;
GRANT SELECT ON {db}.analyst_sla_events TO mcu_analyst;
GRANT SELECT ON {db}.analyst_notifications TO mcu_analyst;
GRANT SELECT ON {db}.case_state TO mcu_analyst;
GRANT SELECT ON {db}.daily_stats TO mcu_analyst;
GRANT SELECT ON {db}.daily_body_stats TO mcu_analyst;
GRANT SELECT ON {db}.monthly_stats TO mcu_analyst;
GRANT SELECT ON {db}.monthly_body_stats TO mcu_analyst;
GRANT SELECT ON {db}.work_calendar TO mcu_analyst;
GRANT SELECT ON {db}.corrections TO mcu_analyst;
-- Then, for each analyst: CREATE USER ... ; GRANT mcu_analyst TO <user>;
-- The analyst views run with their definer's rights (SQL SECURITY DEFINER, ClickHouse ≥ 24.4),
-- so the role needs no SELECT at all on the tables holding authors, contacts and unmasked text:
-- run this as the admin that owns the tables.
ALTER TABLE {db}.analyst_cases MODIFY DEFINER = CURRENT_USER SQL SECURITY DEFINER;
ALTER TABLE {db}.analyst_case_events MODIFY DEFINER = CURRENT_USER SQL SECURITY DEFINER;
ALTER TABLE {db}.analyst_sla_events MODIFY DEFINER = CURRENT_USER SQL SECURITY DEFINER;
ALTER TABLE {db}.analyst_notifications MODIFY DEFINER = CURRENT_USER SQL SECURITY DEFINER;
ALTER TABLE {db}.case_state MODIFY DEFINER = CURRENT_USER SQL SECURITY DEFINER;
GRANT SELECT ON {db}.case_progress TO mcu_analyst;
