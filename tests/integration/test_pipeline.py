"""The walking skeleton end to end: raw topics → normalise → enrich → ClickHouse, on the real broker."""

import json
from pathlib import Path

import httpx
import pytest

from schemas.case import UNRESOLVED
from tests.integration.harness import TOKEN, Worker, pipeline_env, publisher_of, query_store, wait_for

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

SETTLEMENT_TEXTS = [
    "В Джубге на улице Советской нет воды третий день",
    "Прошу отремонтировать дорогу в посёлке Новомихайловский",
    "Не вывозят мусор в Туапсе на улице Карла Маркса",
    "В Шепси бродячие собаки у школы",
    "Жалоба: не работает освещение",
]


def good_records(n: int, prefix: str = "ok") -> list[bytes]:
    return [
        json.dumps(
            {
                "id": f"{prefix}-{i}",
                "text": f"{SETTLEMENT_TEXTS[i % len(SETTLEMENT_TEXTS)]} (№{i})",
                "author": f"a{i}",
            },
            ensure_ascii=False,
        ).encode()
        for i in range(n)
    ]


BAD_RECORDS = [
    (b'{"id": "bad-1", "text": "unterminated', "bad_json"),
    (b"not json at all", "bad_json"),
    (json.dumps({"id": "bad-3", "text": 12345}).encode(), "validation"),
    (json.dumps({"id": "bad-4", "text": "ok", "lat": "north"}).encode(), "validation"),
    (json.dumps({"id": "bad-5", "text": ""}).encode(), "empty_text"),
    (json.dumps({"id": "bad-6", "text": "   \n "}).encode(), "empty_text"),
    (json.dumps({"id": "bad-7", "text": "x" * (2 * 1024 * 1024)}).encode(), "too_large"),
    (json.dumps({"id": "bad-8", "text": "я" * (1024 * 1024)}, ensure_ascii=False).encode(), "too_large"),
    (b'{"id": "bad-9", "text": "\xff\xfe broken"}', "invalid_utf8"),
    (b"\xc3\x28\xa0\xa1", "invalid_utf8"),
]


def publish(env: dict[str, str], bodies: list[bytes], channel: str = "webform") -> None:
    with publisher_of(env) as publisher:
        for body in bodies:
            publisher.publish(channel, body)


def test_1000_records_make_990_cases_and_10_dead_letters_and_refeeding_adds_nothing(brokers, tmp_path: Path):
    env = pipeline_env(tmp_path / "var", brokers, MCU_INGEST_RATE_LIMIT="5/minute")
    feed = good_records(990) + [body for body, _ in BAD_RECORDS]
    worker = Worker(env, tmp_path / "worker.log").start()
    try:
        publish(env, feed)
        wait_for(lambda: worker.counts()["cases"] == 990 and worker.counts()["dead_letters"] == 10, 180,
                 lambda: f"990 cases and 10 dead letters, last seen {worker.last_counts}")  # fmt: skip

        publish(env, feed)  # the same 1,000 again
        wait_for(lambda: worker.metric("mcu_sink_rows_total", table="cases") >= 2 * 990, 180,
                 "the re-fed cases to reach the sink")  # fmt: skip
        wait_for(lambda: worker.counts()["dead_letters"] == 20, 60,
                 lambda: f"the re-fed dead letters, last seen {worker.last_counts}")  # fmt: skip
        assert worker.counts()["cases"] == 990

        # the HTTP intake: no token, bad body, then the per-client rate limit
        url = worker.url + "/ingest/webform"
        assert httpx.post(url, content=b"{}").status_code == 401
        auth = {"Authorization": f"Bearer {TOKEN}"}
        statuses = [httpx.post(url, content=b"{broken", headers=auth).status_code for _ in range(6)]
        assert statuses == [400] * 5 + [429]
    finally:
        worker.stop()

    var = tmp_path / "var"
    rows = query_store(
        var,
        "SELECT count(), uniqExact(message_id),"
        " countIf(block = 0 AND department != 'unresolved'),"
        " countIf(department = '' OR settlement = '' OR category = ''),"
        " countIf(settlement != 'unresolved' AND settlement_name = '')"
        " FROM cases FINAL",
    )
    total, unique, block_zero_but_resolved, empty_routing, unnamed = rows[0]
    assert (total, unique) == (990, 990)
    assert empty_routing == 0, "every case has a department, a settlement and a category (or 'unresolved')"
    assert unnamed == 0
    assert block_zero_but_resolved == 0
    reasons = dict(query_store(var, "SELECT reason, count() FROM dead_letters FINAL GROUP BY reason"))
    expected: dict[str, int] = {}
    for _, reason in BAD_RECORDS:
        expected[reason] = expected.get(reason, 0) + 2  # fed twice, new offsets each time
    assert reasons == expected
    originals = query_store(var, "SELECT length(original) FROM dead_letters FINAL WHERE reason = 'too_large'")
    assert sorted(r[0] for r in originals)[-1] >= 2 * 1024 * 1024, "the original bytes are kept whole"
    resolved = query_store(var, f"SELECT countIf(settlement != '{UNRESOLVED}') FROM cases FINAL")[0][0]
    assert resolved > 0


def test_a_worker_killed_mid_batch_loses_and_duplicates_nothing(brokers, tmp_path: Path):
    env = pipeline_env(tmp_path / "var", brokers, MCU_SINK_BATCH_SIZE="200")
    n = 3000
    worker = Worker(env, tmp_path / "worker1.log").start()
    publish(env, good_records(n, prefix="restart"))
    wait_for(lambda: worker.metric("mcu_sink_rows_total", table="cases") >= 400, 120, "the first batches")
    worker.kill()  # SIGKILL: no clean shutdown, no final commit

    second = Worker(env, tmp_path / "worker2.log").start()
    seen: dict[str, int] = {}

    def all_cases_stored() -> bool:
        seen.update(second.counts())
        return seen["cases"] == n

    try:
        wait_for(all_cases_stored, 240, lambda: f"all {n} cases after the restart (last counts {seen})")
        # The first worker may have stored what a restart drops; the stages' own count does not miss it.
        assert second.metric("mcu_stream_offset_gaps_total") == 0, "a stage skipped records after the restart"
    finally:
        second.stop()
    total, unique = query_store(tmp_path / "var", "SELECT count(), uniqExact(message_id) FROM cases FINAL")[0]
    assert (total, unique) == (n, n)
