from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

from faust.types import EventT
from pydantic import ValidationError

from mcu.agents.stage import Deliveries
from mcu.app import dlq_topic
from mcu.metrics import DEAD_LETTERS, STAGE_FAILED
from schemas import DeadLetter
from schemas.times import BAD_TIME, is_bad_time

T = TypeVar("T")
# The reason codes this module gives for any stage (mcu/metrics.py creates their series at 0).
REASONS = ("validation", BAD_TIME, "processing_error")


def dead_letter_for(event: EventT, stage: str, reason: str, error: str) -> DeadLetter:
    msg = event.message
    raw = msg.value if isinstance(msg.value, bytes) else event.value
    if not isinstance(raw, bytes):
        raw = str(raw).encode("utf-8", "replace")
    key = msg.key.decode("utf-8", "replace") if isinstance(msg.key, bytes) else None
    return DeadLetter(
        reason=reason,
        error=error[:2000],
        stage=stage,
        topic=msg.topic,
        partition=msg.partition,
        offset=msg.offset,
        key=key,
        original_b64=DeadLetter.encode(raw),
        at=datetime.now(UTC),
    )


async def send_dead_letter(event: EventT, stage: str, reason: str, error: str, out: Deliveries | None = None) -> None:
    """Park the record with why it failed; the stream goes on with the next one.

    A dead letter is an output like any other: its input may be released only once Kafka has it.
    With ``out`` (a batch's deliveries) it is confirmed with the rest of the batch; without, here.
    """
    letter = dead_letter_for(event, stage, reason, error)
    DEAD_LETTERS.labels(stage=stage, reason=reason).inc()
    STAGE_FAILED.labels(stage=stage).inc()
    own = out is None
    out = Deliveries(stage) if out is None else out
    out.send(dlq_topic, letter.key.encode() if letter.key else None, letter.model_dump_json().encode())
    if own:
        await out.confirm()


async def send_dead_letter_value(
    value: bytes, key: str | None, topic: str, stage: str, reason: str, error: str, offset: int
) -> None:
    """Park a record a stage held itself (not the one it is reading now), e.g. expired waiting events.

    Its Kafka offset is not known any more; ``offset`` must still tell records apart (the store
    de-duplicates dead letters by topic, partition, offset and stage): pass a negative number
    derived from the record's own id, so a re-sent letter folds into the first.
    """
    letter = DeadLetter(
        reason=reason,
        error=error[:2000],
        stage=stage,
        topic=topic,
        offset=offset,
        key=key,
        original_b64=DeadLetter.encode(value),
        at=datetime.now(UTC),
    )
    DEAD_LETTERS.labels(stage=stage, reason=reason).inc()
    STAGE_FAILED.labels(stage=stage).inc()
    fut = await dlq_topic.send(key=key.encode() if key else None, value=letter.model_dump_json().encode())
    await fut  # the caller keeps the events on failure and tries again (mcu/agents/sla.py)


async def apply_or_dead_letter(
    event: EventT, stage: str, fn: Callable[[bytes], T], out: Deliveries | None = None
) -> T | None:
    """``fn(event.value)``, or None after the record went to the dead letters with the reason."""
    try:
        return fn(event.value)
    except ValidationError as exc:
        reason = BAD_TIME if is_bad_time(exc.errors()) else "validation"
        await send_dead_letter(event, stage, reason, str(exc)[:2000], out)
    except Exception as exc:  # one bad record must never stop the stream
        # A stage's own refusal (e.g. sla.timers.Refused) names its reason; anything else is a bug.
        reason = getattr(exc, "dead_letter_reason", None)
        await send_dead_letter(
            event, stage, reason if isinstance(reason, str) else "processing_error", f"{type(exc).__name__}: {exc}", out
        )
    return None
