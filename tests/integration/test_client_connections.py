"""Two connections of one client at once: the active one and one being prepared.

What make-before-break rotation builds on: a prepared connection takes requests and
correlates them on its own, its notifications go to a separate delivery, it can replace
the active one while the old one's in-flight requests finish, and its end fails only its
own requests.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from _client_servers import WebsocketsServer

import zenws
from waits import wait_until
from zenws import State
from zenws.client._connection import Delivery
from zenws.errors import ConnectionLost
from zenws.fast.listener import MessageQueue


def _staging() -> Delivery:
    return Delivery(MessageQueue(100, "drop_newest"), {}, None)


async def test_a_prepared_connection_takes_over_while_the_old_one_drains() -> None:
    async with WebsocketsServer() as srv:
        client = zenws.Client(zenws.Config.new(srv.url))
        await client.start()
        staging = _staging()
        new = await client._prepare(staging)
        await wait_until(lambda: len(srv.live) == 2)
        assert client.epoch == 1 and new.epoch == 2 and client.state is State.OPEN
        first = client._listener
        # a request in flight on the active connection, answered after the switch
        slow = asyncio.ensure_future(client.request("delay", {"s": 0.3}))
        await wait_until(lambda: first is not None and first.correlator.pending == 1)
        # the prepared connection's requests and notifications stay off the application
        params = {"n": 2, "channel": "c"}
        assert await client._requests.request_on(new, "push", params) == "ok"
        assert len(staging.queue) == 2 and len(client._queue) == 0
        old = client._activate(new)
        assert old is not None and old.listener is first
        assert client.epoch == 2 and client._listener is new.listener
        assert await client.request("echo", [1]) == [1]
        assert new.listener is not None and new.listener.counters()["responses"] == 2
        assert await client.request("push", params) == "ok"
        assert len(client._queue) == 2 and len(staging.queue) == 2
        assert await slow == {"s": 0.3}  # the old connection's answer
        old.close()
        assert old.disconnected is not None
        await asyncio.wait_for(asyncio.shield(old.disconnected), 5)
        assert client.state is State.OPEN and client.epoch == 2
        assert client.metrics().reconnects == 0
        assert await client.request("echo", [2]) == [2]
        await client.close()
    assert client.closed


async def test_a_prepared_connection_that_drops_fails_only_its_own_requests() -> None:
    async with WebsocketsServer() as srv:
        client = zenws.Client(zenws.Config.new(srv.url))
        await client.start()
        new = await client._prepare(_staging())
        waiting = asyncio.ensure_future(client._requests.request_on(new, "never"))
        await wait_until(lambda: new.correlator.pending == 1)
        new.abort()
        with pytest.raises(ConnectionLost) as info:
            await waiting
        assert info.value.epoch == 2
        assert client.state is State.OPEN and client.epoch == 1
        assert client.metrics().close_code is None
        assert await client.request("echo", [1]) == [1]
        await client.close()


async def test_close_also_closes_a_prepared_connection() -> None:
    async with WebsocketsServer() as srv:
        client = zenws.Client(zenws.Config.new(srv.url))
        await client.start()
        new = await client._prepare(_staging())
        waiting = asyncio.ensure_future(client._requests.request_on(new, "never"))
        await wait_until(lambda: new.correlator.pending == 1)
        await client.close()
        with pytest.raises(ConnectionLost):
            await waiting
        assert new.disconnected is not None
        await asyncio.wait_for(asyncio.shield(new.disconnected), 5)
        await wait_until(lambda: not srv.live)


async def test_every_new_connection_inherits_the_response_hook() -> None:
    seen: list[object] = []
    async with WebsocketsServer() as srv:
        client = zenws.Client(zenws.Config.new(srv.url, retry_delay=0.01, max_backoff=0.02))
        await client.start()
        client.on_response = seen.append
        assert await client.request("echo", [1]) == [1]
        new = await client._prepare(_staging())
        assert await client._requests.request_on(new, "echo", [2]) == [2]
        next(iter(srv.live)).transport.abort()  # one of the two drops
        await wait_until(lambda: client.state is State.OPEN and len(srv.live) == 2)
        await client.reconnect()
        assert await client.request("echo", [3]) == [3]
        results = [(d if isinstance(d, dict) else json.loads(d))["result"] for d in seen]
        assert results == [[1], [2], [3]], seen
        await client.close()


async def test_on_response_set_before_start_and_on_a_prepared_connection() -> None:
    seen: list[object] = []
    async with WebsocketsServer() as srv:
        client = zenws.Client(zenws.Config.new(srv.url))
        client.on_response = seen.append  # before any connection exists
        await client.start()
        assert await client.request("echo", [1]) == [1]
        new = await client._prepare(_staging())
        client.on_response = None  # reaches the prepared connection too
        assert await client._requests.request_on(new, "echo", [2]) == [2]
        assert await client.request("echo", [3]) == [3]
        client.on_response = seen.append
        assert await client._requests.request_on(new, "echo", [4]) == [4]
        results = [(d if isinstance(d, dict) else json.loads(d))["result"] for d in seen]
        assert results == [[1], [4]], seen
        with pytest.raises(TypeError):
            client.on_response = 42  # type: ignore[assignment]
        await client.close()
