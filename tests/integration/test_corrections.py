"""Corrections end to end on the real broker and the ClickHouse server: a `reclassified` event from
the API and from `mcu classify correct FILE` re-routes the case, moves its SLA to the new owner and
reaches `corrections` with the model version that made the original decision; a bad file is an
error per row and applies nothing."""

import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from schemas import message_id_for
from tests.integration.harness import ROOT, TOKEN, Worker, pipeline_env, query_store, wait_for
from tests.integration.test_pipeline import publish

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

TEXTS = {
    "c-road": "Огромная яма на дороге на улице Ленина в Туапсе, машины разбивают колёса, отремонтируйте асфальт",
    "c-water": "В Джубге нет воды третий день на улице Советской, водоснабжение не восстановлено",
    "c-waste": "Не вывозят мусор во дворе дома 5 на улице Горького в Туапсе, контейнеры переполнены",
}


def routing(var: Path, mid: str) -> list:
    rows = query_store(
        var,
        f"SELECT category, block, department, settlement, model_version FROM cases FINAL WHERE message_id = '{mid}'",
    )
    return rows[0] if rows else []


def corrections(var: Path) -> list[list]:
    return query_store(
        var,
        "SELECT message_id, source, actor, reason, model_version, old_category, new_category, old_block, new_block"
        " FROM corrections FINAL ORDER BY corrected_at",
    )


def other_category(block: int) -> tuple[str, int, str]:
    return ("water_supply", 3, "housing") if block == 5 else ("roads", 5, "transport")


def correct_file(env: dict[str, str], path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mcu", "classify", "correct", str(path)],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_corrections_re_route_move_the_sla_and_reach_the_table(brokers, tmp_path: Path):
    var = tmp_path / "var"
    env = pipeline_env(var, brokers, MCU_QUALITY_REFRESH_SECONDS="2")
    worker = Worker(env, tmp_path / "worker.log").start()
    auth = {"Authorization": f"Bearer {TOKEN}"}
    mids = {sid: message_id_for("webform", sid) for sid in TEXTS}
    try:
        publish(env, [json.dumps({"id": sid, "text": t}, ensure_ascii=False).encode() for sid, t in TEXTS.items()])
        wait_for(lambda: all(routing(var, m) for m in mids.values()), 90, "the three cases stored")
        before = {sid: routing(var, m) for sid, m in mids.items()}
        assert all(r[4].startswith("rules-v") for r in before.values()), before  # the model version per case
        assert sum(worker.metric("mcu_classified_total", needs_review=f) for f in ("true", "false")) == 3
        assert worker.metric("mcu_classification_confidence_count") == 3

        # -- the HTTP events API
        mid = mids["c-road"]
        old = before["c-road"]
        new_cat, new_block, new_dep = other_category(old[1])
        url = f"{worker.url}/cases/{mid}/events"
        body = {"type": "reclassified", "at": "2026-11-27T10:00:00+03:00", "category": new_cat,
                "actor": "Иванова", "reason": "не та тема"}  # fmt: skip
        no_who = httpx.post(url, json={k: v for k, v in body.items() if k != "actor"}, headers=auth)
        assert no_who.status_code == 400 and no_who.json()["reason"] == "who_and_why", no_who.text
        unknown = httpx.post(url, json={**body, "category": "potholes"}, headers=auth)
        assert unknown.status_code == 400 and "неизвестная категория 'potholes'" in unknown.json()["error"]
        nowhere = httpx.post(f"{worker.url}/cases/no-such-case/events", json=body, headers=auth)
        assert nowhere.status_code == 404 and nowhere.json()["reason"] == "unknown_case", nowhere.text
        ok = httpx.post(url, json=body, headers=auth)
        assert ok.status_code == 202, ok.text

        wait_for(lambda: routing(var, mid)[:3] == [new_cat, new_block, new_dep], 60, "the case re-routed")
        wait_for(lambda: len(corrections(var)) == 1, 30, "the correction stored")
        (row,) = corrections(var)
        assert row == [mid, "api", "Иванова", "не та тема", old[4], old[0], new_cat, old[1], new_block]
        # the SLA moved to the new owner: a `moved` timer event with the new block and department
        moved = lambda: query_store(  # noqa: E731
            var,
            f"SELECT DISTINCT block, department FROM sla_events FINAL WHERE message_id = '{mid}' AND kind = 'moved'",
        )
        wait_for(lambda: [new_block, new_dep] in moved(), 60, "the SLA moved to the new owner")
        wait_for(lambda: worker.metric("mcu_corrections_total", block=str(old[1])) == 1, 10, "the correction counted")
        wait_for(lambda: worker.metric("mcu_corrections_7d", block=str(old[1])) == 1, 30, "the 7-day gauge refreshed")

        # -- a corrections file with one bad row: every bad row named, nothing applied
        good_line = f"{mids['c-water']};roads;;;Петров;дорога\n"
        bad = tmp_path / "bad.csv"
        bad.write_text(
            "ID обращения;Категория;Блок;Поселение;Кто;Причина\n" + good_line
            + "no-such-case;roads;;;Петров;нет такого\n" + f"{mids['c-waste']};potholes;;;Петров;нет такой\n",
            encoding="utf-8",
        )  # fmt: skip
        res = correct_file(env, bad)
        assert res.returncode == 1, res.stdout + res.stderr
        assert "строка 3: нет такого обращения в хранилище: no-such-case" in res.stderr
        assert "строка 4: неизвестная категория 'potholes'" in res.stderr
        assert "ничего не изменено" in res.stderr
        cp1251 = tmp_path / "cp1251.csv"
        cp1251.write_bytes(("message_id;category;actor;reason\n" + good_line).encode("cp1251"))
        res = correct_file(env, cp1251)
        assert res.returncode == 1 and "строка 2: не в кодировке UTF-8" in res.stderr, res.stderr

        # -- the same file fixed: applied; run twice: nothing new
        good = tmp_path / "good.csv"
        good.write_text(
            "ID обращения;Категория;Поселение;Кто;Причина\n" + f"{mids['c-water']};roads;;Петров;дорога\n"
            + f"{mids['c-waste']};;novomikhaylovskoe;Петров;не то поселение\n",
            encoding="utf-8",
        )  # fmt: skip
        res = correct_file(env, good)
        assert res.returncode == 0, res.stdout + res.stderr
        wait_for(lambda: len(corrections(var)) == 3, 60, "the file's two corrections stored")
        # the bad files added nothing: only the API's and the good file's corrections are there
        assert sorted(r[1] for r in corrections(var)) == ["api", "file", "file"]
        assert routing(var, mids["c-water"])[:3] == ["roads", 5, "transport"]
        assert routing(var, mids["c-waste"])[3] == "novomikhaylovskoe"
        assert correct_file(env, good).returncode == 0
        time.sleep(3)
        assert len(corrections(var)) == 3
        assert query_store(var, "SELECT count() FROM cases FINAL") == [[3]]
    finally:
        worker.stop()
