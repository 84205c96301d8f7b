"""What the operators' corrections would teach the model, simulated on real out-of-domain messages.

The 172 real Омская область messages (classify/data/external_omsk.jsonl) are split into two fixed
halves by a hash of their id. The operators' corrections are the shipped model's errors on the
first half (its text with the operators' category). The model is retrained as
`mcu classify train --with-corrections` does (development set + train-only pool + corrections
weighted up), and both models are scored on the second half, which neither trained on.

    .venv/bin/python bench/corrections_sim.py [--weight 3 --weight 1]
"""

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

# the repository, not bench/, first: bench/sla_calendar.py would shadow the standard library module
sys.path[0] = str(Path(__file__).resolve().parents[1])

DATA = Path(__file__).resolve().parents[1] / "classify" / "data"


def halves(rows: list[dict]) -> tuple[list[dict], list[dict]]:
    ordered = sorted(rows, key=lambda r: hashlib.sha256(r["id"].encode()).hexdigest())
    mid = len(ordered) // 2
    return ordered[:mid], ordered[mid:]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--weight", type=float, action="append", help="weight of a correction (repeatable; default 3)")
    args = ap.parse_args()
    from classify.devset import read_jsonl
    from classify.enricher import Enricher
    from classify.learning import answers, summary, train_with_corrections

    enricher = Enricher.load(clustering=False)
    shipped = enricher.model
    omsk = [r for r in read_jsonl(DATA / "external_omsk.jsonl") if r.get("category")]
    first, second = halves(omsk)
    got_first = answers(enricher, shipped, [r["text"] for r in first])
    corrections = [
        {"id": r["id"], "text": r["text"], "category": r["category"]}
        for r, p in zip(first, got_first, strict=True)
        if p != r["category"]
    ]
    gold = [r["category"] for r in second]
    texts = [r["text"] for r in second]
    out: dict = {
        "first_half": len(first),
        "second_half": len(second),
        "corrections": len(corrections),
        "shipped": shipped.version if shipped else None,
        "before": summary(enricher, gold, answers(enricher, shipped, texts)),
        "after": {},
    }
    dev, pool = read_jsonl(DATA / "dev.jsonl"), read_jsonl(DATA / "train_extra.jsonl.gz")
    for w in args.weight or [3.0]:
        t = time.perf_counter()
        model, _ = train_with_corrections(
            Enricher.load(use_model=False, clustering=False), dev, pool, corrections, weight=w
        )
        out["after"][f"weight {w:g}"] = {
            **summary(enricher, gold, answers(enricher, model, texts)),
            "first_half_after": summary(
                enricher,
                [c["category"] for c in corrections],
                answers(enricher, model, [c["text"] for c in corrections]),
            ),
            "train_seconds": round(time.perf_counter() - t),
        }
        print(json.dumps(out, ensure_ascii=False), flush=True)


if __name__ == "__main__":
    main()
