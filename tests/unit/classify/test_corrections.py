"""Corrections: what they may say, the owner they give, and the rows of a corrections file."""

from datetime import UTC, datetime
from pathlib import Path

import openpyxl
import pytest

from classify.corrections import (
    CorrectionsFileError,
    Owner,
    check_change,
    event_fields,
    read_corrections,
    reroute,
    unknown_cases,
)
from classify.taxonomy import load_taxonomy
from route.directory import default_directory

DIRECTORY = default_directory()
TAXONOMY = load_taxonomy(DIRECTORY)
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)

# A message about a road the model sent to housing (block 3): the Omsk error of issue 17.
ROADS_AS_HOUSING = Owner(
    category="yards", category_name="Дворы", block=3, block_name="ЖКХ", department="housing",
    department_name="Отдел ЖКХ", settlement="tuapsinskoe", settlement_name="Туапсинское", level="settlement",
    forward_to="",
)  # fmt: skip


def test_category_brings_its_department_and_block():
    new = reroute(ROADS_AS_HOUSING, TAXONOMY, DIRECTORY, category="roads")
    assert (new.category, new.department, new.block) == ("roads", "transport", 5)
    assert new.block_name == DIRECTORY.blocks[5].name
    assert new.settlement == "tuapsinskoe"  # not named: unchanged


def test_department_alone_moves_the_block_and_keeps_the_category():
    new = reroute(ROADS_AS_HOUSING, TAXONOMY, DIRECTORY, department="architecture")
    assert (new.category, new.department, new.block) == ("yards", "architecture", 3)
    new = reroute(ROADS_AS_HOUSING, TAXONOMY, DIRECTORY, department="social")
    assert (new.department, new.block) == ("social", 2)


def test_block_alone_leaves_the_department_to_the_block_head():
    new = reroute(ROADS_AS_HOUSING, TAXONOMY, DIRECTORY, block="5")
    assert (new.block, new.department) == (5, "unresolved")


def test_outside_body_category_is_block_zero_and_forwarded():
    new = reroute(ROADS_AS_HOUSING, TAXONOMY, DIRECTORY, category="healthcare")
    assert (new.block, new.department) == (0, "unresolved")
    assert new.forward_to == DIRECTORY.external_bodies["health_ministry"].name


def test_settlement_changes_alone():
    new = reroute(ROADS_AS_HOUSING, TAXONOMY, DIRECTORY, settlement="dzhubgskoe")
    assert (new.settlement, new.block, new.category) == ("dzhubgskoe", 3, "yards")


def test_event_fields_round_trip_to_the_same_owner():
    new = reroute(ROADS_AS_HOUSING, TAXONOMY, DIRECTORY, category="roads", settlement="dzhubgskoe")
    fields = event_fields(new)
    assert check_change(TAXONOMY, DIRECTORY, **fields) == []
    assert reroute(ROADS_AS_HOUSING, TAXONOMY, DIRECTORY, **fields) == new
    cleared = reroute(ROADS_AS_HOUSING, TAXONOMY, DIRECTORY, block=5)
    again = reroute(ROADS_AS_HOUSING, TAXONOMY, DIRECTORY, **event_fields(cleared))
    codes = ("category", "block", "department", "settlement", "forward_to")
    assert [getattr(again, f) for f in codes] == [getattr(cleared, f) for f in codes]


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"category": "potholes"}, "неизвестная категория 'potholes'"),
        ({"block": "9"}, "неизвестный блок 9"),
        ({"block": "пять"}, "не число"),
        ({"department": "zhkh"}, "неизвестный отдел 'zhkh'"),
        ({"settlement": "sochi"}, "неизвестное поселение 'sochi'"),
        ({"department": "transport", "block": 3}, "относится к блоку 5, а не к блоку 3"),
        ({"category": "roads", "block": 3}, "относится к блоку 5, а не к блоку 3"),
        ({}, "не указано, что исправить"),
    ],
)
def test_bad_changes_are_named_in_russian(change, words):
    errors = check_change(TAXONOMY, DIRECTORY, **change)
    assert any(words in e for e in errors), errors


def _csv(tmp_path: Path, text: str, encoding: str = "utf-8") -> Path:
    p = tmp_path / "corrections.csv"
    p.write_bytes(text.encode(encoding))
    return p


def test_a_good_csv_with_russian_headers_and_semicolons(tmp_path):
    p = _csv(
        tmp_path,
        "ID обращения;Категория;Блок;Поселение;Кто;Причина\n"
        "m-1;roads;;;Иванова;дорога, не двор\n"
        "m-2;;5;dzhubgskoe;Петров;ошибка блока\n",
    )
    rows, errors, digest = read_corrections(p, TAXONOMY, DIRECTORY, now=NOW)
    assert errors == []
    assert [(r.line, r.message_id, r.change, r.actor) for r in rows] == [
        (2, "m-1", {"category": "roads"}, "Иванова"),
        (3, "m-2", {"block": 5, "settlement": "dzhubgskoe"}, "Петров"),
    ]
    assert rows[0].event_id(digest) != rows[1].event_id(digest)
    again, _, digest2 = read_corrections(p, TAXONOMY, DIRECTORY, now=NOW)
    assert digest2 == digest and again[0].event_id(digest2) == rows[0].event_id(digest)  # re-run: same events


def test_every_bad_row_is_named_and_no_row_is_returned_as_applicable_alone(tmp_path):
    p = _csv(
        tmp_path,
        "message_id,category,block,settlement,actor,reason\n"
        "m-1,roads,,,Иванова,ok\n"
        "m-2,potholes,,,Иванова,нет такой категории\n"
        ",roads,,,Иванова,нет номера\n"
        "m-4,,,sochi,Иванова,чужое поселение\n"
        "m-5,,,,Иванова,ничего не исправлено\n"
        "m-1,roads,,,Иванова,повтор\n",
    )
    rows, errors, _ = read_corrections(p, TAXONOMY, DIRECTORY, now=NOW)
    assert [r.line for r in rows] == [2]  # the caller applies nothing: errors is not empty
    lines = {e.line for e in errors}
    assert lines == {3, 4, 5, 6, 7}
    text = "\n".join(map(str, errors))
    assert "строка 3: неизвестная категория 'potholes'" in text
    assert "строка 4: не указан номер обращения" in text
    assert "строка 5: неизвестное поселение 'sochi'" in text
    assert "строка 7: повторяет строку 2" in text


def test_a_cp1251_file_is_an_error_on_each_row_with_cyrillic(tmp_path):
    p = _csv(tmp_path, "message_id,category,actor,reason\nm-1,roads,Иванова,дорога\nm-2,roads,ivanova,road\n", "cp1251")
    rows, errors, _ = read_corrections(p, TAXONOMY, DIRECTORY, now=NOW)
    assert [r.line for r in rows] == [3]
    assert [e.line for e in errors] == [2]
    assert "не в кодировке UTF-8" in str(errors[0]) and "CSV UTF-8" in str(errors[0])


def test_missing_id_column_is_one_error_for_the_file(tmp_path):
    p = _csv(tmp_path, "номер;категория\n1;roads\n")
    with pytest.raises(CorrectionsFileError, match="нет столбца с номером обращения"):
        read_corrections(p, TAXONOMY, DIRECTORY, now=NOW)


def test_actor_from_the_option_and_a_bad_date(tmp_path):
    p = _csv(tmp_path, "message_id,category,at\nm-1,roads,2026-11-20T10:00:00\nm-2,roads,вчера\nm-3,roads,9999-01-01\n")
    rows, errors, _ = read_corrections(p, TAXONOMY, DIRECTORY, default_actor="Сидорова", now=NOW)
    assert [r.message_id for r in rows] == ["m-1"]
    assert rows[0].actor == "Сидорова"
    assert rows[0].at == datetime(2026, 11, 20, 7, 0, tzinfo=UTC)  # Moscow time without a zone
    assert [e.line for e in errors] == [3, 4]


def test_xlsx_rows_and_unknown_cases(tmp_path):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["ID обращения", "Отдел", "Кто", "Причина"])
    sheet.append(["m-1", "transport", "Иванова", "дорога"])
    sheet.append(["m-9", "culture", "Иванова", "ДК"])
    p = tmp_path / "corrections.xlsx"
    book.save(p)
    rows, errors, _ = read_corrections(p, TAXONOMY, DIRECTORY, now=NOW)
    assert errors == [] and [r.change for r in rows] == [{"department": "transport"}, {"department": "culture"}]
    missing = unknown_cases(rows, {"m-1"})
    assert [str(e) for e in missing] == ["строка 3: нет такого обращения в хранилище: m-9"]


def test_a_damaged_xlsx_is_one_clear_error(tmp_path):
    p = tmp_path / "broken.xlsx"
    p.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(CorrectionsFileError, match="не читается как XLSX"):
        read_corrections(p, TAXONOMY, DIRECTORY, now=NOW)


def test_a_cp1251_file_with_a_russian_header_is_refused_whole(tmp_path):
    p = _csv(tmp_path, "ID обращения;Категория;Кто\nm-1;roads;Иванова\n", "cp1251")
    with pytest.raises(CorrectionsFileError, match=r"заголовок.*не в кодировке UTF-8.*строк в файле: 2"):
        read_corrections(p, TAXONOMY, DIRECTORY, now=NOW)


def test_a_model_without_a_version_is_named_by_its_bytes(tmp_path):
    import joblib

    from classify.model import ARTEFACT, load_model
    from common.yaml_load import package_file

    data = joblib.load(package_file("classify", ARTEFACT))
    data.pop("version")
    p = tmp_path / "model.joblib"
    joblib.dump(data, p)
    model = load_model(p)
    assert model is not None and model.version.startswith("sha256:") and len(model.version) == 19
    assert load_model().version and not load_model().version.startswith("sha256:")  # the shipped one has its own
