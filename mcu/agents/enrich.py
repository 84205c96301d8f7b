import time
from datetime import UTC, datetime

from pydantic import ValidationError

from classify.enricher import Enricher
from mcu.app import app, cases_topic, normalized_topic
from mcu.dead_letters import send_dead_letter
from mcu.metrics import STAGE_PROCESSED, STAGE_SECONDS
from schemas import Case, NormalizedMessage

STAGE = "enrich"


# Loaded when the worker starts, so a broken taxonomy, rule file or model stops the start with
# the file's name instead of crashing the agent over and over.
enricher = Enricher.load()


@app.agent(normalized_topic, name="enrich")
async def enrich_agent(stream):  # type: ignore[no-untyped-def]
    async for event in stream.events():
        started = time.perf_counter()
        try:
            message = NormalizedMessage.model_validate_json(event.value)
            classification, routing = enricher.enrich(message)
            case = Case(message=message, classification=classification, routing=routing, enriched_at=datetime.now(UTC))
        except ValidationError as exc:
            await send_dead_letter(event, STAGE, "validation", str(exc)[:2000])
            continue
        except Exception as exc:  # one bad record must never stop the stream
            await send_dead_letter(event, STAGE, "processing_error", f"{type(exc).__name__}: {exc}")
            continue
        await cases_topic.send(key=message.message_id.encode(), value=case.model_dump_json().encode())
        STAGE_PROCESSED.labels(stage=STAGE).inc()
        STAGE_SECONDS.labels(stage=STAGE).observe(time.perf_counter() - started)
