"""Prometheus series of a worker. Names are a contract with deploy/prometheus rules and dashboards.

Convention for labelled metrics (read before adding one). prometheus-client exports a labelled
series only once `.labels(...)` was called for it, so a counter that has never been incremented is
absent from the scrape, and `increase()`/`rate()` cannot see its first burst: the first failure of
a kind that never happened before is exactly the one an alert would miss. Therefore:

- every labelled counter (and histogram) is created at 0 at worker start for each label value the
  code can enumerate, in `initialise_series` below, which `mcu worker` calls once the stages are
  registered; take the values from the code's own constants (agent names and topics from the app,
  table names from the sink's specs, reason codes from `ingest.normalize.rejected.REASONS` and
  `mcu.dead_letters.REASONS`, enums from `schemas`), never from a hand-written copy;
- label values that cannot be enumerated (a new reason, a block outside the directory) must still
  alert: the rules count a series that appears non-zero as an increase from 0
  (deploy/prometheus/rules/mcu.rules.yaml, "born non-zero"), and their promtool tests include an
  "absent then non-zero" case;
- gauges holding a timestamp (last seen, last success) are NOT created at 0: 0 would read as
  "silent since 1970" and page at once. They appear with their first real value.
"""

from collections.abc import Iterable
from typing import TYPE_CHECKING

from prometheus_client import Counter, Gauge, Histogram

# Re-exported: one import place for the worker's series (a lower package owns this one).
from ingest.metrics import CHANNEL_LAST_SEEN as CHANNEL_LAST_SEEN
from sla.timers import DROP_REASONS

if TYPE_CHECKING:
    import faust

    from schemas.case import Classification

STAGE_PROCESSED = Counter("mcu_stage_processed_total", "Records a stage finished", ["stage"])
STAGE_FAILED = Counter("mcu_stage_failed_total", "Records a stage could not take", ["stage"])
DEAD_LETTERS = Counter("mcu_dead_letters_total", "Records sent to the dead letters", ["stage", "reason"])
STAGE_SECONDS = Histogram(
    "mcu_stage_seconds",
    "Processing time of one record in a stage",
    ["stage"],
    buckets=(0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0),
)
STAGE_BATCH_RECORDS = Histogram(
    "mcu_stage_batch_records",
    "Records in one batch a stage took from its stream",
    ["stage"],
    buckets=(1, 10, 50, 100, 250, 500, 1000, 2500),
)
STAGE_SEND_RETRIES = Counter(
    "mcu_stage_send_retries_total",
    "Outputs Kafka did not confirm and the stage sent again (its input is held until they are confirmed)",
    ["stage"],
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
NOTIFICATIONS_SENT = Counter("mcu_notifications_sent_total", "Notifications delivered", ["channel"])
NOTIFICATIONS_FAILED = Counter("mcu_notifications_failed_total", "Notification attempts that failed", ["channel"])
SLA_EVENTS = Counter("mcu_sla_events_total", "SLA timer events emitted", ["kind", "block"])
SLA_PENDING = Gauge("mcu_sla_pending_events", "Case events waiting for their case to arrive (this worker)")
SLA_OUTBOX = Gauge(
    "mcu_sla_outbox_cases",
    "Cases whose SLA events the tick must (re)send from their outbox (this worker; sla/README.md)",
)
SLA_PENDING_DROPPED = Counter(
    "mcu_sla_pending_dropped_total",
    "Case events refused or expired by the bounds on events waiting for their case (sent to the dead letters)",
    ["reason"],
)
for _reason in DROP_REASONS:  # present at 0 from the first scrape, so alerts see the first burst
    SLA_PENDING_DROPPED.labels(reason=_reason)
WORKER_REBALANCING = Gauge("mcu_worker_rebalancing", "1 while this worker is in a consumer-group rebalance")
WORKER_ASSIGNED = Gauge("mcu_worker_assigned_partitions", "Partitions assigned to this worker")
KAFKA_REACHABLE = Gauge(
    "mcu_kafka_broker_reachable", "1 if the last metadata request to the Kafka cluster succeeded, else 0"
)
# Classifier quality (issue 17). The enrich stage counts its decisions; the case-events sink counts
# corrections by the block the model had chosen; the worker's refresh exports the 7-day rates from
# the store's correction_rates view (mcu/corrections.py). Blocks are 0–6 (schemas.case.Routing).
CLASSIFIED = Counter(
    "mcu_classified_total", "Messages classified, by whether they were sent to manual review", ["needs_review"]
)
CLASSIFICATION_CONFIDENCE = Histogram(
    "mcu_classification_confidence",
    "Confidence of the category decision of each classified message",
    buckets=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0),
)
CORRECTIONS = Counter(
    "mcu_corrections_total", "Operators' corrections applied, by the block the model had routed the case to", ["block"]
)
CORRECTION_RATE = Gauge(
    "mcu_correction_rate",
    "Corrections ÷ cases of a block from the store: window=7d (last 7 days), baseline_28d (the 4 weeks before)",
    ["block", "window"],
)
CORRECTIONS_7D = Gauge("mcu_corrections_7d", "Corrections of a block in the last 7 days (from the store)", ["block"])
BLOCKS = tuple(str(b) for b in range(7))
CORRECTION_WINDOWS = ("7d", "baseline_28d")

# Unlabelled, so both exist from import (mcu/loop_lag.py feeds them).
EVENT_LOOP_LAG = Histogram(
    "mcu_event_loop_lag_seconds",
    "How much later than asked the worker's event loop woke a sleeping probe task",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
EVENT_LOOP_LAG_MAX = Gauge(
    "mcu_event_loop_lag_max_seconds", "Largest event-loop lag of the probe over the last 60 seconds"
)


def observe_classification(c: "Classification") -> None:
    """One classified message into the quality series (share of needs_review, confidence)."""
    CLASSIFIED.labels(needs_review="true" if c.needs_review else "false").inc()
    CLASSIFICATION_CONFIDENCE.observe(c.confidence)


def initialise_series(app: "faust.App", stages: Iterable[str]) -> None:
    """Create every enumerable labelled series at 0 (see the module docstring); call at worker start."""
    import sys

    stages = list(stages)
    from mcu.dead_letters import REASONS as GENERIC_REASONS

    for stage in stages:
        STAGE_PROCESSED.labels(stage=stage)
        STAGE_FAILED.labels(stage=stage)
        STAGE_SECONDS.labels(stage=stage)
        STAGE_BATCH_RECORDS.labels(stage=stage)
        STAGE_SEND_RETRIES.labels(stage=stage)
        for reason in GENERIC_REASONS:
            DEAD_LETTERS.labels(stage=stage, reason=reason)
    if "normalize" in stages:
        from ingest.normalize.rejected import REASONS

        for reason in REASONS:
            DEAD_LETTERS.labels(stage="normalize", reason=reason)
    # The offset-gap sensor labels a stream by its agent's name and the topic it reads.
    for agent in app.agents.values():
        for topic in getattr(agent.channel, "topics", ()):
            STREAM_OFFSET_GAPS.labels(stage=agent.name, topic=topic)
    sink = sys.modules.get("mcu.agents.sink")
    if sink is not None:
        for spec in sink.SPECS:
            SINK_ROWS.labels(table=spec.table)
            SINK_FAILURES.labels(table=spec.table)
            SINK_REJECTED.labels(table=spec.table)
        DEAD_LETTERS.labels(stage=sink.STAGE, reason=sink.STORE_REJECTED)
    if "enrich" in stages:
        for flag in ("true", "false"):
            CLASSIFIED.labels(needs_review=flag)
    if sink is not None:
        for block in BLOCKS:
            CORRECTIONS.labels(block=block)
            CORRECTIONS_7D.labels(block=block)
            for window in CORRECTION_WINDOWS:
                CORRECTION_RATE.labels(block=block, window=window)
        for reason in ("unknown_case", "bad_correction"):
            DEAD_LETTERS.labels(stage=sink.STAGE, reason=reason)
    if "notify" in stages:
        from sinks.notify import senders

        channels = sorted(
            obj.channel
            for obj in vars(senders).values()
            if isinstance(obj, type) and isinstance(getattr(obj, "channel", None), str)
        )
        for channel in channels:
            NOTIFICATIONS_SENT.labels(channel=channel)
            NOTIFICATIONS_FAILED.labels(channel=channel)
    if "sla" in stages:
        from route.directory import default_directory
        from schemas import SlaEvent, SlaEventKind

        blocks = {str(SlaEvent.model_fields["block"].default)} | {str(n) for n in default_directory().blocks}
        for reason in ("too_many_events", "sla_pending_full", "sla_pending_expired"):
            DEAD_LETTERS.labels(stage="sla", reason=reason)
        for kind in SlaEventKind:
            for block in sorted(blocks):
                SLA_EVENTS.labels(kind=kind.value, block=block)
