"""The demo's ratings from simulated traffic, without Kafka: SYNTHETIC messages of `mcu simulate`
through the real normaliser and enricher into an embedded ClickHouse (chdb), aggregates refreshed,
then `mcu report ratings` as the terminal shows it. Shows whether «решено» is realistic.

    PYTHONPATH=$PWD python -m bench.sim_ratings --days 30 --per-day 300

Not a speed figure: a check of what the simulator's statuses make of the ratings. The SLA stage
does not run here (no deadlines in sla_events), so «в срок» is not meaningful in this output.
"""

import argparse
import tempfile
from collections import Counter
from datetime import UTC, datetime, timedelta

from classify.enricher import Enricher
from ingest.connectors.base import json_bytes
from ingest.normalize import Rejected, normalize_record
from ingest.simulator import SimConfig, simulate
from kafkaio.wire import encode_headers
from reports.build import ReportRequest, build_report
from reports.render import to_console
from reports.store import client_query, refresh
from reports.worktime import sync_calendar
from schemas import Case
from schemas.topics import raw_topic
from sinks.clickhouse import rows
from sinks.clickhouse.client import connect
from sinks.clickhouse.migrate import migrate
from sinks.clickhouse.writer import insert_batch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=float, default=30)
    ap.add_argument("--per-day", type=float, default=300)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    end = datetime.now(UTC)
    records = list(simulate(SimConfig(days=args.days, per_day=args.per_day, seed=args.seed, end=end)))
    enricher = Enricher.load()
    cases, events, rejected = [], [], 0
    for r in records:
        if r.event is not None:
            events.append(r.event)
            continue
        headers = {k: v.decode() for k, v in encode_headers(r.channel.value, r.source_id, r.at, r.at)}
        try:
            msg = normalize_record(json_bytes(r.payload), headers, raw_topic(r.channel.value), max_bytes=1 << 20,
                                   author_key=b"bench-key", max_text_chars=20_000)  # fmt: skip
        except Rejected:
            rejected += 1
            continue
        classification, routing = enricher.enrich(msg)
        cases.append(Case(message=msg, classification=classification, routing=routing, enriched_at=r.at))
    kinds = Counter(e.type.value for e in events)
    print(f"simulated {len(cases)} messages ({rejected} rejected by the normaliser), events: {dict(kinds)}")
    with tempfile.TemporaryDirectory() as tmp:
        client = connect(f"chdb://{tmp}/store")
        migrate(client)
        sync_calendar(client)
        insert_batch(client, "cases", rows.CASE_COLUMNS, [rows.case_row(c) for c in cases], "sim-c")
        insert_batch(client, "case_events", rows.CASE_EVENT_COLUMNS, [rows.case_event_row(e) for e in events], "sim-e")
        refresh(client)
        today = end.date()
        request = ReportRequest(kind="ratings", date_from=today - timedelta(days=int(args.days)), date_to=today)
        to_console(build_report(client_query(client), request))


if __name__ == "__main__":
    main()
