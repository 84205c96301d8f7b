from datetime import UTC, datetime, timedelta

from classify.clusters import ClusterIndex

T0 = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)


def test_same_outage_same_place_within_window_is_one_cluster() -> None:
    idx = ClusterIndex(window=timedelta(hours=24))
    a = idx.assign("m1", "water_supply", "Джубга", ["нет", "вода"], T0)
    b = idx.assign("m2", "water_supply", "Джубга", ["когда", "дать", "вода", "третий", "день"], T0 + timedelta(hours=2))
    assert a is not None and a == b and idx.size(a) == 2


def test_other_place_other_category_or_later_is_another_cluster() -> None:
    idx = ClusterIndex(window=timedelta(hours=24))
    a = idx.assign("m1", "water_supply", "Джубга", ["нет", "вода"], T0)
    assert idx.assign("m2", "water_supply", "Небуг", ["нет", "вода"], T0) != a
    assert idx.assign("m3", "power_supply", "Джубга", ["нет", "свет"], T0) != a
    assert idx.size(a) == 1  # type: ignore[arg-type]
    assert idx.assign("m4", "water_supply", "Джубга", ["нет", "вода"], T0 + timedelta(days=3)) != a


def test_non_outage_needs_overlapping_words() -> None:
    idx = ClusterIndex(window=timedelta(hours=72))
    a = idx.assign("m1", "roads", "Туапсе", ["яма", "улица", "гагарин", "дом"], T0)
    b = idx.assign("m2", "roads", "Туапсе", ["огромный", "яма", "улица", "гагарин"], T0 + timedelta(hours=5))
    c = idx.assign("m3", "roads", "Туапсе", ["разбитый", "тротуар", "набережная"], T0 + timedelta(hours=6))
    assert a == b and c != a and idx.size(a) == 2  # type: ignore[arg-type]


def test_redelivery_keeps_the_id_and_size_and_unknown_place_has_none() -> None:
    idx = ClusterIndex()
    a = idx.assign("m1", "waste", "Шепси", ["мусор"], T0)
    assert idx.assign("m1", "waste", "Шепси", ["мусор"], T0) == a and idx.size(a) == 1  # type: ignore[arg-type]
    assert idx.assign("m2", "waste", None, ["мусор"], T0) is None


def test_old_clusters_are_forgotten() -> None:
    idx = ClusterIndex(window=timedelta(hours=1))
    a = idx.assign("m1", "waste", "Шепси", ["мусор"], T0)
    idx.assign("m2", "waste", "Небуг", ["мусор"], T0 + timedelta(days=1))
    assert idx.get(a) is None  # type: ignore[arg-type]
