"""The Deribit adapter's compiled books against the DeribitSimulator on loopback.

The local book must equal the simulator's published book at the same change_id, through
injected gaps (resync by resubscribe) and malformed messages; a recording rebuilds the
same books offline.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from waits import wait_until
from zenws import telemetry
from zenws.adapters.deribit import DeribitClient, OrderBook, books_from_recording
from zenws.fast.book import ASK, BID
from zenws.testing.deribit import DeribitSimulator

CHANNEL = "book.BTC-PERPETUAL.100ms"


@pytest.fixture
async def sim() -> AsyncIterator[DeribitSimulator]:
    s = DeribitSimulator(min_heartbeat_interval=0.05, seed=3)
    async with s.serve():
        yield s


async def connect(sim: DeribitSimulator, **kw: Any) -> DeribitClient:
    return await DeribitClient.connect(
        sim.url, client_id="sim_client", client_secret="sim_secret", heartbeat=None,
        retry_delay=0.01, max_backoff=0.05, **kw,
    )  # fmt: skip


def subscribed(sim: DeribitSimulator) -> list[list[str]]:
    """Channel lists of every public/subscribe the simulator received."""
    assert sim.server is not None
    docs = [r.json(None) for r in sim.server.received]
    return [d["params"]["channels"] for d in docs
            if isinstance(d, dict) and d.get("method") == "public/subscribe"]  # fmt: skip


def published(sim: DeribitSimulator, channel: str) -> tuple[int, list[Any], list[Any]]:
    """The simulator's last published book of channel: (change_id, bids, asks), best first."""
    stream = sim.market.streams[channel]
    price = stream.inst.price
    bids = [(price(p), stream.bids[p]) for p in sorted(stream.bids, reverse=True)]
    asks = [(price(p), stream.asks[p]) for p in sorted(stream.asks)]
    return stream.change_id, bids, asks


def local(book: OrderBook) -> tuple[int | None, list[Any], list[Any]]:
    bids = [tuple(r) for r in book.l2.top(BID, 10**6).tolist()]
    asks = [tuple(r) for r in book.l2.top(ASK, 10**6).tolist()]
    return book.change_id, bids, asks


async def in_step(sim: DeribitSimulator, book: OrderBook) -> None:
    """Wait until the local book has applied the simulator's last publication, then compare."""
    await wait_until(
        lambda: not book.stale and book.change_id == sim.market.streams[CHANNEL].change_id,
        what="book caught up",
    )
    assert local(book) == published(sim, CHANNEL)  # no await in between: same moment


async def test_book_equals_simulator_through_gaps(sim: DeribitSimulator) -> None:
    dc = await connect(sim, resync_interval=0.05)
    try:
        changes: list[np.ndarray] = []
        book = await dc.on_book("BTC-PERPETUAL", lambda b, ch: changes.append(ch), changes=True)
        await in_step(sim, book)
        assert book.bids and book.asks and book.best_bid()[0] < book.best_ask()[0]  # type: ignore[index]
        for n in range(1, 4):
            sim.inject_gap(CHANNEL)
            await wait_until(lambda n=n: dc.gaps == n and dc.resyncs == n, what=f"resync {n}")
            await in_step(sim, book)
        assert book.gaps == 3 and dc.metrics().gaps == 3
        assert subscribed(sim).count([CHANNEL]) == 4
        # the handler got each applied change as (side, price, amount) rows
        assert changes and all(c.ndim == 2 and c.shape[1] == 3 for c in changes)
        assert set(np.concatenate(changes)[:, 0].tolist()) <= {0.0, 1.0}
    finally:
        await dc.close()


async def test_malformed_book_message_resyncs(sim: DeribitSimulator) -> None:
    events: list[dict[str, Any]] = []
    handle = telemetry.attach("protocol.error", lambda e, m, md: events.append(md))
    dc = await connect(sim, resync_interval=0.05)
    try:
        updates: list[int] = []
        book = await dc.on_book("BTC-PERPETUAL", lambda b: updates.append(b.change_id or 0))
        await in_step(sim, book)
        before = book.updates
        bad = {"type": "change", "change_id": 1, "prev_change_id": 0, "bids": [["x", 1, 1]]}
        assert sim.publish(CHANNEL, bad) == 1
        await wait_until(lambda: events, what="protocol.error event")
        assert events[0]["channel"] == CHANNEL and "unknown level action" in events[0]["error"]
        await wait_until(lambda: dc.resyncs == 1, what="resync after a malformed message")
        await in_step(sim, book)
        assert book.updates > before and dc.gaps == 0
        assert dc.metrics().malformed == 1
    finally:
        telemetry.detach(handle)
        await dc.close()


async def test_grouped_book_channel(sim: DeribitSimulator) -> None:
    channel = "book.ETH-PERPETUAL.none.10.100ms"
    sim.extra_channels.add(channel)
    dc = await connect(sim)
    try:
        seen: list[Any] = []
        book = await dc.on_book("ETH-PERPETUAL", seen.append, depth=10)
        assert book.channel == channel
        data = {"timestamp": 5, "instrument_name": "ETH-PERPETUAL", "change_id": 77,
                "bids": [[2000.0, 5.0], [1999.5, 1.0]], "asks": [[2000.5, 2.0]]}  # fmt: skip
        sim.publish(channel, data)
        await wait_until(lambda: seen, what="grouped update")
        assert book.top(5) == ([(2000.0, 5.0), (1999.5, 1.0)], [(2000.5, 2.0)])
        assert book.change_id == 77 and book.timestamp == 5
    finally:
        await dc.close()


async def test_books_from_recording_rebuild_the_live_book(
    sim: DeribitSimulator,
    tmp_path: Path,
) -> None:
    path = tmp_path / "session.jsonl"
    dc = await connect(sim, record_to=str(path), resync_interval=0.05)
    try:
        book = await dc.on_book("BTC-PERPETUAL")
        await in_step(sim, book)
        sim.inject_gap(CHANNEL)
        await wait_until(lambda: dc.resyncs == 1, what="resync")
        await in_step(sim, book)
    finally:
        await dc.close()
    live = local(book)  # after close: every received frame is applied and recorded
    seen: list[int] = []
    books = books_from_recording(path, on_update=lambda b, ns: seen.append(ns))
    rebuilt = books[CHANNEL]
    assert rebuilt.seq == live[0] and not rebuilt.stale and rebuilt.gaps == 1
    assert [tuple(r) for r in rebuilt.top(BID, 10**6).tolist()] == live[1]
    assert [tuple(r) for r in rebuilt.top(ASK, 10**6).tolist()] == live[2]
    assert seen == sorted(seen) and len(seen) == rebuilt.updates
    assert books_from_recording(path, channels=["book.X.100ms"]) == {}
