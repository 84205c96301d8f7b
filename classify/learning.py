"""Learning from the МЦУ's own corrections: train a new model version on the development data
plus operators' corrections, and measure it without letting a model judge what it trained on.

A correction is a message text with the category an operator gave it. Corrections count
`CORRECTIONS_WEIGHT` times a development row: there are few of them, they come from the
district's own channels, and each one is a mistake the running model made. Under
cross-validation the corrections are split into the same number of folds as the development set,
and fold k of both is scored by the model trained on every other fold: a correction is never
scored by a model that saw it.
"""

import csv
import io
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.model_selection import KFold, StratifiedKFold

from classify.enricher import Enricher
from classify.model import LinearTextModel
from classify.registry import VersionInfo, data_hash, new_version_id
from classify.training import block_of, fit, lemmatise, predict_categories, report, train_only_weights

CORRECTIONS_WEIGHT = 3.0

# The latest correction of each message, with the text the case carries (0011_corrections.sql keeps
# no text: it stays in `cases`).
STORE_SQL = """
SELECT c.message_id AS id, k.text AS text, c.category AS category, c.at AS corrected_at
FROM (
    SELECT message_id, argMax(new_category, corrected_at) AS category, max(corrected_at) AS at
    FROM corrections FINAL WHERE new_category != '' GROUP BY message_id
) AS c
INNER JOIN (SELECT message_id, any(text) AS text FROM cases GROUP BY message_id) AS k ON k.message_id = c.message_id
ORDER BY corrected_at
"""


class CorrectionsError(ValueError):
    """A corrections file that cannot be used; the message names every bad row."""


def read_corrections(path: Path, categories: set[str]) -> list[dict[str, Any]]:
    """Corrections from JSONL or CSV (UTF-8): `text` and `category` (or `new_category`), `id` optional.

    Every row is checked before any is used; the error lists each bad row by its line number.
    """
    try:
        raw = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CorrectionsError(f"{path}: не UTF-8 ({exc.reason} в байте {exc.start})") from None
    rows: list[tuple[int, dict[str, Any]]] = []
    errors: list[str] = []
    if path.suffix.lower() == ".csv":
        for i, d in enumerate(csv.DictReader(io.StringIO(raw)), 2):
            rows.append((i, dict(d)))
    else:
        for i, line in enumerate(raw.splitlines(), 1):
            if not line.strip():
                continue
            try:
                rows.append((i, json.loads(line)))
            except ValueError as exc:
                errors.append(f"строка {i}: не JSON ({exc})")
    out: list[dict[str, Any]] = []
    for i, d in rows:
        text = str(d.get("text") or "").strip()
        cat = str(d.get("category") or d.get("new_category") or "").strip()
        if not text:
            errors.append(f"строка {i}: нет текста")
        elif cat not in categories:
            errors.append(f"строка {i}: неизвестная категория {cat!r}")
        else:
            out.append(
                {"id": str(d.get("id") or d.get("message_id") or f"{path.name}:{i}"), "text": text, "category": cat}
            )
    if errors:
        raise CorrectionsError(f"{path}: {len(errors)} ошибок, файл не принят:\n" + "\n".join(errors[:50]))
    return out


def corrections_from_store(dsn: str) -> list[dict[str, Any]]:
    """The latest correction of every corrected case, oldest first, from the ClickHouse store."""
    import clickhouse_connect

    client = clickhouse_connect.get_client(dsn=dsn)
    try:
        res = client.query(STORE_SQL)
    finally:
        client.close()
    return [{"id": r[0], "text": r[1], "category": r[2]} for r in res.result_rows]


def summary(enricher: Enricher, gold: Sequence[str], pred: Sequence[str]) -> dict[str, Any]:
    gb = [block_of(enricher, g) for g in gold]
    pb = [block_of(enricher, p) for p in pred]
    cat, blk = report(gold, pred), report(gb, pb)
    return {
        "n": len(gold),
        "category_accuracy": round(cat.accuracy, 4),
        "category_macro_f1": round(cat.macro_f1, 4),
        "block_accuracy": round(blk.accuracy, 4),
        "block_macro_f1": round(blk.macro_f1, 4),
    }


def answers(enricher: Enricher, model: LinearTextModel | None, texts: Sequence[str]) -> list[str]:
    """The combined classifier's category for each text with `model` as its statistical layer."""
    lem = [enricher.analyse_text(t)[2] for t in texts]
    return predict_categories(enricher, lem, model)["combined"]


def train_with_corrections(
    enricher: Enricher,
    dev: Sequence[dict[str, Any]],
    train_only: Sequence[dict[str, Any]],
    corrections: Sequence[dict[str, Any]],
    *,
    weight: float = CORRECTIONS_WEIGHT,
    folds: int = 0,
    parent: str | None = None,
    seed: int = 13,
) -> tuple[LinearTextModel, VersionInfo]:
    """A new model version on dev + train-only pool + corrections; with `folds`, its CV figures."""
    dev = [r for r in dev if r.get("category") and not r.get("train_only")]
    rows = [*dev, *train_only, *corrections]
    weights = [1.0] * len(dev) + train_only_weights(train_only) + [weight] * len(corrections)
    labels = [r["category"] for r in rows]
    lem = lemmatise(enricher, rows)
    digest = data_hash((r["text"], r["category"], w) for r, w in zip(rows, weights, strict=True))
    version = new_version_id("tfidf-lr", digest)
    cv = corrections_cv = None
    if folds:
        cv, corrections_cv = _cross_fit(enricher, lem, labels, weights, len(dev), len(train_only), folds, seed)
    model = fit(lem, labels, weights=weights, meta={"n_corrections": len(corrections), "corrections_weight": weight})
    model.version = version
    info = VersionInfo(
        version=version,
        created_at=datetime.now(UTC),
        data_hash=digest,
        n_examples=len(rows),
        n_corrections=len(corrections),
        corrections_weight=weight,
        parent=parent,
        cv=cv,
        corrections_cv=corrections_cv,
        correction_ids=[str(r["id"]) for r in corrections],
    )
    return model, info


def _cross_fit(
    enricher: Enricher,
    lem: list[list[str]],
    labels: list[str],
    weights: list[float],
    n_dev: int,
    n_pool: int,
    folds: int,
    seed: int,
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    dev_idx = np.arange(n_dev)
    cor_idx = np.arange(n_dev + n_pool, len(labels))
    pool = list(range(n_dev, n_dev + n_pool))
    dev_folds = [t for _, t in StratifiedKFold(folds, shuffle=True, random_state=seed).split(dev_idx, labels[:n_dev])]
    k_cor = min(folds, len(cor_idx))
    cor_folds = (
        [cor_idx[t] for _, t in KFold(k_cor, shuffle=True, random_state=seed).split(cor_idx)] if k_cor >= 2 else []
    )
    dev_pred = [""] * n_dev
    cor_pred: dict[int, str] = {}
    for k in range(folds):
        held = set(dev_folds[k].tolist()) | (set(cor_folds[k].tolist()) if k < len(cor_folds) else set())
        # with a single correction there is no fold to hold it in: it trains every fold, scored nowhere
        train = [i for i in range(n_dev) if i not in held] + pool + [int(i) for i in cor_idx if int(i) not in held]
        model = fit([lem[i] for i in train], [labels[i] for i in train], weights=[weights[i] for i in train])
        test = sorted(held)
        for i, p in zip(test, predict_categories(enricher, [lem[i] for i in test], model)["combined"], strict=True):
            if i < n_dev:
                dev_pred[i] = p
            else:
                cor_pred[i] = p
    dev_gold = labels[:n_dev]
    cv = {"folds": folds, **summary(enricher, dev_gold, dev_pred)}
    if not cor_pred:
        return cv, None
    idx = sorted(cor_pred)
    return cv, {"folds": len(cor_folds), **summary(enricher, [labels[i] for i in idx], [cor_pred[i] for i in idx])}


def dev_cv(
    enricher: Enricher, dev: Sequence[dict[str, Any]], train_only: Sequence[dict[str, Any]], folds: int, seed: int = 13
) -> dict[str, Any]:
    """The development CV of the plain recipe (no corrections), in `summary` form."""
    dev = [r for r in dev if r.get("category") and not r.get("train_only")]
    rows = [*dev, *train_only]
    cv, _ = _cross_fit(
        enricher,
        lemmatise(enricher, rows),
        [r["category"] for r in rows],
        [1.0] * len(dev) + train_only_weights(train_only),
        len(dev),
        len(train_only),
        folds,
        seed,
    )
    return cv
