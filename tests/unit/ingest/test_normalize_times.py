"""Times from outside at the normaliser: out of the window is a ``bad_time`` Rejected, never an exception."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.normalize import Rejected, normalize_record
from kafkaio.wire import H_RECEIVED_AT

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def run(payload: dict, topic: str = "raw.webform", headers: dict[str, str] | None = None):
    body = json.dumps(payload).encode()
    return normalize_record(
        body, headers or {}, topic, max_bytes=1 << 20, author_key=b"k", max_text_chars=5000, now=NOW
    )


def reason(payload: dict, topic: str = "raw.webform", headers: dict[str, str] | None = None) -> str:
    with pytest.raises(Rejected) as info:
        run(payload, topic, headers)
    return info.value.reason


VK = {"id": 1, "owner_id": -1, "from_id": 5, "text": "Нет света"}
TG = {"update_id": 1, "message": {"message_id": 2, "chat": {"id": 3, "type": "group"}, "text": "Нет света"}}


@pytest.mark.parametrize("date", [10**15, -(10**15), 2**63, 4102444800 * 10])
def test_vk_and_telegram_dates_beyond_datetime_are_bad_time(date: int) -> None:
    assert reason({**VK, "date": date}, "raw.vk") == "bad_time"
    assert reason({**TG, "message": {**TG["message"], "date": date}}, "raw.telegram") == "bad_time"


def test_vk_attachments_that_are_not_a_list_are_a_validation_error() -> None:
    assert reason({**VK, "date": 1764240000, "attachments": 5}, "raw.vk") == "validation"


@pytest.mark.parametrize(
    "created_at", ["9999-12-31T23:59:59", "1900-01-01T00:00:00Z", "2526-01-01T00:00:00+00:00", "0001-01-01", 5]
)
def test_generic_created_at_out_of_the_window_is_bad_time(created_at: object) -> None:
    assert reason({"text": "x", "created_at": created_at}) == "bad_time"


def test_open311_and_registry_rows_are_checked_by_the_same_window() -> None:
    open311 = {"service_code": "roads", "description": "яма", "requested_datetime": "2106-02-08T00:00:00Z"}
    assert reason(open311, "raw.open311") == "bad_time"
    assert reason({"Номер": 1, "Дата создания": "31.12.9999 10:00", "Текст сообщения": "яма"}, "raw.pos") == "bad_time"


def test_a_zone_less_created_at_is_moscow_time_in_utc() -> None:
    msg = run({"text": "x", "created_at": "2026-11-27T10:00:00"})
    assert msg.created_at == datetime(2026, 11, 27, 7, tzinfo=UTC) and msg.created_at.tzinfo is UTC


def test_the_window_is_measured_from_the_injected_clock() -> None:
    assert run({"text": "x", "created_at": "2026-11-28T11:00:00+00:00"}).created_at.day == 28
    assert reason({"text": "x", "created_at": "2026-11-28T13:00:00+00:00"}) == "bad_time"


def test_email_with_a_date_out_of_the_window_falls_back_to_receipt_time() -> None:
    mail = {"uid": 1, "uidvalidity": 1, "mailbox": "INBOX", "text": "x", "clean": True, "date": "2099-01-01T00:00:00"}
    headers = {H_RECEIVED_AT: "2026-11-27T09:00:00+00:00"}
    assert run(mail, "raw.email", headers).created_at == datetime(2026, 11, 27, 9, tzinfo=UTC)


def test_a_received_at_header_out_of_the_window_is_bad_time() -> None:
    assert reason({"text": "x"}, headers={H_RECEIVED_AT: "9999-01-01T00:00:00+00:00"}) == "bad_time"


time_values = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text(max_size=30)
    | st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)).map(lambda t: t.isoformat())
    | st.lists(st.integers(), max_size=2)
)
SHAPES = {
    "raw.vk": lambda v: {**VK, "date": v},
    "raw.telegram": lambda v: {**TG, "message": {**TG["message"], "date": v}},
    "raw.webform": lambda v: {"text": "x", "created_at": v},
    "raw.open311": lambda v: {"service_code": "roads", "description": "яма", "requested_datetime": v},
    "raw.pos": lambda v: {"Номер": 1, "Дата создания": v, "Текст сообщения": "яма"},
    "raw.email": lambda v: {"uid": 1, "uidvalidity": 1, "mailbox": "INBOX", "text": "x", "clean": True, "date": v},
}


@settings(max_examples=600, deadline=None)
@given(st.sampled_from(sorted(SHAPES)), time_values)
def test_any_time_value_is_a_message_in_the_window_or_a_reasoned_rejection(topic: str, value: object) -> None:
    try:
        body = json.dumps(SHAPES[topic](value), allow_nan=True).encode()
    except (TypeError, ValueError):
        return
    try:
        msg = normalize_record(body, {}, topic, max_bytes=1 << 20, author_key=b"k", max_text_chars=5000, now=NOW)
    except Rejected as rej:
        assert rej.reason in {"bad_time", "validation", "bad_json"}, rej
        return
    assert msg.created_at.tzinfo is UTC
    assert datetime(2000, 1, 1, tzinfo=UTC) <= msg.created_at <= NOW + timedelta(days=1)
