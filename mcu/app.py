"""The one Faust app every worker runs; agents live in mcu/agents and stay thin."""

import ssl
from collections.abc import Mapping
from functools import cache
from typing import Any

import faust
from aiokafka import AIOKafkaProducer
from faust.transport.drivers.aiokafka import Producer as AIOKafkaProducerService
from faust.types import ProducerT, TopicT
from faust.types.auth import CredentialsT
from mode.utils.objects import cached_property

from kafkaio import KafkaSettings, client_options
from kafkaio.tracking_producer import TopicTrackingProducer
from mcu import commit_guard
from mcu.flow_control import KeepQueuesWhileFlowing
from mcu.offset_gaps import OffsetGapSensor
from mcu.settings import Settings, get_settings
from schemas import topics


def _credentials(s: KafkaSettings) -> CredentialsT | ssl.SSLContext | None:
    """Faust's wrapping of the one translation (kafkaio.client_options) that kafka-python also gets.

    Faust hands aiokafka exactly these options back (``credentials_to_aiokafka_auth``); a test
    checks the round trip for every protocol and mechanism.
    """
    opts = client_options(s)
    if "sasl_mechanism" in opts:
        # An ssl_context makes Faust's SASL credentials SASL_SSL; None keeps SASL_PLAINTEXT.
        return faust.SASLCredentials(
            username=opts["sasl_plain_username"],
            password=opts["sasl_plain_password"],
            mechanism=opts["sasl_mechanism"],
            ssl_context=opts.get("ssl_context"),
        )
    return opts.get("ssl_context")


# What every record the worker sends is produced with. acks=all: the broker answers only when the
# record is on min.insync.replicas replicas, so a leader lost right after the answer loses nothing.
# Idempotence: the retries into the new leader after a fail-over do not write the record twice.
PRODUCER_DURABILITY: dict[str, Any] = {"acks": "all", "enable_idempotence": True}
PRODUCER_BATCH_BYTES = 256 * 1024


class DurableProducer(AIOKafkaProducerService):
    """Faust's aiokafka producer with :data:`PRODUCER_DURABILITY` always on, and one that keeps the
    partition leaders of every topic it writes to (kafkaio/tracking_producer.py).

    Faust turns idempotence on only inside its transactions (``_settings_extra``); the pipeline is
    at-least-once without them, so it is switched on here for every producer Faust builds.
    """

    def _settings_extra(self) -> Mapping[str, Any]:
        return {**super()._settings_extra(), **PRODUCER_DURABILITY}

    @property
    def _producer_type(self) -> type[AIOKafkaProducer]:
        return TopicTrackingProducer


class McuApp(faust.App):
    # Set by create_app: the min.insync.replicas of every topic Faust declares (table changelogs,
    # the assignor's topic, ours); the broker's default applies to topics it auto-creates.
    topic_min_insync_replicas: int | None = None

    @cached_property
    def flow_control(self) -> KeepQueuesWhileFlowing:
        return KeepQueuesWhileFlowing(loop=self.loop)

    def _new_producer(self) -> ProducerT:
        return DurableProducer(self.transport, loop=self.loop, beacon=self.beacon)

    def topic(self, *topics: str, config: Mapping[str, Any] | None = None, **kwargs: Any) -> TopicT:
        if self.topic_min_insync_replicas is not None:
            config = {"min.insync.replicas": str(self.topic_min_insync_replicas), **(config or {})}
        return super().topic(*topics, config=config, **kwargs)


def create_app(s: Settings) -> faust.App:
    commit_guard.install()
    McuApp.topic_min_insync_replicas = s.topics.effective_min_insync_replicas
    app = McuApp(
        s.service.app_id,
        broker=[f"kafka://{b}" for b in s.kafka.broker_list],
        broker_credentials=_credentials(s.kafka),
        store="memory://",
        datadir=str(s.service.var_dir / "faust"),
        autodiscover=False,
        topic_partitions=s.topics.partitions,
        topic_replication_factor=s.topics.replication_factor,
        producer_acks=-1,
        producer_max_request_size=s.kafka.max_record_bytes * 2,
        # aiokafka's default of 16 KiB holds about twelve cases, and per-batch work (build, request,
        # response, futures) is paid that often: 256 KiB takes a per-record send from 21-22 to
        # 18.7 µs (bench/producer.py); the batch stages' record batches (mcu/agents/stage.py) are
        # bounded by it too. Never above the largest record, so no topic refuses a full batch.
        producer_max_batch_size=min(PRODUCER_BATCH_BYTES, s.kafka.max_record_bytes),
        consumer_max_fetch_size=s.kafka.max_record_bytes * 2,
        broker_commit_interval=s.service.commit_interval,
        broker_max_poll_records=s.service.poll_records,
        # Faust's default of 60 s leaves a killed worker's partitions idle for a minute.
        broker_session_timeout=s.kafka.session_timeout,
        broker_heartbeat_interval=min(3.0, s.kafka.session_timeout / 3),
        consumer_auto_offset_reset="earliest",
        web_bind=s.web.host,
        web_host=s.web.host,
        web_port=s.web.port,
        web_in_thread=False,
        logging_config=None,
    )
    app.sensors.add(OffsetGapSensor())
    return app


# Nothing happens at import: the settings are read and the app built on first use of one of the
# names below (`from mcu.app import app` in the agents, which `mcu worker` imports), so a tool or
# test that needs only create_app or DurableProducer does not read the environment.
_TOPICS = {
    "raw_topics": topics.RAW_TOPICS,
    "cases_topic": (topics.CASES,),
    "case_events_topic": (topics.CASE_EVENTS,),
    "sla_events_topic": (topics.SLA_EVENTS,),
    "dlq_topic": (topics.DLQ,),
    "notifications_topic": (topics.NOTIFICATIONS,),
}


@cache
def _wiring() -> tuple[Settings, faust.App]:
    s = get_settings()
    return s, create_app(s)


# Records travel as JSON bytes and are validated by pydantic in the stage itself, so that a bad
# record becomes a dead letter with a reason instead of a deserialisation crash inside Faust.


def bytes_topic(*names: str) -> faust.TopicT:
    s, app = _wiring()
    return app.topic(*(s.topics.prefix + n for n in names), value_serializer="raw", key_serializer="raw")


@cache
def _topic(name: str) -> faust.TopicT:
    return bytes_topic(*_TOPICS[name])


def __getattr__(name: str) -> Any:
    """settings, app and the pipeline's topics, made on first use (PEP 562)."""
    if name == "settings":
        return _wiring()[0]
    if name == "app":
        return _wiring()[1]
    if name in _TOPICS:
        return _topic(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
