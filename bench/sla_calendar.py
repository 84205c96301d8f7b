"""CPU time of one SLA deadline: any start in the accepted window, every term of the policy file.

Starts are random moments of 2000-01-01 … now + 1 day (the window of schemas/times.py), seeded.
Printed: CPU µs per ``WorkingCalendar.deadline`` call over all of them, once with a cold calendar
(each year's prefix sums built on first use: what a fresh worker pays) and once warm; the
worst single call; and the same for ``working_seconds_between`` over spans up to a year.

    .venv/bin/python bench/sla_calendar.py [--calls 20000] [--seed 1]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

from schemas.times import EARLIEST, MAX_FUTURE  # noqa: E402
from sla.calendar import WorkingCalendar  # noqa: E402
from tests.unit.sla.test_calendar_reference import policy_terms  # noqa: E402


def run(cal: WorkingCalendar, calls: list, fn) -> tuple[float, float]:  # type: ignore[no-untyped-def,type-arg]
    worst = 0.0
    t0 = time.process_time()
    for args in calls:
        c0 = time.process_time()
        fn(*args)
        worst = max(worst, time.process_time() - c0)
    return (time.process_time() - t0) / len(calls), worst


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    lo, hi = int(EARLIEST.timestamp()), int((datetime.now(UTC) + MAX_FUTURE).timestamp())
    terms = policy_terms()
    starts = [datetime.fromtimestamp(rng.randint(lo, hi), UTC) for _ in range(args.calls)]
    calls = [(s, rng.choice(terms)) for s in starts]
    spans = [(s, s + timedelta(seconds=rng.randint(0, 366 * 86400))) for s in starts]
    print(
        f"{args.calls:,} random starts in {EARLIEST.date()} … now + {MAX_FUTURE.days} day; {len(terms)} policy terms:"
    )
    print("  " + ", ".join(map(str, terms)))
    cal = WorkingCalendar()
    for label in ("cold", "warm"):
        mean, worst = run(cal, calls, cal.deadline)
        print(f"deadline() {label}: {mean * 1e6:.1f} µs CPU per call, worst call {worst * 1e3:.2f} ms")
    t0 = time.process_time()
    fresh = WorkingCalendar()
    fresh.warm(EARLIEST.year, datetime.now(UTC).year + 1)
    print(f"warm-up of a fresh calendar, {EARLIEST.year} … next year: {time.process_time() - t0:.2f} s CPU")
    mean, worst = run(cal, spans, cal.working_seconds_between)
    print(f"working_seconds_between() warm, spans ≤ 1 year: {mean * 1e6:.1f} µs per call, worst {worst * 1e3:.2f} ms")
    t0 = time.process_time()
    try:
        cal.deadline(datetime(9999, 12, 30, tzinfo=UTC), "30 days")
    except ValueError as e:
        print(f"year 9999 start: refused in {(time.process_time() - t0) * 1e6:.0f} µs CPU ({e})")


if __name__ == "__main__":
    main()
