"""Kind, sentiment, urgency and conflict flags of a message, from the cues in signals.yaml."""

import re
from dataclasses import dataclass, field

from classify.phrases import PhraseSet
from classify.taxonomy import SignalsFile
from common.morph import Lemmatizer


@dataclass(slots=True)
class Signals:
    kind: str = "complaint"
    sentiment: str = "neutral"
    urgent: bool = False
    urgency_reasons: list[str] = field(default_factory=list)
    conflict: list[str] = field(default_factory=list)


class SignalDetector:
    def __init__(self, cues: SignalsFile, lemmatizer: Lemmatizer) -> None:
        self.cues = cues
        # One matcher for every cue group: the enricher runs it together with the category rules.
        self.phrases = (
            PhraseSet.build(cues.kind, lemmatizer, "kind")
            + PhraseSet.build(dict(cues.sentiment), lemmatizer, "sentiment")
            + PhraseSet.build(cues.urgency, lemmatizer, "urgency")
            + PhraseSet.build(dict(cues.conflict), lemmatizer, "conflict")
        )
        self._obscene = tuple(cues.obscene_roots)
        self._obscene_ok = tuple(cues.obscene_exceptions)
        # One C-level search over the message before looking word by word.
        self._obscene_re = re.compile(r" (?:" + "|".join(re.escape(r) for r in self._obscene) + ")")

    def _is_obscene(self, word: str) -> bool:
        return word.startswith(self._obscene) and not word.startswith(self._obscene_ok)

    def detect(
        self,
        words: list[str],
        lemmas: list[str],
        question_marks: int,
        grouped: dict[str, dict[str, float]] | None = None,
    ) -> Signals:
        """Signals of one message; `grouped` are this detector's phrase scores if already computed."""
        if grouped is None:
            grouped = self.phrases.grouped_scores(lemmas)
        out = Signals()
        kind = dict(grouped.get("kind", {}))
        if question_marks:
            kind["question"] = kind.get("question", 0.0) + self.cues.question_mark_weight
        sent = grouped.get("sentiment", {})
        neg, pos = sent.get("negative", 0.0), sent.get("positive", 0.0)
        urg = grouped.get("urgency", {})
        out.urgency_reasons = sorted(r for r, s in urg.items() if s >= self.cues.urgency_threshold)
        out.urgent = bool(out.urgency_reasons)
        conf = grouped.get("conflict", {})
        flags = [c for c, s in conf.items() if s >= self.cues.conflict_threshold]
        if self._obscene_re.search(" " + " ".join(words)) and any(self._is_obscene(w) for w in words):
            flags.append("obscenity")
        out.conflict = sorted(flags)
        if flags and ("aggression" in flags or "obscenity" in flags or "threat" in flags):
            neg += 3
        if urg:
            neg += 1
        # Gratitude that also reports a problem ("спасибо, что починили, но ...") stays gratitude only
        # when thanks dominate; complaints with a polite "спасибо" at the end stay complaints.
        if kind:
            best = max(kind, key=lambda k: kind[k])
            grat = kind.get("gratitude", 0.0)
            if best == "gratitude" and (out.urgent or neg > pos) and grat < 6:
                rest = {k: v for k, v in kind.items() if k != "gratitude"}
                best = max(rest, key=lambda k: rest[k]) if rest else "complaint"
            if kind.get(best, 0.0) >= 2:
                out.kind = best
        if out.kind == "gratitude":
            pos += 2
        if pos > neg and pos >= 2:
            out.sentiment = "positive"
        elif neg > pos and neg >= 1:
            out.sentiment = "negative"
        elif out.kind == "complaint" and neg == pos == 0:
            out.sentiment = "negative" if out.urgent else "neutral"
        return out
