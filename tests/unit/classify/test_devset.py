"""The development set builder: the train-only pool never repeats a scored message."""

import gzip
import json
from pathlib import Path

import pytest
import yaml

from classify.devset import build_omsk, build_spb, read_jsonl, train_only_for, write_jsonl
from classify.enricher import Enricher
from classify.training import cross_validate

# Made-up portal rows in the shape of /work/shared/data/spb-our-city (not real messages).
TOPICS = {
    "Яма на дороге": ["яма", "выбоина", "провал асфальта", "разбитое покрытие", "колея"],
    "Мусор во дворе": ["мусор", "бутылки", "пакеты с отходами", "строительный хлам", "листья"],
}
PLACES = ["Садовой", "Лесной", "Морской", "Школьной", "Горной", "Речной", "Полевой", "Новой", "Южной", "Северной"]


def _portal(tmp_path: Path) -> tuple[Path, Path]:
    rows, n = [], 0
    for reason, things in TOPICS.items():
        for thing in things:
            for place in PLACES:
                n += 1
                text = f"{thing} на улице {place} {'уже месяц' if n % 2 else 'с прошлой недели'}"
                rows.append({"id": n, "text": text, "reason": reason, "category": "x"})
                rows.append({"id": 10_000 + n, "text": text, "reason": reason, "category": "x"})  # a repeat
    src = tmp_path / "messages.jsonl.gz"
    src.write_bytes(gzip.compress("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode()))
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(
        yaml.safe_dump({"reasons": {"Яма на дороге": "roads", "Мусор во дворе": "yards"}}, allow_unicode=True),
        encoding="utf-8",
    )
    return src, mapping


def test_train_only_pool_follows_the_cap_and_never_repeats_a_scored_message(tmp_path: Path) -> None:
    src, mapping = _portal(tmp_path)
    dev, extra = build_spb(src, mapping, per_category=10, extra_per_category=15)
    assert {r["category"] for r in dev} == {"roads", "yards"}
    assert all(sum(r["category"] == c for r in dev) == 10 for c in ("roads", "yards"))
    assert all(sum(r["category"] == c for r in extra) == 15 for c in ("roads", "yards"))
    assert all(r["train_only"] for r in extra) and not any(r.get("train_only") for r in dev)
    assert not {r["id"] for r in dev} & {r["id"] for r in extra}
    assert not {r["text"] for r in dev} & {r["text"] for r in extra}  # the repeats were dropped before the split
    assert train_only_for([r for r in dev if r["category"] == "roads"], extra) == [
        r for r in extra if r["category"] == "roads"
    ]


def test_gzipped_jsonl_round_trips_byte_identically(tmp_path: Path) -> None:
    rows = [{"id": "a", "text": "нет воды"}, {"id": "b", "text": "яма"}]
    a, b = tmp_path / "a.jsonl.gz", tmp_path / "other-name.jsonl.gz"
    write_jsonl(rows, a)
    write_jsonl(rows, b)
    assert read_jsonl(a) == rows
    assert a.read_bytes() == b.read_bytes()  # no file name or time in the header


def test_cross_validation_refuses_a_train_only_row_that_is_also_scored() -> None:
    rows = [{"id": f"r{i}", "text": "яма на дороге", "category": "roads"} for i in range(4)]
    with pytest.raises(ValueError, match="also scored"):
        cross_validate(Enricher.load(use_model=False, clustering=False), rows, folds=2, train_only=[rows[0]])


def _omsk(tmp_path: Path, topic: str) -> tuple[Path, Path, Path]:
    # Made-up rows in the shape of the Омская область sample (not real messages).
    csv_path = tmp_path / "test_40.csv"
    csv_path.write_text(
        "\ufeffОтдел,Группа тем,Тема,Муниципалитет,Текст инцидента\n"
        "Тарский район,Дороги,Уборка дорог от снега и наледи,Тарский район,'Третий день не чистят снег на Ленина\n"
        "Омск г.о.,Труд и занятость,Жалобы на работодателя,Омск г.о.,Работодатель не платит зарплату уже два месяца\n",
        encoding="utf-8",
    )
    feed = tmp_path / "feed.json"
    item = {"id": "7", "text": "Нет горячей воды в доме по улице Мира", "group": "ЖКХ", "topic": topic}
    feed.write_text(json.dumps({"items": [{**item, "municipality": "Омск г.о."}]}, ensure_ascii=False), "utf-8")
    mapping = tmp_path / "omsk_mapping.yaml"
    mapping.write_text(
        yaml.safe_dump(
            {
                "topics": {
                    "Уборка дорог от снега и наледи": "street_cleaning",
                    "Жалобы на работодателя": None,
                    "Отсутствие холодной и/или горячей воды": "water_supply",
                }
            },
            allow_unicode=True,
        ),
        encoding="utf-8",
    )
    return csv_path, feed, mapping


def test_outside_check_set_keeps_mapped_topics_only(tmp_path: Path) -> None:
    rows = build_omsk(*_omsk(tmp_path, "Отсутствие холодной и/или горячей воды"))
    assert [(r["id"], r["category"]) for r in rows] == [
        ("omsk-test40-1", "street_cleaning"),
        ("omsk-feed-7", "water_supply"),
    ]
    assert rows[0]["text"].startswith("Третий день")  # the spreadsheet's leading apostrophe is gone


def test_outside_check_set_names_an_unmapped_topic(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"omsk_mapping\.yaml.*Новая тема"):
        build_omsk(*_omsk(tmp_path, "Новая тема"))
