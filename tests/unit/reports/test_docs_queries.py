"""The ten queries of docs/analytics.md run on chdb against the loaded test store."""

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[3] / "docs" / "analytics.md"


def doc_queries() -> list[str]:
    text = DOC.read_text(encoding="utf-8")
    part = text.split("## Ten queries to paste", 1)[1]
    return re.findall(r"```sql\n(.*?)```", part, flags=re.S)


def test_there_are_ten_queries():
    assert len(doc_queries()) == 10


def test_every_query_runs_and_finds_the_loaded_cases(loaded):
    empty = []
    for i, sql in enumerate(doc_queries(), start=1):
        result = loaded.query(sql)
        if not result.result_rows:
            empty.append(i)
    assert empty == []


def test_unresolved_share_query(loaded):
    rows = loaded.query(doc_queries()[7]).result_rows
    assert rows == [("email", 1, 0.125)]  # H of 8 messages


def test_late_cases_query_masks_text(loaded):
    sql = doc_queries()[8]
    rows = loaded.query(sql).result_rows
    assert [r[0] for r in rows] == ["B"]  # answered two days late; A, D, F, G in time; C not due
