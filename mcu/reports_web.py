"""The worker answers report requests: with chdb the worker holds the store, so `mcu report` asks here.

POST /reports (bearer token MCU_INGEST_TOKEN) with a ReportRequest as JSON → the Report as JSON
(reports/build.py).
"""

import logging
import time

from faust.web import Request, Response
from pydantic import ValidationError

from mcu.app import app, settings
from mcu.corrections import refresh_quality_gauges
from mcu.edge_web import EdgeView, authenticate, limit, read_body, store_read
from mcu.store import store
from reports.build import ReportRequest, build_report
from reports.measures import UnknownName
from reports.store import client_query, prepare, refresh, refresh_recent
from sinks.clickhouse.preflight import StoreUnavailable

log = logging.getLogger(__name__)


@app.page("/reports")
class Reports(EdgeView):
    """Reports hold residents' figures per body and settlement: the bearer token is required, and
    at most ``store_read_concurrency`` run at once so the sinks' inserts are never queued behind them."""

    async def post(self, request: Request) -> Response:
        authenticate(request, settings.intake.token, "the reports API", "MCU_INGEST_TOKEN")
        limit(request, "reports", settings.web.reports_rate_limit)
        body = await read_body(request)
        try:
            req = ReportRequest.model_validate_json(body)
        except ValidationError as exc:
            detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:5])
            return self.json({"error": detail, "reason": "validation"}, status=400)
        async with store_read():
            try:
                report = await store.run(lambda client: build_report(client_query(client), req))
            except (UnknownName, ValueError) as exc:
                return self.json({"error": str(exc), "reason": "bad_request"}, status=400)
        return self.json(report.model_dump(mode="json"))


FULL_REFRESH_SECONDS = 6 * 3600
_last_full = {"at": 0.0}


@app.task
async def _prepare_reports() -> None:
    if not settings.owns_embedded_store:
        return  # a stage worker: the sink worker owns the embedded store and its aggregates
    # The working-time calendar must be in the store before the aggregates mean anything.
    try:
        if await store.run(lambda c: prepare(c, store.shards())):
            log.info("reports: work_calendar written")
        _last_full["at"] = time.monotonic()
    except StoreUnavailable as exc:  # said once, in one line, at start; the next refresh tries again
        log.warning("reports: calendar and aggregates not prepared: %s", exc)
    except Exception:
        log.exception("reports: could not prepare the working-time calendar and aggregates")


@app.timer(interval=300.0, on_leader=True)
async def _refresh_daily_stats() -> None:
    # Recent months every 5 minutes (answers land within a term); everything every 6 hours, so
    # late changes to old cases (a reopening months later, a re-routing) reach the aggregates too.
    if not settings.owns_embedded_store:
        return
    try:
        if time.monotonic() - _last_full["at"] >= FULL_REFRESH_SECONDS:
            await store.run(lambda c: refresh(c, shards=store.shards()))
            _last_full["at"] = time.monotonic()
        else:
            await store.run(lambda c: refresh_recent(c, shards=store.shards()))
    except StoreUnavailable as exc:
        log.warning("reports: daily_stats not refreshed: %s", exc)
    except Exception:
        log.exception("reports: refreshing daily_stats failed; the previous figures stay")


@app.timer(interval=settings.web.quality_refresh_seconds, on_leader=True)
async def _refresh_quality_gauges() -> None:
    # One worker exports the store's correction rates, so the alert sees one series per block.
    if not settings.owns_embedded_store:
        return
    try:
        await refresh_quality_gauges()
    except StoreUnavailable as exc:
        log.warning("quality: correction rates not refreshed: %s", exc)
    except Exception:
        log.exception("quality: refreshing the correction rates failed; the previous figures stay")
