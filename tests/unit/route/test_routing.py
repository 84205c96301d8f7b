import pytest

from classify.taxonomy import load_taxonomy
from route.directory import Directory, load_directory
from route.resolve import Evidence, Resolution
from route.routing import Router
from schemas.case import UNRESOLVED


@pytest.fixture(scope="module")
def directory() -> Directory:
    return load_directory()


@pytest.fixture(scope="module")
def router(directory: Directory) -> Router:
    return Router(directory)


def test_a_department_category_in_a_settlement_goes_to_that_department_and_its_block(
    router: Router, directory: Directory
) -> None:
    tax = load_taxonomy(directory).by_code()
    cat = next(c for c in tax.values() if c.department and c.level == "settlement")
    place = router.resolver.resolve("в Джубге " + cat.name)
    r = router.route(cat, place)
    dep = directory.departments[cat.department]  # type: ignore[index]
    assert (r.department, r.block, r.settlement, r.level) == (dep.code, dep.block, "dzhubgskoe", "settlement")
    assert r.settlement_evidence == str(place.evidence) and place.evidence == Evidence("text", ("Джубга",))


def test_a_settlement_level_category_without_a_place_is_answered_by_the_district(router: Router) -> None:
    tax = load_taxonomy(router.directory).by_code()
    cat = next(c for c in tax.values() if c.department and c.level == "settlement")
    r = router.route(cat, Resolution(None, None, None))
    assert (r.settlement, r.level, r.settlement_evidence) == (UNRESOLVED, "district", None)


def test_an_outside_body_category_is_forwarded_and_no_category_is_unresolved(router: Router) -> None:
    tax = load_taxonomy(router.directory).by_code()
    outside = next(c for c in tax.values() if c.forward_to)
    r = router.route(outside, Resolution(None, None, None))
    assert (r.block, r.department) == (0, UNRESOLVED)
    assert r.forward_to == router.directory.external_bodies[outside.forward_to].name  # type: ignore[index]
    assert router.route(None, Resolution(None, None, None)).department == UNRESOLVED
    assert router.block_of(outside) == "0" and router.block_of(None) == UNRESOLVED


@pytest.mark.parametrize(
    ("evidence", "stored"),
    [
        (Evidence("text", ("Джубга",)), "text:Джубга"),
        (Evidence("text", ("Кроянское",), "inferred"), "text:Кроянское(inferred)"),
        (Evidence("ambiguous", ("Небуг", "Туапсе")), "ambiguous:Небуг,Туапсе"),
        (Evidence("channel+text", ("a", "b")), "channel+text:a,b"),
        (Evidence("coords", ("Агой",), None, 1.234), "coords:Агой:1.2km"),
        (Evidence("channel"), "channel"),
        (Evidence("recognised", ("Шепси",)), "recognised:Шепси"),
    ],
)
def test_evidence_keeps_the_stored_form_of_the_settlement_evidence_column(evidence: Evidence, stored: str) -> None:
    assert str(evidence) == stored
    assert evidence.ambiguous == stored.startswith("ambiguous")
