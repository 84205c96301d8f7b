-- Analytics, layer 2: daily aggregates per block × department × settlement × level × channel ×
-- category, the only table ratings, workload and breakdowns read.
-- Why recomputed and not filled by an insert-triggered view: a case's measures come from three
-- streams arriving at different times (the case, its events, its SLA timers), a case may be
-- re-delivered or re-routed (a new version with another department), and a trigger sees each
-- insert alone: it would count a re-routed case under both departments and could not attach an
-- answer that arrives days later to the day the message came in. So daily_stats_source (below)
-- computes the aggregates from the deduplicated state (cases FINAL + case_progress, both kept by
-- ReplacingMergeTree / materialized views on insert) and reports.store.refresh swaps the result
-- into daily_stats month by month (ALTER TABLE ... REPLACE PARTITION): every figure is exact
-- under re-delivery; the cost is a delay of one refresh interval (docs/analytics.md).
-- A refreshable materialized view would do the swap inside ClickHouse, but chdb's default
-- database (engine Overlay) refuses them, and the SQL must run unchanged on chdb and a server.
-- Dates are local days in Europe/Moscow; durations are working hours by work_calendar.
CREATE TABLE IF NOT EXISTS daily_stats
(
    day Date,
    block UInt8,
    department LowCardinality(String),
    settlement LowCardinality(String),
    level LowCardinality(String),
    channel LowCardinality(String),
    category LowCardinality(String),
    messages UInt64,
    cases UInt64,
    problems AggregateFunction(uniqExact, String),
    complaints UInt64,
    repeated UInt64,
    with_deadline UInt64,
    answered UInt64,
    answered_in_time UInt64,
    overdue UInt64,
    overdue_days Float64,
    open UInt64,
    open_overdue UInt64,
    resolved UInt64,
    reopened UInt64,
    interim_only UInt64,
    responded UInt64,
    responded_8h UInt64,
    responded_40h UInt64,
    rated UInt64,
    rating_sum UInt64,
    rating_good UInt64,
    registration_hours AggregateFunction(quantilesTDigest(0.5, 0.9), Float64),
    first_response_hours AggregateFunction(quantilesTDigest(0.5, 0.9), Float64),
    resolution_hours AggregateFunction(quantilesTDigest(0.5, 0.9), Float64),
    refreshed_at DateTime('UTC')
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (day, level, block, department, settlement, channel, category);

-- The aggregates of cases created on or after {since} (a Date; '1970-01-01' for everything).
-- Repeated complaints look 30 days further back, so the window reads from since − 32 days.
-- Columns in the order of daily_stats: the refresh inserts SELECT * from here.
CREATE VIEW IF NOT EXISTS daily_stats_source AS
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
            max(deadline) AS deadline,
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

-- The same aggregates without channel and category: what ratings, workload and most charts need,
-- tens of times fewer rows than daily_stats. Written by the same refresh, from its result.
CREATE TABLE IF NOT EXISTS daily_body_stats
(
    day Date,
    block UInt8,
    department LowCardinality(String),
    settlement LowCardinality(String),
    level LowCardinality(String),
    messages UInt64,
    cases UInt64,
    problems AggregateFunction(uniqExact, String),
    complaints UInt64,
    repeated UInt64,
    with_deadline UInt64,
    answered UInt64,
    answered_in_time UInt64,
    overdue UInt64,
    overdue_days Float64,
    open UInt64,
    open_overdue UInt64,
    resolved UInt64,
    reopened UInt64,
    interim_only UInt64,
    responded UInt64,
    responded_8h UInt64,
    responded_40h UInt64,
    rated UInt64,
    rating_sum UInt64,
    rating_good UInt64,
    registration_hours AggregateFunction(quantilesTDigest(0.5, 0.9), Float64),
    first_response_hours AggregateFunction(quantilesTDigest(0.5, 0.9), Float64),
    resolution_hours AggregateFunction(quantilesTDigest(0.5, 0.9), Float64),
    refreshed_at DateTime('UTC')
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (day, level, block, department, settlement);
