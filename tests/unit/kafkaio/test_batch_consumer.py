"""The batch consumer's bookkeeping without Kafka: what becomes committable, and when."""

import asyncio

from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord

from kafkaio.batch_consumer import ConfirmQueue

P0, P1 = TopicPartition("raw.webform", 0), TopicPartition("raw.webform", 1)


def rec(tp: TopicPartition, offset: int) -> ConsumerRecord:
    return ConsumerRecord(tp.topic, tp.partition, offset, 0, 0, None, b"v", None, 0, 1, ())


async def _turns() -> None:
    for _ in range(3):
        await asyncio.sleep(0)


def test_a_batch_is_committable_only_once_it_and_every_earlier_batch_are_confirmed() -> None:
    async def run() -> list[dict[TopicPartition, int]]:
        loop = asyncio.get_running_loop()
        gates = [loop.create_future() for _ in range(3)]
        queue = ConfirmQueue(depth=3)
        seen = []
        await queue.add(gates[0], [rec(P0, 0), rec(P0, 1), rec(P1, 5)])
        await queue.add(gates[1], [rec(P0, 2)])
        gates[1].set_result(None)  # the second batch confirmed before the first
        await _turns()
        queue.settle()
        seen.append(dict(queue.committable))
        third = asyncio.ensure_future(queue.add(gates[2], [rec(P1, 6)]))
        await _turns()
        assert not third.done(), "with three unconfirmed (depth 3) the stage waits for the oldest"
        gates[0].set_result(None)
        await third
        seen.append(dict(queue.committable))
        gates[2].set_result(None)
        await queue.drain()
        seen.append(dict(queue.committable))
        return seen

    none_yet, first_two, all_three = asyncio.run(run())
    assert none_yet == {}, "offset 2 confirmed must not commit over offsets 0 and 1, still unconfirmed"
    assert first_two == {P0: 3, P1: 6}
    assert all_three == {P0: 3, P1: 7}


def test_a_rebalance_draining_while_the_loop_waits_takes_each_batch_once() -> None:
    async def run() -> dict[TopicPartition, int]:
        loop = asyncio.get_running_loop()
        gates = [loop.create_future() for _ in range(2)]
        queue = ConfirmQueue(depth=2)
        await queue.add(gates[0], [rec(P0, 0)])
        loop_side = asyncio.ensure_future(queue.add(gates[1], [rec(P0, 1)]))  # waits: depth reached
        revoke_side = asyncio.ensure_future(queue.drain())
        await _turns()
        gates[0].set_result(None)
        gates[1].set_result(None)
        await asyncio.gather(loop_side, revoke_side)
        assert not queue.waiting
        return dict(queue.committable)

    assert asyncio.run(run()) == {P0: 2}


def test_abandoned_batches_leave_nothing_committable() -> None:
    async def run() -> dict[TopicPartition, int]:
        queue = ConfirmQueue(depth=4)
        never = asyncio.get_running_loop().create_future()
        await queue.add(never, [rec(P0, 0)])
        queue.settle()
        queue.abandon()
        return dict(queue.committable)

    assert asyncio.run(run()) == {}
