"""Typed-API examples: what a user's type checker sees (checked with ``mypy --strict``).

Never imported or run: ``test_mypy.py`` type-checks this file and compares every
``reveal_type(...)  # revealed: <type>`` comment with what mypy reveals on that line;
``assert_type`` calls fail the check on any mismatch.  The types come from the ``.py``
sources, the ``.pyi`` stubs of the compiled modules and ``py.typed`` of the imported
(installed) package.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from typing_extensions import assert_type, reveal_type

import zenws
import zenws.fast.jsonrpc
from zenws.errors import (
    ConfigError,
    ConnectError,
    ConnectionLost,
    ProtocolError,
    RateLimited,
    RequestTimeout,
    RpcError,
)
from zenws.fast.book import BID, Gap, L2Book
from zenws.fast.frame import Frame, decode, encode, mask_kernel
from zenws.fast.jsonrpc import Correlator, ScanResult, scan, scan_id
from zenws.fast.latency import LatencyBuffer, LatencySummary
from zenws.fast.ratelimit import TokenBucket
from zenws.pool import Pool
from zenws.testing import FaultProxy, Faults, MockServer, ProxyStats


async def client_api() -> None:
    client = await zenws.connect("ws://127.0.0.1:9000", request_timeout=2.0)
    reveal_type(client)  # revealed: zenws.client.Client
    reveal_type(await client.request("public/test"))  # revealed: Any
    reveal_type(client.state)  # revealed: zenws.state.State
    assert_type(client.latency_stats(), LatencySummary)
    assert_type(client.latency_stats().p99, int)
    assert_type(client.latency.to_numpy(), npt.NDArray[np.int64])
    reveal_type(client.metrics())  # revealed: zenws.metrics.StateMetrics
    reveal_type(client.heartbeat_health())  # revealed: zenws.metrics.HeartbeatHealth
    reveal_type(await client.rotate())  # revealed: zenws.rotation.RotationReport
    async for msg in client:
        reveal_type(msg)  # revealed: zenws.fast.listener.Message
        reveal_type(msg.json())  # revealed: Any
        assert_type(msg.raw, bytes)
        assert_type(msg.channel, str | None)
        assert_type(msg.recv_ns, int)
        assert_type(msg.kind, zenws.MessageKind)
    await client.close()
    async with zenws.connect("ws://127.0.0.1:9000") as ctx_client:
        assert_type(ctx_client, zenws.Client)


def config_api() -> None:
    cfg = zenws.Config.new("ws://127.0.0.1:9000", heartbeat="ping_pong")
    reveal_type(cfg)  # revealed: zenws.config.Config
    assert_type(cfg.replace(request_timeout=1.0), zenws.Config)
    assert_type(cfg.url, str)
    assert_type(cfg.request_timeout, float)


def fast_api(buf: bytes) -> None:
    lat = LatencyBuffer(1024)
    lat.add(1_500)
    assert_type(lat.summary(), LatencySummary)
    assert_type(lat.summary().mean, float)
    assert_type(lat.percentiles((50, 99, 99.9)), tuple[int, ...])
    assert_type(len(lat), int)

    bucket = TokenBucket(20, 10.0)
    reveal_type(bucket.try_acquire())  # revealed: bool
    assert_type(bucket.time_until(2.0), float)

    res = scan(buf)
    reveal_type(res)  # revealed: zenws.fast.jsonrpc.ScanResult
    assert_type(res, ScanResult)
    reveal_type(res.id)  # revealed: int | str | None
    assert_type(res.kind, int)
    assert_type(res.method, str | None)
    assert_type(res.channel, str | None)
    assert_type(scan_id(buf), int | str | None)
    assert_type(zenws.fast.jsonrpc.encode_request(1, "public/test"), bytes)
    assert_type(Correlator().pending, int)

    frame = encode(1, b"hi", mask=True)
    assert_type(frame, bytes)
    reveal_type(decode(frame))  # revealed: tuple[zenws.fast.frame.Frame, int] | None
    got = decode(frame)
    if got is not None:
        assert_type(got[0], Frame)
    assert_type(mask_kernel(), Literal["avx2", "sse2", "neon", "scalar64"])


def book_api(raw: bytes) -> None:
    book = L2Book("book.BTC-PERPETUAL.100ms", policy="deribit")
    assert_type(book.apply_deribit(raw), int)
    reveal_type(book.best_bid())  # revealed: tuple[float, float] | None
    assert_type(book.top(BID, 10), npt.NDArray[np.float64])
    assert_type(book.top_into("ask", np.empty((10, 2))), int)
    assert_type(book.vwap(BID, 2.5), float)
    assert_type(book.last_gap, Gap | None)
    assert_type(book.side_view(BID).get(100.0), float | None)
    assert_type(book.apply_delta([(1.0, 2.0)], [], 7, prev=6), int)


def errors_api(exc: zenws.ZenwsError) -> None:
    if isinstance(exc, ConfigError):
        assert_type(exc.field, str | None)
    elif isinstance(exc, ConnectError):
        assert_type(exc.url, str)
        assert_type(exc.status, int | None)
        assert_type(exc.headers, dict[str, str])
        assert_type(exc.retry_after, float | None)
    elif isinstance(exc, ConnectionLost):
        assert_type(exc.epoch, int)
        assert_type(exc.code, int | None)
        assert_type(exc.reason, str)
    elif isinstance(exc, RequestTimeout):
        assert_type(exc.method, str)
        assert_type(exc.timeout, float)
    elif isinstance(exc, RpcError):
        assert_type(exc.code, int)
        assert_type(exc.message, str)
        reveal_type(exc.data)  # revealed: Any
    elif isinstance(exc, RateLimited):
        assert_type(exc.bucket, str)
        assert_type(exc.retry_after, float)
    elif isinstance(exc, ProtocolError):
        assert_type(exc.close_code, int | None)  # None: a malformed response, still open
        assert_type(exc.reason, str)
        assert_type(exc.method, str)
        reveal_type(exc.request_id)  # revealed: Any


async def pool_api() -> None:
    pool = Pool(["ws://127.0.0.1:9000", "ws://127.0.0.1:9001"], size=2)
    reveal_type(await pool.start())  # revealed: zenws.pool.Pool
    assert_type(pool.health(), dict[str, int])
    reveal_type(await pool.request_balanced("public/test"))  # revealed: Any


async def testing_api() -> None:
    async with MockServer() as server:
        reveal_type(server)  # revealed: zenws.testing.server.MockServer
        assert_type(server.url, str)
        client = await zenws.connect(server.url)
        assert_type(client, zenws.Client)
        conn = (await server.wait_for_connections(1))[0]
        assert_type(conn.pause_reading(), None)  # back-pressure: the server stops reading
        assert_type(conn.reading_paused, bool)
        assert_type(server.resume_reading(connection=conn), None)
        assert_type(client.metrics().pending, int)
        assert_type(client.metrics().queue_max_depth, int)
        assert_type(client.metrics().write_buffer, int)
        async with FaultProxy(server.url, latency=0.05, jitter=0.02) as proxy:
            reveal_type(proxy)  # revealed: zenws.testing.faults.FaultProxy
            assert_type(proxy.url, str)
            assert_type(proxy.stats(), ProxyStats)
            assert_type(proxy.downstream, Faults)
            proxy.set("downstream", slice_size=1)


def build_api() -> None:
    info = zenws.build_info()
    assert_type(info, dict[str, Any])
    assert_type(zenws.__version__, str)
