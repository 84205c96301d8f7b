"""Analytics at scale on ClickHouse, embedded (chdb) and/or a server: SYNTHETIC data, generated here.

1. Insert throughput through the sink's own path: Case models → rows.case_row → insert_batch in
   batches of MCU_SINK_BATCH_SIZE (1000), synchronous inserts with dedup tokens, as the worker does.
2. Bulk load of N synthetic cases (default 10,000,000) generated in SQL with numbers()/rand, with
   their case events (registration, answers, ratings, reopenings) and SLA events, so the
   materialized views into case_progress run on every insert.
3. Refresh of daily_stats (the refreshable view), timed.
4. The refresh of the last three months, what the worker repeats every 5 minutes.
5. The ratings report (settlements and departments, current and previous period) and a
   three-dimension breakdown (block × settlement × channel), each timed several times.

    .venv/bin/python bench/analytics.py [--cases 10000000] [--sink-cases 100000] [--path DIR]
        [--dsn http://127.0.0.1:8123/bench] [--no-chdb]

With --dsn the same measurements run on the server first, then on chdb: side by side, same data.
"""

import argparse
import hashlib
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path, and bench/sla.py would shadow sla/.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

from reports.build import ReportRequest, build_report  # noqa: E402
from reports.store import client_query, refresh, refresh_recent  # noqa: E402
from reports.worktime import sync_calendar  # noqa: E402
from route.directory import default_directory  # noqa: E402
from schemas import Case, Classification, NormalizedMessage, Routing  # noqa: E402
from sinks.clickhouse import rows  # noqa: E402
from sinks.clickhouse.client import connect  # noqa: E402
from sinks.clickhouse.migrate import migrate  # noqa: E402
from sinks.clickhouse.writer import dedup_token, insert_batch  # noqa: E402

# Three years ending two months before this month: every deadline (30 days) and event (≤ 32 days)
# of the synthetic cases is in the past, so the figures do not move with the wall clock and two
# stores refreshed minutes apart must give the same ratings digest. (Ending in the future, one
# store's overdue counts grew by 1–4 per row in an hour between two refreshes, 27 Nov 2026.)
_today = datetime.now(UTC).date()
_end_month = _today.year * 12 + _today.month - 1 - 2
END = datetime(_end_month // 12, _end_month % 12 + 1, 1, tzinfo=UTC)
DAYS = 3 * 365
START = END - timedelta(days=DAYS)
CHANNELS = ["pos", "incident", "vk", "telegram", "email", "letter", "reception", "active_citizen", "webform",
            "open311"]  # fmt: skip


def sink_path(client, n: int, batch: int = 1000) -> float:
    """Rows per second through rows.case_row + insert_batch, the sink's code path."""
    d = default_directory()
    deps = list(d.departments.values())
    sets = list(d.settlements)
    t0 = time.perf_counter()
    for lo in range(0, n, batch):
        chunk = []
        for i in range(lo, min(lo + batch, n)):
            at = START + timedelta(minutes=i)
            dep = deps[i % len(deps)]
            msg = NormalizedMessage(
                message_id=f"sink-{i}", channel=CHANNELS[i % len(CHANNELS)], source_id=str(i), created_at=at,
                fetched_at=at, normalized_at=at, text=f"Синтетическое обращение {i}", author_id=f"a{i % 5000}",
            )  # fmt: skip
            case = Case(message=msg, classification=Classification(category=f"cat_{dep.code}", confidence=0.8),
                        routing=Routing(block=dep.block, department=dep.code, settlement=sets[i % len(sets)],
                                        level="settlement" if i % 3 == 0 else "district"),
                        enriched_at=at)  # fmt: skip
            chunk.append(rows.case_row(case))
        token = dedup_token("cases", [("cases", 0, o) for o in range(lo, lo + len(chunk))])
        insert_batch(client, "cases", rows.CASE_COLUMNS, chunk, token)
    return n / (time.perf_counter() - t0)


def bulk_load(client, n: int, chunk: int = 1_000_000) -> dict[str, float]:
    d = default_directory()
    deps = [f"('{c}', {x.block})" for c, x in d.departments.items()]
    sets = [f"'{s}'" for s in d.settlements] + ["'unresolved'"]
    chans = ", ".join(f"'{c}'" for c in CHANNELS)
    out = {"cases_s": 0.0, "events_s": 0.0, "sla_s": 0.0, "events": 0, "sla": 0}
    for lo in range(0, n, chunk):
        hi = min(lo + chunk, n)
        t0 = time.perf_counter()
        client.command(f"""
            INSERT INTO cases (message_id, channel, source_id, created_at, fetched_at, enriched_at, title, text,
                author_id, category, category_name, kind, sentiment, block, department, settlement, level,
                cluster_id, version)
            WITH [{", ".join(deps)}] AS deps, [{", ".join(sets)}] AS sets, [{chans}] AS chans,
                 deps[1 + (cityHash64(number, 1) % length(deps))] AS dep,
                 toDateTime64('{START:%Y-%m-%d %H:%M:%S}', 3, 'UTC')
                   + toIntervalSecond(cityHash64(number, 2) % {DAYS * 86400}) AS at
            SELECT concat('syn-', toString(number)), chans[1 + (cityHash64(number, 3) % length(chans))],
                   toString(number), at, at, at, '', 'синтетическое обращение',
                   concat('author-', toString(cityHash64(number, 4) % 2000000)),
                   concat(dep.1, '_', toString(cityHash64(number, 5) % 3)), '',
                   if(cityHash64(number, 6) % 10 < 7, 'complaint', 'question'), 'neutral',
                   dep.2, dep.1, sets[1 + (cityHash64(number, 7) % length(sets))],
                   if(cityHash64(number, 8) % 3 = 0, 'settlement', 'district'),
                   if(cityHash64(number, 9) % 5 = 0, concat('cl-', toString(cityHash64(number, 10) % 100000)), ''),
                   toUInt64(toUnixTimestamp64Milli(at))
            FROM numbers({lo}, {hi - lo})
        """, settings={"async_insert": 0})  # fmt: skip
        t1 = time.perf_counter()
        # Events per case: registration after up to 2 h; 90 % get a first response within 0–10 days;
        # 80 % a final answer (of which 70 % "resolved"); 4 % reopened; 30 % rated 1–5.
        client.command(f"""
            INSERT INTO case_events (event_id, message_id, type, at, rating)
            WITH toDateTime64('{START:%Y-%m-%d %H:%M:%S}', 3, 'UTC')
                   + toIntervalSecond(cityHash64(number, 2) % {DAYS * 86400}) AS created,
                 cityHash64(number, 20) AS h,
                 [('registered', created + toIntervalSecond(h % 7200), 1),
                  ('interim_answer', created + toIntervalSecond(3600 + h % 864000), h % 10 < 9),
                  (if(h % 10 < 7, 'resolved', 'answered'), created + toIntervalSecond(7200 + h % 2592000),
                   h % 100 < 80),
                  ('reopened', created + toIntervalSecond(2600000 + h % 86400), h % 100 < 4),
                  ('rated', created + toIntervalSecond(2700000), intDiv(h, 256) % 10 < 3)] AS evs,
                 arrayJoin(arrayFilter(e -> e.3, evs)) AS e
            SELECT concat('syn-', toString(number), '-', e.1), concat('syn-', toString(number)), e.1, e.2,
                   if(e.1 = 'rated', toUInt8(1 + intDiv(h, 65536) % 5), NULL)
            FROM numbers({lo}, {hi - lo})
        """, settings={"async_insert": 0})  # fmt: skip
        t2 = time.perf_counter()
        client.command(f"""
            INSERT INTO sla_events (dedup_key, message_id, kind, term, deadline, share, level, block, department,
                                    settlement, at)
            WITH toDateTime64('{START:%Y-%m-%d %H:%M:%S}', 3, 'UTC')
                   + toIntervalSecond(cityHash64(number, 2) % {DAYS * 86400}) AS created,
                 created + toIntervalDay(30) AS deadline,
                 arrayJoin(arrayFilter(k -> k = 'warning' OR cityHash64(number, 30) % 10 = 0,
                                       ['warning', 'breach'])) AS k
            SELECT concat('syn-', toString(number), '-', k), concat('syn-', toString(number)), k, 'resolution',
                   deadline, if(k = 'warning', 0.8, 1.0), 0, 0, '', '', created
            FROM numbers({lo}, {hi - lo})
        """, settings={"async_insert": 0})  # fmt: skip
        t3 = time.perf_counter()
        out["cases_s"] += t1 - t0
        out["events_s"] += t2 - t1
        out["sla_s"] += t3 - t2
        print(f"  loaded {hi:>11,} cases ({t3 - t0:.1f} s for this chunk)", flush=True)
    out["events"] = client.query("SELECT count() FROM case_events").result_rows[0][0]
    out["sla"] = client.query("SELECT count() FROM sla_events").result_rows[0][0]
    return out


def timed(fn, repeat: int) -> tuple[float, float]:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), min(times)


def run(client, label: str, args: argparse.Namespace) -> None:
    """Every measurement on one store; ``label`` prefixes each line so two stores read side by side."""

    def say(text: str) -> None:
        print(f"[{label}] {text}", flush=True)

    migrate(client)
    sync_calendar(client)
    rate = sink_path(client, args.sink_cases)
    say(f"sink path (case_row + insert_batch, batches of 1000): {args.sink_cases:,} cases, {rate:,.0f} rows/s")
    client.command("TRUNCATE TABLE cases")
    t0 = time.perf_counter()
    load = bulk_load(client, args.cases)
    total = time.perf_counter() - t0
    say(f"bulk SQL load: {args.cases:,} cases in {load['cases_s']:.1f} s "
        f"({args.cases / load['cases_s']:,.0f} rows/s); "
        f"{load['events']:,} case events in {load['events_s']:.1f} s "
        f"({load['events'] / load['events_s']:,.0f} rows/s, materialized view into case_progress included); "
        f"{load['sla']:,} SLA events in {load['sla_s']:.1f} s; total {total:.1f} s")  # fmt: skip
    t0 = time.perf_counter()
    refresh(client)
    full_s = time.perf_counter() - t0
    counts = [client.query(f"SELECT count() FROM {t}").result_rows[0][0]
              for t in ("daily_stats", "daily_body_stats", "monthly_stats", "monthly_body_stats")]  # fmt: skip
    say(f"full refresh (daily_stats / daily_body_stats / monthly_stats / monthly_body_stats): {full_s:.1f} s; "
        f"rows {' / '.join(f'{c:,}' for c in counts)}")  # fmt: skip
    t0 = time.perf_counter()
    n = refresh_recent(client, today=(END - timedelta(days=1)).date())
    say(f"refresh of the last 3 months (what the worker runs every 5 minutes): "
        f"{time.perf_counter() - t0:.1f} s; {n:,} daily rows")  # fmt: skip
    q = client_query(client)
    whole = {"date_from": START.date(), "date_to": (END - timedelta(days=1)).date()}
    year = {"date_from": (END - timedelta(days=365)).date(), "date_to": (END - timedelta(days=1)).date()}
    for period_label, period in (("all 3 years", whole), ("one year", year)):
        med, best = timed(lambda p=period: build_report(q, ReportRequest(kind="ratings", **p)), args.repeat)
        say(f"ratings ({period_label}; settlements + departments, each with the previous period): "
            f"median {med:.3f} s, best {best:.3f} s")  # fmt: skip
        req = ReportRequest(kind="breakdown", by="block,settlement,channel", **period)
        med, best = timed(lambda r=req: build_report(q, r), args.repeat)
        what = f"breakdown block × settlement × channel ({period_label}, 6 measures)"
        say(f"{what}: median {med:.3f} s, best {best:.3f} s")
        ms = "cases,first_response_median_h,resolution_p90_h"
        req = ReportRequest(kind="breakdown", by="block,settlement,channel", measures=ms, **period)
        med, best = timed(lambda r=req: build_report(q, r), args.repeat)
        say(f"breakdown block × settlement × channel ({period_label}, with quantiles): "
            f"median {med:.3f} s, best {best:.3f} s")  # fmt: skip
    ratings = build_report(q, ReportRequest(kind="ratings", **whole))
    # t-digest medians (the "hours" columns) are approximate and depend on the merge order of
    # threads: they differ in the 4th digit between runs of one store, so they stay out.
    exact = [
        [[v for v, c in zip(row, sec.columns, strict=True) if c.fmt != "hours"] for row in sec.rows]
        for sec in ratings.sections
    ]
    digest = hashlib.sha256(repr(exact).encode()).hexdigest()[:12]
    say(f"ratings digest (ranks, scores, intervals, counts; equal on every store when they are): {digest}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", type=int, default=10_000_000)
    ap.add_argument("--sink-cases", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--path", type=Path, default=None, help="chdb data dir (default: a temp dir, removed)")
    ap.add_argument(
        "--dsn",
        action="append",
        default=[],
        help="also (or, with --no-chdb, only) run on this store, e.g. a database of the local server:"
        " http://127.0.0.1:8123/bench (its tables are dropped first); repeatable",
    )
    ap.add_argument("--no-chdb", action="store_true", help="skip the embedded store")
    args = ap.parse_args()
    print("SYNTHETIC data (generated here, the same on every store)")
    for dsn in args.dsn:
        server, _, database = dsn.rpartition("/")
        if database in ("", "default", "mcu", "system") or "?" in database:
            raise SystemExit(f"--dsn must end in a database of its own for the bench, not {database!r}")
        admin = connect(f"{server}/default")  # the bench database may not exist yet
        admin.command(f"DROP DATABASE IF EXISTS {database} SYNC")
        admin.command(f"CREATE DATABASE {database}")
        run(connect(dsn), f"server {dsn.split('@')[-1]}", args)
    if args.no_chdb:
        return
    path = args.path or Path(tempfile.mkdtemp(prefix="mcu-bench-"))
    try:
        run(connect(f"chdb://{path}"), "chdb", args)
    finally:
        if args.path is None:
            shutil.rmtree(path, ignore_errors=True)


if __name__ == "__main__":
    main()
