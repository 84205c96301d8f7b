"""Where simulated residents live: settlements weighted by the 2021 census, localities inside them."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from common.yaml_load import package_file

ROUTE_SETTLEMENTS = package_file("route", "data/settlements.yaml")
GAZETTEER = Path("/work/shared/data/tuapse/gazetteer.yaml")


@dataclass(frozen=True)
class Place:
    settlement: str  # settlement code (route/data) or short name (gazetteer)
    settlement_name: str
    locality: str
    lat: float | None
    lon: float | None
    streets: tuple[str, ...]


@dataclass(frozen=True)
class Places:
    settlements: list[tuple[str, str, int]]  # code, name, population
    localities: dict[str, list[tuple[str, float, float | None, float | None]]]  # code → name, weight, lat, lon
    streets: dict[str, tuple[str, ...]]

    def pick(self, rng: random.Random) -> Place:
        code, name, _pop = rng.choices(self.settlements, weights=[s[2] for s in self.settlements])[0]
        options = self.localities.get(code) or [(name, 1.0, None, None)]
        loc, _w, lat, lon = rng.choices(options, weights=[o[1] for o in options])[0]
        return Place(code, name, loc, lat, lon, self.streets.get(loc, ()))


def _population(value: Any) -> float | None:
    if isinstance(value, dict) and value:
        return float(value[max(value)])
    return None


def load_places(path: Path | None = None) -> Places:
    """route/data/settlements.yaml when present (it has the routing codes), else the shared gazetteer."""
    path = path or (ROUTE_SETTLEMENTS if ROUTE_SETTLEMENTS.exists() else GAZETTEER)
    try:
        data = yaml.safe_load(path.read_text("utf-8"))
        raw_settlements = data["settlements"]
    except (OSError, yaml.YAMLError, KeyError, TypeError) as exc:
        raise ValueError(f"{path}: cannot read settlements for the simulator: {exc}") from exc
    settlements = []
    key_of = {}
    for s in raw_settlements:
        code = s.get("code") or s["short"]
        key_of[s.get("short")] = code
        pop = int(s.get("population_2021") or 0)
        if pop <= 0:
            raise ValueError(f"{path}: settlement {code} has no population_2021")
        settlements.append((code, s["name"], pop))
    pops = {c: p for c, _n, p in settlements}
    localities: dict[str, list[tuple[str, float, float | None, float | None]]] = {}
    for loc in data.get("localities") or []:
        code = key_of.get(loc.get("settlement"), loc.get("settlement"))
        # Unverified membership would put a resident in the wrong settlement's ground truth.
        if code not in pops or loc.get("membership") not in ("verified", "inferred"):
            continue
        localities.setdefault(code, []).append((loc["name"], _population(loc.get("population")) or -1.0,
                                                loc.get("lat"), loc.get("lon")))  # fmt: skip
    for code, locs in localities.items():
        known = sum(w for _n, w, _a, _o in locs if w > 0)
        unknown = [x for x in locs if x[1] <= 0]
        rest = max(pops[code] - known, pops[code] * 0.05)
        localities[code] = [(n, w if w > 0 else rest / len(unknown), a, o) for n, w, a, o in locs]
    streets: dict[str, tuple[str, ...]] = {}
    raw_streets = data.get("streets") or {}
    if isinstance(raw_streets, dict):
        for loc, lists in raw_streets.items():
            if isinstance(lists, dict):
                names = [str(x).split(" (")[0] for k in ("verified", "unverified") for x in lists.get(k) or []]
                streets[loc] = tuple(names)
    return Places(settlements, localities, streets)
