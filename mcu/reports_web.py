"""The worker answers report requests: with chdb the worker holds the store, so `mcu report` asks here.

POST /reports with a ReportRequest as JSON → the Report as JSON (reports/build.py).
"""

import logging

from faust.web import Request, Response, View
from pydantic import ValidationError

from mcu.agents.sink import store
from mcu.app import app
from reports.build import ReportRequest, build_report
from reports.measures import UnknownName
from reports.store import client_query, prepare

log = logging.getLogger(__name__)


@app.page("/reports")
class Reports(View):
    async def post(self, request: Request) -> Response:
        try:
            req = ReportRequest.model_validate_json(await request.read())
        except ValidationError as exc:
            return self.json({"error": str(exc)}, status=400)
        try:
            report = await store.run(lambda client: build_report(client_query(client), req))
        except (UnknownName, ValueError) as exc:
            return self.json({"error": str(exc)}, status=400)
        return self.json(report.model_dump(mode="json"))


@app.task
async def _prepare_reports() -> None:
    # The working-time calendar must be in the store before the aggregates mean anything.
    try:
        written = await store.run(prepare)
        if written:
            log.info("reports: work_calendar written and daily_stats refreshed")
    except Exception:
        log.exception("reports: could not prepare the working-time calendar")
