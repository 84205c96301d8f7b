"""raw.* → cases in one pass: normalise, classify and route a batch, then send its cases.

A message crosses Kafka once between intake and `cases`: the normalised message is not worth a
topic of its own (nothing but this stage read it, and it is derived from the raw record, which
stays the replay source). Keys, partitioning and ids are those of before: a case is keyed by its
message id. Counts and dead letters keep their two stage names, `normalize` and `enrich`, so
alerts and dashboards still tell a record the normaliser refused from one enrichment failed on.
"""

from collections.abc import Awaitable
from datetime import UTC, datetime
from functools import cache

from aiokafka.structs import ConsumerRecord
from faust.types import EventT
from pydantic import TypeAdapter

from classify.enricher import Enricher
from classify.registry import ModelHolder, ModelRegistry
from ingest.normalize import Rejected, normalize_record
from kafkaio.batch_consumer import BatchConsumer
from kafkaio.wire import decode_headers
from mcu.agents.stage import Deliveries, RecordEvent, StageSensor, batch_consumer, run_batches
from mcu.app import app, cases_topic, raw_topics, settings
from mcu.dead_letters import apply_or_dead_letter, send_dead_letter
from mcu.metrics import CHANNEL_LAST_SEEN, observe_classification
from schemas import Case, NormalizedMessage

NORMALIZE = "normalize"
STAGE = "enrich"
STAGES = (NORMALIZE, STAGE)  # the metric and dead-letter stages this agent reports
_case_json = TypeAdapter(Case)


@cache
def _author_key() -> bytes:
    return settings.intake.author_hmac_key.get_secret_value().encode()


@cache
def _model() -> tuple[Enricher, ModelHolder]:
    """Loaded by `prepare` when the worker registers this stage (not at import), so a broken
    taxonomy, rule file or model stops the start with the file's name instead of crashing the agent
    over and over. `mcu classify promote` moves the registry's pointer; the holder follows it
    without a restart (the timer below paces the checks, so the holder's own limit is off)."""
    registry = ModelRegistry(settings.resolved_model_registry_dir)
    loaded = Enricher.load(model_path=registry.current_model_path())
    return loaded, ModelHolder(registry, loaded.use_model, check_every=0.0, loaded=registry.current())


def enricher() -> Enricher:
    return _model()[0]


def prepare() -> None:
    _model()


@app.timer(interval=settings.classify.check_seconds)
async def follow_promoted_model() -> None:
    await _model()[1].refresh()


def raw_value(event: EventT) -> bytes:
    msg = event.message
    return msg.value if isinstance(msg.value, bytes) else event.value


def normalise(event: EventT, now: datetime) -> NormalizedMessage:
    msg = event.message
    return normalize_record(
        raw_value(event),
        decode_headers(msg.headers),
        msg.topic.removeprefix(settings.topics.prefix),
        max_bytes=settings.intake.max_payload_bytes,
        author_key=_author_key(),
        max_text_chars=settings.intake.max_text_chars,
        now=now,
    )


def enrich(message: NormalizedMessage, now: datetime) -> Case:
    classification, routing = enricher().enrich(message)
    observe_classification(classification)
    return Case(message=message, classification=classification, routing=routing, enriched_at=now)


normalize_sensor, enrich_sensor = StageSensor(NORMALIZE), StageSensor(STAGE)


async def process(events: list[EventT], out: Deliveries) -> None:
    """Every record of the batch becomes a case or a dead letter, sent to ``out``."""
    now = datetime.now(UTC)
    messages: list[tuple[EventT, NormalizedMessage]] = []
    with normalize_sensor.batch(len(events)) as counted:
        for event in events:
            try:
                messages.append((event, normalise(event, now)))
            except Rejected as rej:
                await send_dead_letter(event, NORMALIZE, rej.reason, rej.detail, out)
            except Exception as exc:  # one bad record must never stop the stream
                await send_dead_letter(event, NORMALIZE, "processing_error", f"{type(exc).__name__}: {exc}", out)
        counted.processed = len(messages)
    seen: dict[str, datetime] = {}
    with enrich_sensor.batch(len(messages)) as counted:
        for event, message in messages:
            case = await apply_or_dead_letter(event, STAGE, lambda _raw, m=message: enrich(m, now), out)
            if case is None:
                continue
            out.send(cases_topic, case.message_id.encode(), _case_json.dump_json(case))
            seen[message.channel.value] = now
            counted.processed += 1
    for channel in seen:
        CHANNEL_LAST_SEEN.labels(channel=channel).set(now.timestamp())


def consumer() -> BatchConsumer:
    s = settings
    return batch_consumer(
        s.kafka,
        s.service,
        list(raw_topics.topics),
        STAGE,
        max_records=s.service.stage_batch_size,
        fetch_wait=s.service.stage_batch_seconds,
    )


async def handle(records: list[ConsumerRecord], generation: int) -> Awaitable[None]:
    """One fetch: cases and dead letters sent; returns their confirmation (the consumer commits after it)."""
    out = Deliveries(STAGE, producer=app.producer)
    await process([RecordEvent(r) for r in records], out)  # type: ignore[misc]
    await out.hand_over()  # before the next fetch's cases
    return out.confirm()


@app.task
async def enrich_batches() -> None:
    # raw.* is read here, not through Faust's streams: see kafkaio/batch_consumer.py for why and
    # for the offset discipline (a batch is committed only after its cases and dead letters are).
    # Its topics were created before the worker consumes (kafkaio/topic_admin.py ensure_topics).
    await run_batches(STAGE, consumer, handle, settings.service.test_drop_marker)
