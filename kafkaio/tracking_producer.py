"""An aiokafka producer whose metadata never drops a topic it has written to.

The failure it prevents (tests/integration/test_tracking_producer.py reproduces it on the real
broker): aiokafka's client fetches the metadata of *every* topic while it tracks none, and of the
tracked topics only once it tracks one. A topic known from such a full fetch is written to without
being tracked. So:

1. Faust declares the worker's topics and refreshes the producer's metadata after each declaration:
   every topic on the cluster becomes known, none tracked;
2. a stage writes to a topic known that way (records wait in the accumulator for their batch);
3. something writes to a topic that was not known (the SLA changelog created a moment after the
   last full fetch): aiokafka tracks that one and refreshes, asking for it alone;
4. the answer replaces the client's view: the first topic and its partition leaders are gone, and
   its waiting batch has no leader to go to. The sender keeps refreshing the tracked topics, which
   do not include it, until the batch expires (Faust's producer request timeout: 20 minutes).

The stage waiting for that batch's confirmation stops there, silently. A CI run of
tests/integration/test_pipeline.py timed out that way, its log showing the SLA changelog still
unknown to the broker's metadata a moment after its creation: the condition of step 3.
Kafka's Java producer re-adds the topic of a waiting batch to its metadata; this producer does the
equivalent up front: every topic given to ``send``, ``send_batch`` or ``partitions_for`` is tracked
from then on, so every later refresh asks for it too. A topic is tracked once; the check per
record is one set lookup. Only public client calls are used (``client.add_topic``).
"""

from __future__ import annotations

from typing import Any

from aiokafka import AIOKafkaProducer


class TopicTrackingProducer(AIOKafkaProducer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tracked_topics: set[str] = set()

    def _track(self, topic: str) -> None:
        if topic not in self.tracked_topics:
            self.tracked_topics.add(topic)
            # Refreshes in the background; the partitions may already be known from a full fetch,
            # and a send waits for them itself if not.
            self.client.add_topic(topic)

    async def send(self, topic: str, *args: Any, **kwargs: Any) -> Any:
        self._track(topic)
        return await super().send(topic, *args, **kwargs)

    async def send_batch(self, batch: Any, topic: str, *, partition: int) -> Any:
        self._track(topic)
        return await super().send_batch(batch, topic, partition=partition)

    async def partitions_for(self, topic: str) -> set[int]:
        self._track(topic)
        return await super().partitions_for(topic)
