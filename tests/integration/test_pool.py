"""Pool: supervision, health scoring, balanced routing and safe failover over real servers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import pytest

import zenws.registry as registry
from waits import wait_until
from zenws import telemetry
from zenws.errors import ConnectError, ConnectionLost, RequestTimeout, RpcError
from zenws.pool import Pool, score
from zenws.testing import MockServer
from zenws.testing.connection import Connection
from zenws.testing.handler import Received

FAST = {"restart_delay": 0.02, "max_restart_delay": 0.1, "health_interval": 0.05}


class Rpc:
    """JSON-RPC server personality: ``result = {"server": name}``; ``hang`` never answers;
    ``flaky`` hangs on the first server that sees it, answers elsewhere; ``fail`` errors."""

    victim: str | None = None

    def __init__(self, name: str) -> None:
        self.name = name
        self.delay = 0.0

    async def __call__(self, conn: Connection, msg: Received) -> None:
        if self.delay:
            await asyncio.sleep(self.delay)
        doc = msg.json({})
        rid, method = doc.get("id"), doc.get("method")
        if rid is None or method == "hang":
            return
        if method == "flaky":
            if Rpc.victim is None:
                Rpc.victim = self.name
            if Rpc.victim == self.name:
                return
        if method == "fail":
            conn.send_json({"jsonrpc": "2.0", "id": rid, "error": {"code": 1, "message": "no"}})
            return
        conn.send_json({"jsonrpc": "2.0", "id": rid, "result": {"server": self.name}})


@pytest.fixture
async def servers() -> AsyncIterator[list[MockServer]]:
    Rpc.victim = None
    async with AsyncExitStack() as stack:
        yield [await stack.enter_async_context(MockServer(Rpc(f"s{i}"))) for i in range(3)]


def received(server: MockServer, method: str) -> int:
    return sum(1 for m in server.received if m.json({}).get("method") == method)


def test_score_function() -> None:
    assert score(open=False) == 0
    assert score(open=True) == 100
    assert score(open=True, p99_ns=25_000_000) == 82  # half of the 35-point latency penalty
    assert score(open=True, errors=1.0) == 90 and score(open=True, errors=50) == 70
    assert score(open=True, pressure="high") == 70 and score(open=True, pending=100) == 80
    assert score(open=True, heartbeat_ok=False) == 50
    worst = score(
        open=True,
        pending=99,
        p99_ns=10**12,
        errors=9,
        pressure="high",
        heartbeat_ok=False,
        write_paused=True,
    )
    assert worst == 0


async def test_round_robin_among_equals_and_registry(servers: list[MockServer]) -> None:
    opened: list[Any] = []
    async with Pool([s.url for s in servers], on_connect=opened.append, name="rr", **FAST) as pool:
        # on_connect runs as each member becomes open: every client once, in the order the
        # three concurrent connects completed (not necessarily the pool's order)
        assert len(opened) == 3 and {id(c) for c in opened} == {id(c) for c in pool.clients}
        assert set(pool.health()) == {"rr[0]", "rr[1]", "rr[2]"}
        assert all(v > 90 for v in pool.health().values())
        assert registry.lookup("rr[1]") is pool.clients[1]
        results = [await pool.request_balanced("who") for _ in range(9)]
        assert sorted(r["server"] for r in results) == ["s0"] * 3 + ["s1"] * 3 + ["s2"] * 3
        sent = [pool.send_balanced({"jsonrpc": "2.0", "method": "note"}) for _ in range(3)]
        assert len({id(c) for c in sent}) == 3
        for s in servers:
            await s.assert_received({"method": "note"})
        with pytest.raises(RpcError):
            await pool.request_balanced("fail", idempotent=True)
        assert sum(received(s, "fail") for s in servers) == 1  # an answer is never retried
    assert registry.lookup("rr[1]") is None
    assert all(c.state.name == "CLOSED" for c in opened)


async def test_failover_when_a_server_is_aborted(servers: list[MockServer]) -> None:
    events: list[tuple[str, dict[str, Any]]] = []
    handle = telemetry.attach("pool", lambda e, m, md: events.append((e, {**m, **md})))
    lost: list[Any] = []
    try:
        async with Pool([s.url for s in servers], on_disconnect=lost.append, **FAST) as pool:
            task = asyncio.create_task(pool.request_balanced("hang", timeout=10))
            await wait_until(lambda: sum(received(s, "hang") for s in servers) == 1)
            (victim,) = [s for s in servers if received(s, "hang")]
            victim.abort()  # TCP reset, no close frame
            await victim.stop()  # and nothing listens any more
            with pytest.raises(ConnectionLost):
                await asyncio.wait_for(task, 5)
            # the non-idempotent request was written once and is not resent elsewhere
            assert sum(received(s, "hang") for s in servers) == 1
            await wait_until(lambda: sorted(pool.health().values())[0] == 0)
            assert len(lost) == 1
            others = {f"s{servers.index(s)}" for s in servers if s is not victim}
            results = {(await pool.request_balanced("who"))["server"] for _ in range(6)}
            assert results == others
            # idempotent: in flight on a server that then vanishes -> resent to another one
            task = asyncio.create_task(pool.request_balanced("flaky", idempotent=True, timeout=10))
            await wait_until(lambda: Rpc.victim is not None)
            flaky_victim = servers[int(Rpc.victim[1:])]  # type: ignore[index]
            assert flaky_victim is not victim
            flaky_victim.abort()
            result = await asyncio.wait_for(task, 5)
            assert result["server"] not in (Rpc.victim, f"s{servers.index(victim)}")
    finally:
        telemetry.detach(handle)
    assert any(e == "pool.route" and "health" in d for e, d in events)
    assert any(e == "pool.failover" and d["reason"] == "ConnectionLost" for e, d in events)


async def test_request_timeout_is_not_resent_unless_idempotent(servers: list[MockServer]) -> None:
    async with Pool([s.url for s in servers[:2]], **FAST) as pool:
        with pytest.raises(RequestTimeout):
            await pool.request_balanced("hang", timeout=0.2)
        assert sum(received(s, "hang") for s in servers) == 1
        with pytest.raises(RequestTimeout):
            await pool.request_balanced("hang", timeout=0.2, idempotent=True, max_attempts=2)
        assert sum(received(s, "hang") for s in servers) == 3  # 1 + one try on each of two


async def test_flapping_endpoint_does_not_stop_the_pool(servers: list[MockServer]) -> None:
    good, flappy = servers[0], servers[1]
    flappy.refuse_next(None, 503)  # every upgrade refused
    async with Pool([good.url, flappy.url], max_restarts=3, restart_window=30, **FAST) as pool:
        await wait_until(lambda: pool.health_details()[1].state == "SUSPENDED")
        details = pool.health_details()
        assert details[1].restarts == 4 and details[1].score == 0
        for _ in range(5):
            assert (await pool.request_balanced("who"))["server"] == "s0"
        assert pool.health()[pool.members[0]] > 90
        attempts = len(flappy.upgrade_requests)
        await asyncio.sleep(0.3)  # a window: nothing may be attempted
        assert len(flappy.upgrade_requests) == attempts  # suspended: no more hammering


async def test_crashed_client_is_restarted(servers: list[MockServer]) -> None:
    async with Pool([servers[0].url], retry_count=0, **FAST) as pool:
        first = pool.clients[0]
        servers[0].abort()  # retry_count=0: the client gives up -> the pool restarts it
        await wait_until(lambda: pool.clients[0] is not first and pool.health()[pool.members[0]])
        assert first.state.name == "CLOSED"
        assert (await pool.request_balanced("who"))["server"] == "s0"
        assert pool.health_details()[0].restarts == 1


async def test_health_reacts_to_latency(servers: list[MockServer]) -> None:
    fast, slow = servers[0], servers[1]
    slow.handler.fn.delay = 0.05  # type: ignore[attr-defined]
    async with Pool([fast.url, slow.url], latency_ref=0.01, **FAST) as pool:
        c_fast, c_slow = pool.clients
        for _ in range(10):
            await c_fast.request("who")
            await c_slow.request("who")
        await wait_until(lambda: pool.health_details()[1].p99_ns >= 50_000_000)
        h = pool.health()
        assert h[pool.members[1]] < h[pool.members[0]] - 20
        results = [(await pool.request_balanced("who"))["server"] for _ in range(5)]
        assert results == ["s0"] * 5


async def test_health_reacts_to_errors_and_recovers(servers: list[MockServer]) -> None:
    async with Pool([servers[0].url], error_half_life=0.1, **FAST) as pool:
        name = pool.members[0]
        await wait_until(lambda: pool.health()[name] > 95)
        for _ in range(3):
            await servers[0].inject("this is not json {")
        await wait_until(lambda: pool.health()[name] < 80)
        assert pool.health_details()[0].errors > 1
        await wait_until(lambda: pool.health()[name] > 95, timeout=10)


async def test_start_fails_when_nothing_connects(servers: list[MockServer]) -> None:
    for s in servers:
        s.refuse_next(None, 503)
    pool = Pool([s.url for s in servers], **FAST)
    with pytest.raises(ConnectError, match="no member"):
        await pool.start()
    assert pool.health() == dict.fromkeys(pool.members, 0)


async def test_discovery_and_size(servers: list[MockServer]) -> None:
    async def discover() -> list[str]:
        return [servers[2].url]

    async with Pool([], discovery=discover, size=2, **FAST) as pool:
        assert len(pool.clients) == 2
        assert {(await pool.request_balanced("who"))["server"] for _ in range(4)} == {"s2"}
    with pytest.raises(ValueError):
        Pool([])


async def test_no_open_client(servers: list[MockServer]) -> None:
    async with Pool([servers[0].url], **FAST) as pool:
        await servers[0].stop()
        await wait_until(lambda: pool.health()[pool.members[0]] == 0)
        with pytest.raises(ConnectionLost):
            pool.send_balanced("x")
        with pytest.raises(ConnectionLost):
            await pool.request_balanced("who")


async def test_unsent_detection_on_a_real_client(servers: list[MockServer]) -> None:
    from zenws._pool_health import provably_unsent
    from zenws.client import connect

    client = await connect(servers[0].url)
    task = asyncio.create_task(client.request("hang", timeout=10))
    await servers[0].assert_received({"method": "hang"})
    servers[0].abort()
    with pytest.raises(ConnectionLost) as written:
        await task
    assert not provably_unsent(written.value)  # it reached the wire: never resent
    await client.close()
    with pytest.raises(ConnectionLost) as refused:
        await client.request("who")
    assert provably_unsent(refused.value)  # rejected before any write: safe to fail over
