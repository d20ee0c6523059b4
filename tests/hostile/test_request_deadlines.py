"""Every request ends by its deadline against a server that stops reading (DESIGN §3).

A peer that accepts the upgrade and then never reads fills the socket buffers; the
transport then asks zenws to stop writing.  Whatever a request waits on -- the rate
limiter's queue, the socket becoming writable, or the response -- it ends with
``RequestTimeout`` by its deadline, on the compiled request path and on the Python path,
and ``metrics().pending`` counts it until then.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

import zenws
from rawws import accept_upgrade, raw_server
from zenws import RateLimited, RequestTimeout
from zenws.ratelimit import RateLimiter, preset
from zenws.testing import MockServer

TIMEOUT = 1.0
# Slack over the deadline for a shared, loaded machine (the bug is "never", not "late").
SLACK = 4.0
# Large enough that a few hundred requests overflow the socket buffers and the
# transport's high-water mark, so later requests wait for writability.
PAD = "x" * 8192
COUNT = 1500


@asynccontextmanager
async def deaf_server() -> AsyncIterator[str]:
    """A raw server that answers the upgrade, then never reads again (small SO_RCVBUF)."""

    done = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        await accept_upgrade(reader, writer)
        writer.transport.pause_reading()  # type: ignore[attr-defined]
        await done.wait()  # until the test ends

    async with raw_server(handler) as url:
        try:
            yield url
        finally:
            done.set()
            await asyncio.sleep(0)  # the handler returns before the server stops


Fire = Callable[[int], Coroutine[Any, Any, Any]]


async def fire_and_check(
    client: zenws.Client, fire: Fire, count: int = COUNT, *, write_paused: bool = True
) -> None:
    """Start ``count`` requests, check pending while they wait, and that each times out.

    With ``write_paused``, the requests filled the socket buffers: the transport stopped
    writing (later ones wait for writability).
    """
    ended: dict[int, float] = {}
    t0 = time.monotonic()

    def stamp(i: int) -> Callable[[asyncio.Future[Any]], None]:
        return lambda _f: ended.__setitem__(i, time.monotonic())

    tasks = []
    for i in range(count):
        task = asyncio.ensure_future(fire(i))
        task.add_done_callback(stamp(i))
        tasks.append(task)
    await asyncio.sleep(0)  # every task took its first step: sent, or waiting to send
    outstanding = sum(not t.done() for t in tasks)
    assert client.metrics().pending == outstanding
    assert outstanding == count  # nothing can have ended yet: no answer ever comes
    # the peer's silence reached the transport
    assert client.metrics().write_paused or not write_paused
    results = await asyncio.wait_for(
        asyncio.gather(*tasks, return_exceptions=True), TIMEOUT + SLACK + 5.0
    )
    assert all(isinstance(r, RequestTimeout) for r in results), {type(r).__name__ for r in results}
    assert max(ended.values()) - t0 <= TIMEOUT + SLACK
    assert min(ended.values()) - t0 >= TIMEOUT - 0.05  # and none before its deadline
    assert client.metrics().pending == 0
    # a fresh request on the same (still unwritable) connection keeps its deadline too
    t1 = time.monotonic()
    with pytest.raises(RequestTimeout):
        await asyncio.wait_for(fire(count), TIMEOUT + SLACK + 5.0)
    assert time.monotonic() - t1 <= TIMEOUT + SLACK
    assert client.metrics().pending == 0


async def test_compiled_path_requests_end_by_deadline() -> None:
    # default timeout, no limiter: the compiled Requester path while the socket is writable
    async with deaf_server() as url:
        client = await zenws.connect(url, request_timeout=TIMEOUT, close_timeout=0.5)
        try:
            await fire_and_check(client, lambda i: client.request("get", [i, PAD]))
        finally:
            await client.close()


async def test_python_path_requests_end_by_deadline() -> None:
    # an explicit timeout takes the Python request path
    async with deaf_server() as url:
        client = await zenws.connect(url, close_timeout=0.5)
        try:
            await fire_and_check(client, lambda i: client.request("get", [i, PAD], timeout=TIMEOUT))
        finally:
            await client.close()


async def test_recorded_requests_end_by_deadline(tmp_path: Path) -> None:
    # recording on: requests are encoded to bytes and recorded before they are written
    async with deaf_server() as url:
        client = await zenws.connect(
            url, request_timeout=TIMEOUT, close_timeout=0.5, record_to=str(tmp_path / "rec")
        )
        try:
            await fire_and_check(client, lambda i: client.request("get", [i, PAD]), 600)
        finally:
            await client.close()


async def test_idempotent_requests_end_by_deadline() -> None:
    async with deaf_server() as url:
        client = await zenws.connect(
            url,
            request_timeout=TIMEOUT,
            close_timeout=0.5,
            idempotent_methods=("public/get_time",),
        )
        try:
            await fire_and_check(client, lambda i: client.request("public/get_time", [i, PAD]))
        finally:
            await client.close()


async def test_rate_limited_requests_end_by_deadline() -> None:
    # 500/s, burst 200: most requests wait in the limiter queue, then for writability
    limiter = RateLimiter(preset("simple", rate=500, burst=200), max_queue=COUNT)
    async with deaf_server() as url:
        client = await zenws.connect(
            url, request_timeout=TIMEOUT, close_timeout=0.5, rate_limit=limiter
        )
        try:
            # most wait in the limiter's queue: the burst alone may not fill the buffers
            await fire_and_check(
                client, lambda i: client.request("get", [i, PAD]), write_paused=False
            )
            assert client.metrics().rate_limit_queue == 0
        finally:
            await client.close()


async def test_full_limiter_queue_raises_at_once() -> None:
    limiter = RateLimiter(preset("simple", rate=1, burst=1), max_queue=2)
    async with deaf_server() as url:
        client = await zenws.connect(
            url, request_timeout=TIMEOUT, close_timeout=0.5, rate_limit=limiter
        )
        try:
            first = asyncio.ensure_future(client.request("get", [0]))  # takes the token
            queued = [asyncio.ensure_future(client.request("get", [i])) for i in (1, 2)]
            await asyncio.sleep(0)
            assert client.metrics().rate_limit_queue == 2
            assert client.metrics().pending == 3
            t0 = time.monotonic()
            with pytest.raises(RateLimited):
                await client.request("get", [3])
            assert time.monotonic() - t0 < TIMEOUT / 2
            results = await asyncio.gather(first, *queued, return_exceptions=True)
            assert all(isinstance(r, RequestTimeout) for r in results)
            assert client.metrics().pending == 0
        finally:
            await client.close()


async def test_mock_server_that_stops_reading() -> None:
    async with MockServer() as server:
        client = await zenws.connect(server.url, request_timeout=TIMEOUT, close_timeout=0.5)
        try:
            conn = (await server.wait_for_connections(1))[0]
            conn.pause_reading()
            assert conn.reading_paused
            await fire_and_check(client, lambda i: client.request("get", [i, PAD]))
            conn.resume_reading()
            assert not conn.reading_paused
            # the server reads again: the backlog drains and the client is writable again
            deadline = time.monotonic() + 10.0
            while client.metrics().write_paused and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            assert not client.metrics().write_paused
        finally:
            await client.close()


async def test_idempotent_read_waiting_for_reconnect_stays_pending() -> None:
    # a read lost with its connection waits for the next one, within its deadline: it is
    # still a request not ended
    async with MockServer(lambda conn, msg: None) as server:  # never answers
        client = await zenws.connect(
            server.url,
            request_timeout=2.0,
            close_timeout=0.5,
            retry_delay=0.3,
            backoff_jitter="none",
            idempotent_methods=("public/get_time",),
        )
        try:
            read = asyncio.ensure_future(client.request("public/get_time"))
            await server.assert_received({"method": "public/get_time"}, timeout=5.0)
            t0 = time.monotonic()
            server.abort()
            deadline = time.monotonic() + 5.0
            while client.state is not zenws.State.RECONNECTING and time.monotonic() < deadline:
                await asyncio.sleep(0.005)
            assert client.state is zenws.State.RECONNECTING and not read.done()
            assert client.metrics().pending == 1
            with pytest.raises(RequestTimeout):
                await asyncio.wait_for(read, 2.0 + SLACK + 5.0)
            assert time.monotonic() - t0 <= 2.0 + SLACK
            assert client.metrics().pending == 0
        finally:
            await client.close()
