import pytest

from reports.config import RatingConfigError, load_rating_config
from reports.role import role_statements
from reports.stats import wilson


def test_shipped_rating_config_loads():
    cfg = load_rating_config()
    assert cfg.min_volume >= 1 and set(cfg.weights) == {"timeliness", "completeness", "speed", "quality", "repeat"}


@pytest.mark.parametrize(
    "body, fragment",
    [
        (
            "version: x\nmin_volume: 0\nconfidence: 0.95\nspeed_target_hours: 8\nweights: {timeliness: 1}\n",
            "min_volume",
        ),
        ("version: x\nmin_volume: 5\nconfidence: 0.95\nspeed_target_hours: 9\nweights: {timeliness: 1}\n", "speed"),
        ("version: x\nmin_volume: 5\nconfidence: 0.95\nspeed_target_hours: 8\nweights: {speed: -1}\n", "negative"),
        ("version: x\nmin_volume: 5\nconfidence: 0.95\nspeed_target_hours: 8\nweights: {volume: 1}\n", "volume"),
    ],
)
def test_bad_rating_config_names_the_file(tmp_path, body, fragment):
    path = tmp_path / "rating.yaml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(RatingConfigError) as err:
        load_rating_config(path)
    assert str(path) in str(err.value) and fragment in str(err.value)


def test_role_sql_grants_only_to_the_named_database():
    statements = role_statements("mcu")
    assert statements[0] == "CREATE ROLE IF NOT EXISTS mcu_analyst"
    grants = [s for s in statements if s.startswith("GRANT")]
    assert grants and all(" ON mcu." in s for s in grants)
    assert not any("author_id" in s or "actor" in s or "recipient," in s for s in grants)
    # no grant at all on the tables with authors and unmasked text: the views run as their definer
    assert not any(f" ON mcu.{t} " in s + " " for s in grants for t in ("cases", "case_events", "notifications"))
    definer = [s for s in statements if s.startswith("ALTER TABLE")]
    assert all("SQL SECURITY DEFINER" in s for s in definer) and any("analyst_cases" in s for s in definer)
    with pytest.raises(ValueError):
        role_statements("mcu; DROP TABLE cases")


def test_wilson_interval_by_hand():
    # 1 of 2 at 95 %: centre (0.5 + 1.9208/2)/(1 + 1.9208) = 0.5, half-width 0.4055
    low, high = wilson(1, 2)
    assert low == pytest.approx(0.0945, abs=1e-4) and high == pytest.approx(0.9055, abs=1e-4)
    assert wilson(0, 0) is None
