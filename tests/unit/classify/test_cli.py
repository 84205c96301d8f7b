import json
from pathlib import Path

from click.testing import CliRunner

from classify.cli import classify
from classify.devset import write_jsonl

FIELDS = {
    "id",
    "category",
    "category_name",
    "department",
    "block",
    "block_name",
    "settlement",
    "settlement_name",
    "locality",
    "kind",
    "sentiment",
    "urgency",
    "conflict",
    "confidence",
    "needs_review",
    "cluster_id",
}


def test_predict_writes_the_documented_fields(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    rows = [
        {"id": "a", "text": "<p>В Джубге третий день нет воды!</p>", "channel": "vk"},
        {"id": "b", "text": "Нет воды уже третий день, когда дадут?", "channel": "vk", "lat": 44.3211, "lon": 38.7073},
        {"id": "c", "text": "Добрый день"},
    ]
    src.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    out = tmp_path / "out.jsonl"
    res = CliRunner().invoke(classify, ["predict", "--input", str(src), "--output", str(out)])
    assert res.exit_code == 0, res.output
    got = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert [g["id"] for g in got] == ["a", "b", "c"]
    assert FIELDS <= set(got[0])
    a, b, c = got
    assert a["block"] == 3 and a["settlement_name"] == "Джубгское городское поселение" and a["urgency"]
    assert b["settlement"] == "dzhubgskoe" and b["cluster_id"] == a["cluster_id"]
    assert c["category"] == "unresolved" and c["block"] == 0 and c["settlement_name"] == ""


def test_eval_reports_per_class_and_settlement_accuracy(tmp_path: Path) -> None:
    src = tmp_path / "lab.jsonl"
    rows = [
        {"text": "в Джубге нет воды", "category": "water_supply", "settlement": "dzhubgskoe"},
        {"text": "яма на дороге в Небуге", "category": "roads", "settlement": "nebugskoe"},
        {"text": "нет света", "category": "power_supply", "synthetic": True},
    ]
    src.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    js = tmp_path / "rep.json"
    res = CliRunner().invoke(classify, ["eval", str(src), "--json-out", str(js)])
    assert res.exit_code == 0, res.output
    rep = json.loads(js.read_text(encoding="utf-8"))
    assert set(rep["category"]["per_class"]) >= {"water_supply", "roads"}
    assert "power_supply" not in rep["category"]["per_class"]  # synthetic rows are never scored
    assert rep["settlement"]["n"] == 2 and "confusion" in rep["block"]


def test_cross_validation_trains_on_the_train_only_rows_without_scoring_them(tmp_path: Path) -> None:
    # words repeat across rows: the vectoriser keeps only words seen in two messages
    texts = {
        "roads": ["яма на дороге", "большая яма на дороге", "дорога разбита, яма", "опять яма, дорога"],
        "waste": ["не вывозят мусор", "мусор в контейнере", "контейнер, мусор не вывозят", "вывоз мусора"],
    }
    lab, extra = tmp_path / "lab.jsonl", tmp_path / "extra.jsonl.gz"
    rows = [{"id": f"{c}{i}", "text": t, "category": c} for c, ts in texts.items() for i, t in enumerate(ts)]
    lab.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    write_jsonl([{"id": f"x{i}", "text": f"яма на дороге {i}", "category": "roads"} for i in range(3)], extra)
    js = tmp_path / "rep.json"
    for flags, n_extra in (["--train-only", str(extra)], 3), (["--no-train-only"], 0):
        res = CliRunner().invoke(classify, ["eval", str(lab), "--cv", "2", "--json-out", str(js), *flags])
        assert res.exit_code == 0, res.output
        cv = json.loads(js.read_text(encoding="utf-8"))["cv"]
        assert (cv["n_scored"], cv["n_train_only"]) == (8, n_extra)
        assert sum(m["support"] for m in cv["combined"]["category"]["per_class"].values()) == 8
