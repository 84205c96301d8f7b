"""Weighted lemma phrases (the editable rules) and a fast matcher for them.

A phrase of several words matches when all its lemmas occur within `WINDOW` tokens of its first
lemma, in any order: residents write «воды нет третий день» as often as «нет воды».
"""

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from common.morph import Lemmatizer
from common.textnorm import clean, tokens

WINDOW = 4


@dataclass(frozen=True, slots=True)
class Phrase:
    label: str
    text: str
    lemmas: tuple[str, ...]
    weight: float


class PhraseSet:
    """Phrases grouped by label; `scores(lemmas)` sums the weights of matched phrases per label."""

    def __init__(self, phrases: Iterable[Phrase]) -> None:
        self.phrases = list(phrases)
        self._by_first: dict[str, list[Phrase]] = defaultdict(list)
        for p in self.phrases:
            self._by_first[p.lemmas[0]].append(p)

    @classmethod
    def build(cls, table: Mapping[str, Mapping[str, float]], lemmatizer: Lemmatizer, group: str = "") -> "PhraseSet":
        """Phrases of `table` ({label: {phrase: weight}}); labels become "group/label" when grouped."""
        phrases = []
        for name, entries in table.items():
            label = f"{group}/{name}" if group else name
            for text, weight in entries.items():
                lem = tuple(lemmatizer.lemmas([w.lower() for w in tokens(clean(text))]))
                if not lem:
                    raise ValueError(f"{label}: phrase {text!r} has no words")
                phrases.append(Phrase(label, text, lem, float(weight)))
        return cls(phrases)

    def matches(self, lemmas: list[str]) -> list[Phrase]:
        found: dict[tuple[str, str], Phrase] = {}
        by_first = self._by_first
        n = len(lemmas)
        for i, lem in enumerate(lemmas):
            cands = by_first.get(lem)
            if not cands:
                continue
            for p in cands:
                key = (p.label, p.text)
                if key in found:
                    continue
                if len(p.lemmas) == 1:
                    found[key] = p
                    continue
                window = lemmas[max(0, i - WINDOW) : min(n, i + WINDOW + 1)]
                if all(x in window for x in p.lemmas[1:]):
                    found[key] = p
        return list(found.values())

    def __add__(self, other: "PhraseSet") -> "PhraseSet":
        return PhraseSet([*self.phrases, *other.phrases])

    def scores(self, lemmas: list[str]) -> dict[str, float]:
        out: dict[str, float] = defaultdict(float)
        for p in self.matches(lemmas):
            out[p.label] += p.weight
        return dict(out)

    def grouped_scores(self, lemmas: list[str]) -> dict[str, dict[str, float]]:
        """One pass for all groups: {"group": {label: score}}."""
        out: dict[str, dict[str, float]] = defaultdict(dict)
        for p in self.matches(lemmas):
            group, _, label = p.label.rpartition("/")
            d = out[group]
            d[label] = d.get(label, 0.0) + p.weight
        return out
