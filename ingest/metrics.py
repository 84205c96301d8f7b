"""Prometheus series the ingest package sets itself. mcu.metrics re-exports them with the worker's
series, so the names stay one contract with deploy/prometheus; they live here because a lower
package must not import `mcu` (see the import contract in pyproject.toml)."""

from prometheus_client import Gauge

# A timestamp gauge: not created at 0 (0 would read as "silent since 1970"), see mcu/metrics.py.
CHANNEL_LAST_SEEN = Gauge(
    "mcu_channel_last_seen_timestamp_seconds", "Unix time of the last record from a channel", ["channel"]
)
