"""The statistical layer: a linear model over lemma unigrams and bigrams, TF-IDF weighted.

Trained with scikit-learn (`mcu classify train`), then stored as plain arrays (vocabulary, idf,
coefficients) in a small versioned joblib artefact inside the package. Prediction re-implements
the linear algebra on one message with numpy: calling scikit-learn per message would cost more
than the whole rest of the stage.
"""

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

import joblib
import numpy as np

from route.yaml_load import package_file

ARTEFACT = "data/model.joblib"
FORMAT = 1
# With fewer known words than this the model has no opinion (one word is not a topic).
MIN_KNOWN_WORDS = 2
# Words that carry no topic; the rest (including «не», «нет») stay, they matter here.
STOPWORDS = frozenset(
    "и в во на с со к ко по о об от до из за у для при а но же ли бы то это что как так его ее их "
    "они он она мы вы я ты мой наш ваш этот тот который весь свой быть там тут здесь уже еще очень "
    "или да также просить прошу пожалуйста добрый день вечер утро здравствуйте здравствовать уважаемый "
    "спасибо заранее".split()
)


def features(lemmas: Sequence[str]) -> list[str]:
    """Lemma unigrams and adjacent bigrams, stop words left out."""
    words = [w for w in lemmas if w not in STOPWORDS and not w.isdigit()]
    return words + [f"{a} {b}" for a, b in pairwise(words)]


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
        counts = Counter(f for f in features(lemmas) if f in self.vocab)
        if sum(1 for f in counts if " " not in f) < MIN_KNOWN_WORDS:
            return None
        idx = np.fromiter((self.vocab[f] for f in counts), dtype=np.int64, count=len(counts))
        tf = np.fromiter((1.0 + math.log(c) for c in counts.values()), dtype=np.float32, count=len(counts))
        x = tf * self.idf[idx]
        x /= np.linalg.norm(x) or 1.0
        return x @ self.coef[idx] + self.intercept

    def predict_proba(self, lemmas: Sequence[str]) -> dict[str, float] | None:
        """Class probabilities, or None when the message shares no feature with the training data."""
        s = self.scores(lemmas)
        if s is None:
            return None
        e = np.exp(s - s.max())
        p = e / e.sum()
        return {c: float(v) for c, v in zip(self.classes, p, strict=True)}

    def save(self, path: Path | str) -> None:
        joblib.dump(
            {
                "format": FORMAT,
                "version": self.version,
                "classes": self.classes,
                "vocab": self.vocab,
                "idf": self.idf.astype(np.float32),
                "coef": self.coef.astype(np.float32),
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
        coef=d["coef"],
        intercept=d["intercept"],
        meta=d["meta"],
    )
