from collections.abc import Iterator

import pytest

from tests.unit.notify.servers import BotApiServer, SmtpServer


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer() as s:
        yield s


@pytest.fixture
def bot_api() -> Iterator[BotApiServer]:
    with BotApiServer() as s:
        yield s
