from pathlib import Path

import pytest
import yaml

from common.yaml_load import package_file
from route.directory import load_directory
from route.resolve import SettlementResolver


@pytest.fixture(scope="module")
def resolver() -> SettlementResolver:
    return SettlementResolver(load_directory())


def _directory_with(tmp_path: Path, name: str, **changes: object) -> SettlementResolver:
    """The shipped directory with one locality changed (every ОКТМО place is verified, so a test makes one up)."""
    data = yaml.safe_load(package_file("route", "data/settlements.yaml").read_text(encoding="utf-8"))
    loc = next(x for x in data["localities"] if x["name"] == name)
    loc.update(changes)
    path = tmp_path / "settlements.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return SettlementResolver(load_directory(settlements_path=path))


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
    assert r.settlement is None and r.evidence is not None and r.evidence.ambiguous


def test_unverified_place_is_recognised_but_does_not_decide(tmp_path: Path) -> None:
    resolver = _directory_with(tmp_path, "Садовое", membership="unverified")
    r = resolver.resolve("в селе Садовое нет дороги")
    assert r.settlement is None and r.locality == "Садовое"
    assert resolver.resolve("в селе Садовое нет дороги", hint="shaumyanskoe").settlement == "shaumyanskoe"


@pytest.mark.parametrize(
    ("text", "settlement", "locality"),
    [
        ("в селе Кирпичное нет воды", "georgievskoe", "Кирпичное"),  # ОКТМО: Георгиевское, not Вельяминовское
        ("с. Молдовановка, ул. Центральная, нет света", "dzhubgskoe", "Молдавановка"),  # both spellings
        ("в Четвёртой Гунайке упало дерево", "oktyabrskoe", "Гунайка Четвертая"),
        ("в Гунайке нет света", "oktyabrskoe", "Гунайка Первая"),  # either Гунайка: one settlement
        ("в пансионате Весна сломан забор", "shepsinskoe", 'пансионата "Весна"'),
        ("в Холодном Роднике размыло дорогу", "velyaminovskoe", "Холодный Родник"),
    ],
)
def test_official_localities(resolver: SettlementResolver, text: str, settlement: str, locality: str) -> None:
    r = resolver.resolve(text)
    assert (r.settlement, r.locality) == (settlement, locality)


def test_spring_is_not_a_resort_without_its_word(resolver: SettlementResolver) -> None:
    assert resolver.resolve("весна пришла, а дороги не чистят").settlement is None


def test_coordinates_pick_the_nearest_locality(resolver: SettlementResolver) -> None:
    r = resolver.resolve("яма", lat=44.1720, lon=39.0030)
    assert (r.settlement, r.locality) == ("nebugskoe", "Небуг")
    assert resolver.resolve("яма", lat=45.0, lon=39.0).settlement is None  # Krasnodar, far away


def test_text_beats_channel_hint_and_hint_fills_the_gap(resolver: SettlementResolver) -> None:
    assert resolver.resolve("в Джубге нет воды", hint="shepsinskoe").settlement == "dzhubgskoe"
    assert resolver.resolve("нет воды третий день", hint="shepsinskoe").settlement == "shepsinskoe"
    assert resolver.resolve("нет воды третий день", hint="nowhere").settlement is None


@pytest.mark.parametrize(
    ("text", "settlement"),
    [
        # «под Туапсе» is near the town: the settlement named in full weighs more
        ("Глава Шепсинского сельского поселения под Туапсе ответил жителям про пляж", "shepsinskoe"),
        # a road named after towns is not a place of the message
        ("Обвал у посёлка Гизель-Дере на трассе Джубга — Сочи", "shepsinskoe"),
        ("в городе Туапсе на выезде в сторону п. Джубга просела дорога", "tuapsinskoe"),
        ("В Афапостик опять не привезли хлеб", "shaumyanskoe"),  # the short name people use
        ("Жители села Ольгинка перекрыли трассу А-147 «Джубга — Сочи»", "novomikhaylovskoe"),
        # «с» before a word is a marker only as «с.»: «с центром» is not Туапсе's Центр
        ("В селе Ольгинка затопило дорогу, соединяющую пляж с центром посёлка", "novomikhaylovskoe"),
        ("в селе Полковничье размыло мост", "dzhubgskoe"),  # as people write хутор Полковничий
    ],
)
def test_nearby_roads_and_directions_do_not_outweigh_the_place(
    resolver: SettlementResolver, text: str, settlement: str
) -> None:
    assert resolver.resolve(text).settlement == settlement
