"""Every help text of the `mcu` command line is Russian (the people at the МЦУ read it).

Walks the whole command tree from `mcu.cli.main`, so a command added later without Russian help
fails here. Option names, metavars and identifiers inside a help text are allowed; the text itself
must carry Russian words.
"""

import re

import click
import pytest
from click.testing import CliRunner

from mcu.cli import main

RUSSIAN_WORD = re.compile(r"[а-яё]{2,}", re.IGNORECASE)
# Click's built-in words that must not leak into a rendered help page.
ENGLISH_CLICK = ("Usage:", "Options:", "Commands:", "Show this message and exit.", "[default:", "[required]")


def _walk(command: click.Command, path: tuple[str, ...]) -> list[tuple[tuple[str, ...], click.Command]]:
    found = [(path, command)]
    if isinstance(command, click.Group):
        for name, sub in sorted(command.commands.items()):
            found += _walk(sub, (*path, name))
    return found


COMMANDS = _walk(main, ())


def _id(item: tuple[tuple[str, ...], click.Command]) -> str:
    return " ".join(("mcu", *item[0]))


def test_the_tree_is_walked() -> None:
    # The walk must reach the nested commands, or the checks below test nothing.
    names = {" ".join(path) for path, _ in COMMANDS}
    assert {"report ratings", "sla deadline", "classify predict", "connector run", "dlq show"} <= names


@pytest.mark.parametrize("item", COMMANDS, ids=_id)
def test_command_and_option_help_is_russian(item: tuple[tuple[str, ...], click.Command]) -> None:
    path, command = item
    where = " ".join(("mcu", *path))
    assert command.help and RUSSIAN_WORD.search(command.help), f"{where}: description has no Russian text"
    for param in command.params:
        if isinstance(param, click.Option) and not param.hidden:
            assert param.help and RUSSIAN_WORD.search(param.help), f"{where} {param.opts[0]}: help not in Russian"


@pytest.mark.parametrize("item", COMMANDS, ids=_id)
def test_rendered_help_has_no_english_click_words(item: tuple[tuple[str, ...], click.Command]) -> None:
    path, _ = item
    result = CliRunner().invoke(main, [*path, "--help"], prog_name="mcu", terminal_width=80)
    assert result.exit_code == 0, result.output
    for word in ENGLISH_CLICK:
        assert word not in result.output, f"mcu {' '.join(path)} --help shows {word!r}"
    assert "Использование: mcu" in result.output


def test_usage_errors_are_russian() -> None:
    result = CliRunner().invoke(main, ["report", "ratings", "--no-such-flag"], prog_name="mcu")
    assert result.exit_code == 2
    assert "Ошибка: Нет такого параметра: --no-such-flag" in result.output
    missing = CliRunner().invoke(main, ["ingest", "jsonl", "-"], prog_name="mcu")
    assert missing.exit_code == 2 and "Не указан параметр '--channel'" in missing.output, missing.output
