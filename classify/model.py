"""The statistical layer: a linear model over lemma unigrams and bigrams, TF-IDF weighted.

Trained with scikit-learn (`mcu classify train`), then stored as plain arrays (vocabulary, idf,
coefficients) in a small versioned joblib artefact inside the package. Prediction re-implements
the linear algebra on one message with numpy: calling scikit-learn per message would cost more
than the whole rest of the stage.
"""

import hashlib
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

import joblib
import numpy as np

from common.yaml_load import package_file

ARTEFACT = "data/model.joblib"
FORMAT = 2
# With fewer known words than this the model has no opinion (one word is not a topic).
MIN_KNOWN_WORDS = 2
# Words that carry no topic; the rest (including «не», «нет») stay, they matter here.
STOPWORDS = frozenset(
    "и в во на с со к ко по о об от до из за у для при а но же ли бы то это что как так его ее их "
    "они он она мы вы я ты мой наш ваш этот тот который весь свой быть там тут здесь уже еще очень "
    "или да также просить прошу пожалуйста добрый день вечер утро здравствуйте здравствовать уважаемый "
    "спасибо заранее".split()
)


PREFIX = 5  # "~освещ": a lemma's first letters catch misspellings and word families


def features(lemmas: Sequence[str]) -> list[str]:
    """Lemma unigrams, adjacent bigrams and 5-letter prefixes of longer lemmas; stop words left out."""
    words = [w for w in lemmas if w not in STOPWORDS and not w.isdigit()]
    return words + [f"{a} {b}" for a, b in pairwise(words)] + ["~" + w[:PREFIX] for w in words if len(w) > PREFIX]


@dataclass
class LinearTextModel:
    version: str
    classes: list[str]
    vocab: dict[str, int]
    idf: np.ndarray  # (n_features,)
    coef: np.ndarray  # (n_features, n_classes)
    intercept: np.ndarray  # (n_classes,)
    meta: dict[str, Any]

    def __post_init__(self) -> None:
        # Per-lemma feature ids (unigram, prefix; -1 when unknown), filled lazily: the same few
        # thousand lemmas recur, and one lookup per lemma beats building "~prefix" strings each time.
        self._lemma_ids: dict[str, tuple[int, int]] = {}
        self._bigrams: dict[tuple[str, str], int] = {
            tuple(f.split(" ", 1)): j
            for f, j in self.vocab.items()
            if " " in f  # type: ignore[misc]
        }

    def _ids(self, w: str) -> tuple[int, int]:
        get = self.vocab.get
        ids = (get(w, -1), get("~" + w[:PREFIX], -1) if len(w) > PREFIX else -1)
        if len(self._lemma_ids) < 500_000:
            self._lemma_ids[w] = ids
        return ids

    def scores(self, lemmas: Sequence[str]) -> np.ndarray | None:
        words = [w for w in lemmas if w not in STOPWORDS and not w.isdigit()]
        cache = self._lemma_ids
        found: list[int] = []
        known: set[int] = set()
        for w in words:
            u, p = cache.get(w) or self._ids(w)
            if u >= 0:
                found.append(u)
                known.add(u)
            if p >= 0:
                found.append(p)
        if len(known) < MIN_KNOWN_WORDS:
            return None
        bget = self._bigrams.get
        found.extend(j for j in map(bget, pairwise(words)) if j is not None)
        counts = Counter(found)
        # Small arrays: per-call numpy overhead dominates, so keep the number of calls low.
        idx = np.fromiter(counts.keys(), dtype=np.intp, count=len(counts))
        tf = np.fromiter(counts.values(), dtype=np.float32, count=len(counts))
        np.log(tf, out=tf)
        tf += 1.0
        x = tf * self.idf[idx]
        x *= 1.0 / math.sqrt(float(x @ x))
        return x @ self.coef[idx] + self.intercept

    def predict_proba(self, lemmas: Sequence[str]) -> dict[str, float] | None:
        """Class probabilities, or None when the message shares too little with the training data."""
        s = self.scores(lemmas)
        if s is None:
            return None
        e = np.exp(s - s.max())
        e *= 1.0 / float(e.sum())
        return dict(zip(self.classes, e.tolist(), strict=True))

    def save(self, path: Path | str) -> None:
        joblib.dump(
            {
                "format": FORMAT,
                "version": self.version,
                "classes": self.classes,
                "vocab": self.vocab,
                "idf": self.idf.astype(np.float32),
                # float16 on disk halves the artefact; predictions move by < 1e-3
                "coef": self.coef.astype(np.float16),
                "intercept": self.intercept.astype(np.float32),
                "meta": self.meta,
            },
            path,
            compress=3,
        )


def load_model(path: Path | str | None = None) -> LinearTextModel | None:
    """The packaged artefact (or `path`); None when there is none yet (rules alone decide)."""
    p = Path(path) if path else package_file("classify", ARTEFACT)
    if not p.exists():
        if path:
            raise FileNotFoundError(f"{p}: no model artefact")
        return None
    d = joblib.load(p)
    if d.get("format") != FORMAT:
        raise ValueError(f"{p}: artefact format {d.get('format')!r}, this code reads {FORMAT}")
    return LinearTextModel(
        # An artefact without a version of its own is named by its bytes: every case still records
        # which model classified it (cases.model_version), and two different files never share a name.
        version=d.get("version") or "sha256:" + hashlib.sha256(p.read_bytes()).hexdigest()[:12],
        classes=list(d["classes"]),
        vocab=d["vocab"],
        idf=d["idf"],
        coef=np.asarray(d["coef"], dtype=np.float32),
        intercept=d["intercept"],
        meta=d["meta"],
    )
