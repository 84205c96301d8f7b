from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from classify.enricher import Enricher
from schemas.message import NormalizedMessage


@pytest.fixture(scope="session")
def enricher() -> Enricher:
    return Enricher.load()


@pytest.fixture
def msg() -> Callable[..., NormalizedMessage]:
    def make(text: str, **kw: object) -> NormalizedMessage:
        now = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
        fields: dict[str, object] = {
            "message_id": "m-" + str(abs(hash(text))),
            "channel": "vk",
            "source_id": "1",
            "created_at": now,
            "fetched_at": now,
            "normalized_at": now,
            "text": text,
        }
        fields.update(kw)
        return NormalizedMessage.model_validate(fields)

    return make
