"""Train the statistical layer and measure the whole classifier (rules + model) honestly.

`cross_validate` refits the model on each training fold and scores the combined classifier on
the held-out fold, so no message is judged by a model that saw it. Train-only rows (the real
train-only pool, synthetic rows) are added to every training fold but are never scored.
"""

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support
from sklearn.model_selection import StratifiedKFold

from classify.enricher import Enricher
from classify.model import LinearTextModel, features
from schemas.case import UNRESOLVED

C = 16.0
MIN_DF = 2
MAX_FEATURES = 30_000
TRAIN_ONLY_WEIGHT = 0.5  # see train_only_weights


def fit(
    lemma_lists: Sequence[list[str]],
    labels: Sequence[str],
    meta: dict[str, Any] | None = None,
    weights: Sequence[float] | None = None,
) -> LinearTextModel:
    vec = TfidfVectorizer(analyzer=features, sublinear_tf=True, min_df=MIN_DF, max_features=MAX_FEATURES)
    x = vec.fit_transform(lemma_lists)
    # balanced: the rare categories (kindergartens, culture, railway) matter as much as the rest
    clf = LogisticRegression(C=C, max_iter=2000, class_weight="balanced")
    clf.fit(x, labels, sample_weight=None if weights is None else np.asarray(weights, dtype=np.float64))
    classes = [str(c) for c in clf.classes_]
    coef = clf.coef_.T.astype(np.float32)  # (features, classes)
    intercept = clf.intercept_.astype(np.float32)
    if len(classes) == 2:  # binary: one column z; softmax over (0, z) gives sklearn's sigmoid
        coef = np.hstack([np.zeros_like(coef), coef])
        intercept = np.array([0.0, intercept[0]], dtype=np.float32)
    now = datetime.now(UTC)
    counts = Counter(labels)
    return LinearTextModel(
        version=f"tfidf-lr-{now:%Y%m%d%H%M}",
        classes=classes,
        vocab={str(k): int(v) for k, v in vec.vocabulary_.items()},
        idf=vec.idf_.astype(np.float32),
        coef=coef,
        intercept=intercept,
        meta={"trained_at": now.isoformat(), "n_examples": len(labels), "per_class": dict(counts), **(meta or {})},
    )


def train_only_weights(rows: Sequence[dict[str, Any]]) -> list[float]:
    """St Petersburg's extra messages teach its sense of words («нет света» = a dark stairwell, not an
    outage), so they count for less than the scored set; synthetic rows count fully."""
    return [TRAIN_ONLY_WEIGHT if r.get("train_only") else 1.0 for r in rows]


@dataclass
class Report:
    labels: list[str]
    precision: list[float]
    recall: list[float]
    f1: list[float]
    support: list[int]
    macro_f1: float
    accuracy: float
    confusion: list[list[int]]
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "macro_f1": round(self.macro_f1, 4),
            "accuracy": round(self.accuracy, 4),
            "per_class": {
                lab: {"precision": round(p, 4), "recall": round(r, 4), "f1": round(f, 4), "support": s}
                for lab, p, r, f, s in zip(self.labels, self.precision, self.recall, self.f1, self.support, strict=True)
            },
            "confusion": {"labels": self.labels, "rows_gold_cols_predicted": self.confusion},
            **self.extra,
        }


def report(gold: Sequence[str], pred: Sequence[str]) -> Report:
    """Per-class P/R/F1 over the gold classes; predictions outside them (incl. unresolved) count as errors."""
    labels = sorted(set(gold))
    p, r, f, s = precision_recall_fscore_support(gold, pred, labels=labels, zero_division=0)
    all_labels = labels + sorted(set(pred) - set(labels))
    cm = confusion_matrix(gold, pred, labels=all_labels)
    return Report(
        labels=all_labels,
        precision=[float(x) for x in p] + [0.0] * (len(all_labels) - len(labels)),
        recall=[float(x) for x in r] + [0.0] * (len(all_labels) - len(labels)),
        f1=[float(x) for x in f] + [0.0] * (len(all_labels) - len(labels)),
        support=[int(x) for x in s] + [0] * (len(all_labels) - len(labels)),
        macro_f1=float(np.mean(f)),
        accuracy=float(np.mean([g == q for g, q in zip(gold, pred, strict=True)])),
        confusion=cm.tolist(),
    )


def block_of(enricher: Enricher, category: str) -> str:
    return enricher.router.block_of(enricher.categories.get(category))


def lemmatise(enricher: Enricher, rows: Sequence[dict[str, Any]]) -> list[list[str]]:
    return [enricher.analyse_text(r["text"])[2] for r in rows]


def predict_categories(
    enricher: Enricher, lemma_lists: Sequence[list[str]], model: LinearTextModel | None
) -> dict[str, list[str]]:
    """Category per message by the combined classifier, the rules alone and the model alone."""
    enricher.use_model(model)
    combined, rules, alone = [], [], []
    for lem in lemma_lists:
        d = enricher.decide_category(lem)
        combined.append(d.category)
        rules.append(d.rule_top or UNRESOLVED)
        probs = model.predict_proba(lem) if model else None
        alone.append(max(probs, key=probs.__getitem__) if probs else UNRESOLVED)
    return {"combined": combined, "rules_only": rules, "model_only": alone}


def cross_validate(
    enricher: Enricher,
    rows: Sequence[dict[str, Any]],
    folds: int = 5,
    train_only: Sequence[dict[str, Any]] = (),
    seed: int = 13,
) -> dict[str, Any]:
    real = [r for r in rows if not r.get("synthetic") and not r.get("train_only")]
    overlap = {r["id"] for r in real if "id" in r} & {r["id"] for r in train_only if "id" in r}
    if overlap:  # a scored message in every training fold would be judged by a model that saw it
        raise ValueError(f"{len(overlap)} train-only rows are also scored, e.g. {sorted(overlap)[:3]}")
    gold = [r["category"] for r in real]
    lem = lemmatise(enricher, real)
    syn_lem = lemmatise(enricher, train_only)
    syn_lab = [r["category"] for r in train_only]
    preds: dict[str, list[str]] = {k: [""] * len(real) for k in ("combined", "rules_only", "model_only")}
    skf = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for train_idx, test_idx in skf.split(np.zeros(len(gold)), gold):
        model = fit(
            [lem[i] for i in train_idx] + syn_lem,
            [gold[i] for i in train_idx] + syn_lab,
            weights=[1.0] * len(train_idx) + train_only_weights(train_only),
        )
        got = predict_categories(enricher, [lem[i] for i in test_idx], model)
        for k, v in got.items():
            for i, p in zip(test_idx, v, strict=True):
                preds[k][i] = p
    out: dict[str, Any] = {"folds": folds, "n_scored": len(real), "n_train_only": len(train_only)}
    gold_blocks = [block_of(enricher, g) for g in gold]
    long = [i for i, r in enumerate(real) if len(r["text"]) >= 100]  # short portal texts lean on their label
    for k, pred in preds.items():
        pred_blocks = [block_of(enricher, p) for p in pred]
        out[k] = {
            "category": report(gold, pred).as_dict(),
            "block": report(gold_blocks, pred_blocks).as_dict(),
        }
        if long:  # a file of short texts only has no such part
            out[k]["category_100plus_chars"] = report([gold[i] for i in long], [pred[i] for i in long]).as_dict()
            out[k]["block_100plus_chars"] = report(
                [gold_blocks[i] for i in long], [pred_blocks[i] for i in long]
            ).as_dict()
    return out
