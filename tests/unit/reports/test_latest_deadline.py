"""The effective deadline is the latest decision by event time (migration 0010), on chdb.

An official extends a case to a wrong, later date and corrects it minutes later to an earlier one.
The store used to keep max() of every date, so the mistake stood for good and the case counted as
answered in time. The SLA events come from the real timers (sla.timers) fed the same case events.
Synthetic case and events, made up for these tests.
"""

from datetime import UTC, datetime, timedelta

import pytest
from clickhouse_connect.driver.client import Client

from reports.store import refresh
from reports.worktime import sync_calendar
from schemas import Case, CaseEvent, CaseEventType, SlaEvent
from schemas.channels import Channel
from sinks.clickhouse import migrate as migrate_module
from sinks.clickhouse import rows
from sinks.clickhouse.migrate import available, migrate
from sinks.clickhouse.writer import insert_batch
from sla.calendar import MSK, WorkingCalendar
from sla.policies import load_policies
from sla.timers import SlaTimers
from tests.unit.sla.factories import make_case, make_event

T = CaseEventType


def msk(*a: int) -> datetime:
    return datetime(*a, tzinfo=MSK)  # type: ignore[misc]


WRONG = msk(2026, 5, 29, 18, 0)  # the mistaken extension
RIGHT = msk(2026, 3, 20, 18, 0)  # its correction, later by event time, earlier by date
ANSWERED = msk(2026, 4, 10, 10, 0)  # after RIGHT, before WRONG: 21 calendar days late


def story(case: Case) -> list[CaseEvent]:
    return [
        make_event(case, T.REGISTERED, msk(2026, 2, 2, 12, 0), event_id=f"{case.message_id}-reg"),
        make_event(case, T.EXTENDED, msk(2026, 2, 20, 10, 0), event_id=f"{case.message_id}-x1", new_deadline=WRONG),
        make_event(case, T.EXTENDED, msk(2026, 2, 20, 11, 0), event_id=f"{case.message_id}-x2", new_deadline=RIGHT),
        make_event(case, T.ANSWERED, ANSWERED, event_id=f"{case.message_id}-ans"),
    ]


def timer_output(case: Case, arrival: list[CaseEvent]) -> list[SlaEvent]:
    """What the SLA stage emits for ``arrival`` (in that order), its clock ticking every 6 h."""
    timers = SlaTimers(load_policies(), WorkingCalendar())
    out = timers.on_case(case)
    now, pending = case.message.created_at, list(arrival)
    while pending:
        now += timedelta(hours=6)
        out += timers.tick(now)
        while pending and pending[0].at <= now:
            out += timers.on_event(pending.pop(0))
    return out


def store(client: Client, case: Case, events: list[CaseEvent], slas: list[SlaEvent], token: str) -> None:
    insert_batch(client, "cases", rows.CASE_COLUMNS, [rows.case_row(case)], token + "c")
    if events:
        insert_batch(
            client, "case_events", rows.CASE_EVENT_COLUMNS, [rows.case_event_row(e) for e in events], token + "e"
        )
    if slas:
        insert_batch(client, "sla_events", rows.SLA_EVENT_COLUMNS, [rows.sla_event_row(e) for e in slas], token + "s")


def figures(client: Client, message_id: str) -> dict[str, object]:
    refresh(client)
    state = client.query(
        "SELECT deadline, breached FROM case_state WHERE message_id = {m:String}", parameters={"m": message_id}
    ).result_rows
    body = client.query(
        "SELECT sum(with_deadline), sum(answered_in_time), sum(overdue), sum(overdue_days) FROM daily_body_stats"
    ).result_rows[0]
    full = client.query("SELECT sum(answered_in_time), sum(overdue), sum(overdue_days) FROM daily_stats").result_rows[0]
    assert tuple(full) == tuple(body[1:])  # both grains agree
    (deadline, breached), *_ = state
    return {
        "deadline": deadline.replace(tzinfo=UTC) if deadline.tzinfo is None else deadline,
        "breached": breached,
        "with_deadline": body[0],
        "answered_in_time": body[1],
        "overdue": body[2],
        "overdue_days": body[3],
    }


@pytest.fixture
def db(clickhouse: Client) -> Client:
    migrate(clickhouse)
    sync_calendar(clickhouse)
    return clickhouse


def test_a_later_correction_to_an_earlier_date_wins_in_the_store_and_the_figures(db):
    case = make_case(msk(2026, 2, 2, 10, 0), Channel.LETTER)
    events = story(case)
    slas = timer_output(case, events)
    assert [e.deadline for e in slas if e.kind == "moved" and e.term == "resolution"][-1] == RIGHT
    store(db, case, events, slas, "a")
    got = figures(db, case.message_id)
    assert got["deadline"] == RIGHT
    # the timer breached at RIGHT; the days late count from RIGHT, not from the mistaken WRONG
    assert got["breached"] == 1
    assert (got["with_deadline"], got["answered_in_time"], got["overdue"]) == (1, 0, 1)
    assert got["overdue_days"] == 21


def test_without_timer_events_the_operators_latest_extension_decides(db):
    """Before (or without) the SLA stage: only the case events say anything about the deadline."""
    case = make_case(msk(2026, 2, 2, 10, 0), Channel.LETTER)
    store(db, case, story(case), [], "b")
    got = figures(db, case.message_id)
    assert got["deadline"] == RIGHT and got["breached"] == 0
    # max() said WRONG: answered in time, not overdue. The correction makes it late.
    assert (got["answered_in_time"], got["overdue"], got["overdue_days"]) == (0, 1, 21)


def test_redelivery_and_arrival_order_change_nothing(db, clickhouse_factory):
    case = make_case(msk(2026, 2, 2, 10, 0), Channel.LETTER)
    events = story(case)
    slas = timer_output(case, events)
    store(db, case, events, slas, "c")
    expected = figures(db, case.message_id)
    # each event re-delivered in a batch of its own (a re-feed: the materialized views see it again)
    for i, e in enumerate(events):
        store(db, case, [e], [], f"again-e{i}")
    for i, s in enumerate(slas):
        store(db, case, [], [s], f"again-s{i}")
    assert figures(db, case.message_id) == expected

    # the same case in another store, its events arriving the other way round: the correction
    # first, the mistake after it (the timer ignores the older extension: no `moved` for it)
    other = clickhouse_factory("t_latest_deadline_reversed")
    other.command("DROP DATABASE IF EXISTS t_latest_deadline_reversed")
    other.command("CREATE DATABASE t_latest_deadline_reversed")
    migrate(other)
    sync_calendar(other)
    timers_slas = _reversed_timer_output(case, events)
    moved = {e.deadline for e in timers_slas if e.kind == "moved"}
    assert RIGHT in moved and WRONG not in moved  # the timer never applied the older mistake
    for i, s in enumerate(reversed(timers_slas)):
        store(other, case, [], [s], f"rev-s{i}")
    for i, e in enumerate([events[3], events[2], events[1], events[0]]):
        store(other, case, [e], [], f"rev-e{i}")
    got = figures(other, case.message_id)
    assert got == expected
    other.command("DROP DATABASE IF EXISTS t_latest_deadline_reversed")


def _reversed_timer_output(case: Case, events: list[CaseEvent]) -> list[SlaEvent]:
    """The SLA stage receiving the correction before the mistake (both before the answer)."""
    reg, x1, x2, ans = events
    timers = SlaTimers(load_policies(), WorkingCalendar())
    out = timers.on_case(case)
    out += timers.on_event(reg)
    out += timers.on_event(x2)
    out += timers.on_event(x1)  # older by event time: ignored by the timer
    now = x2.at
    while now < ans.at:
        now += timedelta(hours=6)
        out += timers.tick(now)
    out += timers.on_event(ans)
    return out


def test_backfill_fixes_what_was_stored_before_the_migration(clickhouse, monkeypatch):
    every = available()
    monkeypatch.setattr(migrate_module, "available", lambda: [m for m in every if m.version < 10])
    migrate(clickhouse)
    sync_calendar(clickhouse)
    case = make_case(msk(2026, 2, 2, 10, 0), Channel.LETTER)
    events = story(case)
    # the writer of that time: case_events had no `term` column yet
    old_columns = rows.CASE_EVENT_COLUMNS[:-1]
    old_rows = [rows.case_event_row(e)[:-1] for e in events]
    insert_batch(clickhouse, "cases", rows.CASE_COLUMNS, [rows.case_row(case)], "old-c")
    insert_batch(clickhouse, "case_events", old_columns, old_rows, "old-e")
    slas = timer_output(case, events)
    insert_batch(clickhouse, "sla_events", rows.SLA_EVENT_COLUMNS, [rows.sla_event_row(e) for e in slas], "old-s")
    old = clickhouse.query(
        "SELECT max(deadline) FROM case_progress WHERE message_id = {m:String}", parameters={"m": case.message_id}
    ).result_rows[0][0]
    assert old.replace(tzinfo=UTC) == WRONG  # the bug as stored: max() of every date
    monkeypatch.undo()
    assert migrate(clickhouse) == [m.name for m in every if m.version >= 10]
    assert figures(clickhouse, case.message_id)["deadline"] == RIGHT
    # running the file again (after a crash half-way, say) changes nothing
    migration = next(m for m in every if m.name == "0010_latest_deadline.sql")
    for statement in migration.statements():
        clickhouse.command(statement)
    assert figures(clickhouse, case.message_id)["deadline"] == RIGHT


def test_an_extension_of_another_term_leaves_the_resolution_deadline(db):
    case = make_case(msk(2026, 2, 2, 10, 0), Channel.LETTER)
    events = story(case)
    other_term = make_event(
        case,
        T.EXTENDED,
        msk(2026, 3, 1, 10, 0),
        event_id="x3",
        new_deadline=msk(2026, 3, 2, 18, 0),
        term="first_response",
    )
    store(db, case, [*events, other_term], [], "d")
    assert figures(db, case.message_id)["deadline"] == RIGHT


def test_a_warning_fired_before_a_late_extension_was_processed_does_not_bring_the_old_date_back(db):
    """Warnings fire at a time computed from the schedule, not at a decision's time: one that fired
    (with the old date) between the extension's own time and its late arrival must not win."""
    case = make_case(msk(2026, 2, 2, 10, 0), Channel.LETTER)
    reg = make_event(case, T.REGISTERED, msk(2026, 2, 2, 12, 0), event_id="late-reg")
    new = msk(2026, 3, 13, 18, 0)
    ext = make_event(case, T.EXTENDED, msk(2026, 2, 16, 10, 0), event_id="late-x", new_deadline=new)
    timers = SlaTimers(load_policies(), WorkingCalendar())
    slas = timers.on_case(case) + timers.on_event(reg)
    slas += timers.tick(msk(2026, 2, 19, 12, 0))
    warning = next(e for e in slas if e.kind == "warning")
    assert warning.at > ext.at and warning.deadline != new  # fired on the old schedule, after ext.at
    slas += timers.on_event(ext)  # arrives three days late
    slas += timers.tick(msk(2026, 2, 20, 12, 0))
    assert all(e.at <= ext.at for e in slas if e.deadline == new)  # nothing newer repeats the new date yet
    store(db, case, [reg, ext], slas, "late")
    assert figures(db, case.message_id)["deadline"] == new
