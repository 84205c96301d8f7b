from pathlib import Path
from urllib.parse import urlparse

import clickhouse_connect
from clickhouse_connect.driver.client import Client


def connect(dsn: str) -> Client:
    """A clickhouse-connect client for ``chdb://<path>`` (embedded) or ``http(s)://`` (a server).

    The embedded engine locks its path for the whole process: only one process may open it.
    """
    if dsn.startswith("chdb://"):
        path = urlparse(dsn).path
        if path and path != "/":
            Path(path).mkdir(parents=True, exist_ok=True)
    return clickhouse_connect.get_client(dsn=dsn)
