"""Operators' corrections of a case's category, block, department or settlement: pure functions.

A correction is a ``reclassified`` case event (schemas/events.py). The same three paths make one:
``POST /cases/<id>/events``, ``mcu classify correct FILE`` (CSV/XLSX from a spreadsheet) and a
connector whose source reports re-routing. Here: what a correction may say (``check_change``), what
the case's owner becomes (``reroute``) and the rows of a corrections file (``read_corrections``).
Every message an operator reads is Russian.

Re-routing rules, in the order the fields are read:
- a new category brings its department (or its outside body: block 0, forwarded), its block and
  level, as the enricher would have routed it;
- a new department overrides the category's and brings its block; an explicit block that
  contradicts the department is an error, not a silent choice;
- a block alone keeps the department only if it belongs to that block, else the department is
  ``unresolved`` (the block head assigns it);
- a new settlement is a code of route/data/settlements.yaml.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from classify.taxonomy import Taxonomy
from route.directory import Directory
from schemas.case import UNRESOLVED
from schemas.events import CaseEvent, CaseEventType
from schemas.times import BadTime, UnreadableTime, check_time, read_time

FIELDS = ("category", "block", "department", "settlement")


@dataclass(frozen=True)
class Owner:
    """What a case was routed to: the part of a ``cases`` row a correction may change."""

    category: str
    category_name: str
    block: int
    block_name: str
    department: str
    department_name: str
    settlement: str
    settlement_name: str
    level: str
    forward_to: str

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Owner:
        return cls(**{f: row[f] for f in cls.__dataclass_fields__})

    def as_row(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in self.__dataclass_fields__}


def _block_of(value: Any) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return int(str(value).strip())


def check_change(
    taxonomy: Taxonomy,
    directory: Directory,
    *,
    category: str | None = None,
    block: Any = None,
    department: str | None = None,
    settlement: str | None = None,
) -> list[str]:
    """What is wrong with a correction, one Russian sentence each; empty when it can be applied."""
    errors: list[str] = []
    if all(v in (None, "") for v in (category, block, department, settlement)):
        return ["не указано, что исправить: нужна категория, блок, отдел или поселение"]
    cats = taxonomy.by_code()
    cat = cats.get(category) if category else None
    if category and cat is None:
        errors.append(f"неизвестная категория {category!r} (список: classify/data/taxonomy.yaml)")
    try:
        number = _block_of(block)
    except ValueError:
        number = None
        errors.append(f"блок {block!r} не число от 1 до 6")
    else:
        # 0 is "no block of ours" (an outside body's matter), as the enricher routes it
        if number is not None and number != 0 and number not in directory.blocks:
            errors.append(f"неизвестный блок {number} (блоки 1–6 или 0, route/data/directory.yaml)")
            number = None
    # ``unresolved`` clears a department or settlement: the block head (or the МЦУ) assigns it.
    dep = directory.departments.get(department) if department and department != UNRESOLVED else None
    if department and department != UNRESOLVED and dep is None:
        errors.append(f"неизвестный отдел {department!r} (список: route/data/directory.yaml)")
    if settlement and settlement != UNRESOLVED and settlement not in directory.settlements:
        errors.append(f"неизвестное поселение {settlement!r} (список: route/data/settlements.yaml)")
    if dep is not None and number is not None and dep.block != number:
        errors.append(f"отдел {dep.code!r} относится к блоку {dep.block}, а не к блоку {number}")
    elif dep is None and cat is not None and cat.department and number is not None and not department:
        own = directory.departments[cat.department].block
        if own != number:
            errors.append(f"категория {cat.code!r} относится к блоку {own}, а не к блоку {number}; укажите отдел")
    return errors


def reroute(
    current: Owner,
    taxonomy: Taxonomy,
    directory: Directory,
    *,
    category: str | None = None,
    block: Any = None,
    department: str | None = None,
    settlement: str | None = None,
) -> Owner:
    """The owner after the correction; call ``check_change`` first (unknown codes raise KeyError)."""
    new = current
    if category:
        cat = taxonomy.by_code()[category]
        new = replace(new, category=cat.code, category_name=cat.name)
        if cat.department:
            dep = directory.departments[cat.department]
            blk = directory.blocks[dep.block]
            new = replace(
                new, department=dep.code, department_name=dep.name, block=blk.number, block_name=blk.name,
                forward_to="", level="settlement" if cat.level == "settlement" else "district",
            )  # fmt: skip
        else:
            body = directory.external_bodies[cat.forward_to]  # type: ignore[index]
            new = replace(
                new, department=UNRESOLVED, department_name="", block=0, block_name="",
                forward_to=body.name, level="district",
            )  # fmt: skip
    if department == UNRESOLVED:
        new = replace(new, department=UNRESOLVED, department_name="")
    elif department:
        dep = directory.departments[department]
        blk = directory.blocks[dep.block]
        new = replace(
            new, department=dep.code, department_name=dep.name, block=blk.number, block_name=blk.name, forward_to=""
        )
    number = _block_of(block)
    if number == 0 and new.block != 0:
        new = replace(new, block=0, block_name="", department=UNRESOLVED, department_name="")
    elif number is not None and number != new.block:
        blk = directory.blocks[number]
        keep = directory.departments.get(new.department)
        if keep is None or keep.block != number:
            new = replace(new, department=UNRESOLVED, department_name="")
        new = replace(new, block=blk.number, block_name=blk.name, forward_to="")
    if settlement == UNRESOLVED:
        new = replace(new, settlement=UNRESOLVED, settlement_name="")
    elif settlement:
        st = directory.settlements[settlement]
        new = replace(new, settlement=st.code, settlement_name=st.name)
    if new.level == "settlement" and new.settlement == UNRESOLVED:
        new = replace(new, level="district")
    return new


def event_fields(new: Owner) -> dict[str, Any]:
    """The owner as a ``reclassified`` event carries it, so the SLA stage (no taxonomy) moves the timers."""
    out: dict[str, Any] = {"block": new.block, "department": new.department, "settlement": new.settlement}
    if new.category != UNRESOLVED:
        out["category"] = new.category
    return out


# -- the corrections file ----------------------------------------------------------------------

# Headers as an operator's spreadsheet may name the columns (lower case, ё→е); English keys too.
HEADERS: dict[str, tuple[str, ...]] = {
    "message_id": ("message_id", "id", "id обращения", "номер обращения", "идентификатор"),
    "category": ("category", "категория"),
    "block": ("block", "блок"),
    "department": ("department", "отдел"),
    "settlement": ("settlement", "поселение"),
    "actor": ("actor", "кто", "оператор", "кто исправил"),
    "reason": ("reason", "why", "причина", "почему"),
    "at": ("at", "когда", "дата", "дата исправления"),
}


@dataclass
class FileRow:
    """One correction read from a file: ``line`` is its line (CSV) or row (XLSX) number, 1-based."""

    line: int
    message_id: str
    actor: str
    reason: str
    at: datetime
    change: dict[str, Any] = field(default_factory=dict)

    def event_id(self, digest: str) -> str:
        # The file's content and the row name the event: re-running the same file publishes nothing new.
        raw = f"{digest}|{self.line}|{self.message_id}|{sorted(self.change.items())}"
        return "file:" + hashlib.sha256(raw.encode()).hexdigest()[:32]


@dataclass
class RowError:
    line: int
    message: str

    def __str__(self) -> str:
        return f"строка {self.line}: {self.message}"


class CorrectionsFileError(ValueError):
    """The file as a whole cannot be read (no header, unknown format); one Russian sentence."""


def _canonical(header: Any) -> str | None:
    h = str(header or "").strip().lower().replace("ё", "е")
    return next((key for key, names in HEADERS.items() if h in names), None)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _csv_rows(data: bytes) -> tuple[list[tuple[int, list[str]]], list[RowError]]:
    """Rows of a UTF-8 CSV (``,`` or ``;``), decoded line by line so a cp1251 row is named, not guessed."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    errors: list[RowError] = []
    lines: list[tuple[int, str]] = []
    for n, raw in enumerate(data.splitlines(), start=1):
        try:
            lines.append((n, raw.decode("utf-8")))
        except UnicodeDecodeError as exc:
            errors.append(
                RowError(n, f"не в кодировке UTF-8 (байт 0x{raw[exc.start]:02x} в позиции {exc.start + 1}); "
                            "сохраните таблицу как «CSV UTF-8»")
            )  # fmt: skip
    if not lines:
        return [], errors
    sample = "\n".join(text for _, text in lines[:5])
    delimiter = ";" if sample.count(";") > sample.count(",") else ","
    out: list[tuple[int, list[str]]] = []
    for n, text in lines:
        # A quoted cell spanning lines is not expected in a corrections sheet; each line is a row.
        out.extend((n, cells) for cells in csv.reader(io.StringIO(text), delimiter=delimiter))
    return out, errors


def _xlsx_rows(data: bytes) -> list[tuple[int, list[str]]]:
    import openpyxl  # imported here: only this command reads spreadsheets
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except InvalidFileException as exc:
        raise CorrectionsFileError(f"файл не читается как XLSX: {exc}") from exc
    except Exception as exc:  # zipfile.BadZipFile, a damaged sheet: said in one line, not a traceback
        raise CorrectionsFileError(f"файл не читается как XLSX: {type(exc).__name__}: {exc}") from exc
    sheet = book.worksheets[0]
    rows = [(n, [_cell(v) for v in row]) for n, row in enumerate(sheet.iter_rows(values_only=True), start=1)]
    book.close()
    return rows


def read_corrections(
    path: Path | str,
    taxonomy: Taxonomy,
    directory: Directory,
    *,
    default_actor: str | None = None,
    now: datetime | None = None,
) -> tuple[list[FileRow], list[RowError], str]:
    """Every row of a CSV/XLSX corrections file, checked; (rows, errors, digest of the file).

    Nothing is applied by a caller when ``errors`` is not empty: the file is fixed and run again.
    The case ids are checked against the store by the caller (``unknown_cases``).
    """
    p = Path(path)
    data = p.read_bytes()
    digest = hashlib.sha256(data).hexdigest()[:16]
    errors: list[RowError] = []
    if p.suffix.lower() in (".xlsx", ".xlsm"):
        table = _xlsx_rows(data)
    elif p.suffix.lower() in (".csv", ".txt"):
        table, errors = _csv_rows(data)
        if errors and errors[0].line == 1:  # the header itself: the whole file is in another encoding
            raise CorrectionsFileError(f"строка 1 (заголовок): {errors[0].message}; таких строк в файле: {len(errors)}")
    else:
        raise CorrectionsFileError(f"{p.name}: нужен файл .csv (UTF-8) или .xlsx")
    table = [(n, cells) for n, cells in table if any(c.strip() for c in cells)]
    if not table:
        if errors:
            return [], errors, digest
        raise CorrectionsFileError(f"{p.name}: файл пуст")
    header_line, header = table[0]
    columns = [_canonical(h) for h in header]
    if "message_id" not in columns:
        raise CorrectionsFileError(
            f"строка {header_line}: нет столбца с номером обращения (message_id / «ID обращения»); "
            f"заголовки: {', '.join(h for h in header if h) or '—'}"
        )
    if not any(c in columns for c in FIELDS):
        raise CorrectionsFileError(
            f"строка {header_line}: нет ни одного столбца исправления (категория, блок, отдел, поселение)"
        )
    rows: list[FileRow] = []
    seen: dict[tuple[str, tuple[tuple[str, Any], ...]], int] = {}
    for n, cells in table[1:]:
        values = {col: (cells[i].strip() if i < len(cells) else "") for i, col in enumerate(columns) if col}
        mid = values.get("message_id", "")
        problems: list[str] = []
        if not mid:
            problems.append("не указан номер обращения")
        elif len(mid) > 128:
            problems.append("номер обращения длиннее 128 символов")
        change = {f: values[f] for f in FIELDS if values.get(f)}
        problems += check_change(taxonomy, directory, **change)
        actor = values.get("actor") or default_actor or ""
        if not actor:
            problems.append("не указано, кто исправил (столбец «Кто» или --actor)")
        at = now or datetime.now(UTC)
        if values.get("at"):
            try:
                when = read_time(values["at"], "при")
                at = check_time(when, "дата исправления", now=now) if when else at
            except (BadTime, UnreadableTime):
                problems.append(f"дата исправления {values['at']!r} не дата ISO 8601 в пределах 2000 г. … сегодня")
        key = (mid, tuple(sorted(change.items())))
        if mid and key in seen:
            problems.append(f"повторяет строку {seen[key]}")
        seen.setdefault(key, n)
        if problems:
            errors.extend(RowError(n, p) for p in problems)
            continue
        if "block" in change:
            change["block"] = _block_of(change["block"])
        rows.append(FileRow(n, mid, actor, values.get("reason", ""), at, change))
    errors.sort(key=lambda e: e.line)
    return rows, errors, digest


def unknown_cases(rows: Iterable[FileRow], known: set[str]) -> list[RowError]:
    return [
        RowError(r.line, f"нет такого обращения в хранилище: {r.message_id}") for r in rows if r.message_id not in known
    ]


def reclassified_event(
    message_id: str,
    event_id: str,
    new: Owner,
    *,
    at: datetime,
    actor: str | None,
    reason: str | None,
) -> CaseEvent:
    return CaseEvent(
        event_id=event_id,
        message_id=message_id,
        type=CaseEventType.RECLASSIFIED,
        at=at,
        actor=actor or None,
        reason=reason or None,
        **event_fields(new),
    )
