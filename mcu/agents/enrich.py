import time
from datetime import UTC, datetime
from functools import cache

from classify.enricher import Enricher
from mcu.app import app, cases_topic, normalized_topic
from mcu.dead_letters import apply_or_dead_letter
from mcu.metrics import STAGE_PROCESSED, STAGE_SECONDS, observe_classification
from schemas import Case, NormalizedMessage

STAGE = "enrich"


@cache
def enricher() -> Enricher:
    """Loaded by `prepare` when the worker registers this stage (not at import), so a broken
    taxonomy, rule file or model stops the start with the file's name instead of crashing the agent
    over and over."""
    return Enricher.load()


prepare = enricher


def enrich(value: bytes) -> Case:
    message = NormalizedMessage.model_validate_json(value)
    classification, routing = enricher().enrich(message)
    observe_classification(classification)
    return Case(message=message, classification=classification, routing=routing, enriched_at=datetime.now(UTC))


@app.agent(normalized_topic, name="enrich")
async def enrich_agent(stream):  # type: ignore[no-untyped-def]
    async for event in stream.events():
        started = time.perf_counter()
        case = await apply_or_dead_letter(event, STAGE, enrich)
        if case is None:
            continue
        await cases_topic.send(key=case.message_id.encode(), value=case.model_dump_json().encode())
        STAGE_PROCESSED.labels(stage=STAGE).inc()
        STAGE_SECONDS.labels(stage=STAGE).observe(time.perf_counter() - started)
