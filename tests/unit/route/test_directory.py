import csv
from pathlib import Path

import pytest

from common.yaml_load import DataFileError, package_file
from route.directory import load_directory


def test_six_blocks_in_appendix_order() -> None:
    d = load_directory()
    assert sorted(d.blocks) == [1, 2, 3, 4, 5, 6]
    assert d.departments["finance"].block == 1
    assert d.departments["education"].block == 2
    assert d.departments["housing"].block == 3
    assert d.departments["resorts"].block == 4
    assert d.departments["transport"].block == 5
    assert d.departments["civil_defence"].block == 6
    assert {"public_relations", "appeals_office", "media_relations"} <= set(d.cross_cutting_units)


def test_ten_settlements_with_names_as_appendix_writes_them() -> None:
    d = load_directory()
    names = {s.name for s in d.settlements.values()}
    assert len(names) == 10
    assert "Джубгское городское поселение" in names
    assert "Шаумянское сельское поселение" in names
    assert all(s.territorial_unit for s in d.settlements.values())


def test_unverified_localities_never_decide() -> None:
    d = load_directory()
    assert not any(x.decides_settlement for x in d.localities if x.membership == "unverified")
    assert d.locality("Джубга").decides_settlement  # type: ignore[union-attr]


def test_every_locality_of_the_official_list_is_there_with_its_settlement() -> None:
    d = load_directory()
    by_name = {s.name: s.code for s in d.settlements.values()}
    with package_file("route", "data/oktmo_03655.csv").open(encoding="utf-8", newline="") as f:
        official = list(csv.DictReader(f))
    assert len(official) == 65
    by_code = {x.oktmo: x for x in d.localities if x.oktmo}
    for row in official:
        loc = by_code.get(row["oktmo"])
        assert loc is not None, f"ОКТМО {row['oktmo']} {row['name']} is missing"
        assert loc.settlement == by_name[row["settlement"]], row
        assert loc.membership == "verified" and loc.decides_settlement, row
    assert {s.oktmo for s in d.settlements.values()} == {r["oktmo"][:8] for r in official}


def test_errors_name_the_file_and_line(tmp_path: Path) -> None:
    broken = package_file("route", "data/directory.yaml").read_text(encoding="utf-8")
    broken = broken.replace("{code: finance, block: 1,", "{code: finance, block: 9,")
    p = tmp_path / "directory.yaml"
    p.write_text(broken, encoding="utf-8")
    with pytest.raises(DataFileError) as exc:
        load_directory(directory_path=p)
    msg = str(exc.value)
    assert str(p) in msg and "departments" in msg
    line = int(msg.split(":")[1])
    assert "finance" in broken.splitlines()[line - 1]
