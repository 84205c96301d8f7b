"""The МЦУ directory: blocks, departments, cross-cutting units, settlements and their localities.

Two YAML files under route/data/ (directory.yaml, settlements.yaml), validated at load; any
error names the file and the line.
"""

from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from common.yaml_load import DataFileError, load_yaml_model, package_file

Membership = Literal["verified", "inferred", "unverified"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Block(_Strict):
    number: int = Field(ge=1, le=6)
    name: str
    head_title: str


class Department(_Strict):
    code: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: str
    block: int = Field(ge=1, le=6)


class Unit(_Strict):
    code: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: str


class _DirectoryFile(_Strict):
    blocks: list[Block]
    departments: list[Department]
    cross_cutting_units: list[Unit]
    external_bodies: list[Unit]

    @model_validator(mode="after")
    def _consistent(self) -> "_DirectoryFile":
        numbers = [b.number for b in self.blocks]
        if sorted(numbers) != [1, 2, 3, 4, 5, 6]:
            raise ValueError(f"blocks must be numbered 1..6 exactly once, got {numbers}")
        codes = [d.code for d in self.departments] + [u.code for u in self.cross_cutting_units]
        codes += [u.code for u in self.external_bodies]
        dupes = {c for c in codes if codes.count(c) > 1}
        if dupes:
            raise ValueError(f"duplicate codes: {sorted(dupes)}")
        return self


class Locality(_Strict):
    name: str
    type: str
    settlement: str | None = Field(description="settlement code; null when unknown")
    membership: Membership
    lat: float | None = None
    lon: float | None = None
    coord_source: str | None = None
    oktmo: str | None = None
    postcode: str | None = None
    population: dict[str, int] | None = None
    aliases: list[str] = Field(default_factory=list)
    sources: list[str] = Field(default_factory=list)
    note: str | None = None

    @property
    def decides_settlement(self) -> bool:
        """An unverified place may be recognised but must never decide routing on its own."""
        return self.settlement is not None and self.membership != "unverified"


class Settlement(_Strict):
    code: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: str
    short: str
    kind: Literal["городское поселение", "сельское поселение"]
    territorial_unit: str
    oktmo: str | None = None
    centre: str
    population_2021: int | None = None
    lat: float | None = None
    lon: float | None = None
    aliases: list[str] = Field(default_factory=list)
    sources: list[str] = Field(default_factory=list)
    note: str | None = None
    localities: tuple[Locality, ...] = ()


class _StreetList(_Strict):
    verified: list[str] = Field(default_factory=list)
    unverified: list[str] = Field(default_factory=list)


class _LocalityParts(_Strict):
    microdistricts: list[str]
    sources: list[str] = Field(default_factory=list)


class _SettlementsFile(_Strict):
    sources: list[str]
    meta: dict[str, object]
    settlements: list[Settlement]
    localities: list[Locality]
    districts_of_localities: dict[str, _LocalityParts] = Field(default_factory=dict)
    streets: dict[str, _StreetList] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> "_SettlementsFile":
        codes = {s.code for s in self.settlements}
        if len(self.settlements) != 10 or len(codes) != 10:
            raise ValueError(f"expected the ten settlements with distinct codes, got {sorted(codes)}")
        for loc in self.localities:
            if loc.settlement is not None and loc.settlement not in codes:
                raise ValueError(f"locality {loc.name!r}: unknown settlement code {loc.settlement!r}")
        names = {loc.name for loc in self.localities}
        for key in (*self.districts_of_localities, *self.streets):
            if key not in names:
                raise ValueError(f"{key!r} is not a locality of the directory")
        return self


class Directory(BaseModel):
    model_config = ConfigDict(frozen=True)

    blocks: dict[int, Block]
    departments: dict[str, Department]
    cross_cutting_units: dict[str, Unit]
    external_bodies: dict[str, Unit]
    settlements: dict[str, Settlement]
    localities: tuple[Locality, ...]
    microdistricts: dict[str, tuple[str, ...]] = Field(description="locality name -> its parts")
    streets: dict[str, tuple[str, ...]] = Field(description="locality name -> verified streets")
    unverified_streets: dict[str, tuple[str, ...]]

    def block_of(self, department: str) -> Block | None:
        dep = self.departments.get(department)
        return self.blocks[dep.block] if dep else None

    def locality(self, name: str) -> Locality | None:
        return next((loc for loc in self.localities if loc.name == name), None)


def load_directory(directory_path: Path | str | None = None, settlements_path: Path | str | None = None) -> Directory:
    dpath = Path(directory_path) if directory_path else package_file("route", "data/directory.yaml")
    spath = Path(settlements_path) if settlements_path else package_file("route", "data/settlements.yaml")
    d = load_yaml_model(_DirectoryFile, dpath)
    s = load_yaml_model(_SettlementsFile, spath)
    settlements = {
        st.code: st.model_copy(update={"localities": tuple(x for x in s.localities if x.settlement == st.code)})
        for st in s.settlements
    }
    try:
        return Directory(
            blocks={b.number: b for b in d.blocks},
            departments={x.code: x for x in d.departments},
            cross_cutting_units={x.code: x for x in d.cross_cutting_units},
            external_bodies={x.code: x for x in d.external_bodies},
            settlements=settlements,
            localities=tuple(s.localities),
            microdistricts={k: tuple(v.microdistricts) for k, v in s.districts_of_localities.items()},
            streets={k: tuple(v.verified) for k, v in s.streets.items()},
            unverified_streets={k: tuple(v.unverified) for k, v in s.streets.items()},
        )
    except ValueError as exc:  # pragma: no cover - the file models above already validate
        raise DataFileError(f"{dpath}, {spath}: {exc}") from exc


@cache
def default_directory() -> Directory:
    return load_directory()
