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
-- Then, for each analyst: CREATE USER ... ; GRANT mcu_analyst TO <user>;
-- Views run with the definer's rights only when created with SQL SECURITY DEFINER; the views of
-- migration 0004 use the default (INVOKER), so the role also needs SELECT on the columns the views
-- read. Grant those column lists, never whole tables:
GRANT SELECT(message_id, channel, created_at, enriched_at, title, text, lat, lon, category, category_name, kind, sentiment, urgent, urgency_reasons, conflict, confidence, needs_review, cluster_id, model_version, block, block_name, department, department_name, settlement, settlement_name, locality, level, forward_to, version) ON {db}.cases TO mcu_analyst;
GRANT SELECT(event_id, message_id, type, at, department, settlement, new_deadline, reason, rating, merged_into) ON {db}.case_events TO mcu_analyst;
GRANT SELECT ON {db}.sla_events TO mcu_analyst;
GRANT SELECT(notification_id, message_id, kind, channel, recipient_role, block, department, settlement, level, status, at) ON {db}.notifications TO mcu_analyst;
GRANT SELECT ON {db}.case_progress TO mcu_analyst;
