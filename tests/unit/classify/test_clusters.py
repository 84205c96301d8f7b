import random
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from classify.clusters import ClusterIndex, problem_key, street_of

T0 = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)  # 11:00 in Moscow


def test_same_outage_same_place_same_day_is_one_cluster() -> None:
    idx = ClusterIndex()
    a = idx.assign("m1", "water_supply", "Джубга", ["нет", "вода"], T0)
    b = idx.assign("m2", "water_supply", "Джубга", ["когда", "дать", "вода", "третий", "день"], T0 + timedelta(hours=2))
    assert a is not None and a == b and idx.size(a) == 2


def test_other_place_other_category_or_other_moscow_day_is_another_cluster() -> None:
    idx = ClusterIndex()
    a = idx.assign("m1", "water_supply", "Джубга", ["нет", "вода"], T0)
    assert idx.assign("m2", "water_supply", "Небуг", ["нет", "вода"], T0) != a
    assert idx.assign("m3", "power_supply", "Джубга", ["нет", "свет"], T0) != a
    assert idx.size(a) == 1  # type: ignore[arg-type]
    # 21:30 UTC is already the next day in Moscow.
    assert idx.assign("m4", "water_supply", "Джубга", ["вода"], T0.replace(hour=21, minute=30)) != a
    assert idx.assign("m5", "water_supply", "Джубга", ["вода"], T0.replace(hour=20, minute=30)) == a


def test_other_categories_need_the_same_street() -> None:
    idx = ClusterIndex()
    a = idx.assign("m1", "roads", "Туапсе", ["яма", "на", "улица", "гагарин", "у", "дом"], T0)
    b = idx.assign("m2", "roads", "Туапсе", ["на", "ул", "гагарин", "огромный", "яма"], T0 + timedelta(hours=5))
    c = idx.assign("m3", "roads", "Туапсе", ["яма", "на", "улица", "мира"], T0 + timedelta(hours=6))
    d = idx.assign("m4", "roads", "Туапсе", ["разбитый", "тротуар", "на", "набережная"], T0 + timedelta(hours=6))
    assert a is not None and a == b and c not in (None, a) and d is None and idx.size(a) == 2


def test_street_of() -> None:
    assert street_of(["пер", "спортивный", "не", "убирать"]) == "спортивный"
    assert street_of(["на", "улица", "у", "дом"]) is None
    assert street_of(["улица"]) is None


def test_redelivery_keeps_the_id_and_size_and_unknown_place_has_none() -> None:
    idx = ClusterIndex()
    a = idx.assign("m1", "waste", "Шепси", ["мусор"], T0)
    assert idx.assign("m1", "waste", "Шепси", ["мусор"], T0) == a and idx.size(a) == 1  # type: ignore[arg-type]
    assert idx.assign("m2", "waste", None, ["мусор"], T0) is None
    assert idx.assign("m3", "unresolved", "Шепси", ["мусор"], T0) is None


def test_old_sizes_are_forgotten_but_ids_are_not() -> None:
    idx = ClusterIndex()
    a = idx.assign("m1", "waste", "Шепси", ["мусор"], T0)
    idx.assign("m2", "waste", "Небуг", ["мусор"], T0 + timedelta(days=5))
    assert idx.size(a) == 0  # type: ignore[arg-type]
    assert ClusterIndex().assign("m1", "waste", "Шепси", ["мусор"], T0) == a


messages = st.lists(
    st.tuples(
        st.sampled_from(["water_supply", "roads", "lighting", "unresolved"]),
        st.sampled_from(["Джубга", "Туапсе", None]),
        st.lists(st.sampled_from(["улица", "гагарин", "мира", "яма", "вода", "нет"]), max_size=6),
        st.integers(min_value=0, max_value=72 * 60),
    ),
    max_size=40,
)


@given(messages, st.integers(min_value=1, max_value=4), st.randoms())
def test_ids_do_not_depend_on_order_or_how_messages_are_split_between_workers(
    msgs: list[tuple[str, str | None, list[str], int]], workers: int, rnd: random.Random
) -> None:
    """N workers each with its own index, messages dealt out at random and shuffled: the same ids as one."""
    one = ClusterIndex()
    expected = {
        f"m{i}": one.assign(f"m{i}", c, p, lem, T0 + timedelta(minutes=m)) for i, (c, p, lem, m) in enumerate(msgs)
    }
    indexes = [ClusterIndex() for _ in range(workers)]
    order = list(enumerate(msgs))
    rnd.shuffle(order)
    got = {
        f"m{i}": rnd.choice(indexes).assign(f"m{i}", c, p, lem, T0 + timedelta(minutes=m))
        for i, (c, p, lem, m) in order
    }
    assert got == expected
    for mid, cid in expected.items():
        c, p, lem, m = msgs[int(mid[1:])]
        assert (cid is None) == (problem_key(c, p, lem, T0 + timedelta(minutes=m)) is None)


def test_outage_categories_are_data_and_name_taxonomy_codes() -> None:
    from classify.clusters import outage_categories
    from classify.taxonomy import load_taxonomy
    from route.directory import load_directory

    codes = set(load_taxonomy(load_directory()).by_code())
    assert "water_supply" in outage_categories()
    assert outage_categories() <= codes
