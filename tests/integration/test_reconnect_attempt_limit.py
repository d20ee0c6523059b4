"""Config.attempt_limit: connection attempts in any window never exceed the limit."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest

import zenws
from rawws import accept_upgrade, raw_server
from waits import wait_until
from zenws.errors import ConfigError
from zenws.reconnect import AttemptLimit

COUNT, WINDOW = 3, 1.5
#: Scheduling slack between the client counting an attempt and the server accepting it.
SLACK = 0.05


def accepting(seen: list[float]) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Any]:
    """A server handler that notes when each attempt came, opens it and holds it open."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(time.monotonic())
        await accept_upgrade(reader, writer)
        await reader.read()

    return handler


async def test_attempts_stay_within_the_window_whatever_the_backoff() -> None:
    seen: list[float] = []  # when the server saw each connection attempt
    opened = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(time.monotonic())
        if len(seen) == 1:
            await accept_upgrade(reader, writer)  # the first connect opens, then drops
            await opened.wait()
        # every later attempt: the socket closes before the upgrade (a refused attempt)

    async with raw_server(handler) as url:
        client = await zenws.connect(
            url, retry_delay=0, max_backoff=0, attempt_limit=(COUNT, WINDOW), stable_after=60
        )
        opened.set()
        try:
            await wait_until(lambda: len(seen) >= 2 * COUNT + 1, what="attempts")
        finally:
            await client.close()
    for i in range(len(seen) - COUNT):
        # any COUNT + 1 consecutive attempts span at least one window
        assert seen[i + COUNT] - seen[i] >= WINDOW - SLACK, (i, seen)


async def test_one_limit_shared_by_two_clients() -> None:
    limit = AttemptLimit(2, 60.0)
    seen: list[float] = []
    handler = accepting(seen)

    async with raw_server(handler) as url:
        a = await zenws.connect(url, attempt_limit=limit, close_timeout=0.2)
        b = await zenws.connect(url, attempt_limit=limit, close_timeout=0.2)
        third = asyncio.ensure_future(zenws.connect(url, attempt_limit=limit, close_timeout=0.2))
        # a window in which the third connect must not reach the server
        await asyncio.sleep(0.3)
        assert len(seen) == 2 and not third.done()
        assert 59 < limit.wait() <= 60
        third.cancel()
        with pytest.raises(asyncio.CancelledError):
            await third
        await a.close()
        await b.close()


def test_attempt_limit_values() -> None:
    assert AttemptLimit.of(None) is None
    limit = AttemptLimit(2, 10.0)
    assert AttemptLimit.of(limit) is limit
    assert zenws.Config.new("ws://h/", attempt_limit=limit).attempt_limit is limit
    assert zenws.Config.new("ws://h/", attempt_limit=[300, 300]).attempt_limit == (300, 300.0)
    for bad in (5, (0, 1.0), (1, 0), (1, -1.0), (1.5, 2.0), (1, float("nan")), (1, 2, 3), "x"):
        with pytest.raises(ConfigError) as info:
            zenws.Config.new("ws://h/", attempt_limit=bad)
        assert info.value.field == "attempt_limit"


def test_sliding_window_arithmetic() -> None:
    limit = AttemptLimit(3, 10.0)
    for t in (0.0, 1.0, 2.0):
        assert limit.wait(t) == 0
        limit.record(t)
    assert limit.wait(2.0) == 8.0  # the 4th attempt waits until the 1st leaves the window
    assert limit.wait(10.0) == 0
    limit.record(10.0)
    assert limit.wait(10.0) == 1.0  # now the 2nd (t=1) must leave it
    assert limit.recent(10.0) == 3 and limit.recent(11.5) == 2
    with pytest.raises(ConfigError):
        AttemptLimit(0, 1.0)
    with pytest.raises(ConfigError):
        AttemptLimit(1, 0.0)


async def test_rotations_count_as_connection_attempts() -> None:
    """A rotation opens a connection: the venue's attempt limit holds it back too."""
    seen: list[float] = []
    handler = accepting(seen)

    async with raw_server(handler) as url:
        client = await zenws.connect(url, attempt_limit=(2, WINDOW), close_timeout=0.2)
        try:
            await client.rotate()  # the second attempt of the window: at once
            await client.rotate()  # the third: only once the first has left the window
        finally:
            await client.close()
    assert len(seen) == 3
    assert seen[2] - seen[0] >= WINDOW - SLACK, seen
