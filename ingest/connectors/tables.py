"""Reading registry exports: CSV (UTF-8 or cp1251, `;` or `,`) and XLSX, one dict per row.

Document-management systems and portals export what an operator sees on screen: Russian column
headers, dates as ``ДД.ММ.ГГГГ[ ЧЧ:ММ]`` in Moscow time, a header row possibly below a title.
Rows are kept with their own headers; each channel names the columns it knows (with aliases).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import zipfile
from collections.abc import Iterable
from datetime import date, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

MSK = ZoneInfo("Europe/Moscow")  # Краснодарский край lives on Moscow time
MAX_HEADER_SCAN = 20


class TableError(ValueError):
    """The file cannot be read as a table at all (not a row of it): the import stops with this."""


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def norm_header(name: Any) -> str:
    """'Рег. №' and 'рег №' compare equal: lower case, ё→е, punctuation and spaces squeezed."""
    text = str(name or "").strip().lower().replace("ё", "е").replace("№", " номер ")
    return re.sub(r"[\s._:\-/()«»\"']+", " ", text).strip()


def pick(row: dict[str, Any], aliases: Iterable[str]) -> Any:
    """The first non-empty value among a column's aliases (compared by ``norm_header``)."""
    by_norm = {norm_header(k): v for k, v in row.items()}
    for alias in aliases:
        value = by_norm.get(norm_header(alias))
        if value not in (None, ""):
            return value.strip() if isinstance(value, str) else value
    return None


def decode_csv(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Exports of Russian office software default to Windows-1251.
        return data.decode("cp1251")


def _header_index(rows: list[list[Any]], known: set[str]) -> int:
    """The first row naming at least two known columns; a title line above it is skipped."""
    for i, row in enumerate(rows[:MAX_HEADER_SCAN]):
        names = {norm_header(c) for c in row if c not in (None, "")}
        if len(names & known) >= 2:
            return i
    raise TableError(f"no header row with the expected columns in the first {MAX_HEADER_SCAN} rows")


def _records(rows: list[list[Any]], known: Iterable[str]) -> list[dict[str, Any]]:
    known_norm = {norm_header(k) for k in known}
    start = _header_index(rows, known_norm)
    header = [str(c).strip() if c not in (None, "") else f"column_{j + 1}" for j, c in enumerate(rows[start])]
    out = []
    for row in rows[start + 1 :]:
        if all(c in (None, "") or (isinstance(c, str) and not c.strip()) for c in row):
            continue
        out.append({header[j]: cell_value(row[j]) for j in range(min(len(header), len(row)))})
    return out


def cell_value(value: Any) -> Any:
    """JSON-safe cell: datetimes become ISO strings (naive ones stay naive, i.e. local time)."""
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def read_csv(data: bytes, known: Iterable[str]) -> list[dict[str, Any]]:
    text = decode_csv(data)
    sample = text[:8192]
    try:
        dialect: Any = csv.Sniffer().sniff(sample, delimiters=";,\t")
    except csv.Error:
        dialect = csv.excel
        dialect.delimiter = ";" if sample.count(";") > sample.count(",") else ","
    rows = [list(r) for r in csv.reader(io.StringIO(text, newline=""), dialect)]
    return _records(rows, known)


def read_xlsx(path: Path, known: Iterable[str]) -> list[dict[str, Any]]:
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, OSError, KeyError, ValueError, TypeError) as exc:
        raise TableError(f"{path.name}: not a readable XLSX workbook ({exc})") from exc
    try:
        ws = wb.worksheets[0]
        rows = [list(r) for r in ws.iter_rows(values_only=True)]
    finally:
        wb.close()
    return _records(rows, known)


def read_table(path: Path, known: Iterable[str]) -> list[dict[str, Any]]:
    known = list(known)
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        return read_xlsx(path, known)
    if suffix in (".csv", ".txt", ".tsv"):
        return read_csv(path.read_bytes(), known)
    if suffix in (".json", ".jsonl", ".ndjson"):
        return read_json(path.read_bytes(), jsonl=suffix != ".json")
    raise TableError(f"{path.name}: unsupported file type {suffix!r} (CSV, XLSX, JSON or JSON Lines expected)")


def read_json(data: bytes, *, jsonl: bool) -> list[dict[str, Any]]:
    """A dump of an API (array of objects, or one object a line); a line that is not an object is
    kept as ``{"_unparsed": line}`` so it still reaches the dead letters with its reason."""
    text = decode_csv(data)
    if not jsonl:
        try:
            rows = json.loads(text)
        except ValueError as exc:
            raise TableError(f"not JSON: {exc}") from exc
        if isinstance(rows, dict):
            rows = next((v for v in rows.values() if isinstance(v, list)), [rows])  # {"items": [...]}
        if not isinstance(rows, list):
            raise TableError("JSON export must be an array of objects")
        return [r if isinstance(r, dict) else {"_unparsed": json.dumps(r, ensure_ascii=False)} for r in rows]
    out: list[dict[str, Any]] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            obj = None
        out.append(obj if isinstance(obj, dict) else {"_unparsed": line})
    return out


_DATE_FORMATS = (
    "%d.%m.%Y %H:%M:%S",
    "%d.%m.%Y %H:%M",
    "%d.%m.%Y",
    "%d.%m.%y",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d",
)


def parse_local_datetime(value: Any) -> datetime | None:
    """A registry date in whichever form it comes; naive times are Moscow time. None if unreadable."""
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        parsed = value
    else:
        text = str(value).strip()
        parsed = None
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            for fmt in _DATE_FORMATS:
                try:
                    parsed = datetime.strptime(text, fmt)
                    break
                except ValueError:
                    continue
        if parsed is None:
            return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=MSK)
