"""Build the labelled development set from real portal messages (see classify/data/spb_mapping.yaml).

Only real messages go in, each with where it came from; the portal's label is mapped to our
taxonomy by the mapping file. Near-duplicates (same content words) are dropped — the portal has
«снег на дороге» hundreds of times — and each category is capped so that rare ones count.
Half of each category's share goes to texts of 100+ characters where there are enough of them.

The St Petersburg portal has far more messages than the cap lets into the set. The next ones of
each category's shuffled pool (up to `EXTRA_PER_CATEGORY`) form a train-only pool: real messages
the model may learn from but that are never scored. They come from the same de-duplicated stream,
so none repeats a development message.
"""

import csv
import gzip
import json
import random
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from classify.model import STOPWORDS
from classify.pii import mask_pii
from common.morph import Lemmatizer
from common.textnorm import clean, tokens

PER_CATEGORY = 250
# Three times the scored share: 250 or 2,000 extra per category scored lower under CV (see classify/README.md)
EXTRA_PER_CATEGORY = 750
MIN_CHARS = 15
MAX_CHARS = 1500  # longer texts are cut (whole words): the dev set is kept in the repository
MIN_PER_CATEGORY = 10  # fewer real examples than this in the whole set cannot be cross-validated honestly
SEED = 20261127


def _records(path: Path) -> Iterator[dict[str, Any]]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            yield json.loads(line)


def _content_key(text: str, lem: Lemmatizer) -> frozenset[str]:
    words = [w.lower() for w in tokens(clean(text)) if not w.isupper() or len(w) < 3 or "X" not in w]
    return frozenset(x for x in lem.lemmas(words) if x not in STOPWORDS and not x.startswith("x"))


class _FirstOfItsContent:
    """True for a text whose content words no earlier text had (the portals repeat «снег на дороге»)."""

    def __init__(self, lem: Lemmatizer) -> None:
        self._lem = lem
        self._seen: set[frozenset[str]] = set()

    def __call__(self, text: str) -> bool:
        key = _content_key(text, self._lem)
        if len(key) < 2 or key in self._seen:
            return False
        self._seen.add(key)
        return True


def build_spb(
    spb_path: Path, mapping_path: Path, per_category: int = PER_CATEGORY, extra_per_category: int = EXTRA_PER_CATEGORY
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The scored St Petersburg rows and the train-only rows after them."""
    mapping = yaml.safe_load(mapping_path.read_text(encoding="utf-8"))
    reasons: dict[str, str | None] = mapping["reasons"]
    lem = Lemmatizer()
    first = _FirstOfItsContent(lem)
    pools: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in _records(spb_path):
        cat = reasons.get(r["reason"])
        text = (r.get("text") or "").strip()
        if len(text) > MAX_CHARS:
            text = text[:MAX_CHARS].rsplit(" ", 1)[0]
        if not cat or len(text) < MIN_CHARS or not first(text):
            continue
        pools[cat].append(
            {
                "id": f"spb-{r['id']}",
                "text": mask_pii(text, lem),
                "category": cat,
                "source": "spb-our-city",
                "source_id": r["id"],
                "portal_category": r["category"],
                "portal_reason": r["reason"],
                "synthetic": False,
            }
        )
    rng = random.Random(SEED)
    out: list[dict[str, Any]] = []
    extra: list[dict[str, Any]] = []
    for cat in sorted(pools):
        pool = pools[cat]
        rng.shuffle(pool)
        long = [x for x in pool if len(x["text"]) >= 100]
        short = [x for x in pool if len(x["text"]) < 100]
        take_long = long[: per_category // 2]
        take = take_long + short[: per_category - len(take_long)]
        if len(take) < per_category:
            take += long[len(take_long) : len(take_long) + per_category - len(take)]
        out.extend(sorted(take, key=lambda x: x["source_id"]))
        taken = {x["id"] for x in take}
        rest = [x for x in pool if x["id"] not in taken][:extra_per_category]
        extra.extend({**x, "train_only": True} for x in sorted(rest, key=lambda x: x["source_id"]))
    return out, extra


def build_kursk(csv_path: Path, mapping_path: Path) -> list[dict[str, Any]]:
    """All mapped, de-duplicated messages of the Курская область set; people's names and phones masked."""
    mapping = yaml.safe_load(mapping_path.read_text(encoding="utf-8"))
    labels: dict[str, str | None] = mapping["labels"]
    lem = Lemmatizer()
    first = _FirstOfItsContent(lem)
    out = []
    with csv_path.open(encoding="utf-8", newline="") as f:
        for rid, text, label, executor, _group in csv.reader(f):
            cat = labels.get(label)
            text = text.strip()
            if not cat or len(clean(text)) < MIN_CHARS:
                continue
            if len(text) > MAX_CHARS:
                text = text[:MAX_CHARS].rsplit(" ", 1)[0]
            if not first(text):
                continue
            out.append(
                {
                    "id": f"kursk-{rid}",
                    "text": mask_pii(text, lem),
                    "category": cat,
                    "source": "kursk-hacks-ai-2022",
                    "source_id": int(rid),
                    "portal_category": label,
                    "portal_executor": executor,
                    "synthetic": False,
                }
            )
    return sorted(out, key=lambda x: x["source_id"])


def build_omsk(csv_path: Path, feed_path: Path, mapping_path: Path) -> list[dict[str, Any]]:
    """The Омская область «Инцидент-менеджмент» sample (see omsk_mapping.yaml): an outside check, never trained on."""
    topics: dict[str, str | None] = yaml.safe_load(mapping_path.read_text(encoding="utf-8"))["topics"]
    raw: list[tuple[str, str, str, str, str]] = []  # id, text, group, topic, municipality
    with csv_path.open(encoding="utf-8-sig", newline="") as f:
        for i, r in enumerate(csv.DictReader(f), 1):
            raw.append((f"test40-{i}", r["Текст инцидента"], r["Группа тем"], r["Тема"], r["Муниципалитет"]))
    feed = json.loads(feed_path.read_text(encoding="utf-8"))
    raw += [(f"feed-{x['id']}", x["text"], x["group"], x["topic"], x["municipality"]) for x in feed["items"]]
    lem = Lemmatizer()
    first = _FirstOfItsContent(lem)
    out = []
    for rid, text, group, topic, municipality in raw:
        if topic not in topics:
            raise ValueError(f"{mapping_path}: topic {topic!r} is not mapped (null keeps it out)")
        cat = topics[topic]
        text = text.removeprefix("'").strip()  # the export's spreadsheet text marker
        if not cat or len(clean(text)) < MIN_CHARS or not first(text):
            continue
        out.append(
            {
                "id": f"omsk-{rid}",
                "text": mask_pii(text, lem),
                "category": cat,
                "source": "omsk-incident-management",
                "source_id": rid,
                "portal_category": group,
                "portal_reason": topic,
                "municipality": municipality,
                "synthetic": False,
            }
        )
    return out


def drop_rare(rows: list[dict[str, Any]], minimum: int = MIN_PER_CATEGORY) -> list[dict[str, Any]]:
    counts: dict[str, int] = defaultdict(int)
    for r in rows:
        counts[r["category"]] += 1
    return [r for r in rows if counts[r["category"]] >= minimum]


def train_only_for(dev: list[dict[str, Any]], extra: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Train-only rows of the categories the development set scores (a class the CV never sees is noise)."""
    scored = {r["category"] for r in dev}
    return [r for r in extra if r["category"] in scored]


def write_jsonl(rows: list[dict[str, Any]], path: Path) -> None:
    data = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode("utf-8")
    # the train-only pool is kept gzipped; no name or time in the header, so a rebuild is byte-identical
    path.write_bytes(gzip.compress(data, mtime=0) if path.suffix == ".gz" else data)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    with gzip.open(path, "rt", encoding="utf-8") if path.suffix == ".gz" else path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]
