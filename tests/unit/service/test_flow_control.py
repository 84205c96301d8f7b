"""The worker's flow control keeps queued records unless a rebalance suspended the flow."""

import asyncio

from mode.utils.queues import FlowControlQueue

from mcu.app import app
from mcu.flow_control import KeepQueuesWhileFlowing


def _queue_with(flow: KeepQueuesWhileFlowing, *items: int) -> FlowControlQueue:
    queue: FlowControlQueue = FlowControlQueue(maxsize=10, flow_control=flow, clear_on_resume=True)
    for item in items:
        queue.put_nowait(item)
    return queue


def test_a_resume_while_flowing_keeps_what_the_fetcher_already_queued() -> None:
    async def scenario() -> int:
        flow = KeepQueuesWhileFlowing()
        flow.resume()  # the first resume, on start-up, while the queues are still empty
        queue = _queue_with(flow, 1, 2, 3)
        flow.resume()  # the second one, once the table restore is complete
        return queue.qsize()

    assert asyncio.run(scenario()) == 3


def test_a_resume_after_a_suspend_still_drops_the_stale_records() -> None:
    async def scenario() -> int:
        flow = KeepQueuesWhileFlowing()
        flow.resume()
        queue = _queue_with(flow, 1, 2, 3)
        flow.suspend()  # a rebalance: these records may belong to another worker now
        flow.resume()
        return queue.qsize()

    assert asyncio.run(scenario()) == 0


def test_the_worker_app_uses_it() -> None:
    assert isinstance(app.flow_control, KeepQueuesWhileFlowing)
