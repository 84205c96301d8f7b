"""The ClickHouse store: connection, versioned migrations, row mapping and the batch writer."""

import re
from pathlib import Path
from urllib.parse import urlparse

import clickhouse_connect
from clickhouse_connect.driver.client import Client

# user:password@ in any URL, and password=… in a query string or a key=value message
_URL_PASSWORD = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@]*:)(?P<secret>[^\s@/]*)(?P<tail>@)")
_PARAM_PASSWORD = re.compile(r"(?P<head>\bpassword=)(?P<secret>[^\s&;,'\"]+)", re.I)
MASK = "***"


def mask_secrets(text: str) -> str:
    """``text`` with every DSN password replaced by ***: for logs and error messages.

    A DSN such as ``http://mcu:s3cret@ch:8123/db`` appears in start-up messages and in the
    exceptions of a store that is down; none of them may carry the password to a log.
    """
    text = _URL_PASSWORD.sub(lambda m: m["head"] + MASK + m["tail"], text)
    return _PARAM_PASSWORD.sub(lambda m: m["head"] + MASK, text)


def connect(dsn: str) -> Client:
    """A clickhouse-connect client for ``chdb://<path>`` (embedded) or ``http(s)://`` (a server).

    The embedded engine locks its path for the whole process: only one process may open it.
    """
    if dsn.startswith("chdb://"):
        path = urlparse(dsn).path
        if path and path != "/":
            Path(path).mkdir(parents=True, exist_ok=True)
    return clickhouse_connect.get_client(dsn=dsn)
