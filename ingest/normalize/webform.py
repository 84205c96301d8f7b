"""Web form / chatbot: the generic field names, plus the synthetic mark of simulated traffic."""

from __future__ import annotations

from typing import Any

from ingest.normalize.generic import generic_fields
from schemas import RawEnvelope


def fields(env: RawEnvelope) -> dict[str, Any]:
    out = generic_fields(env)
    if env.payload.get("synthetic") is True:
        out["extra"] = {"synthetic": True}
    return out
