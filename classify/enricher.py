"""The understanding stage: one normalised message in, its classification and routing out.

Two layers decide the category (see classify/README.md, "How rules and model are combined"):
the editable rules (classify/data/rules.yaml) and the statistical model (classify/data/model.joblib,
trained by `mcu classify train`). Signals (kind, sentiment, urgency, conflict) come from
classify/data/signals.yaml; duplicates from classify.clusters. Where the message goes (settlement,
department, block, level) is decided by route.routing; this stage only asks it.
"""

import time
from dataclasses import dataclass, field
from pathlib import Path

from classify.clusters import ClusterIndex, outage_categories
from classify.model import LinearTextModel, load_model
from classify.phrases import PhraseSet
from classify.pii import mask_pii
from classify.signals import SignalDetector
from classify.taxonomy import Category, Taxonomy, load_rules, load_signals, load_taxonomy
from common.morph import Lemmatizer
from common.textnorm import clean, tokens
from common.yaml_load import DataFileError
from route.directory import Directory, load_directory
from route.routing import Router
from schemas.case import UNRESOLVED, Classification, Routing
from schemas.message import NormalizedMessage

# Below this combined confidence a person looks at the message before it is routed.
REVIEW_BELOW = 0.4
# Below this there is no category at all: "unresolved", sorted by hand.
UNRESOLVED_BELOW = 0.06
# Each layer counts as "confident" at or above this; confident layers that disagree -> review.
CONFIDENT = 0.6
# Share of the rules in the fused score of categories both layers know. Chosen under 5-fold
# cross-validation on the development set (0.1-0.3 all within 0.005 macro-F1).
RULES_SHARE = 0.3
# Share of the rules for categories the model was never trained on, damped by the model's own
# confidence elsewhere: a model sure of «дороги» holds back a stray rule hit on «школа».
RULES_SHARE_UNSEEN = 0.3
# A rule score this high (one unambiguous phrase) is strong evidence on its own.
STRONG_RULE = 3.0
# A model whose best class has less probability than this does not really know. Its training data
# is urban (St Petersburg, Kursk), where «нет света» is a dark stairwell or street; a Tuapse rule
# phrase that clearly says «power outage» should win against a model torn between such senses.
# Under CV 0.2 scored 0.7656 category macro-F1 and 0.4 scored 0.7591 (see classify/README.md).
MODEL_UNSURE = 0.4
_RULE_PRIOR = 4.0  # pseudo-count that keeps a single weak phrase from looking certain


@dataclass(slots=True)
class Decision:
    category: str
    confidence: float
    needs_review: bool
    rule_top: str | None = None
    model_top: str | None = None
    reasons: list[str] = field(default_factory=list)


def combine(rule_scores: dict[str, float], model_probs: dict[str, float] | None) -> Decision:
    """Fuse the two layers; neither alone decides when the other is confident against it."""
    total = sum(max(v, 0.0) for v in rule_scores.values())
    rule_p = {c: v / (total + _RULE_PRIOR) for c, v in rule_scores.items() if v > 0}
    rule_top = max(rule_p, key=rule_p.__getitem__) if rule_p else None
    rule_conf = 0.0
    if rule_top:
        # The rules' own confidence: how far the best category stands above the rest.
        rule_conf = rule_scores[rule_top] / (total + 1.0)
    if not model_probs:
        if rule_top is None:
            return Decision(UNRESOLVED, 0.0, True, None, None, ["no evidence"])
        conf = rule_p[rule_top]
        return Decision(rule_top, conf, conf < REVIEW_BELOW, rule_top, None)
    model_top = max(model_probs, key=model_probs.__getitem__)
    model_conf = model_probs[model_top]
    seen_rule_total = sum(v for c, v in rule_scores.items() if c in model_probs and v > 0)
    rules_alone = rule_top is not None and rule_scores[rule_top] >= STRONG_RULE
    if rules_alone and rule_top in model_probs:
        # One clear rule category against an unsure model: the rules decide.
        rules_alone = rule_scores[rule_top] > total - rule_scores[rule_top] and model_conf < MODEL_UNSURE
    elif rules_alone:
        rules_alone = rule_scores[rule_top] > seen_rule_total  # type: ignore[index]
    if rules_alone and rule_top:
        # A topic the model never learnt, or one the model cannot tell: the rules decide unless
        # the model is sure of another one.
        conf = rule_p[rule_top]
        if model_conf >= CONFIDENT:
            reason = f"rules say {rule_top}, model says {model_top}"
            if model_conf > conf:
                return Decision(model_top, model_conf * (1 - RULES_SHARE), True, rule_top, model_top, [reason])
            return Decision(rule_top, conf, True, rule_top, model_top, [reason])
        return Decision(rule_top, conf, conf < REVIEW_BELOW, rule_top, model_top)
    fused: dict[str, float] = {}
    # Only the model's three best and the rules' categories can win the fusion.
    top_model = sorted(model_probs, key=model_probs.__getitem__, reverse=True)[:3]
    for c in set(rule_p).union(top_model):
        if c in model_probs:
            fused[c] = RULES_SHARE * rule_p.get(c, 0.0) + (1 - RULES_SHARE) * model_probs[c]
        else:
            fused[c] = RULES_SHARE_UNSEEN * rule_p[c] * (1.0 - model_conf)
    best = max(fused, key=fused.__getitem__)
    conf = min(1.0, fused[best])
    reasons: list[str] = []
    review = conf < REVIEW_BELOW
    if rule_top and rule_top != model_top and rule_conf >= CONFIDENT and model_conf >= CONFIDENT:
        review = True
        reasons.append(f"rules say {rule_top}, model says {model_top}")
    if conf < UNRESOLVED_BELOW:
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
        # Category rules and signal cues in one matcher: one pass over the lemmas per message.
        self.phrases = (
            PhraseSet.build({}, lemmatizer)
            + PhraseSet([type(p)(f"category/{p.label}", p.text, p.lemmas, p.weight) for p in rules.phrases])
            + signals.phrases
        )
        self.model = model
        self.lemmatizer = lemmatizer
        self.router = Router(directory)
        self.clusters = clusters
        self.load_seconds = 0.0

    @classmethod
    def load(
        cls,
        model_path: Path | str | None = None,
        *,
        use_model: bool = True,
        clusters: ClusterIndex | None = None,
        clustering: bool = True,
    ) -> "Enricher":
        """Everything from package data. Duplicate clustering uses `clusters`, or a fresh in-memory
        index of this process when none is given (`clustering=False` turns it off)."""
        started = time.perf_counter()
        lemmatizer = Lemmatizer()
        directory = load_directory()
        taxonomy = load_taxonomy(directory)
        rules_file = load_rules(taxonomy)
        unknown = outage_categories() - set(taxonomy.by_code())
        if unknown:  # checked at start-up like every data file, so a typo stops the worker, not a cluster
            raise DataFileError(
                f"classify/data/clusters.yaml: outage_categories not in the taxonomy: {sorted(unknown)}"
            )
        rules = PhraseSet.build(rules_file.rules, lemmatizer)
        signals = SignalDetector(load_signals(), lemmatizer)
        model = load_model(model_path) if use_model else None
        if clusters is None and clustering:
            clusters = ClusterIndex()
        self = cls(directory, taxonomy, rules, signals, model, lemmatizer, clusters)
        self.load_seconds = time.perf_counter() - started
        return self

    def use_model(self, model: LinearTextModel | None) -> None:
        """Swap the statistical layer (cross-validation refits it per fold)."""
        self.model = model

    @property
    def model_version(self) -> str:
        return f"rules-v{self.taxonomy.version}" + (f"+{self.model.version}" if self.model else "")

    def mask(self, text: str) -> str:
        """The message text with phones, e-mails and people's names masked, for analytics tables."""
        return mask_pii(text, self.lemmatizer)

    def analyse_text(self, text: str) -> tuple[str, list[str], list[str]]:
        cleaned = clean(text)
        words = [w.lower() for w in tokens(cleaned)]
        return cleaned, words, self.lemmatizer.lemmas(words)

    def decide_category(
        self, lemmas: list[str], rubric: str | None = None, scores: dict[str, float] | None = None
    ) -> Decision:
        scores = dict(self.rules.scores(lemmas) if scores is None else scores)
        if rubric:
            # The portal's own rubric is the resident's choice: evidence, not a verdict.
            _, _, rl = self.analyse_text(rubric)
            for c, v in self.rules.scores(rl).items():
                scores[c] = scores.get(c, 0.0) + v
        probs = self.model.predict_proba(lemmas) if self.model else None
        return combine(scores, probs)

    def enrich(self, message: NormalizedMessage) -> tuple[Classification, Routing]:
        text = f"{message.title}. {message.text}" if message.title else message.text
        cleaned, words, lemmas = self.analyse_text(text)
        grouped = self.phrases.grouped_scores(lemmas)
        decision = self.decide_category(lemmas, message.hints.get("rubric"), grouped.get("category", {}))
        sig = self.signals.detect(words, lemmas, text.count("?"), grouped)
        if message.address:
            place_text = f"{message.address}. {cleaned}"
            place_words = None
        else:
            place_text, place_words = cleaned, words
        place = self.router.resolver.resolve(
            place_text, message.lat, message.lon, message.hints.get("settlement"), words_lower=place_words
        )
        cat = self.categories.get(decision.category)
        routing = self.router.route(cat, place)
        review = decision.needs_review or (place.evidence is not None and place.evidence.ambiguous)
        cluster_id = None
        if self.clusters is not None and cat is not None:
            cluster_id = self.clusters.assign(
                message.message_id, cat.code, routing.locality or routing.settlement, lemmas, message.created_at
            )
        # model_construct: every value here comes from validated data files or our own code, and
        # validating two models per message would cost a fifth of the stage's time.
        classification = Classification.model_construct(
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
            cluster_size=self.clusters.size(cluster_id) if self.clusters is not None and cluster_id else 0,
            model_version=self.model_version,
        )
        return classification, routing
