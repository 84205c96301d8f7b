"""The `mcu` command line: one entry point for the worker, intake, dead letters and tools."""

import logging

import click

from classify.cli import classify as classify_group
from kafkaio.clients import KafkaLoginRefused
from mcu import click_ru
from mcu.commands.connector import connector, simulate_cmd
from mcu.commands.correct import correct
from mcu.commands.dlq import dlq
from mcu.commands.ingest import ingest
from mcu.commands.replay import replay
from mcu.commands.report import report
from mcu.commands.schemas_export import schemas_group
from mcu.commands.service import counts, db, demo, worker
from mcu.commands.sla import sla as sla_group
from mcu.settings import SettingsError


class _Cli(click.Group):
    """Settings that stop a command become one line on stderr and exit code 1, not a traceback;
    click's own words (usage, errors) are Russian like the rest of the command line."""

    def main(self, *args: object, **kwargs: object) -> object:  # type: ignore[override]
        click_ru.install(self)
        return super().main(*args, **kwargs)  # type: ignore[arg-type]

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except SettingsError as exc:
            raise click.ClickException(f"настройки: {exc}") from exc
        except KafkaLoginRefused as exc:
            raise click.ClickException(str(exc)) from exc


@click.group(cls=_Cli)
@click.option(
    "--log-level", default="warning", show_default=True, help="уровень журнала команды: debug, info, warning, error"
)
def main(log_level: str) -> None:
    """МЦУ Туапсинского округа: потоковая обработка обращений жителей."""
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")


for command in (worker, ingest, dlq, schemas_group, db, demo, counts, report, connector, simulate_cmd, replay):
    main.add_command(command)
main.add_command(sla_group)
# classify/ must not import mcu (settings, store): the command that needs them joins the group here.
classify_group.add_command(correct)
main.add_command(classify_group)
