-- Cases: one row per message, re-delivery and re-enrichment replace it (highest version wins).
-- Ordered by message_id alone because that is the identity ReplacingMergeTree folds on;
-- analytics read aggregates kept by materialized views, not this table's order.
CREATE TABLE IF NOT EXISTS cases
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
    author_id String,
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
PARTITION BY toYYYYMM(created_at)
ORDER BY message_id
SETTINGS non_replicated_deduplication_window = 10000;

-- Dead letters: the original bytes whole, so `mcu dlq replay` can re-feed them.
CREATE TABLE IF NOT EXISTS dead_letters
(
    at DateTime64(3, 'UTC'),
    stage LowCardinality(String),
    reason LowCardinality(String),
    error String,
    topic LowCardinality(String),
    partition Int32,
    offset Int64,
    key String,
    original String
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(at)
ORDER BY (topic, partition, offset, stage)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS case_events
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
PARTITION BY toYYYYMM(at)
ORDER BY (message_id, event_id)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS sla_events
(
    dedup_key String,
    message_id String,
    kind LowCardinality(String),
    term LowCardinality(String),
    deadline DateTime64(3, 'UTC'),
    share Float32,
    level UInt8,
    block UInt8,
    department LowCardinality(String),
    settlement LowCardinality(String),
    at DateTime64(3, 'UTC'),
    inserted_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(at)
ORDER BY (message_id, dedup_key)
SETTINGS non_replicated_deduplication_window = 10000;
