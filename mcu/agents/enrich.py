import time
from datetime import UTC, datetime

from classify.enricher import Enricher
from classify.registry import ModelHolder, ModelRegistry
from mcu.app import app, cases_topic, normalized_topic, settings
from mcu.dead_letters import apply_or_dead_letter
from mcu.metrics import STAGE_PROCESSED, STAGE_SECONDS
from schemas import Case, NormalizedMessage

STAGE = "enrich"


# Loaded when the worker starts, so a broken taxonomy, rule file or model stops the start with
# the file's name instead of crashing the agent over and over.
registry = ModelRegistry(settings.resolved_model_registry_dir)
enricher = Enricher.load(model_path=registry.current_model_path())
# `mcu classify promote` moves the registry's pointer; this worker follows it without a restart.
# The timer paces the checks, so the holder's own limit is off.
model_holder = ModelHolder(registry, enricher.use_model, check_every=0.0, loaded=registry.current())


@app.timer(interval=settings.model_check_seconds)
async def follow_promoted_model() -> None:
    await model_holder.refresh()


def enrich(value: bytes) -> Case:
    message = NormalizedMessage.model_validate_json(value)
    classification, routing = enricher.enrich(message)
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
