"""Where `mcu report` gets a report: the running worker (chdb is held by it), or the store itself.

- ``chdb://``: ask the worker over HTTP (POST /reports); if nothing answers, the path is free, so
  open it here, migrate, write the calendar and refresh the aggregates first.
- ``http(s)://`` (the default: the local server of deploy/clickhouse.sh): query the server
  directly, while workers run (read-only is enough; migrations are the worker's job).
"""

import logging

import httpx

from reports.build import Report, ReportRequest, build_report
from sinks.clickhouse.client import mask_secrets

log = logging.getLogger(__name__)
REPORTS_PATH = "/reports"


class WorkerError(RuntimeError):
    pass


def from_worker(base_url: str, request: ReportRequest, timeout: float = 300.0, token: str | None = None) -> Report:
    # The worker answers reports only to holders of its API token (MCU_INGEST_TOKEN).
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    r = httpx.post(base_url + REPORTS_PATH, json=request.model_dump(mode="json"), timeout=timeout, headers=headers)
    if r.status_code != 200:
        raise WorkerError(f"worker answered {r.status_code}: {r.text[:500]}")
    return Report.model_validate(r.json())


def from_store(dsn: str, request: ReportRequest) -> Report:
    from reports.store import client_query, prepare
    from sinks.clickhouse.preflight import connect_checked

    client = connect_checked(dsn)  # a bad DSN: StoreUnavailable, one line
    if dsn.startswith("chdb://"):
        from sinks.clickhouse.migrate import migrate

        migrate(client)
        prepare(client)  # nobody refreshed the aggregates while the worker was down
    return build_report(client_query(client), request)


def fetch_report(dsn: str, worker_url: str, request: ReportRequest, token: str | None = None) -> Report:
    if dsn.startswith("chdb://"):
        try:
            return from_worker(worker_url, request, token=token)
        except httpx.TransportError as exc:
            log.info("worker at %s does not answer (%s): opening %s directly", worker_url, exc, mask_secrets(dsn))
    return from_store(dsn, request)
