-- The audit trail of `mcu db quarantine`: who removed which case from the store, when and why,
-- how many rows of each table went, and whether the aggregates were recomputed afterwards.
-- No personal data: the removed case's text, author and address are not copied here.
CREATE TABLE IF NOT EXISTS quarantine_log
(
    at DateTime64(3, 'UTC') DEFAULT now64(3),
    message_id String,
    actor String,
    reason String,
    removed Map(LowCardinality(String), UInt64),
    case_created_at Nullable(DateTime64(3, 'UTC')),
    case_channel LowCardinality(String),
    refreshed_from Nullable(Date),
    refresh_error String
)
ENGINE = MergeTree
ORDER BY (at, message_id);
