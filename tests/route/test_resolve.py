import pytest

from route.directory import load_directory
from route.resolve import SettlementResolver


@pytest.fixture(scope="module")
def resolver() -> SettlementResolver:
    return SettlementResolver(load_directory())


@pytest.mark.parametrize(
    ("text", "settlement", "locality"),
    [
        ("Третий день нет воды в Джубге", "dzhubgskoe", "Джубга"),
        ("пос. Новомихайловский, ул. Мира", "novomikhaylovskoe", "Новомихайловский"),
        ("На Небуге опять отключили свет", "nebugskoe", "Небуг"),
        ("в Агуй-Шапсуге размыло дорогу", "nebugskoe", "Агуй-Шапсуг"),
        ("яма у поворота на Лермонтово", "tenginskoe", "Лермонтово"),
        ("в Ольгинке мусор", "novomikhaylovskoe", "Ольгинка"),
        ("Туапсе, мкр Грознефть, нет света", "tuapsinskoe", "Туапсе"),
        ("Администрация Небугского сельского поселения не отвечает", "nebugskoe", None),
    ],
)
def test_place_names_in_any_case(
    resolver: SettlementResolver, text: str, settlement: str, locality: str | None
) -> None:
    r = resolver.resolve(text)
    assert (r.settlement, r.locality) == (settlement, locality)


def test_common_word_names_need_a_marker_or_capital(resolver: SettlementResolver) -> None:
    assert resolver.resolve("купили красное вино и горный мед").settlement is None
    assert resolver.resolve("в селе Красное нет света").settlement == "velyaminovskoe"


def test_street_named_like_a_place_is_not_the_place(resolver: SettlementResolver) -> None:
    assert resolver.resolve("на улице Октябрьской яма").settlement is None


def test_district_name_is_not_the_town(resolver: SettlementResolver) -> None:
    assert resolver.resolve("администрация Туапсинского района").settlement is None


def test_two_localities_of_different_settlements(resolver: SettlementResolver) -> None:
    # Where the problem is («в Небуге») outweighs where the writer came from («из Туапсе»).
    r = resolver.resolve("Приехали из Туапсе в Небуг, а там на пляже мусор")
    assert r.settlement == "nebugskoe"
    # Two equal places of different settlements: unresolved, never a guess.
    r = resolver.resolve("В Ольгинке и в Шепси нет света")
    assert r.settlement is None and r.evidence and r.evidence.startswith("ambiguous")


def test_unverified_place_is_recognised_but_does_not_decide(resolver: SettlementResolver) -> None:
    r = resolver.resolve("в селе Садовое нет дороги")
    assert r.settlement is None and r.locality == "Садовое"
    assert resolver.resolve("в селе Садовое нет дороги", hint="shaumyanskoe").settlement == "shaumyanskoe"


def test_coordinates_pick_the_nearest_locality(resolver: SettlementResolver) -> None:
    r = resolver.resolve("яма", lat=44.1720, lon=39.0030)
    assert (r.settlement, r.locality) == ("nebugskoe", "Небуг")
    assert resolver.resolve("яма", lat=45.0, lon=39.0).settlement is None  # Krasnodar, far away


def test_text_beats_channel_hint_and_hint_fills_the_gap(resolver: SettlementResolver) -> None:
    assert resolver.resolve("в Джубге нет воды", hint="shepsinskoe").settlement == "dzhubgskoe"
    assert resolver.resolve("нет воды третий день", hint="shepsinskoe").settlement == "shepsinskoe"
    assert resolver.resolve("нет воды третий день", hint="nowhere").settlement is None
