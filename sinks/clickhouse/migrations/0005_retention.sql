-- Retention (docs/analytics.md, "Retention"): only what the law lets go goes.
-- Residents' messages (обращения граждан) are kept 5 years with expert review (Перечень типовых
-- управленческих архивных документов, приказ Росархива № 236 от 20.12.2019, ст. 154 «5 лет ЭПК»):
-- the review may send them to permanent storage, so no row of cases, case_events or sla_events is
-- deleted by a timer. What 152-ФЗ ст. 5 ч. 7 asks to end with the purpose is the link to the
-- person: the pseudonymous author_id is blanked 5 years after the message.
ALTER TABLE cases MODIFY COLUMN author_id String TTL toDateTime(created_at) + INTERVAL 5 YEAR;

-- Dead letters hold raw bytes with personal data and serve only replay after a fault: 180 days.
ALTER TABLE dead_letters MODIFY TTL toDateTime(at) + INTERVAL 180 DAY DELETE;
