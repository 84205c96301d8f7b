"""The understanding stage: one normalised message in, its classification and routing out.

Two layers decide the category (see classify/README.md, "How rules and model are combined"):
the editable rules (classify/data/rules.yaml) and the statistical model (classify/data/model.joblib,
trained by `mcu classify train`). Signals (kind, sentiment, urgency, conflict) come from
classify/data/signals.yaml; the settlement from route.resolve; duplicates from classify.clusters.
"""

import time
from dataclasses import dataclass, field
from pathlib import Path

from classify.clusters import ClusterIndex
from classify.model import LinearTextModel, load_model
from classify.morph import Lemmatizer
from classify.phrases import PhraseSet
from classify.signals import SignalDetector
from classify.taxonomy import Category, Taxonomy, load_rules, load_signals, load_taxonomy
from classify.textnorm import clean, tokens
from route.directory import Directory, load_directory
from route.resolve import SettlementResolver
from schemas.case import UNRESOLVED, Classification, Routing
from schemas.message import NormalizedMessage

# Below this combined confidence a person looks at the message before it is routed.
REVIEW_BELOW = 0.45
# Each layer counts as "confident" at or above this; confident layers that disagree -> review.
CONFIDENT = 0.6
# Rule evidence needed before a category is given at all when the model is silent.
MIN_RULE_SCORE = 2.0
_RULE_PRIOR = 2.0  # pseudo-count that keeps a single weak phrase from looking certain


@dataclass(slots=True)
class Decision:
    category: str
    confidence: float
    needs_review: bool
    rule_top: str | None = None
    model_top: str | None = None
    reasons: list[str] = field(default_factory=list)


def combine(rule_scores: dict[str, float], model_probs: dict[str, float] | None, known: set[str]) -> Decision:
    """Fuse the two layers; neither alone decides when the other is confident against it."""
    total = sum(max(v, 0.0) for v in rule_scores.values())
    rule_p = {c: max(v, 0.0) / (total + _RULE_PRIOR) for c, v in rule_scores.items() if v > 0}
    rule_top = max(rule_p, key=rule_p.__getitem__) if rule_p else None
    rule_conf = rule_p[rule_top] if rule_top else 0.0
    strong_rule = rule_top is not None and rule_scores[rule_top] >= MIN_RULE_SCORE
    if not model_probs:
        if not strong_rule:
            return Decision(UNRESOLVED, rule_conf, True, rule_top, None, ["no rule evidence"])
        return Decision(rule_top, rule_conf, rule_conf < REVIEW_BELOW, rule_top, None)  # type: ignore[arg-type]
    model_top = max(model_probs, key=model_probs.__getitem__)
    model_conf = model_probs[model_top]
    # The model only knows the categories it was trained on; where it has no opinion on the rules'
    # category, the rules speak alone for that category.
    cats = set(rule_p) | set(model_probs)
    fused = {}
    for c in cats:
        if c in model_probs and c in known:
            fused[c] = 0.5 * rule_p.get(c, 0.0) + 0.5 * model_probs[c] if rule_p else model_probs[c]
        else:
            fused[c] = rule_p.get(c, 0.0) * (1.0 - 0.5 * model_conf)
    best = max(fused, key=fused.__getitem__)
    conf = min(1.0, fused[best])
    reasons: list[str] = []
    review = conf < REVIEW_BELOW
    if rule_top and rule_top != model_top and rule_conf >= CONFIDENT and model_conf >= CONFIDENT:
        review = True
        reasons.append(f"rules say {rule_top}, model says {model_top}")
    if not strong_rule and model_conf < 0.5:
        return Decision(UNRESOLVED, conf, True, rule_top, model_top, [*reasons, "weak evidence"])
    return Decision(best, conf, review, rule_top, model_top, reasons)


class Enricher:
    def __init__(
        self,
        directory: Directory,
        taxonomy: Taxonomy,
        rules: PhraseSet,
        signals: SignalDetector,
        model: LinearTextModel | None,
        lemmatizer: Lemmatizer,
        clusters: ClusterIndex | None = None,
    ) -> None:
        self.directory = directory
        self.taxonomy = taxonomy
        self.categories: dict[str, Category] = taxonomy.by_code()
        self.rules = rules
        self.signals = signals
        self.model = model
        self.lemmatizer = lemmatizer
        self.resolver = SettlementResolver(directory)
        self.clusters = clusters
        self.load_seconds = 0.0
        self._known = set(model.classes) if model else set()

    @classmethod
    def load(
        cls,
        model_path: Path | str | None = None,
        *,
        use_model: bool = True,
        clusters: ClusterIndex | None = None,
    ) -> "Enricher":
        started = time.perf_counter()
        lemmatizer = Lemmatizer()
        directory = load_directory()
        taxonomy = load_taxonomy(directory)
        rules_file = load_rules(taxonomy)
        rules = PhraseSet.build(rules_file.rules, lemmatizer)
        signals = SignalDetector(load_signals(), lemmatizer)
        model = load_model(model_path) if use_model else None
        self = cls(directory, taxonomy, rules, signals, model, lemmatizer, clusters)
        self.load_seconds = time.perf_counter() - started
        return self

    @property
    def model_version(self) -> str:
        return f"rules-v{self.taxonomy.version}" + (f"+{self.model.version}" if self.model else "")

    def analyse_text(self, text: str) -> tuple[str, list[str], list[str]]:
        cleaned = clean(text)
        words = [w.lower() for w in tokens(cleaned)]
        return cleaned, words, self.lemmatizer.lemmas(words)

    def decide_category(self, lemmas: list[str], rubric: str | None = None) -> Decision:
        scores = self.rules.scores(lemmas)
        if rubric:
            # The portal's own rubric is the resident's choice: evidence, not a verdict.
            _, _, rl = self.analyse_text(rubric)
            for c, v in self.rules.scores(rl).items():
                scores[c] = scores.get(c, 0.0) + v
        probs = self.model.predict_proba(lemmas) if self.model else None
        return combine(scores, probs, self._known)

    def enrich(self, message: NormalizedMessage) -> tuple[Classification, Routing]:
        text = f"{message.title}. {message.text}" if message.title else message.text
        cleaned, words, lemmas = self.analyse_text(text)
        decision = self.decide_category(lemmas, message.hints.get("rubric"))
        sig = self.signals.detect(words, lemmas, text.count("?"))
        place_text = f"{message.address}. {cleaned}" if message.address else cleaned
        res = self.resolver.resolve(place_text, message.lat, message.lon, message.hints.get("settlement"))
        cat = self.categories.get(decision.category)
        routing = self._route(cat, res.settlement, res.locality, res.evidence)
        review = decision.needs_review or (res.evidence or "").startswith("ambiguous")
        cluster_id = None
        if self.clusters is not None and cat is not None:
            cluster_id = self.clusters.assign(
                message.message_id, cat.code, routing.locality or routing.settlement, lemmas, message.created_at
            )
        classification = Classification(
            category=decision.category,
            category_name=cat.name if cat else "",
            kind=sig.kind,
            sentiment=sig.sentiment,
            urgent=sig.urgent,
            urgency_reasons=sig.urgency_reasons,
            conflict=sig.conflict,
            confidence=round(decision.confidence, 4),
            needs_review=review,
            cluster_id=cluster_id,
            model_version=self.model_version,
        )
        return classification, routing

    def _route(
        self, cat: Category | None, settlement: str | None, locality: str | None, evidence: str | None
    ) -> Routing:
        st = self.directory.settlements.get(settlement) if settlement else None
        common = {
            "settlement": st.code if st else UNRESOLVED,
            "settlement_name": st.name if st else "",
            "locality": locality,
            "settlement_evidence": evidence,
        }
        if cat is None:
            return Routing(block=0, department=UNRESOLVED, level="district", **common)
        if cat.department is None:
            body = self.directory.external_bodies[cat.forward_to]  # type: ignore[index]
            return Routing(block=0, department=UNRESOLVED, level="district", forward_to=body.name, **common)
        dep = self.directory.departments[cat.department]
        block = self.directory.blocks[dep.block]
        level = "settlement" if cat.level == "settlement" and st else "district"
        return Routing(
            block=block.number,
            block_name=block.name,
            department=dep.code,
            department_name=dep.name,
            level=level,
            **common,
        )
