from pathlib import Path

import pytest

from schemas.channels import Channel
from sla.calendar import Unit
from sla.policies import DEFAULT_POLICIES, KINDS, PolicyError, StartFrom, TermName, load_policies


def test_every_channel_kind_and_urgency_has_a_policy() -> None:
    ps = load_policies()
    for c in Channel:
        for k in KINDS:
            for u in (False, True):
                assert ps.lookup(c.value, k, u).terms


def test_59fz_terms_are_cited_and_confirmed() -> None:
    p = load_policies().lookup("letter", "complaint", False)
    reg, fwd, res = p.terms[TermName.REGISTRATION], p.terms[TermName.FORWARDING], p.terms[TermName.RESOLUTION]
    assert (reg.term.amount, reg.term.unit, reg.start_from) == (3, Unit.CALENDAR_DAYS, StartFrom.INTAKE)
    assert (fwd.term.amount, fwd.only_if_forwarded, fwd.start_from) == (7, True, StartFrom.REGISTRATION)
    assert (res.term.amount, res.term.unit, res.start_from) == (30, Unit.CALENDAR_DAYS, StartFrom.REGISTRATION)
    assert "ст. 12 ч. 1" in res.basis and res.confirmed
    assert p.max_extension is not None and p.max_extension.amount == 30


def test_unconfirmed_defaults_are_flagged() -> None:
    ps = load_policies()
    pos = ps.lookup("pos", "complaint", False).terms[TermName.RESOLUTION]
    assert not pos.confirmed and "НЕ ПОДТВЕРЖДЕНО" in pos.basis and "1802" in pos.basis
    inc = ps.lookup("vk", "complaint", True).terms[TermName.RESOLUTION]
    assert (inc.term.amount, inc.term.unit) == (4, Unit.WORKING_HOURS) and not inc.confirmed
    assert "Севастополь" in inc.basis
    email = ps.lookup("email", "question", False)
    assert all(not t.confirmed for t in email.terms.values())


def _broken(tmp_path: Path, old: str, new: str) -> Path:
    text = DEFAULT_POLICIES.read_text("utf-8")
    assert old in text
    p = tmp_path / "policies.yaml"
    p.write_text(text.replace(old, new, 1), "utf-8")
    return p


def test_bad_term_names_file_and_line(tmp_path: Path) -> None:
    p = _broken(tmp_path, 'term: "30 days"', 'term: "30 bananas"')
    line = next(i for i, s in enumerate(p.read_text("utf-8").splitlines(), 1) if "30 bananas" in s)
    with pytest.raises(PolicyError, match=rf"{p}:{line}: .*unknown unit 'bananas'"):
        load_policies(p)


def test_uncovered_combination_is_an_error(tmp_path: Path) -> None:
    p = _broken(tmp_path, "channels: [open311]", "channels: [pos]")
    with pytest.raises(PolicyError, match=r"no rule covers .*open311"):
        load_policies(p)


def test_unknown_channel_is_an_error(tmp_path: Path) -> None:
    p = _broken(tmp_path, "channels: [open311]", "channels: [fax]")
    with pytest.raises(PolicyError, match=str(p)):
        load_policies(p)
