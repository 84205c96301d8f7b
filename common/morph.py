"""Lemmas from pymorphy3, cached: residents' text repeats words heavily, parsing is the slow part."""

from functools import cache

import pymorphy3

_CACHE_LIMIT = 400_000
# Colloquial words the dictionary reads wrongly or not at all; mapped before parsing.
COLLOQUIAL = {"нету": "нет", "щас": "сейчас", "ща": "сейчас", "чо": "что", "че": "что", "чё": "что", "скока": "сколько"}


@cache
def analyzer() -> pymorphy3.MorphAnalyzer:
    return pymorphy3.MorphAnalyzer(lang="ru")


class Lemmatizer:
    """word (lower case) -> lemma with ё as е; and whether the word looks like a person's name."""

    def __init__(self) -> None:
        self._morph = analyzer()
        self._lemmas: dict[str, str] = {}
        self._names: dict[str, str] = {}

    def lemma(self, word: str) -> str:
        got = self._lemmas.get(word)
        if got is not None:
            return got
        if word in COLLOQUIAL:
            lem = COLLOQUIAL[word]
        elif not word.isalpha() and "-" not in word:
            lem = word
        else:
            lem = self._morph.parse(word)[0].normal_form.replace("ё", "е")
        if len(self._lemmas) >= _CACHE_LIMIT:
            self._lemmas.clear()  # a crude bound; the hot vocabulary refills in seconds
        self._lemmas[word] = lem
        return lem

    def lemmas(self, words: list[str]) -> list[str]:
        get = self._lemmas.get
        return [get(w) or self.lemma(w) for w in words]

    def name_part(self, word: str) -> str | None:
        """'Name', 'Surn' or 'Patr' when the dictionary's likeliest reading is a person's name."""
        key = word.lower()
        if key in self._names:
            return self._names[key] or None
        tag = None
        for p in self._morph.parse(key)[:2]:
            if p.score < 0.2:
                continue
            for t in ("Name", "Surn", "Patr"):
                if t in p.tag:
                    tag = t
                    break
            if tag:
                break
        self._names[key] = tag or ""
        return tag
