from click.testing import CliRunner

from mcu.commands.sla import sla


def test_calendar_2026_table() -> None:
    r = CliRunner(env={"COLUMNS": "200"}).invoke(sla, ["calendar", "2026"])
    assert r.exit_code == 0, r.output
    total = next(line for line in r.output.splitlines() if "итого" in line)
    assert "247" in total and "1972" in total
    assert "09.01.2026" in r.output and "перенесено с 03.01.2026" in r.output
    assert "31.12.2026" in r.output


def test_deadline_prints_the_moscow_time() -> None:
    r = CliRunner().invoke(sla, ["deadline", "--start", "2025-12-25T10:00", "--term", "10 working days"])
    assert r.exit_code == 0, r.output
    assert "истекает: 20.01.2026 18:00 МСК (вторник)" in r.output
    r = CliRunner().invoke(sla, ["deadline", "--start", "2026-02-07T07:00+00:00", "--term", "30 дней"])
    assert "истекает: 10.03.2026 18:00 МСК" in r.output


def test_deadline_rejects_a_bad_term() -> None:
    r = CliRunner().invoke(sla, ["deadline", "--start", "2026-01-01T10:00", "--term", "a while"])
    assert r.exit_code != 0 and "cannot read term" in r.output


def test_deadline_out_of_the_calendar_range_is_a_clear_error_not_a_traceback() -> None:
    r = CliRunner().invoke(sla, ["deadline", "--start", "9999-12-30T10:00", "--term", "10 working days"])
    assert r.exit_code == 1 and "календарь охватывает 01.01.2000 … 31.12.2105" in r.output
    assert not isinstance(r.exception, ValueError)  # a ClickException (SystemExit), not a crash


def test_policies_table_lists_every_rule() -> None:
    r = CliRunner(env={"COLUMNS": "400"}).invoke(sla, ["policies"])
    assert r.exit_code == 0, r.output
    for rule in ("written_59fz", "pos", "incident", "email_message", "active_citizen", "open311"):
        assert rule in r.output
