"""The client's request deadlines, heartbeats and reconnects through a bad link.

Every test runs through a ``zenws.testing.FaultProxy`` set to a slow jittery link (50 ms ±
20 ms each way) and to a choppy one (every byte in its own TCP segment), on asyncio and
uvloop.  The faults on top (blackhole, reset) come from the proxy, never from the server, so
the client sees what it would see on a real network.  Bounds are generous: the point is that
each mechanism fires within its configured time plus slack, never that it is fast.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from _helpers import Event, named, wait_open, wait_until

import zenws.client
from zenws.errors import ConnectionLost, RequestTimeout
from zenws.heartbeat import Deribit
from zenws.state import State
from zenws.testing import DeribitSimulator, FaultProxy, Handler, MockServer
from zenws.testing.connection import Connection
from zenws.testing.handler import Received

LINKS = {
    "latency_50ms_jitter_20ms": {"latency": 0.05, "jitter": 0.02},
    "one_byte_segments": {"slice_size": 1},
}


@pytest.fixture(params=list(LINKS))
def link(request: pytest.FixtureRequest) -> dict[str, Any]:
    """FaultProxy keywords of the link under test."""
    return LINKS[request.param]


class Exchange(Handler):
    """JSON-RPC echo plus Deribit-style subscribe; ``never`` is never answered."""

    def __init__(self) -> None:
        #: (connection id, channels) of every subscribe request.
        self.subscribes: list[tuple[int, list[str]]] = []

    def on_message(self, connection: Connection, message: Received) -> None:
        doc = message.json(None)
        if not isinstance(doc, dict) or "id" not in doc or doc.get("method") == "never":
            return
        result = doc.get("params")
        if doc.get("method") == "public/subscribe":
            result = list(doc["params"]["channels"])
            self.subscribes.append((connection.id, result))
        connection.send({"jsonrpc": "2.0", "id": doc["id"], "result": result})


# -- (a) requests and their deadline --------------------------------------------------------


async def test_requests_round_trip_and_a_blackholed_response_times_out(
    link: dict[str, Any],
) -> None:
    async with MockServer(Exchange()) as srv, FaultProxy(srv.url, seed=1, **link) as proxy:
        client = await zenws.client.connect(proxy.url, reconnect_on_error=False)
        try:
            params = [{"i": i, "text": "é€" * i} for i in range(20)]
            got = await asyncio.wait_for(
                asyncio.gather(*(client.request("echo", p) for p in params)), 30
            )
            assert got == params
            proxy.blackhole("downstream")
            t0 = time.monotonic()
            with pytest.raises(RequestTimeout) as info:
                await asyncio.wait_for(client.request("echo", [1], timeout=0.5), 10)
            took = time.monotonic() - t0
            assert 0.5 <= took <= 0.5 + 3.0, took
            assert info.value.method == "echo" and info.value.timeout == 0.5
            await srv.assert_received({"method": "echo", "params": [1]})  # it was sent
            assert client.metrics().pending == 0
            proxy.heal()  # the dropped response was one whole frame: the stream is intact
            assert await asyncio.wait_for(client.request("echo", [2]), 10) == [2]
            assert client.epoch == 1 and client.state is State.OPEN
        finally:
            await client.close()


# -- (b) heartbeats detect a blackholed peer ------------------------------------------------


async def test_ping_pong_detects_a_blackholed_peer_and_reconnects(
    link: dict[str, Any], events: list[Event]
) -> None:
    interval, timeout = 0.2, 1.0
    async with MockServer(Exchange()) as srv, FaultProxy(srv.url, seed=2, **link) as proxy:
        client = await zenws.client.connect(
            proxy.url,
            heartbeat="ping_pong",
            heartbeat_interval=interval,
            heartbeat_timeout=timeout,
            connect_timeout=1.0,
            retry_delay=0.05,
            max_backoff=0.2,
        )
        try:
            await asyncio.sleep(4 * interval)  # pongs through the bad link keep it alive
            assert client.epoch == 1 and client.state is State.OPEN
            health = client.heartbeat_health()
            assert health.healthy and health.rtt is not None
            blackholed_at = time.monotonic_ns()
            proxy.blackhole()
            await wait_until(lambda: bool(named(events, "heartbeat.missed")), timeout + 5)
            took = (named(events, "heartbeat.missed")[0][0] - blackholed_at) / 1e9
            assert took <= timeout + 2.0, took
            await wait_until(lambda: client.state is State.RECONNECTING, 5)
            proxy.heal()
            await wait_open(client, 2, timeout=15)
            assert await asyncio.wait_for(client.request("echo", [3]), 10) == [3]
        finally:
            await client.close()
    _, _, _, md = named(events, "heartbeat.missed")[0]
    assert md["epoch"] == 1


async def test_deribit_heartbeat_detects_a_blackholed_simulator_and_reconnects(
    link: dict[str, Any], events: list[Event]
) -> None:
    interval, grace = 0.3, 0.6
    sim = DeribitSimulator(min_heartbeat_interval=0.1)
    async with sim.serve(), FaultProxy(sim.url, seed=3, **link) as proxy:
        client = await zenws.client.connect(
            proxy.url,
            heartbeat=Deribit(interval=interval, timeout=grace, min_interval=0.1),
            connect_timeout=1.0,
            retry_delay=0.05,
            max_backoff=0.2,
        )
        try:
            # test_requests answered through the bad link: the simulator keeps the session.
            await wait_until(lambda: client.heartbeat_health().rtt is not None, 10)
            await asyncio.sleep(3 * interval)
            assert client.epoch == 1 and client.state is State.OPEN
            blackholed_at = time.monotonic_ns()
            proxy.blackhole()
            await wait_until(lambda: bool(named(events, "heartbeat.missed")), 10)
            took = (named(events, "heartbeat.missed")[0][0] - blackholed_at) / 1e9
            assert took <= interval + grace + 2.0, took
            proxy.heal()
            await wait_open(client, 2, timeout=15)
            reply = await asyncio.wait_for(client.request("public/test"), 10)
            assert reply == {"version": sim.knobs.version}
        finally:
            await client.close()
    _, _, _, md = named(events, "heartbeat.missed")[0]
    assert md["kind"] == "deribit" and md["epoch"] == 1


# -- (c) reset: pending fail at once, subscriptions come back -------------------------------


async def test_reset_fails_pending_at_once_and_restores_subscriptions(
    link: dict[str, Any], events: list[Event]
) -> None:
    ex = Exchange()
    chans = ["ticker.BTC-PERPETUAL.100ms", "book.ETH-PERPETUAL.100ms", "trades.BTC.raw"]
    async with MockServer(ex) as srv, FaultProxy(srv.url, seed=4, **link) as proxy:
        client = await zenws.client.connect(
            proxy.url, dialect="deribit", retry_delay=0.05, max_backoff=0.2
        )
        try:
            assert await asyncio.wait_for(client.subscribe(chans), 10) == chans
            first = srv.connections[0].id
            pending = [
                asyncio.ensure_future(client.request("never", [i], timeout=60)) for i in range(5)
            ]
            await wait_until(
                lambda: sum(1 for r in srv.received if "never" in r.text) == 5, timeout=10
            )
            reset_at = time.monotonic()
            proxy.reset_all()
            done, _ = await asyncio.wait(pending, timeout=2.0)
            assert len(done) == 5, "pending requests must fail at once on a reset"
            assert time.monotonic() - reset_at < 2.0
            for task in done:
                exc = task.exception()
                assert isinstance(exc, ConnectionLost) and exc.epoch == 1
            await wait_until(lambda: bool(named(events, "connection.reconnected")), 15)
            assert client.epoch == 2 and client.subscriptions == chans
            second = srv.connections[-1].id
            assert second != first
            restored = [c for cid, cs in ex.subscribes if cid == second for c in cs]
            assert sorted(restored) == sorted(chans)  # each channel once on the new connection
            assert await asyncio.wait_for(client.request("echo", [4]), 10) == [4]
            assert proxy.stats().connections_total == 2
        finally:
            await client.close()
