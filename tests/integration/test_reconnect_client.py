"""Reconnect policy through the real client: backoff, jitter, stability window, retry limit,
HTTP status classification (401 fatal, 429 Retry-After), and the reconnected event.

Every test runs against ``zenws.testing.MockServer`` on loopback (upgrade refusals, resets and
restarts are real), on both asyncio and uvloop (tests/conftest.py).
"""

from __future__ import annotations

import asyncio
import http
import time
from typing import Any

import pytest
import websockets.asyncio.server
from _helpers import Event, named, wait_open

import zenws.client
from waits import wait_until
from zenws import errors
from zenws.state import State
from zenws.testing import MockServer


async def test_jittered_backoff_between_refused_attempts(events: list[Event]) -> None:
    async with MockServer() as srv:
        client = await zenws.client.connect(
            srv.url, retry_delay=0.04, max_backoff=0.16, backoff_jitter="full"
        )
        try:
            srv.refuse_next(None, 503)
            srv.abort()
            await wait_until(lambda: len(named(events, "connection.reconnecting")) >= 6)
            srv.clear_refusals()
            await wait_open(client, 2)
        finally:
            await client.close()
    recon = named(events, "connection.reconnecting")
    attempts = [m["attempt"] for _, _, m, _ in recon]
    assert attempts == list(range(1, len(recon) + 1))
    delays = [m["delay"] for _, _, m, _ in recon]
    for n, d in enumerate(delays):
        assert 0.0 <= d <= min(0.16, 0.04 * 2**n) + 1e-9, (n, d)
    assert len(set(delays)) == len(delays), "full jitter gives distinct delays"
    # The server saw each attempt no earlier than the announced delay after the previous one.
    upgrades = [u.mono_ns for u in srv.upgrade_requests[1:]]
    assert len(upgrades) == len(recon)
    starts = [recon[0][0], *upgrades[:-1]]
    for start, at, d in zip(starts, upgrades, delays, strict=True):
        assert at - start >= d * 1e9 - 5e6, (at - start, d)


async def test_attempt_counter_resets_only_after_stable_uptime(events: list[Event]) -> None:
    async with MockServer() as srv:
        client = await zenws.client.connect(
            srv.url, retry_delay=0.02, max_backoff=1.0, backoff_jitter="none", stable_after=0.5
        )
        try:
            for epoch in (2, 3, 4):  # flapping: dropped right after every open
                srv.abort()
                await wait_open(client, epoch)
            await asyncio.sleep(0.7)  # the scenario: up longer than stable_after, now stable
            srv.abort()
            await wait_open(client, 5)
        finally:
            await client.close()
    recon = named(events, "connection.reconnecting")
    assert [m["attempt"] for _, _, m, _ in recon] == [1, 2, 3, 1]
    assert [round(m["delay"], 6) for _, _, m, _ in recon] == [0.02, 0.04, 0.08, 0.02]


async def test_retry_count_limit_gives_up(events: list[Event]) -> None:
    async with MockServer() as srv:
        client = await zenws.client.connect(
            srv.url, retry_count=2, retry_delay=0.02, max_backoff=0.05
        )
        srv.refuse_next(None, 503)
        srv.abort()
        await wait_until(lambda: bool(named(events, "connection.gave_up")))
        await asyncio.sleep(0.2)  # a window: nothing else is attempted
        assert client.state is State.CLOSED
        assert len(srv.upgrade_requests) == 1 + 2
        assert len(named(events, "connection.reconnecting")) == 2
        with pytest.raises(errors.ConnectionLost):
            await client.request("public/test")
        await client.close()


@pytest.mark.parametrize("status", [401, 403])
async def test_auth_refusal_is_not_retried(events: list[Event], status: int) -> None:
    async with MockServer() as srv:
        srv.refuse_next(1, status)
        with pytest.raises(errors.ConnectError) as info:
            await zenws.client.connect(srv.url, retry_delay=0.01)
        assert info.value.status == status
        assert len(srv.upgrade_requests) == 1

        client = await zenws.client.connect(srv.url, retry_delay=0.01, max_backoff=0.02)
        srv.refuse_next(None, status, body=b"bad credentials")
        srv.abort()
        await wait_until(lambda: bool(named(events, "connection.gave_up")))
        await asyncio.sleep(0.3)  # a window: no further reconnect try
        assert len(srv.upgrade_requests) == 3  # refused, accepted, exactly one reconnect try
        assert client.state is State.CLOSED
        assert named(events, "connection.reconnecting")[0][2]["attempt"] == 1
        await client.close()


async def test_429_retry_after_is_honoured(events: list[Event]) -> None:
    async with MockServer() as srv:
        client = await zenws.client.connect(srv.url, retry_delay=0.01, max_backoff=0.02)
        try:
            srv.refuse_next(1, 429, headers={"Retry-After": "1"})
            srv.abort()
            await wait_open(client, 2, timeout=10)
        finally:
            await client.close()
    first, second = srv.upgrade_requests[1:]
    assert second.mono_ns - first.mono_ns >= 0.99e9
    delays = [m["delay"] for _, _, m, _ in named(events, "connection.reconnecting")]
    assert len(delays) == 2 and delays[0] <= 0.02 and delays[1] >= 1.0


async def test_reconnected_event_carries_the_gap(events: list[Event]) -> None:
    async with MockServer() as srv:
        client = await zenws.client.connect(srv.url, retry_delay=0.01, max_backoff=0.02)
        try:
            before = time.time()
            await srv.restart(downtime=0.3)
            await wait_open(client, 2)
            await wait_until(lambda: bool(named(events, "connection.reconnected")))
        finally:
            await client.close()
    _, _, m, md = named(events, "connection.reconnected")[0]
    assert md["epoch"] == 2 and md["previous_epoch"] == 1
    assert before - 1.0 <= md["down_at"] <= md["up_at"] <= time.time()
    assert md["up_at"] - md["down_at"] >= 0.25  # the server was down for 0.3 s
    assert m["gap_s"] == pytest.approx(md["up_at"] - md["down_at"])


async def test_refusals_from_a_python_websockets_server(events: list[Event]) -> None:
    """The same classification against an independent server implementation."""
    plan = [(429, "2"), None, (503, "0.5"), None]  # per upgrade attempt: refuse or accept
    seen: list[int] = []
    sockets: list[Any] = []

    def process_request(connection: Any, request: Any) -> Any:
        seen.append(time.monotonic_ns())
        step = plan[len(seen) - 1] if len(seen) <= len(plan) else None
        if step is None:
            return None
        response = connection.respond(http.HTTPStatus(step[0]), "try later\n")
        response.headers["Retry-After"] = step[1]
        return response

    async def handler(ws: Any) -> None:
        sockets.append(ws)
        await ws.wait_closed()

    async with websockets.asyncio.server.serve(
        handler, "127.0.0.1", 0, process_request=process_request
    ) as server:
        url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/"
        with pytest.raises(errors.ConnectError) as info:
            await zenws.client.connect(url)
        assert (info.value.status, info.value.retry_after) == (429, 2.0)
        client = await zenws.client.connect(url, retry_delay=0.01, max_backoff=0.02)
        try:
            await sockets[0].close(1012, "restart")
            await wait_open(client, 2)
        finally:
            await client.close()
    assert len(seen) == 4
    assert seen[3] - seen[2] >= 0.49e9  # Retry-After: 0.5 honoured
    delays = [m["delay"] for _, _, m, _ in named(events, "connection.reconnecting")]
    assert delays[0] <= 0.02 and delays[1] >= 0.5
