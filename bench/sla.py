"""SLA timers at scale: memory of N open timers, firing due ones, restoring the index after a restart.

All cases are SYNTHETIC, generated here (channels in rotation, routed to block 3); nothing is real.

1. Memory: N cases go through ``SlaTimers.on_case`` (policies, calendar, compact state) into a
   dict store, the worker's stand-in for the Faust table; RSS growth = store + due index.
2. Fire: a tick where ``--due`` timers are due (urgent incident cases, 50 % warnings) among N open;
   then a tick with 100 due, to show the tick does not scan the open ones.
3. Restore: the store is dumped as (key bytes, value bytes) records, the way the table's changelog
   holds them; a fresh ``SlaTimers`` reloads them and rebuilds its due index, timed.
4. Events: ``--events`` cases of their own each take 1, 5 and 40 case events (ids as the HTTP API
   makes them, "api:" + 32 hex digits), and the state bytes per case are printed after each: the
   cost of remembering every event id for the life of the case.
5. Deadlines: what one term's deadline costs the calendar, for starts spread over one day (a
   day's intake or a backlog: terms in days hit the calendar's per-day answers) and over a year.

    .venv/bin/python bench/sla.py [--n 1000000] [--due 10000] [--events 10000]
"""

from __future__ import annotations

import argparse
import gc
import resource
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path and "sla" would be this very file.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

from schemas import CaseEventType  # noqa: E402
from schemas.channels import Channel  # noqa: E402
from sla.calendar import MSK, WorkingCalendar  # noqa: E402
from sla.policies import load_policies  # noqa: E402
from sla.terms import parse_term  # noqa: E402
from sla.timers import SlaTimers  # noqa: E402
from tests.unit.sla.factories import make_case, make_event  # noqa: E402


def rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000, help="open timers (cases)")
    ap.add_argument("--due", type=int, default=10_000, help="timers due at the measured tick")
    ap.add_argument("--events", type=int, default=10_000, help="cases of part 4 (events per case)")
    args = ap.parse_args()
    n, due, small = args.n, args.due, 100

    timers = SlaTimers(load_policies(), WorkingCalendar())
    gc.collect()
    rss0 = rss_mib()
    t0 = time.perf_counter()
    # Group A (due): urgent incident cases of Mon 02.03.2026 09:00: 4 working hours → 50 % at 11:00.
    # Group C (small): urgent, 10:00 → 50 % at 12:00. The rest start on 16.03 or later, so nothing
    # of theirs is due on 02.03.
    channels = list(Channel)
    a_start = datetime(2026, 3, 2, 9, 0, tzinfo=MSK)
    c_start = datetime(2026, 3, 2, 10, 0, tzinfo=MSK)
    rest_start = datetime(2026, 3, 16, 9, 0, tzinfo=MSK)
    for i in range(n):
        if i < due:
            case = make_case(a_start, Channel.INCIDENT, urgent=True, source_id=f"bench-{i}")
        elif i < due + small:
            case = make_case(c_start, Channel.INCIDENT, urgent=True, source_id=f"bench-{i}")
        else:
            case = make_case(
                rest_start + timedelta(seconds=13 * i),
                channels[i % len(channels)],
                urgent=i % 7 == 0,
                source_id=f"bench-{i}",
            )
        timers.on_case(case)
    t_build = time.perf_counter() - t0
    gc.collect()
    rss1 = rss_mib()
    stored = sum(len(v) for v in timers.store.values())
    print(f"synthetic cases: {n:,}; on_case {t_build:.1f} s ({t_build / n * 1e6:.1f} µs/case)")
    print(f"memory: RSS {rss0:.0f} → {rss1:.0f} MiB, growth {rss1 - rss0:.0f} MiB for {n:,} open timers")
    print(f"  state bytes {stored / n:.0f} B/case avg; due-index entries {len(timers.index):,}")

    t0 = time.perf_counter()
    fired = timers.tick(datetime(2026, 3, 2, 11, 30, tzinfo=MSK))
    t_fire = time.perf_counter() - t0
    print(f"tick with {due:,} due among {n:,} open: {len(fired):,} events in {t_fire * 1000:.0f} ms")
    t0 = time.perf_counter()
    fired_small = timers.tick(datetime(2026, 3, 2, 12, 5, tzinfo=MSK))
    t_small = time.perf_counter() - t0
    print(f"tick with {small} due among {n:,} open: {len(fired_small)} events in {t_small * 1000:.1f} ms")

    changelog = [(k.encode(), v) for k, v in timers.store.items()]
    policies, calendar = timers.rules.policies, timers.rules.calendar
    del timers
    gc.collect()
    t0 = time.perf_counter()
    restored = SlaTimers(policies, calendar, {k.decode(): v for k, v in changelog})
    entries = restored.rebuild()
    t_restore = time.perf_counter() - t0
    print(f"restore: {len(changelog):,} records → {entries:,} index entries in {t_restore:.1f} s")
    t0 = time.perf_counter()
    again = restored.tick(datetime(2026, 3, 2, 12, 5, tzinfo=MSK))
    t_again = (time.perf_counter() - t0) * 1000
    print(f"  tick after restore at 12:05 (fired before the restart): {len(again)} events, {t_again:.1f} ms")
    t0 = time.perf_counter()
    later = restored.tick(datetime(2026, 3, 2, 12, 15, tzinfo=MSK))
    t_later = (time.perf_counter() - t0) * 1000
    kinds = sorted({(e.kind.value, e.share) for e in later})
    print(f"  tick after restore at 12:15 (80 % of group A): {len(later):,} events {kinds}, {t_later:.0f} ms")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    event_bytes(policies, calendar, args.events)
    deadline_cost()


def deadline_cost(n: int = 50_000) -> None:
    """µs per ``WorkingCalendar.deadline`` call, by term, on a fresh calendar whose per-day answers
    fill as the starts go by, as a worker's do."""
    calendar = WorkingCalendar()
    calendar.warm(2026, 2028)  # as the worker does at start-up
    day = datetime(2026, 3, 2, 0, 0, tzinfo=MSK)
    spreads = {"one day": timedelta(days=1) / n, "one year": timedelta(days=365) / n}
    for text in ("3 days", "30 days", "1 working day", "10 working days", "4 working hours"):
        term, cost = parse_term(text), []
        for name, step in spreads.items():
            starts = [day + step * i for i in range(n)]
            t0 = time.perf_counter()
            for start in starts:
                calendar.deadline(start, term)
            cost.append(f"{(time.perf_counter() - t0) / n * 1e6:.1f} µs over {name}")
        print(f"deadline of {text!r}: " + ", ".join(cost))


def event_bytes(policies, calendar, n: int) -> None:  # type: ignore[no-untyped-def]
    """State bytes per case once each case has taken 1, 5 and 40 events (rated: no timer change)."""
    timers = SlaTimers(policies, calendar)
    start = datetime(2026, 3, 2, 9, 0, tzinfo=MSK)
    cases = [make_case(start, Channel.LETTER, source_id=f"bench-ev-{i}") for i in range(n)]
    for c in cases:
        timers.on_case(c)
    done = 0
    for target in (1, 5, 40):
        for k in range(done, target):
            for c in cases:
                eid = f"api:{hash((c.message_id, k)) & (1 << 128) - 1:032x}"
                timers.on_event(make_event(c, CaseEventType.RATED, start + timedelta(hours=1 + k), eid, rating=5))
        done = target
        avg = sum(len(timers.store[c.message_id]) for c in cases) / n
        print(f"events: {n:,} cases × {target} events each: state {avg:.0f} B/case avg")


if __name__ == "__main__":
    main()
