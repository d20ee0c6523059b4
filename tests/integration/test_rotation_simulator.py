"""The Deribit simulator as rotation needs it, seen by an independent client (websockets):
one stream broadcast byte-identical to every subscriber, 10k/s with consecutive change ids,
change ids that keep counting while nobody listens, and a connection lifetime."""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from waits import wait_until
from zenws.testing import DeribitSimulator

CHANNEL = "book.BTC-PERPETUAL.100ms"


def fast_sim(**kw: Any) -> DeribitSimulator:
    return DeribitSimulator(
        market_steps_per_second=10_000,
        interval_rates={"100ms": 10_000.0},
        rate_limits=False,
        **kw,
    )


async def subscribe(ws: ClientConnection, channel: str = CHANNEL) -> None:
    await ws.send(
        json.dumps(
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "public/subscribe",
                "params": {"channels": [channel]},
            }
        )
    )


async def collect(ws: ClientConnection, n: int, into: list[str | bytes]) -> None:
    """Receive until ``n`` book notifications arrived (answers are skipped)."""
    while len(into) < n:
        msg = await asyncio.wait_for(ws.recv(), 10)
        if b'"subscription"' in (msg.encode() if isinstance(msg, str) else msg):
            into.append(msg)


def ids(raw: list[str | bytes]) -> list[tuple[int, int | None]]:
    out = []
    for m in raw:
        data = json.loads(m)["params"]["data"]
        out.append((data["change_id"], data.get("prev_change_id")))
    return out


async def test_every_subscriber_gets_the_same_bytes_with_consecutive_change_ids() -> None:
    async with (
        fast_sim().serve() as sim,
        connect(sim.url, close_timeout=0.5) as a,
        connect(sim.url, close_timeout=0.5) as b,
    ):
        await subscribe(a)
        await subscribe(b)
        got_a: list[str | bytes] = []
        got_b: list[str | bytes] = []
        await asyncio.gather(collect(a, 3000, got_a), collect(b, 3000, got_b))
    for got in (got_a, got_b):
        seq = ids(got)
        assert seq[0][1] is None  # the snapshot
        for (prev_id, _), (cid, prev) in itertools.pairwise(seq):
            assert prev == prev_id and cid == prev_id + 1  # no gap at 10k/s
    by_id_a = {json.loads(m)["params"]["data"]["change_id"]: m for m in got_a[1:]}
    common = [m for m in got_b[1:] if json.loads(m)["params"]["data"]["change_id"] in by_id_a]
    assert len(common) > 1000
    for m in common:  # generated once, encoded once: the very same bytes
        assert m == by_id_a[json.loads(m)["params"]["data"]["change_id"]]


async def test_change_ids_keep_counting_while_nobody_listens() -> None:
    async with fast_sim().serve() as sim:
        async with connect(sim.url, close_timeout=0.5) as a:
            await subscribe(a)
            got: list[str | bytes] = []
            await collect(a, 50, got)
        last = ids(got)[-1][0]
        inst = sim.market.instruments["BTC-PERPETUAL"]
        stream = sim.market.streams[CHANNEL]
        await wait_until(lambda: not stream.subscribers, what="the subscriber left")
        steps = inst.steps
        await wait_until(lambda: (inst.catch_up(), inst.steps)[1] > steps + 100)
        async with connect(sim.url, close_timeout=0.5) as b:
            await subscribe(b)
            again: list[str | bytes] = []
            await collect(b, 1, again)
        snapshot_id, prev = ids(again)[0]
        assert prev is None
        assert snapshot_id > last + 100  # the book changed >100 times meanwhile


async def test_connection_lifetime_closes_every_connection_with_its_code() -> None:
    async with DeribitSimulator(connection_lifetime=0.3, rate_limits=False).serve() as sim:
        async with connect(sim.url, close_timeout=0.5) as first:
            with pytest.raises(ConnectionClosed) as caught:
                await asyncio.wait_for(first.recv(), 10)
            assert caught.value.rcvd is not None
            assert caught.value.rcvd.code == 1001
            assert caught.value.rcvd.reason == "connection lifetime reached"
        sim.knobs.lifetime_close_code = 4000  # knobs are read when a connection opens
        async with connect(sim.url, close_timeout=0.5) as second:
            with pytest.raises(ConnectionClosed) as caught:
                await asyncio.wait_for(second.recv(), 10)
            assert caught.value.rcvd is not None and caught.value.rcvd.code == 4000


async def test_without_a_lifetime_connections_stay_open() -> None:
    async with (
        DeribitSimulator(rate_limits=False).serve() as sim,
        connect(sim.url, close_timeout=0.5) as ws,
    ):
        await ws.send(json.dumps({"jsonrpc": "2.0", "id": 7, "method": "public/test"}))
        reply = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert reply["id"] == 7
        assert sim.knobs.connection_lifetime is None
        assert [c.open for c in sim.connections()] == [True]
