"""Heartbeat strategies and liveness timers (zenws.heartbeat).

Timer logic is driven through ``RecordingHost``, an in-process stand-in for the client's
connection (it records what a strategy sends and when it forces a reconnect; frame arrival
is simulated by calling the ``on_*`` hooks, as the hot path does).  ``PicowsHost`` runs the
ping/pong strategy over a real loopback WebSocket (picows client, picows/websockets server).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
import websockets.asyncio.server
from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect, ws_create_server

from waits import wait_until
from zenws import errors, telemetry
from zenws.heartbeat import (
    Binance,
    Deribit,
    Heartbeat,
    HeartbeatHealth,
    Liveness,
    PingPong,
    Text,
    create,
    from_config,
)


class RecordingHost:
    """Implements HeartbeatHost; records calls, lets the test set frame timestamps."""

    def __init__(self, epoch: int = 1) -> None:
        self.epoch = epoch
        self.pings: list[tuple[bytes, int]] = []
        self.texts: list[str | bytes] = []
        self.requests: list[tuple[str, Any]] = []
        self.reconnects: list[tuple[int, str]] = []
        self.frame_ns = 0
        self.data_ns = 0
        self.on_ping_sent: Callable[[bytes], None] | None = None
        self.on_text_sent: Callable[[str | bytes], None] | None = None
        self.request_result: Any = "ok"

    def send_ping(self, payload: bytes) -> None:
        self.pings.append((payload, time.monotonic_ns()))
        if self.on_ping_sent is not None:
            self.on_ping_sent(payload)

    def send_text(self, data: str | bytes) -> None:
        self.texts.append(data)
        if self.on_text_sent is not None:
            self.on_text_sent(data)

    async def request(
        self, method: str, params: Any = None, *, timeout: float | None = None
    ) -> Any:
        self.requests.append((method, params))
        if isinstance(self.request_result, BaseException):
            raise self.request_result
        return self.request_result

    def force_reconnect(self, reason: str) -> None:
        self.reconnects.append((time.monotonic_ns(), reason))

    def last_frame_ns(self) -> int:
        return self.frame_ns

    def last_data_ns(self) -> int:
        return self.data_ns


@pytest.fixture
def events() -> Any:
    got: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
    handle = telemetry.attach("heartbeat", lambda e, m, md: got.append((e, m, md)))
    yield got
    telemetry.detach(handle)


# -- ping_pong -------------------------------------------------------------------------------


async def test_ping_pong_unique_payloads_and_real_rtt(events: list[Any]) -> None:
    host = RecordingHost()
    hb = PingPong(interval=0.05, timeout=0.5)
    loop = asyncio.get_running_loop()
    delay = 0.04
    host.on_ping_sent = lambda p: loop.call_later(delay, lambda: hb.on_pong(p, time.monotonic_ns()))
    hb.start(host)
    await wait_until(lambda: len(host.pings) >= 4)
    await wait_until(lambda: hb.health().rtt is not None)
    hb.stop()
    payloads = [p for p, _ in host.pings]
    assert len(set(payloads)) == len(payloads) and all(len(p) == 8 for p in payloads)
    health = hb.health()
    assert health.kind == "ping_pong" and health.misses == 0
    assert health.rtt is not None and delay * 0.9 <= health.rtt < 2.0
    assert health.last_seen is not None and abs(health.last_seen - time.monotonic()) < 5
    assert host.reconnects == []
    rtts = [m["rtt_ns"] for e, m, _ in events if e == "heartbeat.received"]
    assert rtts and all(r >= delay * 0.9e9 for r in rtts)
    assert any(e == "heartbeat.sent" for e, _, _ in events)


async def test_ping_pong_missed_pong_forces_reconnect(events: list[Any]) -> None:
    host = RecordingHost(epoch=7)
    hb = PingPong(interval=0.05, timeout=0.1)
    t0 = time.monotonic_ns()
    hb.start(host)
    assert hb.health().healthy
    await wait_until(lambda: bool(host.reconnects))
    at, reason = host.reconnects[0]
    first_ping_ns = host.pings[0][1]
    assert at - first_ping_ns >= 0.09e9  # not before the pong deadline
    assert at - t0 < 2.0e9
    assert "ping_pong" in reason
    health = hb.health()
    assert health.misses == 1 and not health.healthy
    missed = [md for e, _, md in events if e == "heartbeat.missed"]
    assert missed and missed[0]["kind"] == "ping_pong" and missed[0]["epoch"] == 7
    n = len(host.pings)
    await asyncio.sleep(0.2)  # a window: no further ping, no second reconnect
    assert len(host.pings) == n and len(host.reconnects) == 1  # stopped itself


async def test_ping_pong_late_pong_for_newest_acknowledges_older() -> None:
    host = RecordingHost()
    hb = PingPong(interval=0.03, timeout=1.0)
    hb.start(host)
    await wait_until(lambda: len(host.pings) >= 3)
    hb.on_pong(b"\xff" * 8, time.monotonic_ns())  # unsolicited: ignored
    assert hb.health().rtt is None
    hb.on_pong(host.pings[2][0], time.monotonic_ns())
    assert hb.health().rtt is not None
    n = len(host.pings)
    hb.stop()
    hb.stop()  # idempotent
    await asyncio.sleep(0.1)  # a window: no further ping, no reconnect
    assert len(host.pings) == n and host.reconnects == []
    assert not hb.health().healthy


async def test_restart_on_new_epoch_resets_timers() -> None:
    host = RecordingHost(epoch=1)
    hb = PingPong(interval=0.03, timeout=0.06)
    hb.start(host)
    await wait_until(lambda: bool(host.reconnects))
    host.epoch = 2
    host.on_ping_sent = lambda p: hb.on_pong(p, time.monotonic_ns())
    hb.start(host)
    await asyncio.sleep(0.3)  # a window: pongs answered, no second reconnect
    hb.stop()
    assert len(host.reconnects) == 1 and hb.health().misses == 1


# -- text ------------------------------------------------------------------------------------


async def test_text_heartbeat_roundtrip_and_matchers() -> None:
    host = RecordingHost()
    hb = Text(ping="ping", pong="pong", interval=0.03, timeout=0.5)
    loop = asyncio.get_running_loop()
    consumed: list[bool] = []
    host.on_text_sent = lambda d: loop.call_later(
        0.02, lambda: consumed.append(hb.on_text(b"pong", time.monotonic_ns()))
    )
    hb.start(host)
    await wait_until(lambda: len(consumed) >= 3)
    assert hb.on_text(b'{"data": 1}', time.monotonic_ns()) is False
    hb.stop()
    assert host.texts[0] == "ping" and all(consumed)
    rtt = hb.health().rtt
    assert rtt is not None and rtt >= 0.018
    assert hb.pong_bytes == b"pong"
    rx = Text(ping=b'{"op":"ping"}', pong=re.compile(rb'"op"\s*:\s*"pong"'), interval=1)
    assert rx.on_text(b'{"op": "pong"}', 1) and not rx.on_text(b'{"op":"x"}', 1)
    assert rx.pong_bytes is None
    fn = Text(ping=lambda: "p", pong=lambda d: d.startswith(b"P"), interval=1)
    assert fn.on_text(b"PONG", 1) and not fn.on_text(b"x", 1)

    def boom(data: bytes) -> bool:
        raise RuntimeError("matcher bug")

    assert Text(pong=boom, interval=1).on_text(b"x", 1) is False
    with pytest.raises(errors.ConfigError):
        Text(pong=42, interval=1)  # type: ignore[arg-type]


async def test_text_ping_builder_that_raises_is_contained() -> None:
    host = RecordingHost()
    calls = 0

    def build() -> str:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ValueError("bad clock")
        return "ping"

    hb = Text(ping=build, pong="pong", interval=0.03, timeout=1.0)
    hb.start(host)
    await wait_until(lambda: len(host.texts) >= 2)
    hb.stop()
    assert host.texts[:2] == ["ping", "ping"] and host.reconnects == []


async def test_text_heartbeat_unanswered_reconnects() -> None:
    host = RecordingHost()
    hb = Text(interval=0.04, timeout=0.08)
    hb.start(host)
    await wait_until(lambda: bool(host.reconnects))
    assert hb.health().misses == 1 and host.texts


# -- deribit ---------------------------------------------------------------------------------


async def test_deribit_sets_heartbeat_on_every_start() -> None:
    host = RecordingHost()
    hb = Deribit(interval=10, timeout=5)
    hb.start(host)
    await wait_until(lambda: host.requests)
    assert host.requests == [("public/set_heartbeat", {"interval": 10})]
    hb.stop()
    host.epoch = 2
    hb.start(host)
    await wait_until(lambda: len(host.requests) >= 2)
    hb.stop()
    assert len(host.requests) == 2


def test_deribit_interval_minimum() -> None:
    with pytest.raises(errors.ConfigError) as info:
        Deribit(interval=5)
    assert info.value.field == "heartbeat_interval"
    assert Deribit(interval=0.2, min_interval=0.1).wire_interval == 0.2
    assert Deribit(interval=12.0).wire_interval == 12


async def test_deribit_server_heartbeats_keep_it_alive_then_silence_reconnects(
    events: list[Any],
) -> None:
    host = RecordingHost()
    hb = Deribit(interval=0.05, timeout=0.05, min_interval=0)
    hb.start(host)
    for _ in range(10):  # 0.3 s > interval + grace: only the heartbeats keep it alive
        await asyncio.sleep(0.03)
        hb.on_server_heartbeat("test_request", time.monotonic_ns())
    hb.on_test_reply(1_500_000)
    assert host.reconnects == []
    silent_from = time.monotonic_ns()
    await wait_until(lambda: bool(host.reconnects))
    waited = host.reconnects[0][0] - silent_from
    assert 0.09e9 <= waited < 2e9
    health = hb.health()
    assert health.rtt == pytest.approx(0.0015) and health.misses == 1
    assert [m["rtt_ns"] for e, m, _ in events if e == "heartbeat.received"] == [1_500_000]


async def test_deribit_set_heartbeat_failure_is_contained() -> None:
    host = RecordingHost()
    host.request_result = errors.RpcError(-32602, "Invalid params")
    hb = Deribit(interval=0.2, min_interval=0)
    hb.start(host)
    await wait_until(lambda: host.requests)  # the request was made and failed
    assert hb.running and host.reconnects == []
    hb.stop()
    host.request_result = errors.ConnectionLost(epoch=1)
    hb.start(host)
    await wait_until(lambda: len(host.requests) >= 2)
    hb.stop()


# -- binance ---------------------------------------------------------------------------------


async def test_binance_expects_server_pings() -> None:
    host = RecordingHost()
    hb = Binance(interval=0.05, timeout=0.05)
    hb.start(host)
    for _ in range(8):
        await asyncio.sleep(0.03)
        hb.on_ping(b"", time.monotonic_ns())
    assert host.reconnects == [] and hb.health().last_seen is not None
    await wait_until(lambda: bool(host.reconnects))
    assert "binance" in host.reconnects[0][1]


# -- liveness --------------------------------------------------------------------------------


@pytest.mark.parametrize("run", range(3))
async def test_dead_peer_detected_within_timeout_every_time(run: int) -> None:
    host = RecordingHost()
    timeout = 0.15
    live = Liveness(heartbeat_timeout=timeout, idle_timeout=None)
    live.start(host)
    # Traffic for a while, at a phase that differs per run, then the peer stalls.
    for _ in range(5 + run * 3):
        await asyncio.sleep(0.02 + run * 0.007)
        host.frame_ns = time.monotonic_ns()
    last = host.frame_ns
    assert host.reconnects == []
    await wait_until(lambda: bool(host.reconnects))
    detected = host.reconnects[0][0] - last
    assert timeout * 1e9 * 0.95 <= detected <= timeout * 1e9 + 1.5e9
    assert "dead-peer" in host.reconnects[0][1]
    live.stop()


async def test_dead_peer_counts_from_start_when_no_frame_arrives() -> None:
    host = RecordingHost()
    live = Liveness(0.1, None)
    t0 = time.monotonic_ns()
    live.start(host)
    await wait_until(lambda: bool(host.reconnects))
    assert host.reconnects[0][0] - t0 >= 0.095e9
    assert live.fired == 1


async def test_data_idle_fires_while_control_frames_flow(events: list[Any]) -> None:
    host = RecordingHost()
    live = Liveness(heartbeat_timeout=0.2, idle_timeout=0.12)
    live.start(host)
    host.data_ns = time.monotonic_ns()
    last_data = host.data_ns
    for _ in range(20):  # pongs keep arriving, data does not
        host.frame_ns = time.monotonic_ns()
        if host.reconnects:
            break
        await asyncio.sleep(0.02)
    assert host.reconnects, "data-idle timer did not fire"
    assert "data-idle" in host.reconnects[0][1]
    assert host.reconnects[0][0] - last_data >= 0.11e9
    assert [md["kind"] for e, _, md in events if e == "heartbeat.missed"] == ["data_idle"]
    await asyncio.sleep(0.25)  # a window: no second reconnect
    assert len(host.reconnects) == 1  # stopped after firing


async def test_liveness_ignores_stale_epoch_and_stop() -> None:
    host = RecordingHost(epoch=1)
    live = Liveness(0.05, 0.05)
    live.start(host)
    host.epoch = 2  # the connection it watched is gone
    await asyncio.sleep(0.15)  # a window: no reconnect
    assert host.reconnects == []
    live2 = Liveness(0.05, None)
    live2.start(host)
    live2.stop()
    live2.stop()
    await asyncio.sleep(0.1)  # a window: no reconnect
    assert host.reconnects == []
    assert not Liveness(None, None).enabled
    with pytest.raises(errors.ConfigError):
        Liveness(0.0, None)


# -- construction ----------------------------------------------------------------------------


def test_create_by_name_and_object() -> None:
    assert create(None) is None and create("none") is None
    assert isinstance(create("ping_pong", 1.0, 0.5), PingPong)
    assert isinstance(create("binance", 20, 10), Binance)
    assert isinstance(create("text", 5, ping="hb", pong="hb-ack"), Text)
    assert isinstance(create("deribit", 10), Deribit)
    proto = PingPong(interval=2.0, timeout=1.0)
    made = create(proto, 99, 99)
    assert isinstance(made, PingPong) and made is not proto
    assert (made.interval, made.timeout) == (2.0, 1.0)
    pp = create("ping_pong", 3.0)
    assert pp is not None and pp.timeout == 3.0
    for bad in ("heartbeat", 5):
        with pytest.raises(errors.ConfigError) as info:
            create(bad)  # type: ignore[arg-type]
        assert info.value.field == "heartbeat"
    with pytest.raises(errors.ConfigError):
        create("ping_pong", 0)
    with pytest.raises(errors.ConfigError):
        create("deribit", 1)


def test_from_config() -> None:
    hb, live = from_config(
        SimpleNamespace(heartbeat="ping_pong", heartbeat_interval=1.0, heartbeat_timeout=None)
    )
    assert isinstance(hb, PingPong) and live is not None and live.heartbeat_timeout == 2.0
    hb, live = from_config(SimpleNamespace(heartbeat=None, heartbeat_interval=1.0))
    assert hb is None and live is None
    hb, live = from_config(SimpleNamespace(heartbeat=None, idle_timeout=3.0))
    assert live is not None and live.heartbeat_timeout is None and live.idle_timeout == 3.0
    hb, live = from_config(
        SimpleNamespace(heartbeat="binance", heartbeat_interval=20.0, heartbeat_timeout=30.0)
    )
    assert isinstance(hb, Binance) and live is not None and live.heartbeat_timeout == 30.0
    hb, live = from_config(SimpleNamespace(heartbeat=None, heartbeat_timeout=1.0))
    assert hb is None and live is not None and live.heartbeat_timeout == 1.0
    with pytest.raises(errors.ConfigError) as info:
        from_config(
            SimpleNamespace(heartbeat="deribit", heartbeat_interval=10.0, heartbeat_timeout=5.0)
        )
    assert info.value.field == "heartbeat_timeout"


def test_from_config_implicit_dead_peer_window_never_cuts_the_strategy_deadline() -> None:
    # Without heartbeat_timeout the dead-peer window is a backstop: 2 x interval, or the
    # strategy's own deadline (interval + timeout) when a strategy object was given more.
    cases = [
        (Deribit(interval=10, timeout=15), 25.0),
        (Text(interval=0.05, timeout=0.3), 0.35),
        (PingPong(interval=1.0, timeout=0.5), 2.0),
        (Binance(interval=20), 40.0),
    ]
    for strategy, window in cases:
        hb, live = from_config(SimpleNamespace(heartbeat=strategy, heartbeat_timeout=None))
        assert hb is not None and hb is not strategy
        assert hb.max_silence == strategy.interval + strategy.timeout
        assert live is not None and live.heartbeat_timeout == pytest.approx(window)
    # An explicit heartbeat_timeout is the user's bound and wins.
    _, live = from_config(
        SimpleNamespace(heartbeat=Deribit(interval=10, timeout=15), heartbeat_timeout=12.0)
    )
    assert live is not None and live.heartbeat_timeout == 12.0


async def test_claim_dead_peer_gives_the_strategy_verdict_once(events: list[Any]) -> None:
    host = RecordingHost(epoch=3)
    hb = Deribit(interval=0.05, timeout=0.05, min_interval=0)
    hb.start(host)
    assert hb.claim_dead_peer(3) is False  # deadline not reached: the dead-peer timer reports
    assert host.reconnects == [] and hb.misses == 0
    time.sleep(0.15)  # the loop is blocked past interval + grace: no timer could run
    assert hb.claim_dead_peer(2) is False  # another connection's timer
    assert hb.claim_dead_peer(3) is True
    assert hb.claim_dead_peer(3) is True  # already reported on this epoch: still its verdict
    assert hb.misses == 1 and len(host.reconnects) == 1
    assert "no deribit server heartbeat" in host.reconnects[0][1]
    missed = [(m, md) for e, m, md in events if e == "heartbeat.missed"]
    assert [(m["misses"], md["kind"], md["epoch"]) for m, md in missed] == [(1, "deribit", 3)]


async def _tie(events: list[Any], liveness_first: bool) -> None:
    events.clear()
    host = RecordingHost()
    hb, live = from_config(SimpleNamespace(heartbeat=Deribit(interval=0.05, min_interval=0)))
    assert hb is not None and live is not None and live.heartbeat_timeout == 0.1
    if liveness_first:
        live.start(host)
    hb.start(host)
    if not liveness_first:
        live.start(host)
    time.sleep(0.15)  # both expire in the same loop iteration
    await wait_until(lambda: bool(host.reconnects))
    await asyncio.sleep(0.15)  # a window: no second verdict
    assert len(host.reconnects) == 1 and "deribit" in host.reconnects[0][1]
    kinds = [md["kind"] for e, _, md in events if e == "heartbeat.missed"]
    assert kinds == ["deribit"] and live.fired == 0 and hb.misses == 1
    hb.stop()
    live.stop()


async def test_dead_peer_timer_defers_to_the_strategy(events: list[Any]) -> None:
    # Both deadlines are 0.1 s (the defaults tie); whichever timer runs first, the verdict
    # is the strategy's, given once.
    await _tie(events, liveness_first=True)
    await _tie(events, liveness_first=False)
    # A strategy whose deadline has not passed leaves the verdict to the dead-peer timer.
    events.clear()
    host = RecordingHost()
    hb = Deribit(interval=0.05, timeout=1.0, min_interval=0)
    live = Liveness(0.1, None, defer_to=hb.claim_dead_peer)
    hb.start(host)
    live.start(host)
    await wait_until(lambda: bool(host.reconnects))
    assert "dead-peer" in host.reconnects[0][1] and live.fired == 1 and hb.misses == 0
    assert [md["kind"] for e, _, md in events if e == "heartbeat.missed"] == ["dead_peer"]
    hb.stop()


def test_health_snapshot() -> None:
    h = HeartbeatHealth.disabled()
    assert (h.kind, h.last_seen, h.rtt, h.misses, h.healthy) == ("none", None, None, 0, True)
    with pytest.raises(AttributeError):
        h.misses = 3  # type: ignore[misc]
    assert Heartbeat(1.0).health().healthy is False


# -- over a real loopback WebSocket ----------------------------------------------------------


class PicowsHost(WSListener):  # type: ignore[misc]
    """A picows client connection acting as the heartbeat's host."""

    def __init__(self, hb: Heartbeat) -> None:
        self.hb = hb
        self.epoch = 1
        self.transport: WSTransport | None = None
        self.frame_ns = 0
        self.reconnects: list[str] = []

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        now = time.monotonic_ns()
        self.frame_ns = now
        if frame.msg_type == WSMsgType.PONG:
            self.hb.on_pong(frame.get_payload_as_bytes(), now)

    def send_ping(self, payload: bytes) -> None:
        assert self.transport is not None
        self.transport.send_ping(payload)

    def send_text(self, data: str | bytes) -> None:
        assert self.transport is not None
        self.transport.send(WSMsgType.TEXT, data.encode() if isinstance(data, str) else data)

    async def request(
        self, method: str, params: Any = None, *, timeout: float | None = None
    ) -> Any:
        raise NotImplementedError

    def force_reconnect(self, reason: str) -> None:
        self.reconnects.append(reason)

    def last_frame_ns(self) -> int:
        return self.frame_ns

    def last_data_ns(self) -> int:
        return 0


class DelayedPongServer(WSListener):  # type: ignore[misc]
    """Server side: answers each ping after ``delay`` seconds (or never)."""

    delay: float | None = 0.0

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.PING and self.delay is not None:
            payload = frame.get_payload_as_bytes()
            asyncio.get_running_loop().call_later(self.delay, transport.send_pong, payload)


@pytest.mark.parametrize("delay", [0.0, 0.06])
async def test_ping_pong_over_picows_measures_server_delay(delay: float) -> None:
    class Srv(DelayedPongServer):
        pass

    Srv.delay = delay
    server = await ws_create_server(lambda req: Srv(), "127.0.0.1", 0, enable_auto_pong=False)
    port = server.sockets[0].getsockname()[1]
    hb = PingPong(interval=0.03, timeout=1.0)
    transport, host = await ws_connect(lambda: PicowsHost(hb), f"ws://127.0.0.1:{port}/")
    try:
        hb.start(host)
        await wait_until(lambda: hb.health().rtt is not None)
        await asyncio.sleep(0.1)  # a window: more pings answered, no reconnect
        rtt = hb.health().rtt
        assert rtt is not None and delay * 0.9 <= rtt < delay + 1.0
        assert host.reconnects == []
    finally:
        hb.stop()
        transport.send_close(1000)
        transport.disconnect()
        server.close()


async def test_ping_pong_against_websockets_server_and_silent_server() -> None:
    async def handler(ws: Any) -> None:
        await ws.wait_closed()

    async with websockets.asyncio.server.serve(handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        hb = PingPong(interval=0.03, timeout=1.0)
        transport, host = await ws_connect(lambda: PicowsHost(hb), f"ws://127.0.0.1:{port}/")
        hb.start(host)
        await wait_until(lambda: hb.health().rtt is not None)
        hb.stop()
        transport.send_close(1000)
        transport.disconnect()

    class Silent(DelayedPongServer):
        delay = None

    server = await ws_create_server(lambda req: Silent(), "127.0.0.1", 0, enable_auto_pong=False)
    port = server.sockets[0].getsockname()[1]
    hb = PingPong(interval=0.03, timeout=0.1)
    transport, host = await ws_connect(lambda: PicowsHost(hb), f"ws://127.0.0.1:{port}/")
    try:
        hb.start(host)
        await wait_until(lambda: bool(host.reconnects))
        assert hb.health().misses == 1
    finally:
        hb.stop()
        transport.disconnect()
        server.close()
