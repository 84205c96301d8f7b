-- Analytics, layer 1: what happened to each case after intake, one row per message_id once merged.
-- Events and SLA timers arrive after the case, may be re-delivered and may come out of order, so
-- every column is an idempotent, order-free aggregate (min/max): a repeated event leaves the state
-- unchanged. Read it with GROUP BY message_id (or FINAL); see docs/analytics.md.
-- Not partitioned: the only stable key of a message's events is message_id, and rows of one
-- message must stay in one partition to be merged.
CREATE TABLE IF NOT EXISTS case_progress
(
    message_id String,
    registered_at SimpleAggregateFunction(min, Nullable(DateTime64(3, 'UTC'))),
    first_response_at SimpleAggregateFunction(min, Nullable(DateTime64(3, 'UTC'))),
    answered_at SimpleAggregateFunction(min, Nullable(DateTime64(3, 'UTC'))),
    last_answered_at SimpleAggregateFunction(max, Nullable(DateTime64(3, 'UTC'))),
    last_resolved_at SimpleAggregateFunction(max, Nullable(DateTime64(3, 'UTC'))),
    last_reopened_at SimpleAggregateFunction(max, Nullable(DateTime64(3, 'UTC'))),
    closed_at SimpleAggregateFunction(max, Nullable(DateTime64(3, 'UTC'))),
    interim_at SimpleAggregateFunction(min, Nullable(DateTime64(3, 'UTC'))),
    reopened SimpleAggregateFunction(max, UInt8),
    forwarded SimpleAggregateFunction(max, UInt8),
    merged SimpleAggregateFunction(max, UInt8),
    -- (rated at, rating): max() of the pair is the latest rating; (epoch, 0) means none.
    rating SimpleAggregateFunction(max, Tuple(DateTime64(3, 'UTC'), UInt8)),
    deadline SimpleAggregateFunction(max, Nullable(DateTime64(3, 'UTC'))),
    breached SimpleAggregateFunction(max, UInt8)
)
ENGINE = AggregatingMergeTree
ORDER BY message_id;

-- first response: any answer the resident sees (interim included); answered: a final answer.
CREATE MATERIALIZED VIEW IF NOT EXISTS case_progress_from_events TO case_progress AS
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
    toUInt8(0) AS breached
FROM case_events
GROUP BY message_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS case_progress_from_sla TO case_progress AS
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
    toUInt8(max(kind = 'breach' AND term = 'resolution')) AS breached
FROM sla_events
GROUP BY message_id;

-- Backfill what was stored before this migration; repeating it is harmless (min/max states).
INSERT INTO case_progress
SELECT
    message_id,
    minIf(toNullable(at), type = 'registered'),
    minIf(toNullable(at), type IN ('interim_answer', 'answered', 'resolved', 'rejected')),
    minIf(toNullable(at), type IN ('answered', 'resolved', 'rejected')),
    maxIf(toNullable(at), type IN ('answered', 'resolved', 'rejected')),
    maxIf(toNullable(at), type = 'resolved'),
    maxIf(toNullable(at), type = 'reopened'),
    maxIf(toNullable(at), type IN ('cancelled', 'merged', 'forwarded')),
    minIf(toNullable(at), type = 'interim_answer'),
    toUInt8(max(type = 'reopened')),
    toUInt8(max(type = 'forwarded')),
    toUInt8(max(type = 'merged')),
    maxIf((at, coalesce(rating, 0)), type = 'rated' AND rating IS NOT NULL),
    maxIf(new_deadline, type = 'extended'),
    toUInt8(0)
FROM case_events
GROUP BY message_id;

-- The working-time calendar (Europe/Moscow) as data, so SQL can measure working hours: up to two
-- working intervals per day in seconds after local midnight, and the working seconds of all
-- earlier days (cum_before). Filled from Python (reports.worktime.sync_calendar), never by hand.
CREATE TABLE IF NOT EXISTS work_calendar
(
    day Date,
    start1 UInt32,
    end1 UInt32,
    start2 UInt32,
    end2 UInt32,
    cum_before UInt64,
    source LowCardinality(String),
    updated_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY day;

-- Notifications sent to officials (warnings, breaches, digests). The recipient is an official's
-- work address: kept for the audit trail, hidden from analysts (see analyst_notifications).
-- Operational records with no archival duty: deleted a year after sending.
CREATE TABLE IF NOT EXISTS notifications
(
    notification_id String,
    message_id String,
    kind LowCardinality(String),
    channel LowCardinality(String),
    recipient String,
    recipient_role LowCardinality(String),
    block UInt8,
    department LowCardinality(String),
    settlement LowCardinality(String),
    level UInt8,
    subject String,
    status LowCardinality(String),
    error String,
    at DateTime64(3, 'UTC'),
    inserted_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(at)
ORDER BY (message_id, notification_id)
TTL toDateTime(at) + INTERVAL 1 YEAR DELETE
SETTINGS non_replicated_deduplication_window = 10000;
