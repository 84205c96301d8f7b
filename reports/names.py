"""Russian names of blocks, departments and settlements from the directory (route/), with codes as
the fallback, so a report never fails because the directory lacks a code."""

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Names:
    blocks: dict[int, str] = field(default_factory=dict)
    departments: dict[str, str] = field(default_factory=dict)
    settlements: dict[str, str] = field(default_factory=dict)
    head_counts: dict[int, int] = field(default_factory=dict)

    def block(self, number: int) -> str:
        return self.blocks.get(number, "без блока" if number == 0 else f"блок {number}")

    def body(self, kind: str, code: str) -> str:
        table = self.settlements if kind == "settlement" else self.departments
        if code == "unresolved":
            return "не определено"
        return table.get(code, code)

    def label(self, dimension: str, value: Any) -> Any:
        if dimension == "block":
            return f"{value}. {self.block(int(value))}"
        if dimension in ("settlement", "department"):
            return self.body(dimension, str(value))
        return value


def load_names() -> Names:
    try:
        from route.directory import default_directory

        d = default_directory()
    except Exception:  # the directory is optional for reports: codes are shown instead
        return Names()
    heads = {n: int(h) for n, b in d.blocks.items() if (h := getattr(b, "head_count", None))}
    return Names(
        blocks={n: b.name for n, b in d.blocks.items()},
        departments={c: x.name for c, x in d.departments.items()},
        settlements={c: s.name for c, s in d.settlements.items()},
        head_counts=heads,
    )
