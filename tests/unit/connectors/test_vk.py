"""VK connector against a local HTTP peer speaking the VK API (synthetic walls and comments)."""

from __future__ import annotations

import json

import httpx
import pytest

from ingest.connectors.base import RateLimiter, Runner, Throttled, retrying
from ingest.connectors.vk import VkApi, VkWall, handle_callback
from schemas import CaseEventType, message_id_for

from .conftest import Crash, FakeEvents, FakePublisher, normalize_delivered
from .fake_apis import FakeVk, serve

ADMIN, VILLAGE = -100, -200


def wall(base: str, owners: list[int], **kw) -> VkWall:
    api = VkApi("vk-test-token", base, RateLimiter(1000), httpx.Client(timeout=5))
    return VkWall(api, owners, **kw)


def runner(conn, pub, cursors, ev=None) -> Runner:
    return Runner(conn, pub, cursors, ev or FakeEvents(), retry=retrying(attempts=4, initial=0.01, maximum=0.05))


def test_paginated_wall_backfill_then_only_new_posts(cursors):
    vk = FakeVk()
    for i in range(1, 251):
        vk.add_post(ADMIN, i, f"[синтетика] пост жителя {i}", from_id=ADMIN if i % 10 == 0 else 3000 + i)
    with serve(vk) as base:
        pub = FakePublisher()
        runner(wall(base, [ADMIN], backfill_pages=3), pub, cursors).drain()
        assert len(pub.delivered) == 225  # the community's own 25 announcements are not residents' messages
        assert [c for c in vk.calls if c[0] == "wall.get"][-1][1]["offset"] == "200"
        for i in range(251, 256):
            vk.add_post(ADMIN, i, f"[синтетика] новый пост {i}")
        runner(wall(base, [ADMIN]), pub, cursors).drain()
    ids = pub.source_ids()
    assert len(ids) == 230 and len(set(ids)) == 230
    assert ids[-5:] == [f"{ADMIN}_{i}" for i in range(251, 256)]
    messages, rejected = normalize_delivered(pub)
    assert rejected == []
    assert messages[-1].source_url == f"https://vk.com/wall{ADMIN}_255"
    assert messages[-1].hints == {"community": str(ADMIN)}


def test_comments_are_paginated_and_community_replies_become_answers(cursors):
    vk = FakeVk()
    vk.add_post(VILLAGE, 1, "[синтетика] Объявление администрации", from_id=VILLAGE)
    for cid in range(1, 151):
        vk.add_comment(VILLAGE, 1, cid, f"[синтетика] комментарий {cid}")
    vk.add_comment(VILLAGE, 1, 151, "[синтетика] Ответ: бригада выехала", from_id=VILLAGE, reply_to_comment=7)
    with serve(vk) as base:
        pub, ev = FakePublisher(), FakeEvents()
        runner(wall(base, [VILLAGE]), pub, cursors, ev).drain()
        assert len(pub.delivered) == 150
        vk.add_comment(VILLAGE, 1, 152, "[синтетика] ещё один")
        runner(wall(base, [VILLAGE]), pub, cursors, ev).drain()
    assert pub.source_ids()[-1] == f"{VILLAGE}_1_152" and len(pub.delivered) == 151
    [answer] = ev.delivered
    assert answer.type is CaseEventType.ANSWERED
    assert answer.message_id == message_id_for("vk", f"{VILLAGE}_1_7")
    messages, _ = normalize_delivered(pub)
    assert messages[0].source_url == f"https://vk.com/wall{VILLAGE}_1?reply=1"


def test_too_many_requests_and_5xx_are_retried(cursors):
    vk = FakeVk()
    vk.add_post(ADMIN, 1, "[синтетика] пост")
    vk.faults = [("wall.get", 6), ("wall.get", 500)]
    with serve(vk) as base:
        pub = FakePublisher()
        runner(wall(base, [ADMIN]), pub, cursors).drain()
    assert pub.source_ids() == [f"{ADMIN}_1"]
    assert sum(1 for c in vk.calls if c[0] == "wall.get") == 3


def test_daily_rate_limit_pauses_without_moving_the_cursor(cursors):
    vk = FakeVk()
    vk.add_post(ADMIN, 1, "[синтетика] пост")
    vk.faults = [("wall.get", 29)]
    with serve(vk) as base:
        with pytest.raises(Throttled):
            runner(wall(base, [ADMIN]), FakePublisher(), cursors).drain()
        assert cursors.load("vk") is None
        pub = FakePublisher()
        runner(wall(base, [ADMIN]), pub, cursors).drain()
    assert pub.source_ids() == [f"{ADMIN}_1"]


def test_a_closed_community_does_not_stop_the_others(cursors):
    vk = FakeVk()
    vk.add_post(VILLAGE, 5, "[синтетика] пост")
    vk.faults = [("wall.get", 15)]  # the first owner polled (ADMIN) answers "access denied"
    with serve(vk) as base:
        conn = wall(base, [ADMIN, VILLAGE])
        pub = FakePublisher()
        runner(conn, pub, cursors).drain()
    assert pub.source_ids() == [f"{VILLAGE}_5"]
    assert "15" in conn.skipped[ADMIN]


def test_restart_after_a_crash_publishes_each_post_exactly_once(cursors):
    vk = FakeVk()
    owners = [-(300 + k) for k in range(5)]
    for o in owners:
        for i in range(1, 31):
            vk.add_post(o, i, f"[синтетика] {o}/{i}")
    with serve(vk) as base:
        pub = FakePublisher(crash_after=70)  # dies while publishing the third community
        with pytest.raises(Crash):
            runner(wall(base, owners), pub, cursors).drain()
        pub.crash_after = None
        runner(wall(base, owners), pub, cursors).drain()
    ids = pub.source_ids()
    assert len(ids) == 150 and len(set(ids)) == 150


def test_callback_confirmation_secret_and_events():
    conf = handle_callback(json.dumps({"type": "confirmation", "group_id": 100}).encode(),
                           secret="s3", confirmation="abc123", group_ids={100})  # fmt: skip
    assert (conf.status, conf.text) == (200, "abc123")
    assert (
        handle_callback(b'{"type":"confirmation","group_id":9}', secret="s3", confirmation="x", group_ids={100}).status
        == 403
    )
    wrong = {"type": "wall_reply_new", "group_id": 100, "secret": "nope", "object": {}}
    assert handle_callback(json.dumps(wrong).encode(), secret="s3", confirmation="x").status == 403
    comment = {"id": 9, "from_id": 77, "post_id": 4, "post_owner_id": -100, "date": 1_790_000_000,
               "text": "[синтетика] Когда починят мост?"}  # fmt: skip
    event = {"type": "wall_reply_new", "group_id": 100, "secret": "s3", "event_id": "e1", "object": comment}
    ok = handle_callback(json.dumps(event).encode(), secret="s3", confirmation="x")
    assert (ok.status, ok.text) == (200, "ok")
    assert [i.source_id for i in ok.items] == ["-100_4_9"]
    assert handle_callback(b'{"type": "wall_reply_new", "gro', secret="s3", confirmation="x").status == 400
    ignored = handle_callback(
        b'{"type":"message_new","group_id":100,"secret":"s3","object":{}}', secret="s3", confirmation="x"
    )
    assert (ignored.status, ignored.text, ignored.items) == (200, "ok", [])
    unsecured = handle_callback(json.dumps(event).encode(), secret=None, confirmation="x")
    assert unsecured.status == 503 and unsecured.items == []


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ('{"id": 1, "owner_id": -1, "from_id": 5, "date": 1790000000, "text": "[синтетика] обре'.encode(), "bad_json"),
        (b'{"id": 1, "owner_id": -1, "from_id": 5, "date": "yesterday", "text": "x"}', "validation"),
        (b'{"id": 1, "owner_id": -1, "from_id": 5, "date": 1790000000, "text": {"a": 1}}', "validation"),
        (
            b'{"id": 1, "owner_id": -1, "from_id": 5, "date": 1790000000, "attachments": [{"type": "photo"}]}',
            "empty_text",
        ),
        (
            '{"id": 1, "owner_id": -1, "from_id": 5, "date": 1790000000, "text": "привет"}'.encode("cp1251"),
            "invalid_utf8",
        ),
        (
            b'{"id": 1, "owner_id": -1, "from_id": 5, "date": 1790000000, "text": "' + b"a" * 2_000_000 + b'"}',
            "too_large",
        ),
    ],
)
def test_bad_vk_records_are_rejected_with_reasons(body, reason):
    pub = FakePublisher()
    pub.delivered.append(("vk", "x", body, None))
    _ok, rejected = normalize_delivered(pub)
    assert [r.reason for r in rejected] == [reason]


def test_unknown_fields_are_kept_out_but_do_not_fail():
    body = '{"id": 1, "owner_id": -1, "from_id": 5, "date": 1790000000, "text": "[синтетика] ок", "donut": {}}'.encode()
    pub = FakePublisher()
    pub.delivered.append(("vk", "-1_1", body, None))
    [msg], rejected = normalize_delivered(pub)
    assert rejected == [] and msg.text == "[синтетика] ок"


def test_a_new_comment_after_deletions_is_not_missed(cursors):
    vk = FakeVk()
    vk.add_post(ADMIN, 1, "[синтетика] объявление", from_id=ADMIN)
    for cid in (1, 2, 3):
        vk.add_comment(ADMIN, 1, cid, f"[синтетика] {cid}")
    with serve(vk) as base:
        pub = FakePublisher()
        runner(wall(base, [ADMIN]), pub, cursors).drain()
        vk.comments[(ADMIN, 1)] = vk.comments[(ADMIN, 1)][:1]  # two deleted by moderators
        vk.walls[ADMIN][0]["comments"]["count"] = 1
        runner(wall(base, [ADMIN]), pub, cursors).drain()
        vk.add_comment(ADMIN, 1, 4, "[синтетика] новый")  # count is 2 again, below the 3 seen before
        runner(wall(base, [ADMIN]), pub, cursors).drain()
    assert pub.source_ids() == [f"{ADMIN}_1_{c}" for c in (1, 2, 3, 4)]
