"""Prometheus series of a worker. Names are a contract with deploy/prometheus rules and dashboards."""

from prometheus_client import Counter, Gauge, Histogram

from sla.timers import DROP_REASONS

STAGE_PROCESSED = Counter("mcu_stage_processed_total", "Records a stage finished", ["stage"])
STAGE_FAILED = Counter("mcu_stage_failed_total", "Records a stage could not take", ["stage"])
DEAD_LETTERS = Counter("mcu_dead_letters_total", "Records sent to the dead letters", ["stage", "reason"])
STAGE_SECONDS = Histogram(
    "mcu_stage_seconds",
    "Processing time of one record in a stage",
    ["stage"],
    buckets=(0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0),
)
INGEST_TO_SINK = Histogram(
    "mcu_ingest_to_sink_seconds",
    "From the connector's fetch to the ClickHouse insert",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300),
)
STREAM_OFFSET_GAPS = Counter(
    "mcu_stream_offset_gaps_total", "Offsets a stage's stream skipped without processing them", ["stage", "topic"]
)
SINK_ROWS = Counter("mcu_sink_rows_total", "Rows inserted into ClickHouse", ["table"])
SINK_FAILURES = Counter("mcu_sink_insert_failures_total", "Failed ClickHouse insert attempts", ["table"])
SINK_REJECTED = Counter(
    "mcu_sink_rejected_rows_total", "Rows ClickHouse refused for their data (dead-lettered)", ["table"]
)
SINK_LAST_SUCCESS = Gauge(
    "mcu_sink_last_success_timestamp_seconds", "Unix time of the last successful insert", ["table"]
)
CONSUMER_LAG = Gauge("mcu_consumer_lag", "Highwater minus committed offset", ["topic", "partition"])
CHANNEL_LAST_SEEN = Gauge(
    "mcu_channel_last_seen_timestamp_seconds", "Unix time of the last record from a channel", ["channel"]
)
NOTIFICATIONS_SENT = Counter("mcu_notifications_sent_total", "Notifications delivered", ["channel"])
NOTIFICATIONS_FAILED = Counter("mcu_notifications_failed_total", "Notification attempts that failed", ["channel"])
SLA_EVENTS = Counter("mcu_sla_events_total", "SLA timer events emitted", ["kind", "block"])
SLA_PENDING = Gauge("mcu_sla_pending_events", "Case events waiting for their case to arrive (this worker)")
SLA_PENDING_DROPPED = Counter(
    "mcu_sla_pending_dropped_total",
    "Case events refused or expired by the bounds on events waiting for their case (sent to the dead letters)",
    ["reason"],
)
for _reason in DROP_REASONS:  # present at 0 from the first scrape, so alerts see the first burst
    SLA_PENDING_DROPPED.labels(reason=_reason)
WORKER_REBALANCING = Gauge("mcu_worker_rebalancing", "1 while this worker is in a consumer-group rebalance")
WORKER_ASSIGNED = Gauge("mcu_worker_assigned_partitions", "Partitions assigned to this worker")
