-- Partitions by a time the caller cannot push out of bounds (issue 11). cases and case_events were
-- partitioned by the resident's created_at and the event's `at`, both from outside: one insert
-- holding over 100 distinct months was refused (Code 252) and stalled the sink. Now the month is
-- the caller's time clamped to [inserted_at − 24 months, inserted_at + 1 month], where inserted_at
-- is the server's clock at insert: one insert block spans at most 27 months, whatever it holds.
-- A message's rows keep one partition (its own created_at / at) as long as it is re-delivered
-- within two years, so ReplacingMergeTree still folds repeats in merges; beyond that FINAL reads
-- fold them across partitions. created_at and `at` stay in the partition key, so their per-part
-- min/max still prunes the reports' `WHERE created_at >= …` scans.
-- ClickHouse cannot change a table's partition key in place: each table is copied into a new one
-- and swapped in by RENAME. Every step may be re-run after a crash at any point:
-- the leftover of an earlier finished swap (*_0009_old) is dropped first, the copy target is
-- always rebuilt from scratch (dropped, then created), and the copy reads whatever `cases` is at that moment (old or
-- already new), so a second run only copies the data once more. Run it with the sinks stopped
-- (the worker applies migrations before it consumes). Old rows out of range (the poison of issue
-- 11) are copied as they are; `mcu db quarantine` removes them.
-- Also: CHECK constraints refuse times outside what DateTime can hold (1970 … 2106), which broke
-- the aggregate refresh (Code 407); an insert with such a row fails with Code 469, the sink
-- dead-letters that row (reason store_rejected) and stores the rest. Added after the copy:
-- ADD CONSTRAINT does not re-check stored rows.
DROP TABLE IF EXISTS cases_0009_old;
DROP TABLE IF EXISTS cases_0009;
CREATE TABLE IF NOT EXISTS cases_0009
(
    message_id String,
    channel LowCardinality(String),
    source_id String,
    source_url String,
    created_at DateTime64(3, 'UTC'),
    fetched_at DateTime64(3, 'UTC'),
    enriched_at DateTime64(3, 'UTC'),
    inserted_at DateTime64(3, 'UTC') DEFAULT now64(3),
    title String,
    text String,
    author_id String TTL toDateTime(created_at) + INTERVAL 5 YEAR,
    lat Nullable(Float64),
    lon Nullable(Float64),
    address String,
    category LowCardinality(String),
    category_name String,
    kind LowCardinality(String),
    sentiment LowCardinality(String),
    urgent UInt8,
    urgency_reasons Array(String),
    conflict Array(LowCardinality(String)),
    confidence Float32,
    needs_review UInt8,
    cluster_id String,
    model_version LowCardinality(String),
    block UInt8,
    block_name LowCardinality(String),
    department LowCardinality(String),
    department_name LowCardinality(String),
    settlement LowCardinality(String),
    settlement_name LowCardinality(String),
    locality String,
    level LowCardinality(String),
    forward_to String,
    settlement_evidence String,
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(least(greatest(created_at, inserted_at - INTERVAL 24 MONTH), inserted_at + INTERVAL 1 MONTH))
ORDER BY message_id
SETTINGS non_replicated_deduplication_window = 10000;

INSERT INTO cases_0009
(
    message_id, channel, source_id, source_url, created_at, fetched_at, enriched_at, inserted_at,
    title, text, author_id, lat, lon, address, category, category_name, kind, sentiment, urgent,
    urgency_reasons, conflict, confidence, needs_review, cluster_id, model_version, block,
    block_name, department, department_name, settlement, settlement_name, locality, level,
    forward_to, settlement_evidence, version
)
SELECT
    message_id, channel, source_id, source_url, created_at, fetched_at, enriched_at, inserted_at,
    title, text, author_id, lat, lon, address, category, category_name, kind, sentiment, urgent,
    urgency_reasons, conflict, confidence, needs_review, cluster_id, model_version, block,
    block_name, department, department_name, settlement, settlement_name, locality, level,
    forward_to, settlement_evidence, version
FROM cases
SETTINGS max_partitions_per_insert_block = 0, async_insert = 0;

RENAME TABLE cases TO cases_0009_old, cases_0009 TO cases;
DROP TABLE cases_0009_old;

ALTER TABLE cases ADD CONSTRAINT IF NOT EXISTS created_at_representable
    CHECK created_at >= toDateTime64('1970-01-01 00:00:00', 3, 'UTC')
      AND created_at < toDateTime64('2106-01-01 00:00:00', 3, 'UTC');

DROP TABLE IF EXISTS case_events_0009_old;
DROP TABLE IF EXISTS case_events_0009;
CREATE TABLE IF NOT EXISTS case_events_0009
(
    event_id String,
    message_id String,
    type LowCardinality(String),
    at DateTime64(3, 'UTC'),
    actor String,
    department LowCardinality(String),
    settlement LowCardinality(String),
    new_deadline Nullable(DateTime64(3, 'UTC')),
    reason String,
    rating Nullable(UInt8),
    comment String,
    merged_into String,
    inserted_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(least(greatest(at, inserted_at - INTERVAL 24 MONTH), inserted_at + INTERVAL 1 MONTH))
ORDER BY (message_id, event_id)
SETTINGS non_replicated_deduplication_window = 10000;

INSERT INTO case_events_0009
(
    event_id, message_id, type, at, actor, department, settlement, new_deadline, reason, rating,
    comment, merged_into, inserted_at
)
SELECT
    event_id, message_id, type, at, actor, department, settlement, new_deadline, reason, rating,
    comment, merged_into, inserted_at
FROM case_events
SETTINGS max_partitions_per_insert_block = 0, async_insert = 0;

-- A materialized view stays bound to the table it was created on, through a rename: it is
-- re-created on the new case_events (no inserts run meanwhile: the sinks are not consuming yet).
DROP VIEW IF EXISTS case_progress_from_events;
RENAME TABLE case_events TO case_events_0009_old, case_events_0009 TO case_events;
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
DROP TABLE case_events_0009_old;

ALTER TABLE case_events ADD CONSTRAINT IF NOT EXISTS at_representable
    CHECK at >= toDateTime64('1970-01-01 00:00:00', 3, 'UTC')
      AND at < toDateTime64('2106-01-01 00:00:00', 3, 'UTC');
ALTER TABLE case_events ADD CONSTRAINT IF NOT EXISTS new_deadline_representable
    CHECK new_deadline IS NULL OR (new_deadline >= toDateTime64('1970-01-01 00:00:00', 3, 'UTC')
      AND new_deadline < toDateTime64('2106-01-01 00:00:00', 3, 'UTC'));
