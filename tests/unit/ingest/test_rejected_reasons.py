"""The reason codes of Rejected are a closed list, so metrics can pre-create their series at 0."""

import re
from pathlib import Path

from ingest.normalize.rejected import REASONS

ROOT = Path(__file__).resolve().parents[3]


def test_every_rejected_reason_in_the_code_is_listed() -> None:
    used: set[str] = set()
    for path in (ROOT / "ingest").rglob("*.py"):
        used |= set(re.findall(r'Rejected\(\s*"([a-z0-9_]+)"', path.read_text(encoding="utf-8")))
    assert len(used) >= 8, used  # the scan itself works
    assert used - REASONS == set(), f"add to ingest/normalize/rejected.py REASONS: {sorted(used - REASONS)}"
