"""`mcu connector ...` end to end with the sink side replaced by the test doubles."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

import mcu.commands.connector as cli
from ingest.connectors.registry import NotConfigured, polled_connector
from ingest.connectors.settings import ConnectorSettings

from .conftest import FakeEvents, FakeProbe, FakePublisher


class Closing(FakePublisher):
    def close(self) -> None:
        self.flush()


class ClosingEvents(FakeEvents):
    def close(self) -> None:
        self.flush()


@pytest.fixture
def sinks(monkeypatch, tmp_path):
    pub, ev = Closing(), ClosingEvents()
    monkeypatch.setattr(cli, "_publishers", lambda settings: (pub, ev))
    monkeypatch.setattr(cli, "_probe", lambda settings: FakeProbe(pub))
    monkeypatch.setenv("MCU_VAR_DIR", str(tmp_path / "var"))
    cli.get_settings.cache_clear()
    yield pub, ev
    cli.get_settings.cache_clear()


def test_import_twice_publishes_once_and_status_shows_the_cursor(sinks, tmp_path):
    pub, _ev = sinks
    f = tmp_path / "reception.csv"
    f.write_text("Номер записи;Дата приема;Содержание вопроса;Статус;Дата ответа\n"
                 "П-1;02.11.2026;[синтетика] Ремонт крыши;Ответ дан;10.11.2026\n", encoding="cp1251")  # fmt: skip
    runner = CliRunner()
    first = runner.invoke(cli.connector, ["import", "reception", str(f)])
    assert first.exit_code == 0, first.output
    assert "строк 1, событий статуса 1" in first.output
    again = runner.invoke(cli.connector, ["import", "reception", str(f)])
    assert "строк 0," in again.output and pub.source_ids() == ["П-1"]
    status = runner.invoke(cli.connector, ["status"])
    assert "reception.import" in status.output and '"rows_done": 1' in status.output


def test_import_of_an_unreadable_file_says_why(sinks, tmp_path):
    f = tmp_path / "broken.xlsx"
    f.write_bytes(b"PK\x03\x04 not really a workbook")
    result = CliRunner().invoke(cli.connector, ["import", "pos", str(f)])
    assert result.exit_code == 1 and "not a readable XLSX" in result.output


def test_formats_say_what_is_confirmed():
    result = CliRunner().invoke(cli.connector, ["formats"])
    assert result.exit_code == 0 and "NOT public" in result.output and "Рег. номер" in result.output


@pytest.mark.parametrize(
    ("name", "missing"),
    [("vk", "MCU_VK_TOKEN"), ("telegram", "MCU_TELEGRAM_BOT_TOKEN"), ("email", "MCU_IMAP_HOST")],
)
def test_polled_connectors_name_the_settings_they_miss(name, missing):
    with pytest.raises(NotConfigured, match=missing):
        polled_connector(name, ConnectorSettings())
