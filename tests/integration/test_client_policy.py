"""Client policy on a real loopback server: rate-limit queue on disconnect, liveness defaults,
subscription failures that must not forget channels, registry names, ``ConnectionLost.sent``,
non-blocking recording flush."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import zenws
import zenws.client
from waits import wait_until
from zenws import registry
from zenws.errors import ConfigError, ConnectionLost, RpcError
from zenws.heartbeat import Heartbeat
from zenws.ratelimit import RateLimiter, preset
from zenws.state import State
from zenws.testing import MockServer
from zenws.testing.connection import Connection
from zenws.testing.handler import Received


class Rpc:
    """Answers every JSON-RPC request with its params; logs (connection id, method, params).

    Deribit-style subscribes: channels ``busy.*`` get error 10028 (too many requests,
    recoverable) on the first connection, ``bad.*`` get -32602 (invalid params, fatal),
    ``hang.*`` are never answered on the first connection.
    """

    def __init__(self) -> None:
        self.log: list[tuple[int, str, Any]] = []

    def __call__(self, conn: Connection, msg: Received) -> None:
        doc = msg.json(None)
        if not isinstance(doc, dict) or "id" not in doc:
            return
        method, params = doc.get("method", ""), doc.get("params")
        self.log.append((conn.id, method, params))
        reply: dict[str, Any] = {"jsonrpc": "2.0", "id": doc["id"], "result": params}
        if method.endswith("/subscribe"):
            chans = list(params["channels"])
            first = conn.id == 1
            if first and any(c.startswith("hang.") for c in chans):
                return
            if first and any(c.startswith("busy.") for c in chans):
                reply = {"jsonrpc": "2.0", "id": doc["id"], "error": {"code": 10028,
                         "message": "too_many_requests"}}  # fmt: skip
            elif any(c.startswith("bad.") for c in chans):
                reply = {"jsonrpc": "2.0", "id": doc["id"], "error": {"code": -32602,
                         "message": "Invalid params"}}  # fmt: skip
            else:
                reply["result"] = chans
        conn.send(reply)

    def subscribed(self, conn_id: int) -> list[str]:
        return [
            c
            for cid, m, p in self.log
            if cid == conn_id and m.endswith("/subscribe")
            for c in p["channels"]
        ]


# ---------------------------------------------------------------------------- rate limiter


async def test_queued_requests_fail_at_once_on_disconnect_and_the_limiter_stays_usable() -> None:
    rpc = Rpc()
    async with MockServer(rpc) as srv:
        # one token, then one every 4 s: the queued requests could only leave in seconds
        limiter = RateLimiter(preset("simple", rate=0.25, burst=1), max_queue=10)
        client = await zenws.client.connect(
            srv.url, rate_limit=limiter, retry_delay=0.01, max_backoff=0.02
        )
        try:
            assert await client.request("first", [0]) == [0]
            queued = [asyncio.ensure_future(client.request("queued", [i])) for i in range(3)]
            await wait_until(lambda: client.metrics().rate_limit_queue == 3)
            t0 = time.monotonic()
            await srv.close_connections()
            results = await asyncio.wait_for(
                asyncio.gather(*queued, return_exceptions=True), timeout=2.0
            )
            elapsed = time.monotonic() - t0
            assert all(isinstance(r, ConnectionLost) for r in results), results
            assert all(r.sent is False for r in results)  # type: ignore[union-attr]
            assert elapsed < 2.0
            assert client.metrics().rate_limit_queue == 0
            assert client.metrics().rate_limit_pressure == "none"
            # the next connection uses the same limiter: it queues again, nothing replayed
            await wait_until(lambda: client.state is State.OPEN and client.epoch == 2)
            later = asyncio.ensure_future(client.request("later"))
            await wait_until(lambda: client.metrics().rate_limit_queue == 1)
        finally:
            await client.close()
        with pytest.raises(ConnectionLost):
            await asyncio.wait_for(later, timeout=2.0)
    assert [m for _, m, _ in rpc.log] == ["first"]  # no queued request ever reached the wire


class _DropAfterGrant(RateLimiter):
    """A real RateLimiter whose grant is followed by the connection dropping."""

    client: Any = None

    async def acquire(self, method: str) -> None:
        await super().acquire(method)
        lst = self.client._listener
        lst.abort()
        await wait_until(lambda: self.client.state is not State.OPEN)


async def test_tokens_are_refunded_when_the_connection_is_gone_after_the_wait() -> None:
    async with MockServer(Rpc()) as srv:
        limiter = _DropAfterGrant(preset("simple", rate=0.25, burst=1), max_queue=10)
        client = await zenws.client.connect(srv.url, rate_limit=limiter, reconnect_on_error=False)
        limiter.client = client
        bucket = limiter.limiter.route("m").bucket
        try:
            assert limiter.acquire_nowait("m")  # empty the bucket: request() has to wait
            with pytest.raises(ConnectionLost) as info:
                await asyncio.wait_for(client.request("m"), timeout=10.0)
            assert info.value.sent is False  # type: ignore[attr-defined]
            assert bucket.tokens >= 0.99  # the granted token came back
        finally:
            await client.close()


async def test_tokens_are_refunded_when_params_do_not_encode() -> None:
    async with MockServer(Rpc()) as srv:
        limiter = RateLimiter(preset("simple", rate=0.25, burst=1), max_queue=10)
        client = await zenws.client.connect(srv.url, rate_limit=limiter)
        try:
            with pytest.raises(TypeError):
                await client.request("m", {"x": object()})
            # the token was given back: the next request goes at once (else 4 s)
            assert await asyncio.wait_for(client.request("m", [1]), timeout=2.0) == [1]
        finally:
            await client.close()


# ---------------------------------------------------------------------------- liveness


class _SendOnly(Heartbeat):
    """A custom strategy that never judges the peer itself (only Liveness can)."""

    kind = "send_only"


@pytest.mark.parametrize("heartbeat", ["ping_pong", "custom"])
async def test_dead_peer_default_is_twice_the_interval(heartbeat: str) -> None:
    spec: Any = _SendOnly(0.1) if heartbeat == "custom" else heartbeat
    async with MockServer(Rpc()) as srv:
        client = await zenws.client.connect(
            srv.url, heartbeat=spec, heartbeat_interval=0.1, reconnect_on_error=False
        )
        try:
            srv.stall()
            t0 = time.monotonic()
            await wait_until(lambda: client.closed, timeout=5.0)
            # documented default 2 x 0.1 s; generous slack for a loaded machine
            assert time.monotonic() - t0 < 2.0
        finally:
            await client.close()


def test_heartbeat_timeout_not_above_interval_is_rejected() -> None:
    with pytest.raises(ConfigError) as info:
        zenws.client.connect(
            "ws://127.0.0.1:9/",
            heartbeat="ping_pong",
            heartbeat_interval=1.0,
            heartbeat_timeout=1.0,
        )
    assert info.value.field == "heartbeat_timeout"


# ---------------------------------------------------------------------------- subscriptions


async def test_recoverable_refusal_keeps_channels_and_fatal_drops_them() -> None:
    rpc = Rpc()
    async with MockServer(rpc) as srv:
        client = await zenws.client.connect(
            srv.url, dialect="deribit", subscribe_chunk=1, retry_delay=0.01, max_backoff=0.02
        )
        try:
            assert await client.subscribe(["ok.1"]) == ["ok.1"]
            with pytest.raises(RpcError) as busy:
                await client.subscribe(["busy.1"])
            assert busy.value.code == 10028
            with pytest.raises(RpcError) as bad:
                await client.subscribe(["bad.1"])
            assert bad.value.code == -32602
            assert client.subscriptions == ["ok.1", "busy.1"]
            await srv.restart(downtime=0.05)
            await wait_until(lambda: sorted(rpc.subscribed(2)) == ["busy.1", "ok.1"])
        finally:
            await client.close()
    assert "bad.1" not in rpc.subscribed(2)


async def test_cancelled_subscribe_keeps_channels_for_the_restore() -> None:
    rpc = Rpc()
    async with MockServer(rpc) as srv:
        client = await zenws.client.connect(
            srv.url, dialect="deribit", retry_delay=0.01, max_backoff=0.02
        )
        try:
            task = asyncio.ensure_future(client.subscribe(["hang.1"]))
            await wait_until(lambda: rpc.subscribed(1) == ["hang.1"])
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert client.subscriptions == ["hang.1"]
            await srv.restart(downtime=0.05)
            await wait_until(lambda: rpc.subscribed(2) == ["hang.1"])
        finally:
            await client.close()


# ---------------------------------------------------------------------------- registry


async def test_named_client_is_registered_while_open() -> None:
    async with MockServer(Rpc()) as srv:
        first = await zenws.client.connect(srv.url, name="policy-feed")
        assert registry.get("policy-feed") is first
        second = await zenws.client.connect(srv.url, name="policy-feed")
        assert registry.get("policy-feed") is second  # replaced
        await first.close()
        assert registry.get("policy-feed") is second  # first's close keeps the newer one
        await second.close()
        assert registry.lookup("policy-feed") is None
        unnamed = await zenws.client.connect(srv.url)
        try:
            assert unnamed not in [c for _, c in registry.default.items()]
        finally:
            await unnamed.close()


# ---------------------------------------------------------------------------- sent flag


async def test_connection_lost_says_whether_the_request_was_written() -> None:
    async with MockServer(lambda conn, msg: None) as silent:
        client = await zenws.client.connect(silent.url, reconnect_on_error=False)
        pending = asyncio.ensure_future(client.request("never_answered"))
        await silent.assert_received({"method": "never_answered"}, timeout=5.0)
        await silent.close_connections()
        with pytest.raises(ConnectionLost) as written:
            await pending
        assert written.value.sent is True  # type: ignore[attr-defined]
        await wait_until(lambda: client.closed)
        with pytest.raises(ConnectionLost) as before:
            await client.request("m")
        assert before.value.sent is False  # type: ignore[attr-defined]
        with pytest.raises(ConnectionLost) as sent_frame:
            client.send("x")
        assert sent_frame.value.sent is False  # type: ignore[attr-defined]
        await client.close()


# ---------------------------------------------------------------------------- recording


async def test_close_flushes_the_recording_off_the_loop(tmp_path: Path) -> None:
    async with MockServer(Rpc()) as srv:
        client = await zenws.client.connect(srv.url, record_to=str(tmp_path / "rec.jsonl"))
        assert await client.request("m", [1]) == [1]
        rec = client._recorder
        flush = rec._finalizer
        released = threading.Event()
        waited: list[bool] = []

        def slow_flush() -> None:
            # The flush waits for the event loop to run a callback: it can only return
            # True if close() left the loop running meanwhile.
            waited.append(released.wait(3.0))
            flush()

        rec._finalizer = slow_flush
        loop = asyncio.get_running_loop()
        ticker = loop.call_later(0.01, released.set)
        try:
            await client.close()
        finally:
            ticker.cancel()
        assert waited == [True]
        assert rec.closed and rec.written >= 2  # everything is on disk once close() returned


# ---------------------------------------------------------------------------- Config.name


def test_config_name_is_validated() -> None:
    assert zenws.Config.new("ws://h/", name="feed-1").name == "feed-1"
    assert zenws.Config.new("ws://h/").name is None
    for bad in ("", " x", "a\nb", "x" * 201, 3):
        with pytest.raises(ConfigError) as info:
            zenws.Config.new("ws://h/", name=bad)
        assert info.value.field == "name"


# ---------------------------------------------------------------------------- lazy import


def _python(code: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_import_zenws_loads_no_client_picows_or_extension() -> None:
    out = _python(
        "import sys, zenws, zenws.testing.plugin\n"
        "heavy = [m for m in sys.modules if m in ('picows', 'numpy', 'zenws.client')"
        " or m.startswith('zenws.fast.')]\n"
        "print(sorted(heavy))"
    )
    assert out == "[]"


def test_build_info_still_imports_every_extension() -> None:
    out = _python(
        "import sys, zenws\n"
        "from zenws._build import FAST_MODULES\n"
        "info = zenws.build_info()\n"
        "print(all(f'zenws.fast.{m}' in sys.modules for m in FAST_MODULES),"
        " sorted(info['extensions']) == sorted(FAST_MODULES))"
    )
    assert out == "True True"


def test_a_missing_extension_is_an_import_error_on_first_use() -> None:
    # zenws imports (the file exists), then the listener cannot be loaded: touching the
    # client must raise ImportError, never fall back.
    out = _python(
        "import importlib.abc, sys, zenws\n"
        "class Hide(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'zenws.fast.listener':\n"
        "            raise ModuleNotFoundError('hidden', name=name)\n"
        "sys.meta_path.insert(0, Hide())\n"
        "try:\n"
        "    zenws.connect\n"
        "except ImportError:\n"
        "    print('ImportError')\n"
    )
    assert out == "ImportError"


def test_every_public_name_resolves_and_is_listed() -> None:
    missing = [n for n in zenws.__all__ if getattr(zenws, n, None) is None]
    assert missing == []
    assert set(zenws.__all__) <= set(dir(zenws))
    for name in ("registry", "Recorder", "RecordingError", "replay_sync", "Category",
                 "Explanation", "categorize", "explain"):  # fmt: skip
        assert name in zenws.__all__
    assert zenws.registry is registry
    assert zenws.categorize(RpcError(10028, "too_many_requests")) is zenws.Category.RECOVERABLE
    with pytest.raises(AttributeError):
        zenws.no_such_name  # noqa: B018
