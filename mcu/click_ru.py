"""Russian for click's own words ("Usage:", "Options", "Missing option", ...) in the `mcu` command line.

Click routes these strings through `gettext`, but gettext picks the language from the user's locale
(often C.UTF-8 on the МЦУ's servers) and needs compiled catalogs; the command line must be Russian
whatever the locale. So the names click's modules bound with `from gettext import gettext as _` are
pointed at a lookup in the table below, once, when `mcu` starts. Unknown strings stay as click wrote
them, so a click upgrade that adds a message degrades to English, not to an error.
"""

import gettext

import click
import click.core
import click.decorators
import click.exceptions
import click.formatting
import click.parser
import click.types

_CLICK_MODULES = (click.core, click.decorators, click.exceptions, click.formatting, click.parser, click.types)

RU: dict[str, str] = {
    "Usage:": "Использование:",
    "Options": "Параметры",
    "Commands": "Команды",
    "Show this message and exit.": "Показать эту справку и выйти.",
    "Show the version and exit.": "Показать версию и выйти.",
    "%(prog)s, version %(version)s": "%(prog)s, версия %(version)s",
    "{text} {deprecated_message}": "{text} {deprecated_message}",
    "(DEPRECATED)": "(УСТАРЕЛО)",
    "Aborted!": "Прервано.",
    "Missing command.": "Не указана команда.",
    "No such command {name!r}.": "Нет команды {name!r}.",
    "Value must be an iterable.": "Нужен список значений.",
    "env var: {var}": "переменная окружения: {var}",
    "default: {default}": "по умолчанию: {default}",
    "required": "обязательно",
    "(dynamic)": "(вычисляется)",
    "Error: {message}": "Ошибка: {message}",
    "Try '{command} {option}' for help.": "Справка: '{command} {option}'.",
    "Invalid value: {message}": "Неверное значение: {message}",
    "Invalid value for {param_hint}: {message}": "Неверное значение {param_hint}: {message}",
    "Missing argument": "Не указан аргумент",
    "Missing option": "Не указан параметр",
    "Missing parameter": "Не указан параметр",
    "Missing {param_type}": "Не указан {param_type}",
    "Missing parameter: {param_name}": "Не указан параметр: {param_name}",
    "No such option: {name}": "Нет такого параметра: {name}",
    "unknown error": "неизвестная ошибка",
    "Could not open file {filename!r}: {message}": "Не удалось открыть файл {filename!r}: {message}",
    "Argument {name!r} takes {nargs} values.": "Аргумент {name!r} принимает {nargs} значения.",
    "Option {name!r} does not take a value.": "Параметр {name!r} не принимает значения.",
    "Choose from:\n\t{choices}": "Выберите одно из:\n\t{choices}",
    "{value!r} is not a valid {number_type}.": "{value!r} — не число ({number_type}).",
    "{value} is not in the range {range}.": "{value} вне диапазона {range}.",
    "{value!r} is not a valid UUID.": "{value!r} — не UUID.",
    "{value!r} is not a valid boolean. Recognized values: {states}": "{value!r} — не логическое значение; "
    "допустимы: {states}",
    "file": "файл",
    "directory": "каталог",
    "path": "путь",
    "{name} {filename!r} does not exist.": "{name} {filename!r} не существует.",
    "{name} {filename!r} is a file.": "{name} {filename!r} — файл, а не каталог.",
    "{name} {filename!r} is a directory.": "{name} {filename!r} — каталог, а не файл.",
    "{name} {filename!r} is not readable.": "{name} {filename!r} не читается.",
    "{name} {filename!r} is not writable.": "{name} {filename!r} недоступен для записи.",
    "{name} {filename!r} is not executable.": "{name} {filename!r} не исполняемый.",
}

# Plural forms: click passes (singular, plural); Russian needs only one wording per pair here.
RU_PLURAL: dict[str, str] = {
    "Got unexpected extra argument ({args})": "Лишние аргументы ({args})",
    "Takes {nargs} values but 1 was given.": "Нужно значений: {nargs}, дано: 1.",
    "Did you mean {possibility}?": "Может быть, {possibility}?",
    "{value!r} is not {choice}.": "{value!r} — недопустимое значение; допустимо: {choice}.",
    "Option {name!r} requires an argument.": "Параметру {name!r} нужно значение.",
    "{value!r} does not match the format {format}.": "{value!r} не подходит под формат {format}.",
    "{len_type} values are required, but {len_value} was given.": "Нужно значений: {len_type}, дано: {len_value}.",
}
RU_PLURAL_MANY: dict[str, str] = {
    "Got unexpected extra argument ({args})": "Лишние аргументы ({args})",
    "Takes {nargs} values but 1 was given.": "Нужно значений: {nargs}, дано: {len}.",
    "Did you mean {possibility}?": "(Возможно: {possibilities})",
    "{value!r} is not {choice}.": "{value!r} — недопустимое значение; допустимо одно из: {choices}.",
    "Option {name!r} requires an argument.": "Параметру {name!r} нужно значений: {nargs}.",
    "{value!r} does not match the format {format}.": "{value!r} не подходит ни под один из форматов {formats}.",
    "{len_type} values are required, but {len_value} was given.": "Нужно значений: {len_type}, дано: {len_value}.",
}


def _gettext(message: str) -> str:
    return RU.get(message, gettext.gettext(message))


def _ngettext(singular: str, plural: str, n: int) -> str:
    table = RU_PLURAL if n == 1 else RU_PLURAL_MANY
    return table.get(singular, gettext.ngettext(singular, plural, n))


def install(root: click.Command | None = None) -> None:
    """Idempotent: re-pointing the names twice changes nothing.

    Click builds each command's --help option once and caches it with the text of that moment; a
    command group used before `install` (a test invoking a sub-group directly) would keep English,
    so the cache of every command under `root` is dropped and rebuilt on next use.
    """
    for module in _CLICK_MODULES:
        if hasattr(module, "_"):
            module._ = _gettext  # type: ignore[attr-defined]
        if hasattr(module, "ngettext"):
            module.ngettext = _ngettext  # type: ignore[attr-defined]
    if root is not None:
        _drop_cached_help(root)


def _drop_cached_help(command: click.Command) -> None:
    help_option = getattr(command, "_help_option", None)
    if help_option is not None and help_option.help != RU["Show this message and exit."]:
        command._help_option = None  # type: ignore[attr-defined]
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _drop_cached_help(sub)
