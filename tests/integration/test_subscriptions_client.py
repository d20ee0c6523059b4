"""Subscriptions through the real client: restore after reconnect (once per channel per
connection), rejected channels never restored, unsubscribe, chunking, rate-limited restore,
per-channel handlers, Deribit public/private routing and the Binance dialect.

The exchange is a small ``zenws.testing.Handler`` on a ``MockServer`` that logs every
(un)subscribe request per connection; restarts are real (same port, new TCP connection).
Every test runs on asyncio and on uvloop (tests/conftest.py).

A restore chunk that times out (or is rate limited) is not a refusal: its channels stay
pending, the restore goes on with the next chunk and ``connection.reconnected`` is still
emitted (test_restore_survives_a_chunk_that_times_out).
"""

from __future__ import annotations

import itertools
import time
from collections import Counter
from typing import Any

import pytest
from _helpers import Event, named

import zenws.client
from waits import wait_until
from zenws.fast.ratelimit import Limiter, TokenBucket
from zenws.state import State
from zenws.testing import BinanceSimulator, DeribitSimulator, Handler, MockServer
from zenws.testing.connection import Connection
from zenws.testing.handler import Received


class Exchange(Handler):
    """Deribit-style (and Binance-style) subscriptions; rejects channels starting ``bad.``."""

    def __init__(self) -> None:
        #: (connection id, method, channels, monotonic ns) of every (un)subscribe request.
        self.log: list[tuple[int, str, list[str], int]] = []

    def on_message(self, connection: Connection, message: Received) -> None:
        doc = message.json(None)
        if not isinstance(doc, dict) or "id" not in doc:
            return
        method, rid, params = doc.get("method", ""), doc["id"], doc.get("params")
        result: Any = "ok"
        if method in ("public/subscribe", "private/subscribe"):
            chans = list(params["channels"])
            result = [c for c in chans if not c.startswith("bad.")]
        elif method in ("public/unsubscribe", "private/unsubscribe"):
            chans = list(params["channels"])
            result = chans
        elif method in ("SUBSCRIBE", "UNSUBSCRIBE"):  # Binance: params is the list
            chans = list(params)
            result = None
        else:
            chans = []
        if chans:
            self.log.append((connection.id, method, chans, time.monotonic_ns()))
        connection.send({"jsonrpc": "2.0", "id": rid, "result": result})

    def requests(self, conn_id: int, suffix: str = "subscribe") -> list[tuple[str, list[str]]]:
        return [
            (m, c)
            for cid, m, c, _ in self.log
            if cid == conn_id and m.lower().endswith(suffix) and "unsub" not in m.lower()
        ]

    def per_channel(self, conn_id: int) -> Counter[str]:
        return Counter(ch for _, chans in self.requests(conn_id) for ch in chans)


async def restart_and_wait(srv: MockServer, events: list[Event], n: int) -> int:
    """Restart the server and wait for the client's n-th reconnected event; new conn id."""
    await srv.restart(downtime=0.05)
    await wait_until(lambda: len(named(events, "connection.reconnected")) >= n)
    return srv.connections[-1].id


async def test_restore_after_restart_once_per_channel_per_connection(
    events: list[Event],
) -> None:
    ex = Exchange()
    chans = ["ticker.BTC-PERPETUAL.100ms", "book.BTC-PERPETUAL.100ms", "trades.ETH.raw"]
    got: list[Any] = []
    async with MockServer(ex) as srv:
        client = await zenws.client.connect(
            srv.url, dialect="deribit", retry_delay=0.01, max_backoff=0.02
        )
        try:
            assert await client.subscribe(chans, handler=got.append) == chans
            first = srv.connections[0].id
            assert await client.subscribe(chans[:2]) == chans[:2]  # already tracked: no request
            conns = [first]
            for n in (1, 2):
                conns.append(await restart_and_wait(srv, events, n))
            await srv.inject(
                {
                    "jsonrpc": "2.0",
                    "method": "subscription",
                    "params": {"channel": chans[2], "data": {"n": 1}},
                }
            )
            await wait_until(lambda: bool(got))
            assert client.subscriptions == chans
        finally:
            await client.close()
    for cid in conns:
        assert ex.per_channel(cid) == Counter(chans), cid
    assert got[0].channel == chans[2]
    restored = [m["count"] for _, _, m, _ in named(events, "subscription.restore")]
    assert restored == [3, 3]
    for _, _, _, md in named(events, "connection.reconnected"):
        assert {"down_at", "up_at", "epoch"} <= set(md)


async def test_rejected_channels_are_not_restored(events: list[Event]) -> None:
    ex = Exchange()
    async with MockServer(ex) as srv:
        client = await zenws.client.connect(
            srv.url, dialect="deribit", retry_delay=0.01, max_backoff=0.02
        )
        try:
            ok = await client.subscribe(["good.1", "bad.1", "good.2"])
            assert ok == ["good.1", "good.2"]
            assert client.subscriptions == ["good.1", "good.2"]
            second = await restart_and_wait(srv, events, 1)
        finally:
            await client.close()
    assert ex.requests(second) == [("public/subscribe", ["good.1", "good.2"])]


async def test_unsubscribe_removes_from_restore(events: list[Event]) -> None:
    ex = Exchange()
    async with MockServer(ex) as srv:
        client = await zenws.client.connect(
            srv.url, dialect="deribit", retry_delay=0.01, max_backoff=0.02
        )
        try:
            await client.subscribe(["a.1", "b.1", "c.1"])
            await client.unsubscribe(["b.1"])
            first = srv.connections[0].id
            assert client.subscriptions == ["a.1", "c.1"]
            second = await restart_and_wait(srv, events, 1)
        finally:
            await client.close()
    assert [(m, c) for cid, m, c, _ in ex.log if cid == first and "unsub" in m] == [
        ("public/unsubscribe", ["b.1"])
    ]
    assert ex.requests(second) == [("public/subscribe", ["a.1", "c.1"])]


async def test_chunks_of_250_on_subscribe_and_restore(events: list[Event]) -> None:
    ex = Exchange()
    chans = [f"ticker.I{i}.100ms" for i in range(600)]
    async with MockServer(ex) as srv:
        client = await zenws.client.connect(
            srv.url, dialect="deribit", retry_delay=0.01, max_backoff=0.02
        )
        try:
            assert len(await client.subscribe(chans)) == 600
            first = srv.connections[0].id
            second = await restart_and_wait(srv, events, 1)
        finally:
            await client.close()
    for cid in (first, second):
        assert [len(c) for _, c in ex.requests(cid)] == [250, 250, 100]
        assert ex.per_channel(cid) == Counter(chans)


async def test_private_channels_use_private_subscribe(events: list[Event]) -> None:
    ex = Exchange()
    chans = ["ticker.BTC-PERPETUAL.raw", "user.orders.any.any.raw"]
    async with MockServer(ex) as srv:
        client = await zenws.client.connect(
            srv.url, dialect="deribit", retry_delay=0.01, max_backoff=0.02
        )
        try:
            await client.subscribe(chans)
            second = await restart_and_wait(srv, events, 1)
        finally:
            await client.close()
    expected = [
        ("public/subscribe", ["ticker.BTC-PERPETUAL.raw"]),
        ("private/subscribe", ["user.orders.any.any.raw"]),
    ]
    assert ex.requests(1) == expected and ex.requests(second) == expected


async def test_restore_is_paced_by_the_rate_limiter(events: list[Event]) -> None:
    ex = Exchange()
    refill = 5.0  # one subscribe request per 0.2 s after the first
    limiter = Limiter(
        {"sub": TokenBucket(1, refill), "other": TokenBucket(1000, 1000)},
        {"public/subscribe": ("sub", 1.0)},
        ("other", 1.0),
    )
    chans = [f"c.{i}" for i in range(6)]
    async with MockServer(ex) as srv:
        client = await zenws.client.connect(
            srv.url,
            dialect="deribit",
            subscribe_chunk=2,
            rate_limit=limiter,
            retry_delay=0.01,
            max_backoff=0.02,
        )
        try:
            await client.subscribe(chans)
            second = await restart_and_wait(srv, events, 1)
        finally:
            await client.close()
    stamps = [ns for cid, m, _, ns in ex.log if cid == second and m == "public/subscribe"]
    assert len(stamps) == 3
    gaps = [(b - a) / 1e9 for a, b in itertools.pairwise(stamps)]
    assert all(g >= 1 / refill - 0.03 for g in gaps), gaps
    assert named(events, "ratelimit.wait")


async def test_binance_dialect_restore_and_stream_routing(events: list[Event]) -> None:
    ex = Exchange()
    got: list[Any] = []
    async with MockServer(ex) as srv:
        client = await zenws.client.connect(
            srv.url, dialect="binance", retry_delay=0.01, max_backoff=0.02
        )
        try:
            ok = await client.subscribe(["btcusdt@trade", "ethusdt@trade"], handler=got.append)
            assert ok == ["btcusdt@trade", "ethusdt@trade"]
            second = await restart_and_wait(srv, events, 1)
            await srv.inject({"stream": "ethusdt@trade", "data": {"p": "1.0"}})
            await wait_until(lambda: bool(got))
        finally:
            await client.close()
    assert ex.requests(second) == [("SUBSCRIBE", ["btcusdt@trade", "ethusdt@trade"])]
    assert got[0].json()["stream"] == "ethusdt@trade"


async def test_subscribe_while_disconnected_is_restored_once(events: list[Event]) -> None:
    ex = Exchange()
    async with MockServer(ex) as srv:
        client = await zenws.client.connect(
            srv.url, dialect="deribit", retry_delay=0.2, max_backoff=0.2, backoff_jitter="none"
        )
        try:
            srv.abort()
            await wait_until(lambda: client.state is State.RECONNECTING)
            with pytest.raises(zenws.errors.ConnectionLost):
                await client.subscribe(["late.1"])
            await wait_until(lambda: bool(named(events, "connection.reconnected")))
            second = srv.connections[-1].id
        finally:
            await client.close()
    assert ex.per_channel(second) == Counter({"late.1": 1})


# -- against the Deribit simulator -----------------------------------------------------------


def subscribes_on(srv: MockServer, conn_id: int) -> list[list[str]]:
    """Channel lists of the public/subscribe requests the simulator received on a connection."""
    out = []
    for r in srv.received:
        doc = r.json(None)
        if (
            r.connection_id == conn_id
            and isinstance(doc, dict)
            and doc.get("method") == "public/subscribe"
        ):
            out.append(list(doc["params"]["channels"]))
    return out


async def test_deribit_simulator_restore_chunks_and_rejections(events: list[Event]) -> None:
    sim = DeribitSimulator(seed=3)
    custom = [f"custom.feed.{i}" for i in range(520)]
    sim.extra_channels |= set(custom)
    ticker = "ticker.BTC-PERPETUAL.100ms"
    got: list[Any] = []
    async with sim.serve():
        srv = sim.server
        assert srv is not None
        client = await zenws.client.connect(
            sim.url, dialect="deribit", retry_delay=0.01, max_backoff=0.02
        )
        try:
            ok = await client.subscribe([ticker, "ticker.NO-SUCH-INSTRUMENT.100ms"], got.append)
            assert ok == [ticker]
            # > 250 in one request would get an id-less -32600 from the simulator.
            assert await client.subscribe(custom) == custom
            first = srv.connections[0].id
            await srv.restart(downtime=0.05)
            await wait_until(lambda: bool(named(events, "connection.reconnected")))
            second = srv.connections[-1].id
            await wait_until(lambda: any(m.epoch == 2 for m in got))
        finally:
            await client.close()
    assert [len(c) for c in subscribes_on(srv, first)] == [2, 250, 250, 20]
    restored = subscribes_on(srv, second)
    assert [len(c) for c in restored] == [250, 250, 21]
    flat = [c for chunk in restored for c in chunk]
    assert Counter(flat) == Counter([ticker, *custom])  # once each, rejected one left out
    assert all(m.channel == ticker for m in got)


class SlowOnReconnect(Exchange):
    """Never answers a subscribe naming ``slow.1`` after the first connection."""

    def on_message(self, connection: Connection, message: Received) -> None:
        doc = message.json(None)
        if connection.id > 1 and isinstance(doc, dict) and "slow.1" in str(doc.get("params")):
            chans = list(doc["params"]["channels"])
            self.log.append((connection.id, doc["method"], chans, time.monotonic_ns()))
            return  # logged, never answered
        super().on_message(connection, message)


def reconnect_task_error(client: zenws.client.Client) -> BaseException | None:
    """The exception that ended the client's reconnect task, if it died of one."""
    task = getattr(client, "_reconnect_task", None)
    if task is None or not task.done() or task.cancelled():
        return None
    return task.exception()  # retrieved: no "never retrieved" noise at GC time


async def test_restore_survives_a_chunk_that_times_out(events: list[Event]) -> None:
    ex = SlowOnReconnect()
    async with MockServer(ex) as srv:
        client = await zenws.client.connect(
            srv.url,
            dialect="deribit",
            subscribe_chunk=1,
            request_timeout=0.3,
            retry_delay=0.01,
            max_backoff=0.02,
        )
        try:
            await client.subscribe(["a.1", "slow.1", "b.1"])
            await srv.restart(downtime=0.05)
            await wait_until(
                lambda: (
                    bool(named(events, "connection.reconnected"))
                    or reconnect_task_error(client) is not None
                )
            )
            died = reconnect_task_error(client)
            assert died is None, f"the restore raised out of the reconnect task: {died!r}"
            second = srv.connections[-1].id
            tracked = client.subscriptions
        finally:
            reconnect_task_error(client)
            await client.close()
    restored = [c for _, chans in ex.requests(second) for c in chans]
    assert restored == ["a.1", "slow.1", "b.1"]  # the timeout did not stop the restore
    assert "slow.1" in tracked  # a timeout is not a refusal: retried after the next reconnect


async def test_binance_simulator_streams_restored_once(events: list[Event]) -> None:
    sim = BinanceSimulator(path="/stream", stream_rate=50)
    got: list[Any] = []
    streams = ["btcusdt@trade", "ethusdt@bookTicker"]
    async with sim.serve():
        srv = sim.server
        assert srv is not None
        client = await zenws.client.connect(
            sim.url, dialect="binance", retry_delay=0.01, max_backoff=0.02
        )
        try:
            assert await client.subscribe(streams, handler=got.append) == streams
            await client.subscribe(["btcusdt@trade"])  # tracked: no second request
            await srv.restart(downtime=0.05)
            await wait_until(lambda: bool(named(events, "connection.reconnected")))
            conn = srv.connections[-1]
            await wait_until(lambda: {m.channel for m in got if m.epoch == 2} == set(streams))
            listed = await client.request("LIST_SUBSCRIPTIONS")
        finally:
            await client.close()
    assert sorted(listed) == sorted(streams)
    subs = [
        r.json()["params"]
        for r in srv.received
        if r.connection_id == conn.id and r.json().get("method") == "SUBSCRIBE"
    ]
    assert subs == [streams]
    first = [
        r.json()["params"]
        for r in srv.received
        if r.connection_id == 1 and r.json().get("method") == "SUBSCRIBE"
    ]
    assert first == [streams]
