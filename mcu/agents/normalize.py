import time

from ingest.normalize import Rejected, normalize_record
from kafkaio.wire import decode_headers
from mcu.app import app, normalized_topic, raw_topics, settings
from mcu.dead_letters import send_dead_letter
from mcu.metrics import CHANNEL_LAST_SEEN, STAGE_PROCESSED, STAGE_SECONDS

STAGE = "normalize"
_author_key = settings.intake.author_hmac_key.get_secret_value().encode()


@app.agent(raw_topics, name="normalize")
async def normalize_agent(stream):  # type: ignore[no-untyped-def]
    async for event in stream.events():
        started = time.perf_counter()
        msg = event.message
        try:
            value = msg.value if isinstance(msg.value, bytes) else event.value
            message = normalize_record(
                value,
                decode_headers(msg.headers),
                msg.topic.removeprefix(settings.topics.prefix),
                max_bytes=settings.intake.max_payload_bytes,
                author_key=_author_key,
                max_text_chars=settings.intake.max_text_chars,
            )
        except Rejected as rej:
            await send_dead_letter(event, STAGE, rej.reason, rej.detail)
            continue
        except Exception as exc:  # one bad record must never stop the stream
            await send_dead_letter(event, STAGE, "processing_error", f"{type(exc).__name__}: {exc}")
            continue
        await normalized_topic.send(key=message.message_id.encode(), value=message.model_dump_json().encode())
        CHANNEL_LAST_SEEN.labels(channel=message.channel.value).set(time.time())
        STAGE_PROCESSED.labels(stage=STAGE).inc()
        STAGE_SECONDS.labels(stage=STAGE).observe(time.perf_counter() - started)
