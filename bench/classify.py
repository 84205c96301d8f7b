"""Speed, load time and memory of the understanding stage (normalise + classify + route).

Texts: real messages of 50-800 characters from the development set (St Petersburg and Kursk portals,
classify/data/dev.jsonl), with a Tuapse place name appended to every third one so that
settlement resolution does real work. The process is pinned to one CPU. Throughput is given
per wall-clock second and per CPU second of this process (they agree on an idle machine; on a
shared one the CPU figure is what one core delivers).

    .venv/bin/python bench/classify.py [--n 20000]
"""

import argparse
import json
import os
import random
import resource
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PLACES = ["в Джубге", "пос. Новомихайловский", "на Небуге", "в с. Агой", "Туапсе, ул. Гагарина", "в Шепси"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20_000, help="messages to classify")
    ap.add_argument("--no-pin", action="store_true", help="do not pin to one CPU")
    args = ap.parse_args()
    if not args.no_pin and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})

    t0 = time.perf_counter()
    from classify.clusters import ClusterIndex
    from classify.enricher import Enricher

    enricher = Enricher.load(clusters=ClusterIndex())
    load_s = time.perf_counter() - t0

    from schemas.message import NormalizedMessage

    dev = Path(__file__).resolve().parents[1] / "classify" / "data" / "dev.jsonl"
    texts = [json.loads(x)["text"] for x in dev.open(encoding="utf-8")]
    texts = [t for t in texts if 50 <= len(t) <= 800]
    rng = random.Random(1)
    base = datetime(2026, 11, 27, tzinfo=UTC)
    msgs = []
    for i in range(args.n):
        t = texts[i % len(texts)]
        if i % 3 == 0:
            t = f"{t} {rng.choice(PLACES)}"
        msgs.append(
            NormalizedMessage(
                message_id=f"b{i}",
                channel="pos",
                source_id=str(i),
                created_at=base + timedelta(seconds=i),
                fetched_at=base,
                normalized_at=base,
                text=t,
            )
        )
    chars = sum(len(m.text) for m in msgs) / len(msgs)
    # first pass warms the lemma cache as a running worker's would be; the second is timed
    warm = min(len(msgs), len(texts))
    t1 = time.perf_counter()
    for m in msgs[:warm]:
        enricher.enrich(m)
    cold_s = time.perf_counter() - t1
    t2, c2 = time.perf_counter(), time.process_time()
    for m in msgs:
        enricher.enrich(m)
    hot_s, hot_cpu = time.perf_counter() - t2, time.process_time() - c2
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "messages": len(msgs),
                "mean_chars": round(chars),
                "load_seconds": round(load_s, 3),
                "cold_msgs_per_s": round(warm / cold_s),
                "msgs_per_s_wall": round(len(msgs) / hot_s),
                # CPU time of this process: what one core delivers when other jobs share the machine
                "msgs_per_s_cpu": round(len(msgs) / hot_cpu),
                "max_rss_mb": round(rss_mb),
                "model": enricher.model_version,
                "cpus": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
            },
            ensure_ascii=False,
        )
    )


if __name__ == "__main__":
    main()
