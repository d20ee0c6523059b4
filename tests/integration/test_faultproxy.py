"""zenws.testing.FaultProxy: each fault does what it says, measured on real loopback sockets.

Byte-level faults are measured with bare asyncio TCP peers (timestamps on both ends, reads
counted at the receiver); WebSocket-level effects with the zenws client and ``MockServer``.
Every test runs on asyncio and on uvloop (tests/conftest.py).  Timing bounds are one-sided
where the fault sets a floor (latency, bandwidth) and generous where they only prove liveness.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from _helpers import wait_open, wait_until

import zenws
from zenws.errors import ConnectError, ConnectionLost
from zenws.state import State
from zenws.testing import FaultProxy, Faults, MockServer

TcpHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@contextlib.asynccontextmanager
async def tcp_server(handler: TcpHandler) -> AsyncIterator[tuple[str, int]]:
    """A bare TCP server on loopback running ``handler`` per connection."""
    tasks: set[asyncio.Task[Any]] = set()

    async def run(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)
        try:
            with contextlib.suppress(ConnectionError, asyncio.CancelledError):
                await handler(reader, writer)
        finally:
            writer.close()

    server = await asyncio.start_server(run, "127.0.0.1", 0)
    try:
        yield ("127.0.0.1", server.sockets[0].getsockname()[1])
    finally:
        server.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(65536):
        writer.write(data)
        await writer.drain()


async def read_exactly(reader: asyncio.StreamReader, n: int, timeout: float = 10.0) -> bytes:
    return await asyncio.wait_for(reader.readexactly(n), timeout)


def rpc(conn: Any, msg: Any) -> None:
    doc = msg.json()
    if doc.get("method") != "never":
        conn.send({"jsonrpc": "2.0", "id": doc["id"], "result": doc.get("params")})


# -- plumbing -------------------------------------------------------------------------------


async def test_transparent_relay_keeps_path_query_and_counts_bytes() -> None:
    async with (
        MockServer(rpc, path="/ws/api/v2") as srv,
        FaultProxy(srv.url + "?x=1") as proxy,
    ):
        assert proxy.url == f"ws://127.0.0.1:{proxy.port}/ws/api/v2?x=1"
        async with zenws.connect(proxy.url, reconnect_on_error=False) as client:
            results = await asyncio.gather(*(client.request("echo", [i]) for i in range(50)))
            assert results == [[i] for i in range(50)]
            assert srv.upgrade_requests[0].path == "/ws/api/v2"
            stats = proxy.stats()
            assert stats.connections_total == stats.connections_open == 1
            assert stats.bytes_up > 50 * 30 and stats.bytes_down > 50 * 30
            assert stats.dropped_up == stats.dropped_down == 0
        await proxy.wait_for_connections(0)
    assert proxy.stats().connections_open == 0 and proxy.stats().bytes_up >= stats.bytes_up


async def test_tls_passes_through_untouched() -> None:
    async with MockServer(rpc, ssl=True) as srv, FaultProxy(srv.url, latency=0.01) as proxy:
        assert proxy.url.startswith("wss://127.0.0.1:")
        async with zenws.connect(proxy.url, ssl=srv.ssl_context) as client:
            assert await client.request("echo", {"tls": True}) == {"tls": True}


def test_invalid_faults_are_rejected() -> None:
    with pytest.raises(ValueError, match="latency"):
        Faults(latency=-0.1)
    with pytest.raises(ValueError, match="slice_size"):
        Faults(slice_size=1.5)  # type: ignore[arg-type]
    proxy = FaultProxy(("127.0.0.1", 9))
    with pytest.raises(ValueError, match="direction"):
        proxy.set("sideways", latency=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="bandwidth"):
        proxy.set(bandwidth=-1)
    assert proxy.upstream == proxy.downstream == Faults()  # nothing changed


def test_set_changes_only_the_given_fields_and_direction() -> None:
    proxy = FaultProxy(("127.0.0.1", 9), latency=0.2, slice_size=3)
    proxy.set("downstream", jitter=0.1, bandwidth=1000)
    assert proxy.upstream == Faults(latency=0.2, slice_size=3)
    assert proxy.downstream == Faults(latency=0.2, jitter=0.1, bandwidth=1000, slice_size=3)
    proxy.blackhole("upstream")
    assert proxy.upstream.blackhole and not proxy.downstream.blackhole
    proxy.heal("upstream")
    assert proxy.upstream == Faults() and proxy.downstream.bandwidth == 1000
    proxy.heal()
    assert proxy.downstream == Faults()


# -- latency --------------------------------------------------------------------------------


async def one_way_delays(proxy: FaultProxy, rounds: int) -> tuple[list[float], list[float]]:
    """(client->server, server->client) one-way delays of ``rounds`` 8-byte pings."""
    arrivals: asyncio.Queue[float] = asyncio.Queue()

    async def stamp_and_echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.readexactly(8):
            arrivals.put_nowait(time.monotonic())
            writer.write(data)

    ups, downs = [], []
    async with tcp_server(stamp_and_echo) as target:
        proxy.target_host, proxy.target_port = target
        reader, writer = await asyncio.open_connection(proxy.host, proxy.port)
        try:
            for i in range(rounds):
                sent = time.monotonic()
                writer.write(i.to_bytes(8, "big"))
                assert await read_exactly(reader, 8) == i.to_bytes(8, "big")
                back = time.monotonic()
                at_server = await asyncio.wait_for(arrivals.get(), 5)
                ups.append(at_server - sent)
                downs.append(back - at_server)
        finally:
            writer.close()
    return ups, downs


async def test_latency_per_direction_is_at_least_the_configured_delay() -> None:
    async with FaultProxy(("127.0.0.1", 9)) as proxy:
        proxy.set("downstream", latency=0.25)
        ups, downs = await one_way_delays(proxy, 5)
        assert min(downs) >= 0.25
        assert statistics.median(ups) < 0.25  # the other direction is not delayed
        proxy.set("downstream", latency=0)
        proxy.set("upstream", latency=0.1)
        ups, downs = await one_way_delays(proxy, 5)
        assert min(ups) >= 0.1
        assert statistics.median(downs) < 0.1


async def test_jitter_stays_within_bounds_and_keeps_byte_order() -> None:
    latency, jitter = 0.05, 0.02
    async with (
        tcp_server(echo) as target,
        FaultProxy(target, latency=latency, jitter=jitter, seed=5) as proxy,
    ):
        ups, downs = await one_way_delays(proxy, 12)
        assert min(ups + downs) >= latency - jitter
        assert len({round(d, 3) for d in ups + downs}) > 3  # it does vary
        proxy.target_host, proxy.target_port = target
        reader, writer = await asyncio.open_connection(proxy.host, proxy.port)
        chunks = [f"<{i}>".encode() for i in range(300)]
        for chunk in chunks:  # many small writes, each with its own random delay
            writer.write(chunk)
            await asyncio.sleep(0)
        assert await read_exactly(reader, sum(map(len, chunks))) == b"".join(chunks)
        writer.close()


# -- bandwidth ------------------------------------------------------------------------------


async def test_bandwidth_cap_is_respected() -> None:
    rate, size = 40_000, 40_000
    blob = bytes(range(256)) * (size // 256) + b"x" * (size % 256)

    async def burst(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readexactly(1)
        writer.write(blob)  # all at once: the proxy must pace it
        await writer.drain()
        await reader.read()

    async with tcp_server(burst) as target, FaultProxy(target) as proxy:
        proxy.set("downstream", bandwidth=rate)
        reader, writer = await asyncio.open_connection(proxy.host, proxy.port)
        writer.write(b"!")
        t0 = time.monotonic()
        got = await read_exactly(reader, size, timeout=30)
        took = time.monotonic() - t0
        writer.close()
    assert got == blob
    assert size / took <= rate * 1.1, f"{size / took:.0f} B/s over a cap of {rate} B/s"
    assert proxy.stats().writes_down >= 50  # paced in small pieces, not one write


# -- slicing --------------------------------------------------------------------------------


async def test_one_byte_slices_arrive_as_many_reads() -> None:
    reads: list[bytes] = []
    payload = bytes(range(200))

    async def count_reads(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            reads.append(data)

    async with tcp_server(count_reads) as target, FaultProxy(target) as proxy:
        proxy.set("upstream", slice_size=1, slice_delay=0.001)
        _, writer = await asyncio.open_connection(proxy.host, proxy.port)
        writer.write(payload)  # one write
        await wait_until(lambda: sum(map(len, reads)) == len(payload), timeout=10)
        writer.close()
    assert b"".join(reads) == payload
    assert len(reads) >= len(payload) // 2, len(reads)
    assert proxy.stats().writes_up == len(payload)


async def test_sliced_websocket_messages_are_delivered_intact() -> None:
    messages = ["x" * n for n in (0, 1, 125, 126, 300, 2000)] + ["héllo €𝄞" * 20]
    async with (
        MockServer() as srv,
        FaultProxy(srv.url, slice_size=1) as proxy,
        zenws.connect(proxy.url, reconnect_on_error=False) as client,
    ):
        got: list[str] = []
        client.on_message = lambda m: got.append(m.text)
        for text in messages:
            client.send(text)
        await wait_until(lambda: len(got) == len(messages), timeout=20)
        assert got == messages
        assert [r.data for r in srv.received] == messages
        stats = proxy.stats()
        assert stats.writes_down == stats.bytes_down  # one byte per write


# -- blackhole ------------------------------------------------------------------------------


async def test_blackhole_stops_data_but_keeps_the_sockets_open() -> None:
    async with MockServer() as srv, FaultProxy(srv.url) as proxy:
        client = await zenws.connect(proxy.url, reconnect_on_error=False)
        try:
            got: list[str] = []
            client.on_message = lambda m: got.append(m.text)
            client.send("before")
            await wait_until(lambda: got == ["before"])
            proxy.blackhole()
            client.send("into the void")
            await wait_until(lambda: proxy.stats().dropped_up > 0)
            await srv.inject("nor this")
            await wait_until(lambda: proxy.stats().dropped_down > 0)
            await asyncio.sleep(0.3)  # a window in which nothing may arrive
            assert got == ["before"] and [r.data for r in srv.received] == ["before"]
            conn = srv.connections[0]
            assert conn.open and client.state is State.OPEN and proxy.connections[0].open
            proxy.heal()
            client.send("after")  # the same connection carries data again
            await wait_until(lambda: got == ["before", "after"])
            assert proxy.stats().connections_total == 1 and client.epoch == 1
        finally:
            await client.close()


async def test_blackhole_holds_back_a_peer_fin_until_healed() -> None:
    async def bye(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readexactly(1)
        writer.close()

    async with tcp_server(bye) as target, FaultProxy(target) as proxy:
        reader, writer = await asyncio.open_connection(proxy.host, proxy.port)
        await proxy.wait_for_connections(1)
        proxy.blackhole("downstream")
        writer.write(b"!")  # the server closes on it
        await wait_until(lambda: proxy.stats().bytes_up == 1)
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(reader.read(), 0.3)  # silence, not a FIN
        proxy.heal()
        assert await asyncio.wait_for(reader.read(), 5) == b""
        writer.close()


# -- reset and half-close -------------------------------------------------------------------


async def test_reset_fails_pending_with_connection_lost_and_the_client_reconnects() -> None:
    async with MockServer(rpc) as srv, FaultProxy(srv.url) as proxy:
        client = await zenws.connect(proxy.url, retry_delay=0.01, max_backoff=0.05)
        try:
            pending = asyncio.ensure_future(client.request("never", timeout=30))
            await srv.assert_received({"method": "never"})
            proxy.reset_all()
            with pytest.raises(ConnectionLost) as info:
                await asyncio.wait_for(pending, 2)
            assert info.value.epoch == 1 and info.value.code is None  # RST: no close frame
            await wait_open(client, 2)
            assert await client.request("echo", [2]) == [2]
            assert proxy.stats().connections_total == 2
        finally:
            await client.close()


async def test_reset_reaches_both_peers_as_rst() -> None:
    errors: list[BaseException] = []

    async def wait_for_reset(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.read()
        except ConnectionError as exc:
            errors.append(exc)

    async with tcp_server(wait_for_reset) as target, FaultProxy(target) as proxy:
        reader, writer = await asyncio.open_connection(proxy.host, proxy.port)
        await proxy.wait_for_connections(1)
        proxy.reset_all()
        with pytest.raises(ConnectionResetError):
            await asyncio.wait_for(reader.read(), 5)
        await wait_until(lambda: bool(errors))
        assert isinstance(errors[0], ConnectionResetError)
        writer.close()


async def test_half_close_downstream_sends_fin_to_the_client_only() -> None:
    at_server: list[bytes] = []

    async def talk(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"hello")
        while data := await reader.read(65536):
            at_server.append(data)
            writer.write(b"ignored")  # after the half-close: discarded by the proxy

    async with tcp_server(talk) as target, FaultProxy(target) as proxy:
        reader, writer = await asyncio.open_connection(proxy.host, proxy.port)
        assert await read_exactly(reader, 5) == b"hello"
        proxy.half_close("downstream")
        assert await asyncio.wait_for(reader.read(), 5) == b""  # FIN, no RST
        writer.write(b"still flowing upstream")
        await wait_until(lambda: b"".join(at_server) == b"still flowing upstream")
        await wait_until(lambda: proxy.stats().dropped_down > 0)
        assert proxy.connections[0].open
        writer.close()  # client FIN: both directions ended, the proxy closes the connection
        await proxy.wait_for_connections(0)


async def test_half_close_downstream_ends_a_websocket_session() -> None:
    async with MockServer(rpc) as srv, FaultProxy(srv.url) as proxy:
        client = await zenws.connect(proxy.url, reconnect_on_error=False)
        pending = asyncio.ensure_future(client.request("never", timeout=30))
        await srv.assert_received({"method": "never"})
        proxy.half_close("downstream")
        with pytest.raises(ConnectionLost):
            await asyncio.wait_for(pending, 5)
        await wait_until(lambda: client.state is State.CLOSED)
        await client.close()


async def test_peer_fin_is_passed_on_after_close_delay() -> None:
    async def hello_bye(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"bye")
        await writer.drain()
        writer.close()

    async with tcp_server(hello_bye) as target, FaultProxy(target, close_delay=0.3) as proxy:
        reader, writer = await asyncio.open_connection(proxy.host, proxy.port)
        assert await read_exactly(reader, 3) == b"bye"
        t0 = time.monotonic()
        assert await asyncio.wait_for(reader.read(), 5) == b""
        assert time.monotonic() - t0 >= 0.25
        writer.close()
        await proxy.wait_for_connections(0)


async def test_limit_data_closes_after_that_many_bytes() -> None:
    async with tcp_server(echo) as target, FaultProxy(target) as proxy:
        proxy.set("downstream", limit_data=10)
        reader, writer = await asyncio.open_connection(proxy.host, proxy.port)
        writer.write(b"0123456789abcdef")
        assert await asyncio.wait_for(reader.read(), 5) == b"0123456789"  # then FIN
        writer.close()
        await proxy.wait_for_connections(0)


# -- target down ----------------------------------------------------------------------------


async def test_disable_resets_and_refuses_until_enabled() -> None:
    async with MockServer(rpc) as srv, FaultProxy(srv.url) as proxy:
        client = await zenws.connect(proxy.url, retry_delay=0.02, max_backoff=0.05)
        try:
            proxy.disable()
            await wait_until(lambda: client.state is State.RECONNECTING)
            with pytest.raises(ConnectError):
                await zenws.connect(proxy.url, reconnect_on_error=False, connect_timeout=2)
            await wait_until(lambda: proxy.stats().connections_failed >= 2)
            assert client.state is State.RECONNECTING
            proxy.enable()
            await wait_open(client, 2)
            assert await client.request("echo", [1]) == [1]
        finally:
            await client.close()


async def test_unreachable_target_resets_the_client_connection() -> None:
    async with tcp_server(echo) as target:
        pass  # the port is free again: connects are refused
    async with FaultProxy(target) as proxy:
        with pytest.raises(ConnectError):
            await zenws.connect(proxy.url, reconnect_on_error=False, connect_timeout=2)
        assert proxy.stats().connections_failed == 1


async def test_aclose_closes_every_connection() -> None:
    async with MockServer() as srv:
        proxy = FaultProxy(srv.url, latency=0.01)
        await proxy.start()
        client = await zenws.connect(proxy.url, reconnect_on_error=False)
        await srv.wait_for_connections(1)
        await asyncio.wait_for(proxy.aclose(), 5)
        await wait_until(lambda: client.state is State.CLOSED)
        await wait_until(lambda: not srv.connections)
        assert proxy.connections == [] and proxy.stats().connections_open == 0
        with pytest.raises(ConnectError):
            await zenws.connect(proxy.url, reconnect_on_error=False, connect_timeout=2)
