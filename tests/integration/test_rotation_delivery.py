"""What the application sees across a rotation: recordings and handler changes.

The stream is the Deribit simulator's book channel (consecutive change ids, the same bytes
on every connection), so every loss or duplicate shows.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from test_rotation import CHANNEL, Count, flowing, sim

import zenws
from waits import wait_until
from zenws.recording import RecordedFrame


def _notifications(path: Path) -> list[tuple[int, str]]:
    """The book notifications a recording holds as received, in file order (epoch, text)."""
    frames: list[tuple[int, str]] = []

    def on_frame(frame: RecordedFrame) -> None:
        if frame.type == "text" and '"method":"subscription"' in str(frame.data):
            frames.append((frame.epoch, str(frame.data)))

    zenws.replay_sync(path, on_frame, directions=("in",))
    return frames


async def test_a_recording_across_rotations_has_what_the_application_got(
    tmp_path: Path,
) -> None:
    path = tmp_path / "rotations.jsonl"
    async with sim().serve() as s:
        count = Count()
        got: list[tuple[int, str]] = []

        def handler(msg: Any) -> None:
            count(msg)
            got.append((msg.epoch, msg.raw.decode()))

        client = await zenws.connect(s.url, dialect="deribit", record_to=str(path))
        try:
            await client.subscribe([CHANNEL], handler=handler)
            await flowing(count)
            reports = []
            for _ in range(5):
                reports.append(await client.rotate())
                await flowing(count, 100)
        finally:
            await client.close()
    assert (count.lost, count.duplicated) == (0, 0)
    assert sum(r.dropped for r in reports) > 0  # and duplicates dropped
    recorded = _notifications(path)
    assert len(recorded) == len(got)
    assert recorded == got  # once each, in delivery order, with the connection it came on
    assert {epoch for epoch, _ in recorded} == set(range(1, 7))
    # the new connections' own traffic (subscribing) is in the recording too
    out: list[int] = []
    zenws.replay_sync(path, lambda f: out.append(f.epoch), directions=("out",))
    assert set(range(2, 7)) <= set(out)


async def test_on_message_set_and_unset_during_rotations_loses_and_repeats_nothing() -> None:
    """The handler changes while the new connection is prepared (a slow reconnect hook),
    and from inside the handler itself every few messages (so also around the switch)."""
    async with sim().serve() as s:
        count = Count()
        current: list[Any] = [None]
        calls = {"h1": 0, "h2": 0, "wrong": 0}
        client = await zenws.connect(s.url, dialect="deribit")
        handlers: dict[str, Any] = {}

        def make(name: str, other: str) -> Any:
            def handler(msg: Any) -> None:
                calls[name] += 1
                if current[0] is not handler:
                    calls["wrong"] += 1
                count(msg)
                if calls[name] % 7 == 0:  # hand over to the other one
                    current[0] = client.on_message = handlers[other]

            return handler

        handlers["h1"], handlers["h2"] = make("h1", "h2"), make("h2", "h1")

        def use(handler: Any) -> None:
            current[0] = client.on_message = handler  # a handler first gets the queue

        async def toggle_while_preparing(conn: Any) -> None:
            if not getattr(conn, "rotating", False):
                return
            for name in ("h2", None, "h1", None, "h2"):
                if name is None:
                    use(None)
                    await wait_until(
                        lambda: client.metrics().queue_depth >= 3, what="messages queued"
                    )
                else:
                    use(handlers[name])
                    before = count.received
                    await wait_until(lambda b=before: count.received > b + 3, what="messages")

        client.add_reconnect_hook(toggle_while_preparing)
        try:
            use(handlers["h1"])
            await client.subscribe([CHANNEL])  # no handler of its own: on_message
            await flowing(count)
            for _ in range(5):
                report = await client.rotate()
                assert report.in_sync and report.gaps == 0
                await flowing(count, 100)
            use(None)  # and back to the queue
            await wait_until(lambda: client.metrics().queue_depth >= 3, what="messages queued")
            use(handlers["h1"])
            await flowing(count)
        finally:
            await client.close()
    assert (count.lost, count.duplicated) == (0, 0)
    assert calls["wrong"] == 0
    assert calls["h1"] > 0 and calls["h2"] > 0


async def test_async_for_consumer_through_rotations_loses_and_repeats_nothing() -> None:
    async with sim().serve() as s:
        count = Count()
        client = await zenws.connect(s.url, dialect="deribit")

        async def consume() -> None:
            async for msg in client:
                if msg.channel == CHANNEL:
                    count(msg)

        consumer = asyncio.ensure_future(consume())
        try:
            await client.subscribe([CHANNEL])
            await flowing(count)
            for _ in range(5):
                report = await client.rotate()
                assert report.in_sync and report.gaps == 0
                await flowing(count, 100)
        finally:
            await client.close()
            consumer.cancel()
            await asyncio.gather(consumer, return_exceptions=True)
    assert (count.lost, count.duplicated) == (0, 0)
