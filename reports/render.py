"""A report as a terminal table (rich), CSV, XLSX (openpyxl) or a self-contained HTML page with
plotly charts whose JavaScript is inlined (the network is closed: no CDN)."""

import csv
import html
import io
from pathlib import Path
from typing import Any

from rich import box
from rich.cells import cell_len
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table

from reports.build import Report, Section


def fmt_value(v: Any, fmt: str) -> str:
    if v is None:
        return "—"
    if fmt == "share":
        return f"{100 * v:.1f} %".replace(".", ",")
    if fmt == "interval":
        return f"{100 * v[0]:.1f}–{100 * v[1]:.1f} %".replace(".", ",")
    if fmt in ("hours", "float"):
        return f"{v:.1f}".replace(".", ",")
    if fmt == "change":
        return "=" if v == 0 else (f"▲{v}" if v > 0 else f"▼{-v}")
    if fmt == "int" and isinstance(v, float):
        return f"{v:.0f}"
    return str(v)


def _header(report: Report) -> str:
    fresh = f"; данные на {report.refreshed_at} UTC" if report.refreshed_at else "; агрегаты ещё не посчитаны"
    return f"{report.title}: {report.date_from} — {report.date_to}{fresh}"


# Columns a terminal shows without --wide, by column key, for the section that has the marker key;
# other sections (breakdowns: the user picked the columns) start from all of theirs. Files get all.
BRIEF_COLUMNS = {
    # ratings: place, body, volume, the composite with its interval, the two plainest components
    "score": ("rank", "change", "body", "cases", "score", "score_ci", "timeliness", "completeness"),
    # workload: the per-head columns stay empty until the directory knows head counts
    "block_name": ("block", "block_name", "inflow", "inflow_per_day", "overdue", "open", "open_overdue"),
}
HIDDEN_NOTE = "Показаны не все столбцы; все — с --wide или в файле (--format csv, xlsx, html)."
# Shorter headers for the terminal only; files keep the full titles.
CONSOLE_TITLES = {"change": "±"}


def _longest_word(text: str) -> int:
    return max((cell_len(w) for w in text.split()), default=0)


def _brief(sec: Section) -> list[int]:
    keys = [c.key for c in sec.columns]
    for marker, wanted in BRIEF_COLUMNS.items():
        if marker in keys:
            return [i for i, k in enumerate(keys) if k in wanted]
    return list(range(len(keys)))


def _table(sec: Section, keep: list[int], titles: list[str], widths: list[int] | None) -> Table:
    table = Table(title=sec.title, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, collapse_padding=True)
    for n, i in enumerate(keep):
        c = sec.columns[i]
        table.add_column(titles[n], justify="left" if c.fmt == "text" else "right", overflow="fold",
                         width=widths[n] if widths else None)  # fmt: skip
    for row in sec.rows:
        table.add_row(*(fmt_value(row[i], sec.columns[i].fmt) for i in keep))
    return table


def _fitted(console: Console, sec: Section, keep: list[int]) -> Table | None:
    """The table with column widths chosen so no word is split: each column at least as wide as its
    longest word (header or cell), the rest of the line shared out towards the natural widths; None
    when even those minimums do not fit."""
    titles = [CONSOLE_TITLES.get(sec.columns[i].key, sec.columns[i].title) for i in keep]
    cells = [[fmt_value(row[i], sec.columns[i].fmt) for row in sec.rows] for i in keep]
    # A number keeps its unit: "100,0 %" split over two lines reads as two values.
    least = [max([_longest_word(t)] + [_longest_word(v) if sec.columns[i].fmt == "text" else cell_len(v) for v in col])
             for t, i, col in zip(titles, keep, cells, strict=True)]  # fmt: skip
    natural = [max([cell_len(t)] + [cell_len(v) for v in col]) for t, col in zip(titles, cells, strict=True)]
    loose = _table(sec, keep, titles, None)
    overhead = Measurement.get(console, console.options.update_width(100_000), loose).maximum - sum(natural)
    spare = console.width - overhead - sum(least)
    if spare < 0:
        return None
    # Names and labels first get their natural width (a folded name is the hardest to read), then
    # the numeric headers share what is left.
    widths = list(least)
    for text_first in (True, False):
        idx = [n for n, i in enumerate(keep) if (sec.columns[i].fmt == "text") == text_first]
        want = sum(natural[n] - least[n] for n in idx)
        share = min(1.0, spare / want) if want else 0.0
        for n in idx:
            widths[n] += int((natural[n] - least[n]) * share)
        spare = console.width - overhead - sum(widths)
    return _table(sec, keep, titles, widths)


def to_console(report: Report, console: Console | None = None, wide: bool = False) -> None:
    """Tables that fit the terminal without splitting a word: by default the brief columns, and if
    those are still too wide the rightmost numeric ones go too (a note says so); `wide` shows every
    column at its natural width, the lines as long as they need (a wide terminal or `less -S`)."""
    console = console or Console()
    console.print(f"[bold]{_header(report)}[/bold]")
    hidden_any = False
    for sec in report.sections:
        if wide:
            table = _table(sec, list(range(len(sec.columns))), [c.title for c in sec.columns], None)
            natural = Measurement.get(console, console.options.update_width(100_000), table).maximum
            width = console.width
            console.width = max(width, natural)
            console.print(table)
            console.width = width
        else:
            keep = _brief(sec)
            fitted = _fitted(console, sec, keep)
            while fitted is None and any(sec.columns[i].fmt != "text" for i in keep[1:]):
                del keep[max(j for j, i in enumerate(keep) if j and sec.columns[i].fmt != "text")]
                fitted = _fitted(console, sec, keep)
            # Text columns alone wider than the terminal: let rich fold them rather than print nothing.
            console.print(fitted or _table(sec, keep, [sec.columns[i].title for i in keep], None))
            hidden_any = hidden_any or len(keep) < len(sec.columns)
        for note in sec.notes:
            console.print(f"  {note}", style="dim")
    for note in report.notes:
        console.print(note, style="dim")
    if hidden_any:
        console.print(HIDDEN_NOTE, style="dim")


def _flat(sec: Section) -> tuple[list[str], list[list[Any]]]:
    """Columns and raw values for files: an interval becomes two numeric columns."""
    head: list[str] = []
    for c in sec.columns:
        head += [f"{c.title}: от", f"{c.title}: до"] if c.fmt == "interval" else [c.title]
    body = []
    for row in sec.rows:
        out: list[Any] = []
        for v, c in zip(row, sec.columns, strict=True):
            out += (list(v) if v else [None, None]) if c.fmt == "interval" else [v]
        body.append(out)
    return head, body


def to_csv(report: Report) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    for i, sec in enumerate(report.sections):
        if i:
            w.writerow([])
        if len(report.sections) > 1:
            w.writerow([sec.title])
        head, body = _flat(sec)
        w.writerow(head)
        w.writerows(body)
    return buf.getvalue()


def to_xlsx(report: Report, path: Path) -> None:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    wb.remove(wb.active)
    for i, sec in enumerate(report.sections):
        ws = wb.create_sheet(title=f"{i + 1}. {sec.title}"[:31].replace(":", ""))
        ws.append([_header(report)])
        head, body = _flat(sec)
        ws.append(head)
        for cell in ws[2]:
            cell.font = Font(bold=True)
        for row in body:
            ws.append(row)
        fmts = [c.fmt for c in sec.columns for _ in range(2 if c.fmt == "interval" else 1)]
        for col, fmt in enumerate(fmts, start=1):
            number_format = {"share": "0.0%", "interval": "0.0%", "hours": "0.0", "float": "0.00"}.get(fmt)
            if number_format:
                for r in range(3, 3 + len(body)):
                    ws.cell(row=r, column=col).number_format = number_format
        for note in sec.notes:
            ws.append([note])
    wb.save(path)


def _charts_html(charts: dict[str, Any]) -> list[str]:
    import plotly.graph_objects as go

    figs = []
    trend = charts.get("trend") or []
    if trend:
        fig = go.Figure()
        for block in dict.fromkeys(t["block"] for t in trend):
            pts = [t for t in trend if t["block"] == block]
            fig.add_trace(go.Scatter(x=[p["week"] for p in pts], y=[p["cases"] for p in pts], mode="lines+markers",
                                     name=block))  # fmt: skip
        fig.update_layout(title="Обращения по неделям и блокам", xaxis_title="неделя", yaxis_title="обращений")
        figs.append(fig)
    ranked = charts.get("ranked") or []
    if ranked:
        ranked = sorted(ranked, key=lambda b: b["score"])
        fig = go.Figure(go.Bar(
            x=[b["score"] for b in ranked],
            y=[b["body"] + ("" if b["ranked"] else " (мало обращений)") for b in ranked],
            orientation="h",
            error_x={"type": "data", "symmetric": False, "array": [b["high"] - b["score"] for b in ranked],
                     "arrayminus": [b["score"] - b["low"] for b in ranked]},
            marker_color=["#2b6cb0" if b["ranked"] else "#a0aec0" for b in ranked],
        ))  # fmt: skip
        fig.update_layout(title="Рейтинг поселений с интервалом неопределённости", xaxis_tickformat=".0%",
                          xaxis_range=[0, 1])  # fmt: skip
        figs.append(fig)
    heat = charts.get("heat") or []
    if heat:
        blocks = list(dict.fromkeys(h["block"] for h in heat))
        settlements = sorted({h["settlement"] for h in heat})
        z = [[0] * len(settlements) for _ in blocks]
        for h in heat:
            z[blocks.index(h["block"])][settlements.index(h["settlement"])] = h["cases"]
        fig = go.Figure(go.Heatmap(z=z, x=settlements, y=blocks, colorscale="Blues", colorbar={"title": "обращений"}))
        fig.update_layout(title="Обращения: блок × поселение", height=200 + 60 * len(blocks))
        figs.append(fig)
    return [f.to_html(full_html=False, include_plotlyjs=(i == 0)) for i, f in enumerate(figs)]


def to_html(report: Report) -> str:
    parts = [
        "<!DOCTYPE html><html lang='ru'><head><meta charset='utf-8'>",
        f"<title>{html.escape(report.title)}</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;font-size:13px}"
        "td,th{border:1px solid #ccc;padding:3px 6px}td.n{text-align:right}.note{color:#555}</style>",
        f"</head><body><h1>{html.escape(_header(report))}</h1>",
    ]
    parts += _charts_html(report.charts)
    for sec in report.sections:
        parts.append(f"<h2>{html.escape(sec.title)}</h2><table><tr>")
        parts += [f"<th>{html.escape(c.title)}</th>" for c in sec.columns]
        parts.append("</tr>")
        for row in sec.rows:
            cells = [
                f"<td class='{'' if c.fmt == 'text' else 'n'}'>{html.escape(fmt_value(v, c.fmt))}</td>"
                for v, c in zip(row, sec.columns, strict=True)
            ]
            parts.append("<tr>" + "".join(cells) + "</tr>")
        parts.append("</table>")
        parts += [f"<p class='note'>{html.escape(n)}</p>" for n in sec.notes]
    parts += [f"<p class='note'>{html.escape(n)}</p>" for n in report.notes]
    parts.append("</body></html>")
    return "\n".join(parts)
