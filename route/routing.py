"""Routing: a category and a place decide the department, its block, the settlement and who answers.

The category's owner (one of our departments, or an outside body to forward to) and its level come
from the taxonomy; this module only needs those three fields, so it takes anything shaped like them
and never imports the classifier.
"""

from typing import Literal, Protocol

from route.directory import Directory
from route.resolve import Resolution, SettlementResolver
from schemas.case import UNRESOLVED, Routing


class RoutingTarget(Protocol):
    """What routing reads of a category (classify.taxonomy.Category has these fields)."""

    @property
    def department(self) -> str | None: ...

    @property
    def forward_to(self) -> str | None: ...

    @property
    def level(self) -> Literal["district", "settlement"]: ...


class Router:
    def __init__(self, directory: Directory) -> None:
        self.directory = directory
        # The place of a message (settlement, locality, Evidence): `router.resolver.resolve(...)`.
        self.resolver = SettlementResolver(directory)

    def route(self, target: RoutingTarget | None, place: Resolution) -> Routing:
        """Where a message of this category about this place goes (`target` None: no category)."""
        st = self.directory.settlements.get(place.settlement) if place.settlement else None
        common = {
            "settlement": st.code if st else UNRESOLVED,
            "settlement_name": st.name if st else "",
            "locality": place.locality,
            "settlement_evidence": str(place.evidence) if place.evidence else None,
        }
        # model_construct: every value comes from the validated directory, and validating a model per
        # message costs a visible share of the enrich stage's time.
        if target is None:
            return Routing.model_construct(block=0, department=UNRESOLVED, level="district", **common)
        if target.department is None:
            body = self.directory.external_bodies[target.forward_to]  # type: ignore[index]
            return Routing.model_construct(
                block=0, department=UNRESOLVED, level="district", forward_to=body.name, **common
            )
        dep = self.directory.departments[target.department]
        block = self.directory.blocks[dep.block]
        level = "settlement" if target.level == "settlement" and st else "district"
        return Routing.model_construct(
            block=block.number,
            block_name=block.name,
            department=dep.code,
            department_name=dep.name,
            level=level,
            **common,
        )

    def block_of(self, target: RoutingTarget | None) -> str:
        """The block number a category lands in, as a label: "0" forwarded outside, UNRESOLVED none."""
        if target is None:
            return UNRESOLVED
        if target.department is None:
            return "0"
        return str(self.directory.departments[target.department].block)
