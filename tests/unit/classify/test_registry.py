import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from classify.cli import classify
from classify.model import LinearTextModel
from classify.registry import ModelHolder, ModelRegistry, UnknownVersion, VersionInfo, data_hash
from classify.training import fit

DOCS = [
    (["нет", "вода", "третий", "день"], "water"),
    (["вода", "не", "идти", "кран"], "water"),
    (["яма", "на", "дорога"], "roads"),
    (["разбитый", "дорога", "яма"], "roads"),
] * 3


def _version(reg: ModelRegistry, name: str) -> LinearTextModel:
    model = fit([d for d, _ in DOCS], [c for _, c in DOCS])
    model.version = name
    digest = data_hash((" ".join(d), c, 1.0) for d, c in DOCS)
    reg.add(model, VersionInfo(version=name, created_at=datetime.now(UTC), data_hash=digest, n_examples=len(DOCS)))
    return model


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_versions_are_stored_side_by_side_and_promotion_moves_the_pointer(tmp_path: Path) -> None:
    reg = ModelRegistry(tmp_path)
    assert reg.current() is None and reg.current_model_path() is None  # the packaged model runs
    _version(reg, "v1")
    _version(reg, "v2")
    assert [v.version for v in reg.versions()] == ["v1", "v2"]
    with pytest.raises(FileExistsError):
        _version(reg, "v1")
    reg.promote("v2")
    assert reg.current() == "v2" and reg.load("v2").version == "v2"
    with pytest.raises(UnknownVersion):
        reg.promote("v3")
    with pytest.raises(UnknownVersion):
        reg.promote("../v1")  # a version id is never a path
    assert reg.current() == "v2"


def test_holder_follows_the_pointer_at_most_every_n_seconds(tmp_path: Path) -> None:
    reg = ModelRegistry(tmp_path)
    _version(reg, "v1")
    _version(reg, "v2")
    applied: list[str | None] = []
    clock = Clock()
    holder = ModelHolder(
        reg,
        lambda m: applied.append(m.version if m else None),
        check_every=5.0,
        packaged=lambda: None,
        clock=clock,
    )
    assert holder.refresh_sync() is False  # no pointer yet: the packaged model stays
    reg.promote("v1")
    clock.t = 1.0
    assert holder.refresh_sync() is False  # not due yet: no look at the disk
    clock.t = 5.0
    assert holder.refresh_sync() is True and applied == ["v1"] and holder.loaded == "v1"
    clock.t = 10.0
    assert holder.refresh_sync() is False  # unchanged pointer: nothing loaded
    reg.promote("v2")
    clock.t = 15.0
    assert asyncio.run(holder.refresh()) is True and applied == ["v1", "v2"]
    reg.pointer.unlink()  # pointer removed: back to the packaged model
    clock.t = 20.0
    assert holder.refresh_sync() is True and applied[-1] is None and holder.loaded is None


def test_a_version_that_does_not_load_keeps_the_running_model(tmp_path: Path) -> None:
    reg = ModelRegistry(tmp_path)
    _version(reg, "v1")
    _version(reg, "v2")
    reg.promote("v1")
    applied: list[str | None] = []
    holder = ModelHolder(reg, lambda m: applied.append(m.version if m else None), check_every=0.0, loaded="v1")
    reg.model_path("v2").write_bytes(b"not a joblib file")
    reg.pointer.write_text("v2\n", encoding="utf-8")  # as if promoted by hand, past the check
    assert asyncio.run(holder.refresh()) is False
    assert applied == [] and holder.loaded == "v1"


def test_promote_and_versions_commands(tmp_path: Path) -> None:
    reg = ModelRegistry(tmp_path)
    _version(reg, "v1")
    run = CliRunner().invoke
    res = run(classify, ["promote", "v9", "--registry", str(tmp_path)])
    assert res.exit_code != 0 and "v9" in res.output and "v1" in res.output
    res = run(classify, ["promote", "v1", "--registry", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert reg.current() == "v1"
    res = run(classify, ["versions", "--registry", str(tmp_path)])
    assert res.exit_code == 0 and "* v1" in res.output
