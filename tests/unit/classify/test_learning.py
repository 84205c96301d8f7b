import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from classify.cli import classify
from classify.devset import read_jsonl
from classify.enricher import Enricher
from classify.learning import CorrectionsError, answers, read_corrections, train_with_corrections
from classify.registry import ModelRegistry

DATA = Path(__file__).resolve().parents[3] / "classify" / "data"

# Two matters the home portals' data gets wrong: snow banks a grader leaves (read as storm drainage
# or the block of flats) and a minibus that did not come (read as health care!). The operators
# correct four messages; the model must then answer right on them and on unseen rewordings.
CORRECTIONS = [
    ("грейдер прошел, а весь снег остался на перекрестке, выросла бровка, пешеходам не пройти", "street_cleaning"),
    ("снег с дороги сгребли к подъезду, бровка по пояс, не выйти из двора", "street_cleaning"),
    ("маршрутка опять не пришла, интервал больше часа", "public_transport"),
    ("маршрутку ждали час, водитель сказал что машин на линии нет", "public_transport"),
]
PARAPHRASES = [
    ("после грейдера у перекрестка осталась снежная бровка выше колена", "street_cleaning"),
    ("грейдер сгреб снег к подъезду, бровку никто не убрал", "street_cleaning"),
    ("интервал у маршрутки больше часа, опять не пришла", "public_transport"),
    ("час ждем маршрутку, на линии нет машин", "public_transport"),
]
# the ones the model without corrections gets wrong (the last of each list it already gets right)
WRONG_BEFORE = [0, 1, 2, 4, 5, 6]


@pytest.fixture(scope="module")
def small_dev() -> list[dict]:
    # 40 messages per category keep the test's training in seconds; the full set is what the CLI uses
    seen: dict[str, int] = {}
    out = []
    for r in read_jsonl(DATA / "dev.jsonl"):
        if seen.get(r["category"], 0) < 40:
            seen[r["category"]] = seen.get(r["category"], 0) + 1
            out.append(r)
    return out


def test_a_retrain_on_a_few_corrections_changes_the_answer_on_them_and_on_rewordings(small_dev: list[dict]) -> None:
    enricher = Enricher.load(use_model=False, clustering=False)
    corr = [{"id": f"c{i}", "text": t, "category": c} for i, (t, c) in enumerate(CORRECTIONS)]
    before, _ = train_with_corrections(enricher, small_dev, [], [])
    after, info = train_with_corrections(enricher, small_dev, [], corr)
    texts = [t for t, _ in CORRECTIONS + PARAPHRASES]
    gold = [c for _, c in CORRECTIONS + PARAPHRASES]
    was = answers(enricher, before, texts)
    assert [i for i, (w, g) in enumerate(zip(was, gold, strict=True)) if w != g] == WRONG_BEFORE, was
    assert answers(enricher, after, texts) == gold
    assert info.n_corrections == 4 and info.correction_ids == ["c0", "c1", "c2", "c3"] and after.version == info.version


def test_cross_fitting_never_scores_a_correction_with_a_model_that_saw_it(small_dev: list[dict]) -> None:
    enricher = Enricher.load(use_model=False, clustering=False)
    corr = [{"id": f"c{i}", "text": t, "category": c} for i, (t, c) in enumerate(CORRECTIONS)]
    _, info = train_with_corrections(enricher, small_dev[::2], [], corr, folds=3)
    assert info.cv is not None and info.cv["n"] == len(small_dev[::2])
    assert info.corrections_cv is not None and info.corrections_cv["n"] == 4


def test_a_bad_corrections_file_names_every_bad_row(tmp_path: Path) -> None:
    cats = set(Enricher.load(use_model=False, clustering=False).categories)
    p = tmp_path / "c.jsonl"
    p.write_text(
        "\n".join(
            [
                json.dumps({"text": "яма", "category": "roads"}, ensure_ascii=False),
                json.dumps({"text": "яма", "category": "no_such"}),
                "{broken",
                json.dumps({"text": "", "category": "roads"}),
            ]
        ),
        encoding="utf-8",
    )
    with pytest.raises(CorrectionsError) as err:
        read_corrections(p, cats)
    msg = str(err.value)
    assert "строка 2" in msg and "no_such" in msg and "строка 3" in msg and "строка 4" in msg
    cp = tmp_path / "c.csv"
    cp.write_bytes("text,category\nнет воды,water_supply\n".encode("cp1251"))
    with pytest.raises(CorrectionsError, match="UTF-8"):
        read_corrections(cp, cats)
    cp.write_text("text,new_category\nнет воды,water_supply\n", encoding="utf-8")
    assert read_corrections(cp, cats)[0]["category"] == "water_supply"


def test_train_refuses_a_bad_file_and_writes_no_version(tmp_path: Path) -> None:
    p = tmp_path / "c.jsonl"
    p.write_text(json.dumps({"text": "яма", "category": "no_such"}), encoding="utf-8")
    reg = tmp_path / "models"
    res = CliRunner().invoke(classify, ["train", "--with-corrections", str(p), "--registry", str(reg)])
    assert res.exit_code != 0 and "no_such" in res.output
    assert ModelRegistry(reg).versions() == []


def test_evaluate_candidate_prints_both_models_side_by_side(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from classify.model import load_model
    from classify.registry import VersionInfo

    reg = ModelRegistry(tmp_path / "models")
    model = load_model()
    assert model is not None
    model.version = "cand-1"
    cv = {"n": 10, "category_accuracy": 0.9, "category_macro_f1": 0.8, "block_accuracy": 0.95, "block_macro_f1": 0.85}
    info = VersionInfo(
        version="cand-1",
        created_at=datetime.now(UTC),
        data_hash="0" * 64,
        n_examples=1,
        n_corrections=1,
        cv=cv,
        corrections_cv={**cv, "n": 1},
        correction_ids=["c0"],
    )
    reg.add(model, info)
    p = tmp_path / "c.jsonl"
    rows = [{"id": f"c{i}", "text": t, "category": c} for i, (t, c) in enumerate(CORRECTIONS)]
    p.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    res = CliRunner().invoke(
        classify, ["evaluate-candidate", "cand-1", "--corrections", str(p), "--registry", str(reg.root)]
    )
    assert res.exit_code == 0, res.output
    assert "не бывшие в обучении кандидата (n=3)" in res.output
    assert "из обучения кандидата (n=1" in res.output
    assert "CV на наборе разработки" in res.output and "0.850" in res.output
    assert "текущая" in res.output and "кандидат" in res.output
