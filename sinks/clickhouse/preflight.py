"""Connect to the store and turn a bad configuration into one readable line, never a traceback.

clickhouse-connect checks the server at connect (version query, then the database), so an
unreachable host, wrong credentials and a missing database all surface here, each as a
``StoreUnavailable`` whose message names the DSN with its password masked.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal
from urllib.parse import urlsplit

from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import OperationalError

from sinks.clickhouse.client import connect, mask_secrets

Problem = Literal["unreachable", "credentials", "database", "other"]
# ClickHouse error codes: AUTHENTICATION_FAILED, REQUIRED_PASSWORD, UNKNOWN_USER; UNKNOWN_DATABASE.
_CREDENTIAL_CODES = {"516", "194", "192"}
_DATABASE_CODES = {"81"}


class StoreUnavailable(RuntimeError):
    """One line: what is wrong with the store and which DSN (password masked)."""

    def __init__(self, dsn: str, problem: Problem, detail: str) -> None:
        self.dsn = mask_secrets(dsn)
        self.problem = problem
        self.detail = detail
        what = {
            "unreachable": "не отвечает",
            "credentials": "отклонил имя пользователя или пароль",
            "database": "не знает такой базы данных",
            "other": "вернул ошибку",
        }[problem]
        super().__init__(f"ClickHouse {self.dsn} {what}: {detail}")

    @property
    def is_configuration(self) -> bool:
        """Wrong credentials or database do not heal by waiting; an unreachable server may."""
        return self.problem in ("credentials", "database")


def _code(exc: Exception) -> str | None:
    text = str(exc)
    marker = "code: "
    at = text.find(marker)
    if at < 0:
        return None
    digits = "".join(ch for ch in text[at + len(marker) : at + len(marker) + 6] if ch.isdigit())
    return digits or None


def _first_line(exc: Exception, dsn: str) -> str:
    text = " ".join(str(exc).split())
    parts = urlsplit(dsn)
    if parts.password:
        text = text.replace(parts.password, "***")
    # clickhouse-connect repeats the server's message after "server response:"; keep the server's words.
    if "server response:" in text:
        text = text.split("server response:", 1)[1].strip()
    return text[:300]


def classify(exc: Exception, dsn: str) -> StoreUnavailable:
    code = _code(exc)
    if code in _CREDENTIAL_CODES:
        problem: Problem = "credentials"
    elif code in _DATABASE_CODES:
        problem = "database"
    elif isinstance(exc, (OperationalError, OSError)):
        problem = "unreachable"
    else:
        problem = "other"
    detail = _first_line(exc, dsn)
    if problem == "unreachable":
        parts = urlsplit(dsn)
        reason = re.search(r"\[Errno -?\d+\] ([^'\")]+)", detail)
        detail = f"нет соединения с {parts.hostname}:{parts.port or ''}" + (f" ({reason.group(1)})" if reason else "")
    return StoreUnavailable(dsn, problem, detail)


@contextmanager
def _quiet_transport() -> Iterator[None]:
    """urllib3 and clickhouse-connect log a warning per failed attempt, before our one line."""
    loggers = [logging.getLogger(n) for n in ("urllib3.connectionpool", "clickhouse_connect.driver._backend.http_sync")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR + 10)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def connect_checked(dsn: str) -> Client:
    """``connect(dsn)`` whose failures are one-line ``StoreUnavailable`` errors."""
    try:
        with _quiet_transport():
            return connect(dsn)
    except Exception as exc:
        raise classify(exc, dsn) from exc
