"""Which settlement (territorial unit) a message is about.

Evidence, strongest first: place names in the text in any grammatical case («в Джубге»,
«пос. Новомихайловский», «на Небуге», «Агуй-Шапсуге»), the message's coordinates (nearest
locality), the channel's own metadata (a settlement's own group or account). A place whose
membership is `unverified` is recognised but never decides on its own. Two places of different
settlements with equal weight leave the settlement unresolved: no guessing.
"""

import math
import re
from dataclasses import dataclass
from typing import Literal

from common.morph import analyzer
from route.directory import Directory, Locality, Settlement

_WORD = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)*")
_NOTE = re.compile(r"\s*\((?:ист|адыг)[^)]*\)")
_PAREN = re.compile(r"\s*\([^)]*\)")
_TYPE_PREFIX = re.compile(
    r"^(?:г\.|г|город|с\.|с|село|п\.|пос\.|посёлок|поселок|пгт|х\.|хутор|а\.|аул|кп|курортный посёлок|станица)\s+",
    re.IGNORECASE,
)
# Words that introduce a place (so a common-word name like «Красное» counts after them).
_MARKERS = frozenset(
    "г гор город городе города с село селе села сел п пос поселок поселке поселка посёлок посёлке пгт "
    "х хут хутор хуторе хутора а аул ауле аула ст станица станице д деревня деревне кп мкр микрорайон "
    "микрорайоне".split()
)
# After these the next words are a street, river or mountain, not the place itself.
_NOT_PLACE = frozenset(
    "ул улица улице улицы улицу пер переулок переулке проспект пр пр-т шоссе бульвар б-р пл площадь "
    "площади набережная набережной р река реке реки рекой реку гора горе горы ущелье ущелья мыс мыса "
    "трасса трассе трассы трассу трассой автодорога автодороге автодороги автодорогу автодорогой "
    "имени им".split()
)
_IN = frozenset("в во на у около возле за рядом".split())
# Where the writer or the road comes from or goes to; «под Туапсе» is near the town, not in it.
_FROM_TO = frozenset("из от до через между по под сторону направлении".split())
# "живу в Туапсе, а дача в Цыпке": where the writer lives weighs less than where the problem is.
_RESIDE = frozenset("живу живем живём проживаю проживаем прописан прописана зарегистрирован".split())
_AND = frozenset("и или".split())
_EARTH_KM = 6371.0
_COORD_RADIUS_KM = 8.0


@dataclass(frozen=True, slots=True)
class _Target:
    name: str  # locality or settlement name as the directory writes it
    settlement: str | None
    decides: bool
    membership: str
    ambiguous: bool  # the name is also a common word: needs a marker or a capital letter


@dataclass(frozen=True, slots=True)
class Mention:
    target: _Target
    weight: float
    text: str


EvidenceSource = Literal["text", "channel+text", "ambiguous", "coords", "channel", "recognised"]


@dataclass(frozen=True, slots=True)
class Evidence:
    """What decided the settlement. Code reads the fields; `str()` is the compact form stored with
    the case (`Routing.settlement_evidence`, a ClickHouse column), e.g. ``text:Джубга``."""

    source: EvidenceSource
    places: tuple[str, ...] = ()
    # Set when the deciding place's membership is not `verified`, so an analyst sees the doubt.
    membership: str | None = None
    distance_km: float | None = None

    @property
    def ambiguous(self) -> bool:
        """Places of different settlements weighed the same: a person must look."""
        return self.source == "ambiguous"

    def __str__(self) -> str:
        flag = f"({self.membership})" if self.membership else ""
        if self.source == "channel":
            return "channel"
        if self.source == "coords":
            return f"coords:{self.places[0]}:{self.distance_km:.1f}km{flag}"
        return f"{self.source}:{','.join(self.places)}{flag}"


@dataclass(frozen=True, slots=True)
class Resolution:
    settlement: str | None
    locality: str | None
    evidence: Evidence | None


def _haversine(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * _EARTH_KM * math.asin(math.sqrt(a))


def _heuristic_forms(w: str) -> set[str]:
    """Case endings pymorphy may not know for a local name."""
    out = {w}
    if w.endswith(("ий", "ый", "ой")) and len(w) > 4:
        s = w[:-2]
        out |= {s + e for e in ("ого", "ому", "им", "ым", "ом")}
        if w.endswith("ой"):  # or a noun: Дедеркой -> в Дедеркое, Агой -> в Агое
            out |= {w[:-1] + e for e in ("я", "ю", "е", "ем")}
    elif w.endswith(("ое", "ее")) and len(w) > 4:
        s = w[:-2]
        out |= {s + e for e in ("ого", "ому", "ым", "им", "ом", "ое")}
    elif w.endswith("а"):
        s = w[:-1]
        out |= {s + e for e in ("ы", "и", "е", "у", "ой", "ою")}
    elif w.endswith(("о", "е", "и", "у", "э")):
        if w.endswith("во"):
            out |= {w[:-1] + e for e in ("а", "у", "е", "ом")}
    elif w.endswith("ь"):
        s = w[:-1]
        out |= {s + e for e in ("я", "ю", "е", "ем", "и")}
    elif w.endswith("й"):
        s = w[:-1]
        out |= {s + e for e in ("я", "ю", "е", "ем")}
    else:
        out |= {w + e for e in ("а", "у", "е", "ом", "ы")}
    return out


def _word_forms(word: str) -> tuple[set[str], bool]:
    """All case forms of one word of a place name; and whether it is also a common word."""
    w = word.lower().replace("ё", "е")
    forms = _heuristic_forms(w)
    morph = analyzer()
    parses = morph.parse(w)
    common = False
    best = next((p for p in parses if "nomn" in p.tag and ({"NOUN", "ADJF"} & p.tag.grammemes)), None)
    if best is not None:
        common = best.is_known and "Geox" not in best.tag and "Name" not in best.tag and "Surn" not in best.tag
        gender = best.tag.gender
        for f in best.lexeme:
            if "plur" in f.tag and "sing" in best.tag:
                continue
            if "ADJF" in f.tag and gender and f.tag.gender not in (gender, None):
                continue
            if {"Cmp2", "Supr", "Qual"} & f.tag.grammemes and "ADJF" in f.tag:
                continue
            forms.add(f.word.replace("ё", "е"))
    return forms, common


class SettlementResolver:
    def __init__(self, directory: Directory) -> None:
        self.directory = directory
        # first word form -> list of (forms of every word, target)
        self._index: dict[str, list[tuple[tuple[frozenset[str], ...], _Target]]] = {}
        for loc in directory.localities:
            for name in self._names_of(loc.name, loc.aliases):
                self._add(name, self._target_of(loc))
        for st in directory.settlements.values():
            tgt = _Target(st.name, st.code, True, "verified", False)
            names = [a for a in st.aliases if not a.lower().startswith("туапсинск") or " " in a]
            if st.code != "tuapsinskoe":  # «туапсинский» alone means the city or the whole округ
                names.append(st.short)
            for name in names:
                self._add(name, tgt)
        for loc_name, parts in directory.microdistricts.items():
            loc = directory.locality(loc_name)
            if loc is None:
                continue
            base = self._target_of(loc)
            for part in parts:
                self._add(part, _Target(loc.name, base.settlement, base.decides, base.membership, False))
        self._with_coords = [x for x in directory.localities if x.lat is not None and x.lon is not None]

    @staticmethod
    def _target_of(loc: Locality) -> _Target:
        return _Target(loc.name, loc.settlement, loc.decides_settlement, loc.membership, False)

    @staticmethod
    def _names_of(name: str, aliases: list[str]) -> list[str]:
        out = [name]
        for a in aliases:
            if _NOTE.search(a):
                continue  # historic and Adyghe names collide with living words; keep them out
            a = _PAREN.sub("", a).strip()
            a = _TYPE_PREFIX.sub("", a).strip()
            if a and not a.isascii():
                out.append(a)
        return list(dict.fromkeys(out))

    def _add(self, name: str, target: _Target) -> None:
        words = _WORD.findall(name.replace("ё", "е"))
        if not words:
            return
        per_word = [_word_forms(w) for w in words]
        forms = tuple(frozenset(f) for f, _ in per_word)
        # A one-word name that is also a dictionary word needs a marker or a capital letter.
        ambiguous = len(words) == 1 and per_word[0][1]
        tgt = _Target(target.name, target.settlement, target.decides, target.membership, ambiguous)
        for f in forms[0]:
            self._index.setdefault(f, []).append((forms, tgt))

    def mentions(self, text: str, words_lower: list[str] | None = None) -> list[Mention]:
        """Place names in `text`; `words_lower`, the caller's lower-case tokens, speeds the common miss."""
        # Most messages name no place: a set test before any real work.
        text = text.replace("ё", "е").replace("Ё", "Е")  # the index is built without ё
        if self._index.keys().isdisjoint(words_lower if words_lower is not None else _WORD.findall(text.lower())):
            return []
        spans = list(_WORD.finditer(text))
        words = [m.group(0) for m in spans]
        low = [w.lower() for w in words]
        found: list[Mention] = []
        last_end, last_weight = -10, 0.0
        i = 0
        index = self._index
        while i < len(low):
            cands = index.get(low[i])
            if not cands:
                i += 1
                continue
            best_n = 0
            hits: list[_Target] = []
            for forms, tgt in cands:
                n = len(forms)
                if n >= best_n and i + n <= len(low) and all(low[i + k] in forms[k] for k in range(1, n)):
                    if n > best_n:
                        best_n, hits = n, []
                    hits.append(tgt)
            if not hits:
                i += 1
                continue
            n, tgt = best_n, hits[0]
            if len({h.settlement for h in hits}) > 1:
                # One name, places in different settlements (Кроянское: a village and a part of
                # Туапсе): recognised, but it cannot decide.
                tgt = _Target(tgt.name, None, False, "ambiguous", any(h.ambiguous for h in hits))
            prev = low[i - 1] if i else ""
            # «с.», «п.», «а.» mark a place only with their full stop: «с центром», «А-147» do not
            marked = prev in _MARKERS and (len(prev) > 1 or text[spans[i - 1].end() : spans[i - 1].end() + 1] == ".")
            # «ул. Калараша», «трассу А-147 «Джубга — Сочи»»: a street or a road, not the place
            if prev in _NOT_PLACE or (len(prev) == 1 and i >= 2 and low[i - 2] in _NOT_PLACE):
                i += n
                continue
            if tgt.ambiguous and not marked:
                start = spans[i].start()
                before = text[:start].rstrip()
                sentence_start = not before or before[-1] in ".!?\n"
                if not words[i][:1].isupper() or sentence_start:
                    i += n
                    continue
            if marked:
                prev = low[i - 2] if i >= 2 else ""
            weight = 1.0 if prev in _FROM_TO else 3.0 if prev in _IN or marked else 2.0
            before_prep = i - 2 - int(marked)
            if prev in _IN and before_prep >= 0 and low[before_prep] in _RESIDE:
                weight = 1.5
            if low[i - 1] in _AND and last_end == i - 1:
                weight = last_weight  # "в Джубге и Лермонтово": the preposition covers both
            found.append(Mention(tgt, weight, " ".join(words[i : i + n])))
            last_end, last_weight = i + n, weight
            i += n
        return found

    def nearest(self, lat: float, lon: float) -> tuple[Locality, float] | None:
        best: tuple[Locality, float] | None = None
        for loc in self._with_coords:
            d = _haversine(lat, lon, loc.lat, loc.lon)  # type: ignore[arg-type]
            if best is None or d < best[1]:
                best = (loc, d)
        return best if best and best[1] <= _COORD_RADIUS_KM else None

    def resolve(
        self,
        text: str,
        lat: float | None = None,
        lon: float | None = None,
        hint: str | None = None,
        words_lower: list[str] | None = None,
    ) -> Resolution:
        mentions = self.mentions(text, words_lower)
        score: dict[str, float] = {}
        first_locality: dict[str, str] = {}
        recognised: str | None = None
        for m in mentions:
            t = m.target
            if recognised is None:
                recognised = t.name
            if not t.decides or t.settlement is None:
                continue
            score[t.settlement] = score.get(t.settlement, 0.0) + m.weight
            first_locality.setdefault(t.settlement, t.name)
        hint_code = hint if hint in self.directory.settlements else None
        if score:
            ranked = sorted(score.items(), key=lambda kv: -kv[1])
            if len(ranked) == 1 or ranked[0][1] > ranked[1][1]:
                code = ranked[0][0]
                loc = first_locality[code]
                return Resolution(code, self._locality_or_none(loc), Evidence("text", (loc,), self._doubt(loc)))
            tied = [c for c, s in ranked if s == ranked[0][1]]
            if hint_code in tied:
                return Resolution(hint_code, None, Evidence("channel+text", tuple(sorted(tied))))
            names = sorted(first_locality[c] for c in tied)
            return Resolution(None, None, Evidence("ambiguous", tuple(names)))
        if lat is not None and lon is not None:
            near = self.nearest(lat, lon)
            if near and near[0].decides_settlement:
                loc = near[0]
                evidence = Evidence("coords", (loc.name,), self._doubt(loc.name), near[1])
                return Resolution(loc.settlement, loc.name, evidence)
        if hint_code:
            return Resolution(hint_code, self._locality_or_none(recognised), Evidence("channel"))
        if recognised:
            return Resolution(None, self._locality_or_none(recognised), Evidence("recognised", (recognised,)))
        return Resolution(None, None, None)

    def _locality_or_none(self, name: str | None) -> str | None:
        return name if name and self.directory.locality(name) else None

    def _doubt(self, name: str) -> str | None:
        loc = self.directory.locality(name)
        return loc.membership if loc and loc.membership != "verified" else None

    def settlement(self, code: str) -> Settlement | None:
        return self.directory.settlements.get(code)


__all__ = ["Evidence", "Mention", "Resolution", "SettlementResolver"]
