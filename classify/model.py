"""The statistical layer: a linear model over lemma unigrams and bigrams, TF-IDF weighted.

Trained with scikit-learn (`mcu classify train`), then stored as plain arrays (vocabulary, idf,
coefficients) in a small versioned joblib artefact inside the package. Prediction re-implements
the linear algebra on one message with numpy: calling scikit-learn per message would cost more
than the whole rest of the stage.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

import joblib
import numpy as np

from route.yaml_load import package_file

ARTEFACT = "data/model.joblib"
FORMAT = 2
_LOG1 = [0.0] + [1.0 + math.log(c) for c in range(1, 8)]  # sublinear tf of small counts
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

    def scores(self, lemmas: Sequence[str]) -> np.ndarray | None:
        get = self.vocab.get
        words = [w for w in lemmas if w not in STOPWORDS and not w.isdigit()]
        counts: dict[int, int] = {}
        for w in words:
            j = get(w)
            if j is not None:
                counts[j] = counts.get(j, 0) + 1
        if len(counts) < MIN_KNOWN_WORDS:
            return None
        for a, b in pairwise(words):
            j = get(f"{a} {b}")
            if j is not None:
                counts[j] = counts.get(j, 0) + 1
        for w in words:
            if len(w) > PREFIX:
                j = get("~" + w[:PREFIX])
                if j is not None:
                    counts[j] = counts.get(j, 0) + 1
        # Small arrays: per-call numpy overhead dominates, so keep the number of calls low.
        idx = np.fromiter(counts, dtype=np.intp, count=len(counts))
        tf = np.fromiter((_LOG1[c] if c < 8 else 1.0 + math.log(c) for c in counts.values()), np.float32, len(counts))
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
        version=d["version"],
        classes=list(d["classes"]),
        vocab=d["vocab"],
        idf=d["idf"],
        coef=np.asarray(d["coef"], dtype=np.float32),
        intercept=d["intercept"],
        meta=d["meta"],
    )
