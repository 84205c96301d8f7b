-- The effective deadline of a case is the deadline of its latest decision by event time, not the
-- latest date ever set (issue 11). case_progress.deadline is max() over every extension and every
-- SLA event: an extension to a wrong, later date could never be corrected by a later extension to
-- an earlier one, and every rating and overdue figure kept the wrong date.
--
-- How an operator's extension and the SLA timer combine. Candidates for the resolution deadline:
--   * an `extended` case event for the resolution term (term '' or 'resolution') with a
--     new_deadline: the operator's decision, at the event's `at`;
--   * every resolution-term SLA event: the timer's deadline when it emitted the event. After an
--     extension the timer (sla/timers.py, _extend) emits `moved` at the extension's own `at`
--     carrying the deadline it applied — the operator's date, or the policy's default extension
--     when no date was given — and every later SLA event carries that recomputed deadline.
--     The timer itself ignores an extension older (by event time, then arrival) than the one it
--     applied, and one for a term that is already met.
-- The winner is the maximum of the tuple (decision, at, rank, deadline):
--   decision 1: the extension events and the SLA events a case event caused at its own time
--     (moved, started, met, stopped, paused); 0: warning, breach, escalation. Those fire at a
--     time computed from the schedule (a share of the term, the deadline itself), not at the time
--     of a decision: a warning that fired at 50 % of the old term, before a late-delivered
--     extension was processed, carries the old date with a later `at` than the extension. They
--     only speak when nothing decided (the timer's first schedule emits no event of its own).
--   at: event time — a later correction wins however late it arrives.
--   rank, for decisions at the same instant: the timer's moved/started (2) over its met, stopped,
--     paused (1) over the operator's event (0): the timer's moved of an extension carries what it
--     actually applied, and a reopening's `started` (new term) follows the `stopped` of the old
--     one at the same `at`.
--   deadline, last: two decisions of one rank at the same millisecond are indistinguishable by
--     anything stored order-free (arrival time changes with re-delivery); the later date is
--     chosen so the result does not depend on arrival order.
-- Every part comes from the event itself, so re-delivery and out-of-order arrival give the same
-- maximum (an idempotent, order-free aggregate, as the rest of case_progress).
-- Known difference from the timer: an extension after the answer is ignored by the timer (the term
-- is met) but wins here by time; `breached` stays max() (a breach that fired stays a fact).
--
-- The old `deadline` column keeps being filled (the max of all dates, for readers outside this
-- repository); every reader here switches to `deadline_latest` through the views below.
-- Idempotent: ADD COLUMN IF NOT EXISTS, MODIFY QUERY and CREATE OR REPLACE set the same state
-- again, and the backfill inserts the same maxima again (max of equal tuples changes nothing).
-- Order: the views are switched before the backfill, so an event stored meanwhile is counted by
-- one or both (harmless). On a server CREATE OR REPLACE VIEW resets case_state's SQL SECURITY:
-- re-run `mcu report analyst-role --apply` afterwards (docs/runbook.md).
-- MODIFY QUERY of a materialized view needs ClickHouse ≥ 23.12 (deploy uses 25.8; chdb 4.x).
ALTER TABLE case_events ADD COLUMN IF NOT EXISTS term LowCardinality(String) DEFAULT '';

ALTER TABLE case_progress ADD COLUMN IF NOT EXISTS deadline_latest
    SimpleAggregateFunction(max, Tuple(UInt8, DateTime64(3, 'UTC'), UInt8, DateTime64(3, 'UTC')));

ALTER TABLE case_progress_from_events MODIFY QUERY
SELECT
    message_id,
    minIf(toNullable(at), type = 'registered') AS registered_at,
    minIf(toNullable(at), type IN ('interim_answer', 'answered', 'resolved', 'rejected')) AS first_response_at,
    minIf(toNullable(at), type IN ('answered', 'resolved', 'rejected')) AS answered_at,
    maxIf(toNullable(at), type IN ('answered', 'resolved', 'rejected')) AS last_answered_at,
    maxIf(toNullable(at), type = 'resolved') AS last_resolved_at,
    maxIf(toNullable(at), type = 'reopened') AS last_reopened_at,
    maxIf(toNullable(at), type IN ('cancelled', 'merged', 'forwarded')) AS closed_at,
    minIf(toNullable(at), type = 'interim_answer') AS interim_at,
    toUInt8(max(type = 'reopened')) AS reopened,
    toUInt8(max(type = 'forwarded')) AS forwarded,
    toUInt8(max(type = 'merged')) AS merged,
    maxIf((at, coalesce(rating, 0)), type = 'rated' AND rating IS NOT NULL) AS rating,
    maxIf(new_deadline, type = 'extended') AS deadline,
    toUInt8(0) AS breached,
    maxIf((toUInt8(1), at, toUInt8(0), assumeNotNull(new_deadline)),
          type = 'extended' AND new_deadline IS NOT NULL AND term IN ('', 'resolution')) AS deadline_latest
FROM case_events
GROUP BY message_id;

ALTER TABLE case_progress_from_sla MODIFY QUERY
SELECT
    message_id,
    CAST(NULL AS Nullable(DateTime64(3, 'UTC'))) AS registered_at,
    CAST(NULL AS Nullable(DateTime64(3, 'UTC'))) AS first_response_at,
    CAST(NULL AS Nullable(DateTime64(3, 'UTC'))) AS answered_at,
    CAST(NULL AS Nullable(DateTime64(3, 'UTC'))) AS last_answered_at,
    CAST(NULL AS Nullable(DateTime64(3, 'UTC'))) AS last_resolved_at,
    CAST(NULL AS Nullable(DateTime64(3, 'UTC'))) AS last_reopened_at,
    CAST(NULL AS Nullable(DateTime64(3, 'UTC'))) AS closed_at,
    CAST(NULL AS Nullable(DateTime64(3, 'UTC'))) AS interim_at,
    toUInt8(0) AS reopened,
    toUInt8(0) AS forwarded,
    toUInt8(0) AS merged,
    (toDateTime64(0, 3, 'UTC'), toUInt8(0)) AS rating,
    maxIf(toNullable(deadline), term = 'resolution') AS deadline,
    toUInt8(max(kind = 'breach' AND term = 'resolution')) AS breached,
    -- e.deadline: the bare name would mean the alias `deadline` above (ClickHouse prefers aliases)
    maxIf((toUInt8(kind NOT IN ('warning', 'breach', 'escalation')), at,
           if(kind IN ('moved', 'started'), toUInt8(2), toUInt8(1)), e.deadline),
          term = 'resolution') AS deadline_latest
FROM sla_events AS e
GROUP BY message_id;

-- Backfill from what is stored; only the new column, the others keep their (neutral) defaults.
INSERT INTO case_progress (message_id, deadline_latest)
SELECT message_id, maxIf((toUInt8(1), at, toUInt8(0), assumeNotNull(new_deadline)),
          type = 'extended' AND new_deadline IS NOT NULL AND term IN ('', 'resolution'))
FROM case_events
WHERE type = 'extended'
GROUP BY message_id;

INSERT INTO case_progress (message_id, deadline_latest)
SELECT message_id, maxIf((toUInt8(kind NOT IN ('warning', 'breach', 'escalation')), at,
           if(kind IN ('moved', 'started'), toUInt8(2), toUInt8(1)), deadline),
          term = 'resolution')
FROM sla_events
WHERE term = 'resolution'
GROUP BY message_id;

-- Every reader of the deadline, switched to the latest decision.
CREATE OR REPLACE VIEW daily_stats_source AS
WITH
    (
        SELECT (groupArray(day), groupArray(start1), groupArray(end1), groupArray(start2),
                groupArray(end2), groupArray(cum_before))
        FROM (SELECT * FROM work_calendar FINAL ORDER BY day)
    ) AS cal,
    now64(3, 'UTC') AS now_utc
SELECT
    toDate(created_at, 'Europe/Moscow') AS day,
    block, department, settlement, level, channel, category,
    count() AS messages,
    countIf(NOT merged) AS cases,
    uniqExactState(if(cluster_id != '', cluster_id, message_id)) AS problems,
    countIf(kind = 'complaint') AS complaints,
    countIf(kind = 'complaint' AND is_repeat) AS repeated,
    countIf(deadline IS NOT NULL AND (answered_at IS NOT NULL OR now_utc > deadline)) AS with_deadline,
    countIf(answered_at IS NOT NULL) AS answered,
    countIf(deadline IS NOT NULL AND answered_at IS NOT NULL AND answered_at <= deadline AND NOT breached) AS answered_in_time,
    countIf(is_overdue) AS overdue,
    sumIf(ceil(dateDiff('second', deadline, coalesce(answered_at, now_utc)) / 86400), is_overdue AND deadline IS NOT NULL) AS overdue_days,
    countIf(is_open) AS open,
    countIf(is_open AND is_overdue) AS open_overdue,
    countIf(last_resolved_at IS NOT NULL AND (last_reopened_at IS NULL OR last_resolved_at > last_reopened_at)) AS resolved,
    countIf(reopened) AS reopened,
    countIf(interim_at IS NOT NULL AND answered_at IS NULL) AS interim_only,
    countIf(first_response_at IS NOT NULL) AS responded,
    countIf(first_response_at IS NOT NULL AND first_response_h <= 8) AS responded_8h,
    countIf(first_response_at IS NOT NULL AND first_response_h <= 40) AS responded_40h,
    countIf(rating.2 > 0) AS rated,
    sum(rating.2) AS rating_sum,
    countIf(rating.2 >= 4) AS rating_good,
    quantilesTDigestStateIf(0.5, 0.9)(registration_h, registered_at IS NOT NULL) AS registration_hours,
    quantilesTDigestStateIf(0.5, 0.9)(first_response_h, first_response_at IS NOT NULL) AS first_response_hours,
    quantilesTDigestStateIf(0.5, 0.9)(resolution_h, answered_at IS NOT NULL) AS resolution_hours,
    toDateTime(now_utc, 'UTC') AS refreshed_at
FROM
(
    SELECT
        c.message_id AS message_id, c.created_at AS created_at, c.block AS block,
        c.department AS department, c.settlement AS settlement, c.level AS level, c.channel AS channel,
        c.category AS category, c.kind AS kind, c.cluster_id AS cluster_id, c.is_repeat AS is_repeat,
        p.registered_at AS registered_at, p.first_response_at AS first_response_at,
        p.answered_at AS answered_at, p.last_resolved_at AS last_resolved_at,
        p.last_reopened_at AS last_reopened_at, p.interim_at AS interim_at, p.reopened AS reopened,
        p.merged AS merged, p.rating AS rating, p.deadline AS deadline, p.breached AS breached,
        -- working seconds from the calendar's origin to each moment: the working seconds of all
        -- earlier days plus the worked part of that day (two intervals, seconds after local midnight)
        arrayMap(t -> toInt64(transform(toDate(t, 'Europe/Moscow'), cal.1, cal.6, toUInt64(0)))
            + greatest(toInt64(0),
                least(toInt64(toUnixTimestamp(t) - toUnixTimestamp(toStartOfDay(t, 'Europe/Moscow'))),
                      toInt64(transform(toDate(t, 'Europe/Moscow'), cal.1, cal.3, toUInt32(0))))
                - toInt64(transform(toDate(t, 'Europe/Moscow'), cal.1, cal.2, toUInt32(0))))
            + greatest(toInt64(0),
                least(toInt64(toUnixTimestamp(t) - toUnixTimestamp(toStartOfDay(t, 'Europe/Moscow'))),
                      toInt64(transform(toDate(t, 'Europe/Moscow'), cal.1, cal.5, toUInt32(0))))
                - toInt64(transform(toDate(t, 'Europe/Moscow'), cal.1, cal.4, toUInt32(0)))),
            [c.created_at, coalesce(p.registered_at, c.created_at), coalesce(p.first_response_at, c.created_at),
             coalesce(p.answered_at, c.created_at)]) AS ws,
        (ws[2] - ws[1]) / 3600 AS registration_h,
        (ws[3] - ws[1]) / 3600 AS first_response_h,
        (ws[4] - ws[1]) / 3600 AS resolution_h,
        (p.last_answered_at IS NULL OR (p.last_reopened_at IS NOT NULL AND p.last_reopened_at > p.last_answered_at))
            AND p.closed_at IS NULL AS is_open,
        p.breached
            OR (p.deadline IS NOT NULL AND p.answered_at IS NOT NULL AND p.answered_at > p.deadline)
            OR (p.deadline IS NOT NULL AND p.answered_at IS NULL AND p.closed_at IS NULL AND now_utc > p.deadline)
            AS is_overdue
    FROM
    (
        SELECT
            message_id, created_at, block, department, settlement, level, channel, category, kind, cluster_id,
            author_id != '' AND dateDiff('second',
                lagInFrame(created_at, 1, toDateTime64(0, 3, 'UTC')) OVER (PARTITION BY author_id, category ORDER BY created_at
                    ROWS BETWEEN 1 PRECEDING AND CURRENT ROW),
                created_at) <= 30 * 86400 AS is_repeat
        FROM cases FINAL
        WHERE created_at >= toDateTime64({since:Date}, 3, 'UTC') - INTERVAL 32 DAY
    ) AS c
    LEFT JOIN
    (
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
            max(merged) AS merged,
            max(rating) AS rating,
            nullIf(max(deadline_latest).4, toDateTime64(0, 3, 'UTC')) AS deadline,
            max(breached) AS breached
        FROM case_progress
        WHERE message_id IN (
            SELECT message_id FROM cases
            WHERE created_at >= toDateTime64({since:Date}, 3, 'UTC') - INTERVAL 32 DAY)
        GROUP BY message_id
    ) AS p ON p.message_id = c.message_id
)
WHERE day >= {since:Date}
GROUP BY day, block, department, settlement, level, channel, category;

CREATE OR REPLACE VIEW case_state AS
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
    nullIf(max(deadline_latest).4, toDateTime64(0, 3, 'UTC')) AS deadline,
    max(breached) AS breached
FROM case_progress
GROUP BY message_id;
