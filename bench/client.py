"""One benchmark client run, in its own process: ``python -m bench.client KIND URL SIZE COUNT``.

Prints one JSON line: round trips/s, client CPU microseconds per round trip
(user + system time of this process over the measured loop only), and latency
percentiles of the individual round trips.  Every client does the same work:
one request in flight, wait for its reply, repeat.

Kinds:
    picows_echo      raw picows, echo a payload (the floor)
    picows_rpc       raw picows + orjson + a future per request (the hand-written correlator)
    picows_ws_rpc    picows.websockets compatibility API + orjson correlator
    websockets_rpc   python-websockets asyncio client + orjson correlator
    aiohttp_rpc      aiohttp ClientWebSocketResponse + orjson correlator
    zenws_rpc        zenws Client.request()
    zenws_echo       zenws Client.send() + on_message echo wait
    zenws_fast_*     zenws.fast Cython FastListener subclass (bench/fast_client.pyx): the
                     next round trip is sent from the message path, no future per message
    *_echo           the same library echoing SIZE bytes (binary) instead of JSON-RPC
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

RoundTrip = Callable[[], Awaitable[None]]


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


async def _measure(one: RoundTrip, count: int) -> dict[str, Any]:
    for _ in range(min(2000, count // 10 + 1)):  # warm-up
        await one()
    samples = [0] * count
    pc = time.perf_counter_ns
    cpu0, t0 = _cpu(), pc()
    for i in range(count):
        s = pc()
        await one()
        samples[i] = pc() - s
    wall, cpu = (pc() - t0) / 1e9, _cpu() - cpu0
    samples.sort()

    def q(p: float) -> float:
        return samples[min(count - 1, int(p / 100 * count))] / 1e3

    return {
        "rps": count / wall,
        "cpu_us": cpu / count * 1e6,
        "p50_us": q(50),
        "p99_us": q(99),
        "p999_us": q(99.9),
    }


def _params(size: int) -> dict[str, Any]:
    return {"instrument_name": "BTC-PERPETUAL", "data": "x" * max(0, size - 90)}


# ---------------------------------------------------------------- picows raw
async def picows_client(url: str, size: int, count: int, rpc: bool) -> dict[str, Any]:
    from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

    loop = asyncio.get_running_loop()
    state: dict[str, Any] = {"fut": None, "pending": {}}

    class L(WSListener):  # type: ignore[misc]
        def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
            if frame.msg_type == WSMsgType.CLOSE:
                return
            if rpc:
                msg = orjson.loads(frame.get_payload_as_bytes())
                fut = state["pending"].pop(msg["id"], None)
                if fut is not None and not fut.done():
                    fut.set_result(msg["result"])
            else:
                fut = state["fut"]
                if fut is not None and not fut.done():
                    fut.set_result(frame.get_payload_as_bytes())

    transport, _ = await ws_connect(L, url, max_frame_size=64 * 1024 * 1024)
    payload = b"x" * size
    params = _params(size)
    ids = iter(range(1, 1 << 62))

    async def echo() -> None:
        state["fut"] = loop.create_future()
        transport.send(WSMsgType.BINARY, payload)
        await state["fut"]

    async def call() -> None:
        i = next(ids)
        fut = loop.create_future()
        state["pending"][i] = fut
        transport.send(
            WSMsgType.TEXT,
            orjson.dumps({"jsonrpc": "2.0", "id": i, "method": "public/echo", "params": params}),
        )
        await fut

    out = await _measure(call if rpc else echo, count)
    transport.send_close(1000)
    transport.disconnect()
    return out


async def _generic_rpc(
    send: Callable[[bytes], Awaitable[None]],
    recv: Callable[[], Awaitable[Any]],
    size: int,
    count: int,
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    pending: dict[int, asyncio.Future[Any]] = {}
    params = _params(size)
    ids = iter(range(1, 1 << 62))

    async def reader() -> None:
        while True:
            data = await recv()
            if data is None:
                return
            msg = orjson.loads(data)
            fut = pending.pop(msg["id"], None)
            if fut is not None and not fut.done():
                fut.set_result(msg["result"])

    task = asyncio.ensure_future(reader())

    async def call() -> None:
        i = next(ids)
        fut = loop.create_future()
        pending[i] = fut
        await send(
            orjson.dumps({"jsonrpc": "2.0", "id": i, "method": "public/echo", "params": params})
        )
        await fut

    out = await _measure(call, count)
    task.cancel()
    return out


async def _generic_echo(
    send: Callable[[bytes], Awaitable[None]],
    recv: Callable[[], Awaitable[Any]],
    size: int,
    count: int,
) -> dict[str, Any]:
    payload = b"x" * size

    async def one() -> None:
        await send(payload)
        await recv()

    return await _measure(one, count)


async def websockets_client(url: str, size: int, count: int, rpc: bool = True) -> dict[str, Any]:
    from websockets.asyncio.client import connect

    async with connect(url, max_size=None, compression=None) as ws:

        async def send(b: bytes) -> None:
            await ws.send(b.decode() if rpc else b)

        if not rpc:
            return await _generic_echo(send, ws.recv, size, count)
        return await _generic_rpc(send, ws.recv, size, count)


async def picows_ws_client(url: str, size: int, count: int, rpc: bool = True) -> dict[str, Any]:
    from picows.websockets.asyncio.client import connect  # type: ignore[import-not-found]

    async with connect(url, max_size=None) as ws:

        async def send(b: bytes) -> None:
            await ws.send(b.decode() if rpc else b)

        if not rpc:
            return await _generic_echo(send, ws.recv, size, count)
        return await _generic_rpc(send, ws.recv, size, count)


async def aiohttp_client(url: str, size: int, count: int, rpc: bool = True) -> dict[str, Any]:
    import aiohttp

    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(url, max_msg_size=0, autoping=True) as ws,
    ):

        async def send(b: bytes) -> None:
            if rpc:
                await ws.send_str(b.decode())
            else:
                await ws.send_bytes(b)

        async def recv() -> Any:
            msg = await ws.receive()
            ok = (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY)
            return msg.data if msg.type in ok else None

        if not rpc:
            return await _generic_echo(send, recv, size, count)
        return await _generic_rpc(send, recv, size, count)


async def zenws_client(url: str, size: int, count: int) -> dict[str, Any]:
    import zenws

    client = await zenws.connect(url, max_message_size=64 * 1024 * 1024)
    params = _params(size)

    async def call() -> None:
        await client.request("public/echo", params)

    try:
        return await _measure(call, count)
    finally:
        await client.close()


async def zenws_echo_client(url: str, size: int, count: int) -> dict[str, Any]:
    """zenws public API: Client.send(bytes) + an on_message callback resolving a future."""
    import zenws

    loop = asyncio.get_running_loop()
    client = await zenws.connect(url, max_message_size=64 * 1024 * 1024)
    state: dict[str, Any] = {"fut": None}

    def on_message(msg: Any) -> None:
        fut = state["fut"]
        if fut is not None and not fut.done():
            fut.set_result(msg.raw)

    client.on_message = on_message
    payload = b"x" * size

    async def one() -> None:
        state["fut"] = loop.create_future()
        client.send(payload)
        await state["fut"]

    try:
        return await _measure(one, count)
    finally:
        await client.close()


async def zenws_fast_client(url: str, size: int, count: int, rpc: bool) -> dict[str, Any]:
    """zenws.fast: a Cython FastListener subclass drives the round trips from C."""
    from array import array

    import zenws
    from bench.fast_build import load

    mod = load()
    loop = asyncio.get_running_loop()
    cls = mod.RpcStrategy if rpc else mod.EchoStrategy
    client = zenws.Client(
        zenws.Config.new(url, max_message_size=64 * 1024 * 1024), listener_class=cls
    )
    await client.start()
    lst: Any = client._listener

    async def go(n: int, samples: Any) -> None:
        done = loop.create_future()
        if rpc:
            lst.arm("public/echo", _params(size), n, done, samples)
        else:
            lst.arm(b"x" * size, n, done, samples)
        lst.kick()
        await done

    try:
        await go(min(2000, count // 10 + 1), array("q", bytes(8 * count)))  # warm-up
        samples = array("q", bytes(8 * count))
        pc = time.perf_counter_ns
        cpu0, t0 = _cpu(), pc()
        await go(count, samples)
        wall, cpu = (pc() - t0) / 1e9, _cpu() - cpu0
    finally:
        await client.close()
    ordered = sorted(samples)

    def q(p: float) -> float:
        return ordered[min(count - 1, int(p / 100 * count))] / 1e3

    return {
        "rps": count / wall,
        "cpu_us": cpu / count * 1e6,
        "p50_us": q(50),
        "p99_us": q(99),
        "p999_us": q(99.9),
    }


CLIENTS: dict[str, Callable[[str, int, int], Awaitable[dict[str, Any]]]] = {
    "picows_echo": lambda u, s, n: picows_client(u, s, n, rpc=False),
    "picows_rpc": lambda u, s, n: picows_client(u, s, n, rpc=True),
    "picows_ws_echo": lambda u, s, n: picows_ws_client(u, s, n, rpc=False),
    "picows_ws_rpc": picows_ws_client,
    "websockets_echo": lambda u, s, n: websockets_client(u, s, n, rpc=False),
    "websockets_rpc": websockets_client,
    "aiohttp_echo": lambda u, s, n: aiohttp_client(u, s, n, rpc=False),
    "aiohttp_rpc": aiohttp_client,
    "zenws_echo": zenws_echo_client,
    "zenws_rpc": zenws_client,
    "zenws_fast_echo": lambda u, s, n: zenws_fast_client(u, s, n, rpc=False),
    "zenws_fast_rpc": lambda u, s, n: zenws_fast_client(u, s, n, rpc=True),
}


def main() -> None:
    kind, url, size, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    try:
        import uvloop

        result = uvloop.run(CLIENTS[kind](url, size, count))
    except ImportError:  # pragma: no cover - Windows
        result = asyncio.run(CLIENTS[kind](url, size, count))
    print(json.dumps({"kind": kind, "size": size, "count": count, **result}), flush=True)


if __name__ == "__main__":
    main()
