"""Heartbeats and liveness timers through the real client, on loopback servers.

Servers: ``zenws.testing.MockServer`` (stall = half-open peer, ignore_pings, restart), a raw
picows server that answers pings late (RTT), a python-websockets server (independent
implementation), and small MockServer handlers speaking the Deribit and Binance heartbeat
protocols, and the DeribitSimulator / BinanceSimulator.  Every test runs on asyncio and on
uvloop (tests/conftest.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import websockets.asyncio.server
import websockets.sync.server
from _helpers import Event, named, wait_open
from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_create_server

import zenws.client
from waits import wait_until
from zenws.heartbeat import Deribit, Text
from zenws.state import State
from zenws.testing import BinanceSimulator, DeribitSimulator, Handler, MockServer
from zenws.testing.connection import Connection
from zenws.testing.handler import Received


async def pump(srv: MockServer, period: float = 0.03) -> None:
    """Push a data message to every open connection forever (a live market-data feed)."""
    n = 0
    while True:
        n += 1
        with contextlib.suppress(LookupError):
            await srv.inject({"jsonrpc": "2.0", "method": "tick", "params": {"n": n}})
        await asyncio.sleep(period)


# -- dead peer -------------------------------------------------------------------------------


async def test_stalled_half_open_server_detected_within_timeout_every_time(
    events: list[Event],
) -> None:
    interval, timeout = 0.05, 0.25
    async with MockServer() as srv:
        client = await zenws.client.connect(
            srv.url,
            heartbeat="ping_pong",
            heartbeat_interval=interval,
            heartbeat_timeout=timeout,
            retry_delay=0.01,
            max_backoff=0.02,
        )
        try:
            for epoch in (1, 2, 3):
                await wait_open(client, epoch)
                await srv.wait_for_connections(1)
                await asyncio.sleep(2 * timeout)  # a window: pongs keep it alive, no false alarm
                assert client.epoch == epoch and client.state is State.OPEN
                stalled_at = time.monotonic_ns()
                srv.stall()
                await wait_until(lambda n=epoch: len(named(events, "connection.closed")) >= n)
                closed_at = named(events, "connection.closed")[epoch - 1][0]
                took = (closed_at - stalled_at) / 1e9
                assert timeout - interval - 0.05 <= took <= timeout + 1.0, took
            await wait_open(client, 4)
        finally:
            await client.close()
    missed = named(events, "heartbeat.missed")
    assert [md["epoch"] for _, _, _, md in missed] == [1, 2, 3]


async def test_default_timeout_detects_a_stall_within_two_intervals(events: list[Event]) -> None:
    interval = 0.1  # heartbeat_timeout unset: Config.effective_heartbeat_timeout = 2 * interval
    async with MockServer() as srv:
        client = await zenws.client.connect(
            srv.url, heartbeat="ping_pong", heartbeat_interval=interval, retry_delay=0.01
        )
        try:
            await asyncio.sleep(4 * interval)  # a window: pongs keep it alive, no reconnect
            assert client.epoch == 1
            stalled_at = time.monotonic_ns()
            srv.stall()
            await wait_open(client, 2)
        finally:
            await client.close()
    closed_at = named(events, "connection.closed")[0][0]
    assert (closed_at - stalled_at) / 1e9 <= 2 * interval + 1.0


async def test_dead_peer_without_heartbeat_strategy(events: list[Event]) -> None:
    timeout = 0.2
    async with MockServer() as srv:
        feed = asyncio.get_running_loop().create_task(pump(srv))
        client = await zenws.client.connect(
            srv.url, heartbeat_timeout=timeout, retry_delay=0.01, max_backoff=0.02
        )
        try:
            await asyncio.sleep(4 * timeout)  # a window: data keeps it alive, no reconnect
            assert client.epoch == 1
            stalled_at = time.monotonic_ns()
            srv.stall()
            await wait_open(client, 2)
            closed_at = named(events, "connection.closed")[0][0]
            assert (closed_at - stalled_at) / 1e9 <= timeout + 1.0
            kinds = [md["kind"] for _, _, _, md in named(events, "heartbeat.missed")]
            assert kinds == ["dead_peer"]
            assert client.heartbeat_health().kind == "none"
        finally:
            feed.cancel()
            await client.close()


@pytest.fixture
def threaded_feed() -> Iterator[str]:
    """A python-websockets server in its own thread pushing a message every 20 ms.

    It keeps sending while the client's event loop is blocked (a real remote server would).
    """

    def handler(ws: Any) -> None:
        n = 0
        with contextlib.suppress(Exception):
            while True:
                n += 1
                ws.send(json.dumps({"jsonrpc": "2.0", "method": "tick", "params": {"n": n}}))
                time.sleep(0.02)

    server = websockets.sync.server.serve(handler, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"ws://127.0.0.1:{server.socket.getsockname()[1]}/"
    server.shutdown()
    thread.join(5)


async def test_blocked_event_loop_is_not_mistaken_for_a_dead_peer(
    events: list[Event], threaded_feed: str
) -> None:
    timeout = 0.2
    client = await zenws.client.connect(
        threaded_feed, heartbeat_timeout=timeout, idle_timeout=timeout, retry_delay=0.01
    )
    try:
        await asyncio.sleep(0.1)  # the scenario: data flows, then the loop blocks
        for _ in range(3):
            time.sleep(2.5 * timeout)  # a slow callback: timers expire meanwhile
            await asyncio.sleep(0.1)  # a window: the late timers run, no false alarm
        assert client.epoch == 1 and client.state is State.OPEN
    finally:
        await client.close()
    assert named(events, "heartbeat.missed") == []


# -- ping_pong -------------------------------------------------------------------------------


class LatePongs(WSListener):  # type: ignore[misc]
    """picows server connection answering every ping ``DELAY`` seconds late."""

    DELAY = 0.08

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.PING:
            payload = frame.get_payload_as_bytes()
            asyncio.get_running_loop().call_later(self.DELAY, transport.send_pong, payload)
        elif frame.msg_type == WSMsgType.CLOSE:
            transport.send_close(1000)
            transport.disconnect()


async def test_ping_pong_rtt_reflects_server_delay(events: list[Event]) -> None:
    server = await ws_create_server(lambda req: LatePongs(), "127.0.0.1", 0, enable_auto_pong=False)
    port = server.sockets[0].getsockname()[1]
    try:
        client = await zenws.client.connect(
            f"ws://127.0.0.1:{port}/",
            heartbeat="ping_pong",
            heartbeat_interval=0.05,
            heartbeat_timeout=1.0,
        )
        try:
            await wait_until(lambda: len(named(events, "heartbeat.received")) >= 4)
            health = client.heartbeat_health()
        finally:
            await client.close()
    finally:
        server.close()
    rtts = [m["rtt_ns"] for _, _, m, _ in named(events, "heartbeat.received")]
    assert all(r >= LatePongs.DELAY * 0.95e9 for r in rtts), rtts
    assert health.kind == "ping_pong" and health.healthy and health.misses == 0
    assert health.rtt is not None and LatePongs.DELAY * 0.95 <= health.rtt < 2.0
    assert health.last_seen is not None and abs(time.monotonic() - health.last_seen) < 5.0


async def test_ping_pong_against_python_websockets_server(events: list[Event]) -> None:
    async def handler(ws: Any) -> None:
        await ws.wait_closed()

    async with websockets.asyncio.server.serve(handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        client = await zenws.client.connect(
            f"ws://127.0.0.1:{port}/?api_key=S3CRET",
            heartbeat="ping_pong",
            heartbeat_interval=0.04,
            heartbeat_timeout=0.3,
        )
        try:
            await asyncio.sleep(0.5)  # a window > timeout: only the pongs keep it open
            await wait_until(lambda: len(named(events, "heartbeat.received")) >= 3)
            assert client.epoch == 1 and client.state is State.OPEN
            assert len(named(events, "heartbeat.received")) >= 3
            assert client.heartbeat_health().rtt is not None
        finally:
            await client.close()
    # Exporters label heartbeat events by the URL, with its secrets removed.
    urls = {md.get("url") for _, e, _, md in events if e.startswith("heartbeat.")}
    assert urls == {f"ws://127.0.0.1:{port}/?api_key=***"}


async def test_server_that_stops_answering_pings_triggers_reconnect(events: list[Event]) -> None:
    async with MockServer() as srv:
        feed = asyncio.get_running_loop().create_task(pump(srv))  # data keeps flowing
        client = await zenws.client.connect(
            srv.url,
            heartbeat="ping_pong",
            heartbeat_interval=0.05,
            heartbeat_timeout=0.2,
            retry_delay=0.01,
            max_backoff=0.02,
        )
        try:
            await asyncio.sleep(0.3)  # a window: pings answered, no reconnect
            assert client.epoch == 1
            (conn,) = await srv.wait_for_connections(1)
            conn.ignore_pings()
            await wait_open(client, 2)
            await asyncio.sleep(0.3)  # a window: the new connection answers pings, stays up
            assert client.epoch == 2
        finally:
            feed.cancel()
            await client.close()
    missed = named(events, "heartbeat.missed")
    assert [md["kind"] for _, _, _, md in missed] == ["ping_pong"]
    assert client.heartbeat_health().misses == 1


# -- data idle -------------------------------------------------------------------------------


async def test_data_idle_timer(events: list[Event]) -> None:
    idle = 0.3
    async with MockServer() as srv:
        client = await zenws.client.connect(
            srv.url,
            heartbeat="ping_pong",  # pongs keep arriving: the dead-peer timer stays quiet
            heartbeat_interval=0.05,
            heartbeat_timeout=0.25,
            idle_timeout=idle,
            retry_delay=0.01,
            max_backoff=0.02,
        )
        feed = asyncio.get_running_loop().create_task(pump(srv, 0.05))
        try:
            await asyncio.sleep(3 * idle)  # a window: data flows, no reconnect
            assert client.epoch == 1
            feed.cancel()
            stopped_at = time.monotonic_ns()
            await wait_open(client, 2)
            closed_at = named(events, "connection.closed")[0][0]
            assert idle - 0.06 <= (closed_at - stopped_at) / 1e9 <= idle + 1.0
        finally:
            feed.cancel()
            await client.close()
    kinds = [md["kind"] for _, _, _, md in named(events, "heartbeat.missed")]
    assert kinds[0] == "data_idle"


# -- deribit ---------------------------------------------------------------------------------


class DeribitHeartbeats(Handler):
    """The Deribit heartbeat protocol (docs/deribit.md, "Heartbeat") on a MockServer.

    After ``public/set_heartbeat`` it sends a ``test_request`` every interval and, like
    Deribit, closes the connection when the previous one was not answered with
    ``public/test``.  ``public/test`` answers are delayed by ``test_delay``.
    """

    def __init__(self, test_delay: float = 0.0) -> None:
        self.test_delay = test_delay
        self.set_calls: list[tuple[int, Any]] = []
        self.tests: list[tuple[int, Any]] = []
        self.sent: dict[int, int] = {}
        self.closed_unanswered = 0
        self.paused = False
        self._tasks: dict[int, asyncio.Task[None]] = {}

    def on_message(self, connection: Connection, message: Received) -> None:
        doc = message.json(None)
        if not isinstance(doc, dict):
            return
        method, rid = doc.get("method"), doc.get("id")
        reply: dict[str, Any] = {"jsonrpc": "2.0", "id": rid, "result": "ok"}
        if method == "public/set_heartbeat":
            self.set_calls.append((connection.id, doc.get("params")))
            interval = float(doc["params"]["interval"])
            old = self._tasks.pop(connection.id, None)
            if old is not None:
                old.cancel()
            task = asyncio.get_running_loop().create_task(self._beat(connection, interval))
            self._tasks[connection.id] = task
        elif method == "public/test":
            self.tests.append((connection.id, rid))
            reply["result"] = {"version": "1.2.26"}
            if self.test_delay:
                asyncio.get_running_loop().call_later(self.test_delay, connection.send, reply)
                return
        connection.send(reply)

    async def _beat(self, connection: Connection, interval: float) -> None:
        while connection.open:
            await asyncio.sleep(interval)
            if self.paused:
                continue
            sent = self.sent.get(connection.id, 0)
            answered = sum(1 for cid, _ in self.tests if cid == connection.id)
            if answered < sent:
                self.closed_unanswered += 1
                await connection.close(1000, "test_request not answered")
                return
            self.sent[connection.id] = sent + 1
            connection.send(
                {"jsonrpc": "2.0", "method": "heartbeat", "params": {"type": "test_request"}}
            )

    def on_disconnect(self, connection: Connection) -> None:
        task = self._tasks.pop(connection.id, None)
        if task is not None:
            task.cancel()

    async def on_stop(self, server: MockServer) -> None:
        for task in self._tasks.values():
            task.cancel()
        self._tasks.clear()


async def test_deribit_test_requests_answered_and_set_heartbeat_on_every_connect(
    events: list[Event],
) -> None:
    sim = DeribitHeartbeats(test_delay=0.03)
    async with MockServer(sim) as srv:
        client = await zenws.client.connect(
            srv.url,
            heartbeat=Deribit(interval=0.08, timeout=0.3, min_interval=0),
            retry_delay=0.01,
            max_backoff=0.02,
        )
        try:
            await wait_until(lambda: len(sim.tests) >= 4)
            assert sim.closed_unanswered == 0 and client.epoch == 1
            health = client.heartbeat_health()
            assert health.kind == "deribit" and health.healthy
            assert health.rtt is not None and health.rtt >= 0.03 * 0.95  # public/test round trip
            for epoch in (2, 3):
                await srv.restart()
                await wait_open(client, epoch)
                await wait_until(lambda n=epoch: len(sim.set_calls) >= n)
            await asyncio.sleep(0.3)  # a window: no session closed unanswered, no reconnect
            assert sim.closed_unanswered == 0 and client.epoch == 3
        finally:
            await client.close()
    assert [params for _, params in sim.set_calls] == [{"interval": 0.08}] * 3
    assert len({cid for cid, _ in sim.set_calls}) == 3  # one per connection
    assert all(rid is not None for _, rid in sim.tests)
    assert len({rid for _, rid in sim.tests}) == len(sim.tests)
    rtts = [m["rtt_ns"] for _, _, m, _ in named(events, "heartbeat.received")]
    assert rtts and min(rtts) >= 0.03 * 0.95e9


async def test_deribit_silence_forces_reconnect(events: list[Event]) -> None:
    sim = DeribitHeartbeats()
    interval, grace = 0.06, 0.12
    async with MockServer(sim) as srv:
        client = await zenws.client.connect(
            srv.url,
            heartbeat=Deribit(interval=interval, timeout=grace, min_interval=0),
            retry_delay=0.01,
            max_backoff=0.02,
        )
        try:
            await wait_until(lambda: len(sim.tests) >= 3)
            sim.paused = True
            paused_at = time.monotonic_ns()
            await wait_until(lambda: bool(named(events, "heartbeat.missed")))
            took = (named(events, "heartbeat.missed")[0][0] - paused_at) / 1e9
            assert took <= interval + grace + 1.0
            sim.paused = False
            await wait_open(client, 2)
            await wait_until(lambda: len(sim.set_calls) >= 2)
        finally:
            await client.close()
    _, _, m, md = named(events, "heartbeat.missed")[0]
    assert md["kind"] == "deribit" and md["epoch"] == 1 and m["misses"] == 1


def test_deribit_interval_below_minimum_is_a_config_error() -> None:
    from zenws.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        zenws.client.connect("ws://127.0.0.1:9/", heartbeat="deribit", heartbeat_interval=1)
    assert info.value.field == "heartbeat_interval"


def set_heartbeats(srv: MockServer) -> list[tuple[int, Any]]:
    """(connection id, params) of every public/set_heartbeat the server received."""
    out = []
    for r in srv.received:
        doc = r.json(None)
        if isinstance(doc, dict) and doc.get("method") == "public/set_heartbeat":
            out.append((r.connection_id, doc.get("params")))
    return out


def public_tests(srv: MockServer) -> list[Received]:
    """Every public/test the server received."""
    return [r for r in srv.received if (r.json(None) or {}).get("method") == "public/test"]


async def test_deribit_simulator_keeps_the_session_across_reconnects(events: list[Event]) -> None:
    sim = DeribitSimulator(
        min_heartbeat_interval=0.05, heartbeat_cycle=("heartbeat", "test_request")
    )
    async with sim.serve():
        srv = sim.server
        assert srv is not None
        client = await zenws.client.connect(
            sim.url,
            heartbeat=Deribit(interval=0.1, timeout=0.3, min_interval=0.05),
            retry_delay=0.01,
            max_backoff=0.02,
        )
        try:
            # A window of 8 intervals: the simulator would close an unanswered session.
            await asyncio.sleep(0.8)
            await wait_until(lambda: len(public_tests(srv)) >= 2)
            await wait_until(lambda: client.heartbeat_health().rtt is not None)
            assert client.epoch == 1 and client.state is State.OPEN
            tests = [r for r in srv.received if (r.json(None) or {}).get("method") == "public/test"]
            assert len(tests) >= 2 and all("id" in r.json() for r in tests)
            assert client.heartbeat_health().rtt is not None
            for epoch in (2, 3):
                await srv.restart()
                await wait_open(client, epoch)
                await wait_until(lambda n=epoch: len(set_heartbeats(srv)) >= n)
            await asyncio.sleep(0.5)  # a window: the session is kept, no reconnect
            assert client.epoch == 3
        finally:
            await client.close()
        calls = set_heartbeats(srv)
    assert [params for _, params in calls] == [{"interval": 0.1}] * 3
    assert len({cid for cid, _ in calls}) == 3


async def test_deribit_simulator_heartbeats_stop_forces_reconnect(events: list[Event]) -> None:
    sim = DeribitSimulator(min_heartbeat_interval=0.05)
    async with sim.serve():
        srv = sim.server
        assert srv is not None
        client = await zenws.client.connect(
            sim.url,
            heartbeat=Deribit(interval=0.05, timeout=0.1, min_interval=0.05),
            retry_delay=0.01,
            max_backoff=0.02,
        )
        try:
            await wait_until(lambda: client.heartbeat_health().last_seen is not None)
            (conn,) = srv.connections
            sim.stop_heartbeat(sim.session(conn))  # the server-side heartbeat dies
            stopped_at = time.monotonic_ns()
            await wait_open(client, 2)
            await wait_until(lambda: len(set_heartbeats(srv)) >= 2)
        finally:
            await client.close()
    _, _, _, md = named(events, "heartbeat.missed")[0]
    assert md["kind"] == "deribit" and md["epoch"] == 1
    took = (named(events, "heartbeat.missed")[0][0] - stopped_at) / 1e9
    assert took <= 0.05 + 0.1 + 1.0


# -- binance ---------------------------------------------------------------------------------


class BinancePings(Handler):
    """Server pings every ``interval`` (Binance: 20 s) and counts the client's pongs."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.pongs = 0
        self.paused = False
        self._tasks: list[asyncio.Task[None]] = []

    def on_connect(self, connection: Connection) -> None:
        self._tasks.append(asyncio.get_running_loop().create_task(self._ping(connection)))

    async def _ping(self, connection: Connection) -> None:
        while connection.open:
            await asyncio.sleep(self.interval)
            if not self.paused:
                connection.send_ping(b"binance")

    def on_pong(self, connection: Connection, payload: bytes) -> None:
        if payload == b"binance":
            self.pongs += 1

    async def on_stop(self, server: MockServer) -> None:
        for task in self._tasks:
            task.cancel()


async def test_binance_server_pings_are_ponged_and_silence_reconnects(
    events: list[Event],
) -> None:
    sim = BinancePings(interval=0.05)
    async with MockServer(sim) as srv:
        # Data keeps flowing, so only the missing server pings can trigger the reconnect.
        feed = asyncio.get_running_loop().create_task(pump(srv))
        client = await zenws.client.connect(
            srv.url,
            heartbeat="binance",
            heartbeat_interval=0.05,
            heartbeat_timeout=0.15,
            retry_delay=0.01,
            max_backoff=0.02,
        )
        try:
            await asyncio.sleep(0.4)  # a window > interval + timeout: pings keep it alive
            await wait_until(lambda: sim.pongs >= 4)
            assert client.epoch == 1 and sim.pongs >= 4
            assert client.heartbeat_health().last_seen is not None
            sim.paused = True
            paused_at = time.monotonic_ns()
            await wait_until(lambda: bool(named(events, "heartbeat.missed")))
            took = (named(events, "heartbeat.missed")[0][0] - paused_at) / 1e9
            assert took <= 0.05 + 0.15 + 1.0
            sim.paused = False
            await wait_open(client, 2)
        finally:
            feed.cancel()
            await client.close()
    kinds = [md["kind"] for _, _, _, md in named(events, "heartbeat.missed")]
    assert kinds == ["binance"]


async def test_binance_simulator_pings_answered_then_silence_reconnects(
    events: list[Event],
) -> None:
    sim = BinanceSimulator(path="/stream", ping_interval=0.05, pong_timeout=0.2, stream_rate=50)
    got: list[Any] = []
    async with sim.serve():
        srv = sim.server
        assert srv is not None
        client = await zenws.client.connect(
            sim.url,
            dialect="binance",
            heartbeat="binance",
            heartbeat_interval=0.05,
            heartbeat_timeout=0.15,
            retry_delay=0.01,
            max_backoff=0.02,
        )
        try:
            await client.subscribe(["btcusdt@trade"], handler=got.append)
            # A window of 12 server pings: a late pong would close the session.
            await asyncio.sleep(0.6)
            await wait_until(lambda: sim.state(srv.connections[0]).last_pong is not None)
            await wait_until(lambda: bool(got))
            assert client.epoch == 1 and client.state is State.OPEN
            assert sim.state(srv.connections[0]).last_pong is not None
            assert got and client.heartbeat_health().healthy
            pinger = sim.state(srv.connections[0]).pinger
            assert pinger is not None
            pinger.cancel()  # the server stops pinging; trades keep flowing
            await wait_open(client, 2)
        finally:
            await client.close()
    kinds = [md["kind"] for _, _, _, md in named(events, "heartbeat.missed")]
    assert kinds == ["binance"]


# -- text ------------------------------------------------------------------------------------


class TextPongs(Handler):
    """Answers the text message ``ping`` with ``pong`` after ``delay`` (unless ``silent``)."""

    def __init__(self, ping: str, pong: str, delay: float) -> None:
        self.ping, self.pong, self.delay = ping, pong, delay
        self.silent = False
        self.pings = 0

    def on_message(self, connection: Connection, message: Received) -> None:
        if message.data == self.ping:
            self.pings += 1
            if not self.silent:
                asyncio.get_running_loop().call_later(self.delay, connection.send, self.pong)


@pytest.mark.parametrize(
    ("ping", "pong"),
    [("ping", "pong"), ('{"op":"ping"}', '{"op":"pong"}')],
    ids=["plain", "json"],
)
async def test_text_heartbeat_consumes_pongs_and_reconnects_when_they_stop(
    events: list[Event], ping: str, pong: str
) -> None:
    sim = TextPongs(ping, pong, delay=0.03)
    seen: list[Any] = []
    async with MockServer(sim) as srv:
        client = await zenws.client.connect(
            srv.url,
            heartbeat=Text(ping=ping, pong=pong, interval=0.05, timeout=0.3),
            retry_delay=0.01,
            max_backoff=0.02,
        )
        client.on_message = seen.append
        try:
            await wait_until(lambda: len(named(events, "heartbeat.received")) >= 3)
            await srv.inject("market data")
            await wait_until(lambda: bool(seen))
            assert client.epoch == 1
            health = client.heartbeat_health()
            assert health.kind == "text" and health.rtt is not None and health.rtt >= 0.028
            sim.silent = True
            await wait_open(client, 2)
        finally:
            await client.close()
    assert [m.raw for m in seen] == [b"market data"]  # pongs never reach user code
    rtts = [m["rtt_ns"] for _, _, m, _ in named(events, "heartbeat.received")]
    assert min(rtts) >= 0.028e9
    kinds = [md["kind"] for _, _, _, md in named(events, "heartbeat.missed")]
    assert kinds == ["text"]
