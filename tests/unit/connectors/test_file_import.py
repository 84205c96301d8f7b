"""File imports (59-ФЗ letters, reception, ПОС, Инцидент-менеджмент, «Активный гражданин»):
CSV in cp1251/UTF-8 and XLSX as exported, status columns → CaseEvents, restart exactly once.
All rows are synthetic test data made up here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from openpyxl import Workbook

from ingest.connectors.base import PermanentError, Runner
from ingest.connectors.file_import import FileImport
from ingest.connectors.formats import FORMATS
from schemas import CaseEventType, Channel, message_id_for

from .conftest import Crash, FakeEvents, FakePublisher, normalize_delivered

LETTER_HEADER = [
    "Рег. №", "Дата рег.", "Корреспондент", "Адрес заявителя", "Краткое содержание", "Вид обращения",
    "Тематика", "Исполнитель", "Состояние", "Дата ответа", "Результат рассмотрения",
]  # fmt: skip


def letter_rows(n: int) -> list[list[str]]:
    rows = []
    for i in range(1, n + 1):
        answered = i % 3 == 0
        rows.append([
            f"Ж-{i:04d}/2026", f"{(i % 27) + 1:02d}.10.2026", f"Синтетический заявитель {i}",
            "г. Туапсе, ул. Карла Маркса, 1", f"[синтетика] Не вывозят мусор во дворе, обращение {i}",
            "Жалоба", "0003.0009.0097.0701", "Отдел ЖКХ",
            "Ответ дан" if answered else "На рассмотрении",
            f"{(i % 27) + 2:02d}.11.2026" if answered else "", "Разъяснено" if answered else "",
        ])  # fmt: skip
    return rows


def write_csv(path: Path, header: list[str], rows: list[list[str]], encoding: str, title: str = "") -> Path:
    lines = ([title] if title else []) + [";".join(header)] + [";".join(r) for r in rows]
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode(encoding))
    return path


def write_xlsx(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    wb = Workbook()
    ws = wb.active
    ws.append(["Журнал регистрации (синтетический тестовый файл)"])
    ws.append(header)
    for r in rows:
        ws.append(r)
    wb.save(path)
    return path


@pytest.mark.parametrize("encoding", ["cp1251", "utf-8-sig"])
def test_letter_registry_csv_publishes_each_row_with_its_registration_number(tmp_path, cursors, encoding):
    path = write_csv(tmp_path / "journal.csv", LETTER_HEADER, letter_rows(7), encoding, "Журнал обращений")
    pub, ev = FakePublisher(), FakeEvents()
    Runner(FileImport(FORMATS[Channel.LETTER], path, batch_size=3), pub, cursors, ev).drain()
    assert pub.source_ids() == [f"Ж-{i:04d}/2026" for i in range(1, 8)]
    messages, rejected = normalize_delivered(pub)
    assert rejected == []
    first = messages[0]
    assert first.hints["registration_number"] == "Ж-0001/2026"
    # The registry's local midnight, normalised to UTC at the edge (schemas/times.py).
    assert first.created_at.isoformat().startswith("2026-10-01T21:00:00+00:00")
    assert "мусор" in first.text and first.hints["rubric"] == "0003.0009.0097.0701"
    answered = [e for e in ev.delivered if e.type is CaseEventType.ANSWERED]
    assert sorted(e.message_id for e in answered) == sorted(message_id_for("letter", f"Ж-{i:04d}/2026") for i in (3, 6))
    assert answered[0].comment == "Разъяснено"


def test_reimport_of_the_same_file_publishes_nothing(tmp_path, cursors):
    path = write_csv(tmp_path / "j.csv", LETTER_HEADER, letter_rows(5), "cp1251")
    pub = FakePublisher()
    Runner(FileImport(FORMATS[Channel.LETTER], path), pub, cursors, FakeEvents()).drain()
    Runner(FileImport(FORMATS[Channel.LETTER], path), pub, cursors, FakeEvents()).drain()
    assert len(pub.delivered) == 5


def test_restart_mid_file_publishes_every_row_exactly_once(tmp_path, cursors):
    path = write_csv(tmp_path / "j.csv", LETTER_HEADER, letter_rows(25), "cp1251")
    pub = FakePublisher(crash_after=11)  # dies inside the third batch of 4
    with pytest.raises(Crash):
        Runner(FileImport(FORMATS[Channel.LETTER], path, batch_size=4), pub, cursors, FakeEvents()).drain()
    assert len(pub.delivered) == 8
    pub.crash_after = None
    Runner(FileImport(FORMATS[Channel.LETTER], path, batch_size=4), pub, cursors, FakeEvents()).drain()
    ids = pub.source_ids()
    assert sorted(ids) == sorted(f"Ж-{i:04d}/2026" for i in range(1, 26))
    assert len(ids) == len(set(ids))


def test_pos_export_xlsx_with_answers_and_ratings(tmp_path, cursors):
    header = ["Номер сообщения", "Дата создания", "Категория", "Текст сообщения", "Адрес", "Широта", "Долгота",
              "Статус", "Дата ответа", "Текст ответа", "Оценка", "Дата оценки"]  # fmt: skip
    from datetime import datetime

    rows = [
        [1001, datetime(2026, 11, 1, 9, 30), "Дороги", "[синтетика] Яма на дороге у остановки", "Джубга",
         "44,3211", "38,7073", "Ответ дан", datetime(2026, 11, 5, 12), "Отремонтируем до 15.11", 4,
         datetime(2026, 11, 6, 8)],
        [1002, datetime(2026, 11, 2, 10), "ЖКХ", "[синтетика] Нет воды", "Шепси", None, None, "В работе",
         None, None, None, None],
    ]  # fmt: skip
    path = write_xlsx(tmp_path / "pos_export.xlsx", header, rows)
    pub, ev = FakePublisher(), FakeEvents()
    Runner(FileImport(FORMATS[Channel.POS], path), pub, cursors, ev).drain()
    assert pub.source_ids() == ["1001", "1002"]
    messages, rejected = normalize_delivered(pub)
    assert rejected == []
    assert messages[0].lat == pytest.approx(44.3211) and messages[0].hints["rubric"] == "Дороги"
    types = sorted(e.type.value for e in ev.delivered)
    assert types == ["answered", "rated"]
    assert next(e for e in ev.delivered if e.type is CaseEventType.RATED).rating == 4


def test_incident_csv_and_active_citizen_csv(tmp_path, cursors):
    inc = write_csv(
        tmp_path / "incidents.csv",
        ["ID инцидента", "Дата публикации", "Текст публикации", "Ссылка на публикацию", "Соцсеть", "Статус",
         "Дата статуса"],
        [["inc-1", "03.11.2026 14:05", "[синтетика] Не горят фонари на ул. Школьной", "https://vk.com/wall-1_2",
          "ВКонтакте", "Перенаправлено по компетенции", "04.11.2026 09:00"],
         ["inc-2", "03.11.2026 15:00", "[синтетика] Опять перекрыли дорогу", "https://vk.com/wall-1_3",
          "ВКонтакте", "Перенаправлено по компетенции", ""]],
        "utf-8",
    )  # fmt: skip
    ac = write_csv(
        tmp_path / "ag.csv",
        ["Номер", "Дата создания", "Тема", "Описание", "Статус", "Дата ответа", "Ответ"],
        [["ag-7", "2026-11-04 08:00:00", "Благоустройство", "[синтетика] Сломана скамейка", "Решено",
          "2026-11-08 10:00:00", "Заменили"]],
        "cp1251",
    )  # fmt: skip
    pub, ev = FakePublisher(), FakeEvents()
    Runner(FileImport(FORMATS[Channel.INCIDENT], inc), pub, cursors, ev).drain()
    Runner(FileImport(FORMATS[Channel.ACTIVE_CITIZEN], ac), pub, cursors, ev).drain()
    messages, rejected = normalize_delivered(pub)
    assert rejected == []
    assert messages[0].source_url == "https://vk.com/wall-1_2" and messages[0].hints["network"] == "ВКонтакте"
    # inc-2 has a status but no date of it: no event is invented for it.
    assert sorted(e.type.value for e in ev.delivered) == ["answered", "forwarded", "resolved"]
    assert next(e for e in ev.delivered if e.type.value == "forwarded").message_id == message_id_for(
        "incident", "inc-1"
    )


def test_unknown_layout_fails_loudly_and_keeps_no_cursor(tmp_path, cursors):
    path = write_csv(tmp_path / "x.csv", ["a", "b", "c"], [["1", "2", "3"]], "utf-8")
    with pytest.raises(PermanentError, match="no header row"):
        Runner(FileImport(FORMATS[Channel.RECEPTION], path), FakePublisher(), cursors).drain()
    assert not list(cursors.directory.glob("*.json")) if cursors.directory.exists() else True


def test_bad_rows_end_as_rejections_with_reasons(tmp_path, cursors):
    rows = [
        ["Ж-1", "99.99.2026", "x", "", "[синтетика] текст", "", "", "", "", "", ""],  # impossible date
        ["Ж-2", "01.10.2026", "x", "", "", "", "", "", "", "", ""],  # no text
        ["Ж-3", "01.10.2026", "x", "", "я" * 30_000, "", "", "", "", "", ""],  # oversized text
    ]
    path = write_csv(tmp_path / "bad.csv", LETTER_HEADER, rows, "utf-8")
    pub = FakePublisher()
    Runner(FileImport(FORMATS[Channel.LETTER], path), pub, cursors, FakeEvents()).drain()
    ok, rejected = normalize_delivered(pub)
    assert ok == []
    assert [r.reason for r in rejected] == ["validation", "empty_text", "too_large"]


def test_json_lines_dump_uses_the_same_aliases(tmp_path, cursors):
    lines = [
        json.dumps({"id": "ag-1", "created_at": "2026-11-03T09:00:00+03:00", "text": "[синтетика] Нет света",
                    "status": "Решено", "answer_at": "2026-11-04T09:00:00+03:00", "rating": 5}, ensure_ascii=False),
        '{"id": "ag-2", "text": "[синтетика] обрыв',
    ]  # fmt: skip
    path = tmp_path / "ag.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    pub, ev = FakePublisher(), FakeEvents()
    Runner(FileImport(FORMATS[Channel.ACTIVE_CITIZEN], path), pub, cursors, ev).drain()
    assert len(pub.delivered) == 2
    ok, rejected = normalize_delivered(pub)
    assert [m.source_id for m in ok] == ["ag-1"] and [r.reason for r in rejected] == ["bad_json"]
    assert sorted(e.type.value for e in ev.delivered) == ["answered", "rated", "resolved"]
