import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from classify.model import features, load_model
from classify.training import C, fit, report

DOCS = [
    (["нет", "вода", "третий", "день"], "water"),
    (["вода", "не", "идти", "кран"], "water"),
    (["слабый", "напор", "вода"], "water"),
    (["яма", "на", "дорога"], "roads"),
    (["разбитый", "дорога", "яма"], "roads"),
    (["ремонт", "дорога", "асфальт"], "roads"),
] * 3


def test_numpy_inference_matches_sklearn_and_survives_a_round_trip(tmp_path) -> None:
    lem, lab = [d for d, _ in DOCS], [c for _, c in DOCS]
    model = fit(lem, lab)
    vec = TfidfVectorizer(analyzer=features, sublinear_tf=True, min_df=2, max_features=30_000)
    clf = LogisticRegression(C=C, max_iter=2000, class_weight="balanced").fit(vec.fit_transform(lem), lab)
    probe = ["опять", "нет", "вода", "и", "яма", "дорога"]
    want = dict(zip(clf.classes_, clf.predict_proba(vec.transform([probe]))[0], strict=True))
    got = model.predict_proba(probe)
    assert got is not None
    for c in want:
        assert got[c] == pytest.approx(want[c], abs=1e-4)
    path = tmp_path / "m.joblib"
    model.save(path)
    again = load_model(path)
    assert again is not None and again.classes == model.classes
    assert again.predict_proba(probe) == pytest.approx(got, abs=2e-3)


def test_no_opinion_without_known_words() -> None:
    model = fit([d for d, _ in DOCS], [c for _, c in DOCS])
    assert model.predict_proba(["добрый", "день"]) is None
    assert model.predict_proba(["вода"]) is None  # one known word is not a topic


def test_packaged_artefact_is_small_and_loads() -> None:
    m = load_model()
    assert m is not None and len(m.classes) >= 20
    assert m.coef.dtype == np.float32 and m.coef.shape == (len(m.vocab), len(m.classes))


def test_report_counts_unresolved_as_an_error() -> None:
    r = report(["a", "a", "b"], ["a", "unresolved", "b"])
    assert r.accuracy == pytest.approx(2 / 3)
    assert "unresolved" in r.labels
