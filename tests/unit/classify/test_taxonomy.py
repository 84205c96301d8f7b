from pathlib import Path

import pytest

from classify.taxonomy import load_rules, load_signals, load_taxonomy
from common.yaml_load import DataFileError, package_file
from route.directory import load_directory


def test_taxonomy_is_rich_enough_and_every_category_has_rules() -> None:
    d = load_directory()
    tax = load_taxonomy(d)
    assert len(tax.categories) >= 40
    rules = load_rules(tax)
    missing = [c.code for c in tax.categories if not rules.rules.get(c.code)]
    assert missing == []
    blocks = {d.departments[c.department].block for c in tax.categories if c.department}
    assert blocks == {1, 2, 3, 4, 5, 6}
    assert all(c.forward_to for c in tax.categories if c.department is None)


def test_rules_for_an_unknown_category_are_refused_with_the_file_name(tmp_path: Path) -> None:
    tax = load_taxonomy(load_directory())
    text = package_file("classify", "data/rules.yaml").read_text(encoding="utf-8")
    bad = tmp_path / "rules.yaml"
    bad.write_text(text.replace("  water_supply:\n", "  waterr_supply:\n", 1), encoding="utf-8")
    with pytest.raises(DataFileError, match=r"rules\.yaml.*waterr_supply"):
        load_rules(tax, bad)


def test_signals_file_loads() -> None:
    s = load_signals()
    assert {"gratitude", "question", "proposal", "appeal"} <= set(s.kind)
    assert {"no_water", "no_power", "flooding", "fire", "danger_to_life"} <= set(s.urgency)
