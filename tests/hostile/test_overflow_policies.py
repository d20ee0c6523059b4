"""Each receive-queue overflow policy holds against a flooding server and a slow consumer.

A raw server writes pre-built notification frames as fast as TCP takes them; the client's
``async for`` consumer yields to the loop after every message, so the queue overflows.
For every policy: the queue never holds more than its bound, drops are counted exactly
(``metrics().dropped`` and ``message.dropped`` events), what is delivered keeps the
server's order, and delivered + dropped == sent.  ``pause_reading`` loses nothing (the
transport stops reading, so TCP back-pressure reaches the server); ``disconnect`` closes
with 1008 and says why.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

import zenws
from rawws import accept_upgrade, frame, raw_server, read_frames
from zenws import telemetry

SENT = 200_000
QUEUE = 4096
# One socket read: aiofastnet reads at most 256 KiB per read (DATA_RECEIVED_MAX_SIZE)
# into picows' buffer, and a frame here is at least MIN_FRAME bytes.
MIN_FRAME = 60
ONE_READ = 256 * 1024 // MIN_FRAME


def flood() -> list[bytes]:
    """The frames, in writes of 2,000 (~150 KiB each)."""
    frames = [
        frame(1, b'{"jsonrpc":"2.0","method":"subscription","params":{"channel":"t","seq":%d}}' % i)
        for i in range(SENT)
    ]
    assert min(len(f) for f in frames) >= MIN_FRAME
    return [b"".join(frames[i : i + 2000]) for i in range(0, SENT, 2000)]


CHUNKS = flood()


class Flood:
    """The flooding server: writes every chunk, collects what the client sends back."""

    def __init__(self) -> None:
        self.written = 0
        self.client_frames: list[Any] = []

    async def handler(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await accept_upgrade(reader, writer)
        collect = asyncio.ensure_future(read_frames(reader, timeout=30.0))
        try:
            for chunk in CHUNKS:
                writer.write(chunk)
                await writer.drain()  # blocks while the client does not read
                self.written += 1
            self.client_frames = await collect
        finally:
            collect.cancel()


async def consume(client: zenws.Client, seqs: list[int], depths: list[int]) -> None:
    """A slow consumer: one message per loop iteration, sampling the queue depth."""
    async for msg in client:
        seqs.append(msg.json()["params"]["seq"])
        depths.append(client.metrics().queue_depth)
        await asyncio.sleep(0)


async def wait_until(cond: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


def dropped_events(events: list[tuple[str, Any, Any]]) -> int:
    return sum(m["count"] for e, m, _ in events if e == "message.dropped")


@pytest.mark.parametrize("policy", ["drop_oldest", "drop_newest", "pause_reading"])
async def test_policy_bounds_queue_and_accounts_for_every_message(policy: str) -> None:
    events: list[tuple[str, Any, Any]] = []
    handle = telemetry.attach("message.", lambda e, m, md: events.append((e, m, md)))
    server = Flood()
    seqs: list[int] = []
    depths: list[int] = []
    try:
        async with raw_server(server.handler) as url:
            client = await zenws.connect(url, overflow=policy, queue_size=QUEUE)
            consumer = asyncio.ensure_future(consume(client, seqs, depths))
            try:
                await wait_until(lambda: len(seqs) + client.metrics().dropped >= SENT, 60.0)
                m = client.metrics()
            finally:
                consumer.cancel()
                await client.close()
    finally:
        telemetry.detach(handle)
    bound = QUEUE + (ONE_READ if policy == "pause_reading" else 0)
    assert m.queue_max_depth <= bound
    assert max(depths) <= bound
    assert len(seqs) + m.dropped == SENT
    assert m.dropped == dropped_events(events)  # every drop counted, once
    assert seqs == sorted(set(seqs))  # server order, no duplicates
    if policy == "pause_reading":
        assert m.dropped == 0 and seqs == list(range(SENT))  # nothing lost
        assert m.queue_max_depth > QUEUE // 2  # the consumer really fell behind
    else:
        assert m.dropped > 0 and m.queue_max_depth == QUEUE
        if policy == "drop_oldest":
            assert seqs[-1] == SENT - 1  # the newest is kept
        else:
            assert seqs[: QUEUE // 2] == list(range(QUEUE // 2))  # the oldest are kept


async def test_disconnect_policy_closes_with_1008() -> None:
    events: list[tuple[str, Any, Any]] = []
    handle = telemetry.attach("message.", lambda e, m, md: events.append((e, m, md)))
    server = Flood()
    seqs: list[int] = []
    depths: list[int] = []
    try:
        async with raw_server(server.handler) as url:
            client = await zenws.connect(
                url,
                overflow="disconnect",
                queue_size=QUEUE,
                reconnect_on_error=False,
                close_timeout=0.5,
            )
            # the queue is closed once the connection is dropped: the loop ends by itself
            await asyncio.wait_for(consume(client, seqs, depths), 30.0)
            m = client.metrics()
            await wait_until(lambda: server.client_frames, 10.0)
            await client.close()
    finally:
        telemetry.detach(handle)
    close = server.client_frames[-1]
    assert close.opcode == 8
    assert close.payload[:2] == (1008).to_bytes(2, "big")
    assert b"overflow" in close.payload[2:]
    assert m.state is zenws.State.CLOSED
    assert m.last_error is not None and "overflow" in m.last_error
    assert m.queue_max_depth <= QUEUE and max(depths) <= QUEUE
    assert m.dropped >= 1 and m.dropped == dropped_events(events)
    assert seqs == list(range(len(seqs)))  # what was queued before the close, in order
    assert len(seqs) + m.dropped <= SENT
