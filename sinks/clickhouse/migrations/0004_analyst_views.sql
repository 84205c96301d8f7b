-- Views for analysts without personal data (152-ФЗ). Analysts get SELECT on these views and on
-- daily_stats only (role DDL: reports/data/analyst_role.sql, a separate step for a server).
-- Left out on purpose: author_id (pseudonymous but linkable across messages), source_id and
-- source_url (they lead back to the resident's post or account), address and exact coordinates
-- (rounded to 0.01°, about 1 km), actors and the free-text comments of events.
-- Masked: phone numbers and e-mail addresses in title, text and reasons, by replaceRegexpAll
-- (RE2): e-mails first, then phone numbers written with +7/8 and 10 digits with any of
-- space, hyphen, dot or brackets between them, then any other run of 7 or more digits.
CREATE VIEW IF NOT EXISTS analyst_cases AS
SELECT
    message_id,
    channel,
    created_at,
    enriched_at,
    replaceRegexpAll(replaceRegexpAll(replaceRegexpAll(title,
        '[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\\.[A-Za-z]{2,}', '[e-mail]'),
        '(\\+7|\\b8)[\\s\\-.()]*\\d{3}[\\s\\-.()]*\\d{3}[\\s\\-.]*\\d{2}[\\s\\-.]*\\d{2}', '[телефон]'),
        '\\d[\\d\\s\\-.()]{5,}\\d', '[номер]') AS title_masked,
    replaceRegexpAll(replaceRegexpAll(replaceRegexpAll(text,
        '[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\\.[A-Za-z]{2,}', '[e-mail]'),
        '(\\+7|\\b8)[\\s\\-.()]*\\d{3}[\\s\\-.()]*\\d{3}[\\s\\-.]*\\d{2}[\\s\\-.]*\\d{2}', '[телефон]'),
        '\\d[\\d\\s\\-.()]{5,}\\d', '[номер]') AS text_masked,
    round(lat, 2) AS lat_rounded,
    round(lon, 2) AS lon_rounded,
    category, category_name, kind, sentiment, urgent, urgency_reasons, conflict, confidence,
    needs_review, cluster_id, model_version,
    block, block_name, department, department_name, settlement, settlement_name, locality, level,
    forward_to
FROM cases FINAL;

CREATE VIEW IF NOT EXISTS analyst_case_events AS
SELECT
    event_id, message_id, type, at, department, settlement, new_deadline,
    replaceRegexpAll(replaceRegexpAll(reason,
        '[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\\.[A-Za-z]{2,}', '[e-mail]'),
        '(\\+7|\\b8)[\\s\\-.()]*\\d{3}[\\s\\-.()]*\\d{3}[\\s\\-.]*\\d{2}[\\s\\-.]*\\d{2}', '[телефон]') AS reason_masked,
    rating, merged_into
FROM case_events FINAL;

CREATE VIEW IF NOT EXISTS analyst_sla_events AS
SELECT dedup_key, message_id, kind, term, deadline, share, level, block, department, settlement, at
FROM sla_events FINAL;

CREATE VIEW IF NOT EXISTS analyst_notifications AS
SELECT notification_id, message_id, kind, channel, recipient_role, block, department, settlement, level,
       status, at
FROM notifications FINAL;

-- One row per case with its progress merged: the per-case state analysts join to analyst_cases.
CREATE VIEW IF NOT EXISTS case_state AS
SELECT
    message_id,
    min(registered_at) AS registered_at,
    min(first_response_at) AS first_response_at,
    min(answered_at) AS answered_at,
    max(last_answered_at) AS last_answered_at,
    max(last_resolved_at) AS last_resolved_at,
    max(last_reopened_at) AS last_reopened_at,
    max(closed_at) AS closed_at,
    min(interim_at) AS interim_at,
    max(reopened) AS reopened,
    max(forwarded) AS forwarded,
    max(merged) AS merged,
    nullIf(max(rating).2, 0) AS rating,
    max(deadline) AS deadline,
    max(breached) AS breached
FROM case_progress
GROUP BY message_id;
