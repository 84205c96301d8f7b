"""Model versions: trained models kept side by side, one of them "current", and a holder that
lets a running worker follow the pointer without a restart.

Layout of a registry directory (default ``$MCU_VAR_DIR/models``)::

    versions/<version>/model.joblib   the artefact (classify.model format)
    versions/<version>/meta.json      version, created_at, data_hash, counts, CV figures, parent
    CURRENT                           the promoted version id, one line

With no CURRENT the packaged artefact (classify/data/model.joblib) is what runs. CURRENT is
replaced atomically (write + os.replace), so a reader sees the old id or the new one, never half.
"""

import asyncio
import hashlib
import logging
import os
import re
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from classify.model import LinearTextModel, load_model

log = logging.getLogger(__name__)

POINTER = "CURRENT"
VERSION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


class UnknownVersion(LookupError):
    pass


class VersionInfo(BaseModel):
    model_config = ConfigDict(extra="allow")

    version: str
    created_at: datetime
    data_hash: str = Field(description="sha256 of the training rows (text, category, weight), sorted")
    n_examples: int
    n_corrections: int = 0
    corrections_weight: float | None = None
    parent: str | None = Field(default=None, description="the current version when this one was trained")
    cv: dict[str, Any] | None = Field(default=None, description="development CV figures, when computed")
    corrections_cv: dict[str, Any] | None = Field(
        default=None, description="the corrections scored by models that did not train on them (cross-fitted)"
    )
    correction_ids: list[str] = Field(default_factory=list, description="ids of the corrections it trained on")


def data_hash(rows: Iterable[tuple[str, str, float]]) -> str:
    """Order-independent fingerprint of what a model was trained on."""
    h = hashlib.sha256()
    for text, cat, w in sorted(rows):
        h.update(f"{cat}\t{w:g}\t{text}\n".encode())
    return h.hexdigest()


def new_version_id(prefix: str, digest: str, now: datetime | None = None) -> str:
    return f"{prefix}-{(now or datetime.now(UTC)):%Y%m%d%H%M%S}-{digest[:8]}"


class ModelRegistry:
    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self.pointer = self.root / POINTER

    def _dir(self, version: str) -> Path:
        if not VERSION_RE.match(version):
            raise UnknownVersion(f"недопустимый идентификатор версии: {version!r}")
        return self.root / "versions" / version

    def add(self, model: LinearTextModel, info: VersionInfo) -> Path:
        """Store a trained model as a new version (never overwrites one)."""
        if model.version != info.version:
            raise ValueError(f"model says {model.version}, metadata says {info.version}")
        final = self._dir(info.version)
        if final.exists():
            raise FileExistsError(f"версия {info.version} уже есть: {final}")
        tmp = final.with_name(f".{info.version}.tmp")
        tmp.mkdir(parents=True, exist_ok=True)
        model.save(tmp / "model.joblib")
        (tmp / "meta.json").write_text(info.model_dump_json(indent=1), encoding="utf-8")
        # a half-written version is never visible under its own name
        tmp.rename(final)
        return final

    def versions(self) -> list[VersionInfo]:
        base = self.root / "versions"
        if not base.is_dir():
            return []
        out = [self.info(p.name) for p in sorted(base.iterdir()) if p.is_dir() and not p.name.startswith(".")]
        return sorted(out, key=lambda v: v.created_at)

    def info(self, version: str) -> VersionInfo:
        meta = self._dir(version) / "meta.json"
        if not meta.exists():
            raise UnknownVersion(f"версии {version} нет в {self.root}")
        return VersionInfo.model_validate_json(meta.read_text(encoding="utf-8"))

    def model_path(self, version: str) -> Path:
        p = self._dir(version) / "model.joblib"
        if not p.exists():
            raise UnknownVersion(f"версии {version} нет в {self.root}")
        return p

    def load(self, version: str) -> LinearTextModel:
        model = load_model(self.model_path(version))
        assert model is not None  # load_model with a path raises instead of returning None
        return model

    def current(self) -> str | None:
        try:
            v = self.pointer.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return None
        return v or None

    def current_model_path(self) -> Path | None:
        """The promoted artefact, or None: the packaged one runs."""
        v = self.current()
        return self.model_path(v) if v else None

    def promote(self, version: str) -> VersionInfo:
        """Point CURRENT at `version`, after checking that its artefact loads."""
        info = self.info(version)
        self.load(version)  # a broken artefact is refused here, not in every worker
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.pointer.with_name(f".{POINTER}.{os.getpid()}")
        tmp.write_text(version + "\n", encoding="utf-8")
        os.replace(tmp, self.pointer)
        return info


class ModelHolder:
    """Follows the registry's CURRENT pointer for a running process.

    `refresh()` is cheap when nothing changed: at most one stat of CURRENT every `check_every`
    seconds. A new version is loaded in a thread (joblib + numpy, tens of milliseconds to a
    second) and then handed to `apply` on the caller's thread, so the event loop never waits for
    the disk and the swap is a single attribute assignment between two messages. A version that
    fails to load is logged once and the old model keeps running.
    """

    def __init__(
        self,
        registry: ModelRegistry,
        apply: Callable[[LinearTextModel | None], None],
        *,
        check_every: float = 5.0,
        loaded: str | None = None,
        packaged: Callable[[], LinearTextModel | None] = load_model,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.registry = registry
        self.apply = apply
        self.check_every = check_every
        self.loaded = loaded  # registry version in use; None = the packaged model
        self.packaged = packaged
        self.clock = clock
        self._next_check = 0.0
        self._stat: tuple[int, int, int] | None = None
        self._failed: str | None = None

    def _wanted(self) -> tuple[bool, str | None]:
        """(changed, version): whether CURRENT names another version than the loaded one since the last look."""
        try:
            st = self.registry.pointer.stat()
            key: tuple[int, int, int] | None = (st.st_mtime_ns, st.st_ino, st.st_size)
        except FileNotFoundError:
            key = None
        if key == self._stat:
            return False, None
        self._stat = key
        wanted = self.registry.current() if key else None
        return wanted != self.loaded, wanted

    def _load(self, version: str | None) -> LinearTextModel | None:
        return self.registry.load(version) if version else self.packaged()

    def due(self) -> bool:
        return self.clock() >= self._next_check

    def _apply(self, version: str | None, model: LinearTextModel | None) -> None:
        self.apply(model)
        log.info("model switched: %s -> %s", self.loaded or "packaged", version or "packaged")
        self.loaded = version
        self._failed = None

    def _failed_once(self, version: str | None, exc: Exception) -> None:
        if self._failed != version:
            log.error("model version %s does not load, keeping %s: %s", version, self.loaded or "packaged", exc)
        self._failed = version
        self._stat = None  # look again next time: the file may be fixed

    def _switch_due(self) -> tuple[bool, str | None]:
        """(switch, version): whether a look is due and found another version (None = packaged)."""
        if not self.due():
            return False, None
        self._next_check = self.clock() + self.check_every
        return self._wanted()

    def refresh_sync(self) -> bool:
        """Blocking variant (CLIs, tests). True when the model was switched."""
        switch, wanted = self._switch_due()
        if not switch:
            return False
        try:
            model = self._load(wanted)
        except Exception as exc:  # any failure keeps the running model
            self._failed_once(wanted, exc)
            return False
        self._apply(wanted, model)
        return True

    async def refresh(self) -> bool:
        """For an event loop: the load runs in a thread. True when the model was switched."""
        switch, wanted = self._switch_due()
        if not switch:
            return False
        try:
            model = await asyncio.to_thread(self._load, wanted)
        except Exception as exc:  # any failure keeps the running model
            self._failed_once(wanted, exc)
            return False
        self._apply(wanted, model)
        return True
