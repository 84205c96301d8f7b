"""Random times outside the window, as they arrive from outside (JSON text, with or without a zone):
the CaseEvent model (what the SLA stage and the sink read from Kafka) and the normaliser (what the
raw topics feed) refuse every one as ``bad_time``; none is accepted, none raises anything else."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from ingest.normalize import Rejected, normalize_record
from schemas import CaseEvent
from schemas.times import BAD_TIME, EARLIEST, MAX_DEADLINE_AHEAD, MSK, TIME_CONTEXT, is_bad_time

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
ZONES = ["", "Z", "+03:00", "-12:00", "+14:00"]  # "" is Moscow time
MARGIN = timedelta(hours=15)  # clear of the window's edges under any of the zones


def outside(ahead: timedelta) -> st.SearchStrategy[tuple[datetime, str]]:
    early = st.datetimes(min_value=datetime(1, 1, 2), max_value=(EARLIEST - MARGIN).replace(tzinfo=None))
    late = st.datetimes(min_value=(NOW + ahead + MARGIN).replace(tzinfo=None), max_value=datetime(9999, 12, 30))
    return st.tuples(st.one_of(early, late), st.sampled_from(ZONES))


out_of_window = outside(timedelta(days=1))


def text(value: datetime, zone: str) -> str:
    return value.isoformat() + zone


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(st.tuples(st.just("at"), out_of_window), st.tuples(st.just("new_deadline"), outside(MAX_DEADLINE_AHEAD)))
)
def test_case_events_from_kafka_with_out_of_window_times_are_bad_time(case: tuple[str, tuple[datetime, str]]) -> None:
    field, when = case
    data = {"event_id": "e1", "message_id": "m1", "type": "extended", "at": "2026-11-20T10:00:00+03:00"}
    data[field] = text(*when)
    with pytest.raises(ValidationError) as info:
        CaseEvent.model_validate_json(json.dumps(data), context={TIME_CONTEXT: NOW})
    assert is_bad_time(info.value.errors()), info.value.errors()


@settings(max_examples=200, deadline=None)
@given(out_of_window)
def test_raw_webform_records_with_out_of_window_created_at_are_bad_time(when: tuple[datetime, str]) -> None:
    body = json.dumps({"id": "x", "text": "Нет воды", "created_at": text(*when)}).encode()
    with pytest.raises(Rejected) as info:
        normalize_record(body, {}, "raw.webform", max_bytes=1 << 20, author_key=b"k", max_text_chars=5000, now=NOW)
    assert info.value.reason == BAD_TIME


@settings(max_examples=200, deadline=None)
@given(st.datetimes(min_value=EARLIEST.replace(tzinfo=None) + timedelta(hours=4), max_value=datetime(2026, 11, 27, 14)))
def test_in_window_times_with_and_without_a_zone_pass_and_come_out_in_utc(value: datetime) -> None:
    naive = CaseEvent.model_validate_json(
        json.dumps({"event_id": "e1", "message_id": "m1", "type": "answered", "at": value.isoformat()}),
        context={TIME_CONTEXT: NOW},
    )
    assert naive.at == value.replace(tzinfo=MSK).astimezone(UTC) and naive.at.tzinfo is UTC
