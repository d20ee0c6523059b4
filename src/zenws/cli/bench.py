"""``zenws bench``: a short loopback JSON-RPC round-trip comparison.

One picows echo-RPC server on 127.0.0.1 answers ``{"id": n, "method": ..., "params": ...}``
with ``{"id": n, "result": params}``.  Each client runs sequential round trips (one in
flight) for the same number of seconds against that server: zenws ``request()``, a
hand-written picows client with an orjson future correlator (the baseline), and
python-websockets / aiohttp when installed.  Client and server share one event loop, so
the numbers are ratios on this machine, not absolutes; ``bench/`` has the full suite.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TextIO

import orjson
from picows import (
    WSCloseCode,
    WSFrame,
    WSListener,
    WSMsgType,
    WSTransport,
    ws_connect,
    ws_create_server,
)

__all__ = ["BenchResult", "bench_command", "run_bench"]

RoundTrip = Callable[[int], Awaitable[None]]


class _RpcServer(WSListener):
    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.TEXT:
            doc = orjson.loads(frame.get_payload_as_memoryview())
            reply = {"jsonrpc": "2.0", "id": doc.get("id"), "result": doc.get("params")}
            transport.send(WSMsgType.TEXT, orjson.dumps(reply))
        elif frame.msg_type == WSMsgType.CLOSE:
            transport.send_close(WSCloseCode.OK)
            transport.disconnect()


class _PicowsClient(WSListener):
    """The hand-written baseline: futures keyed by id, orjson both ways."""

    def __init__(self) -> None:
        self.transport: WSTransport | None = None
        self.waiters: dict[int, asyncio.Future[Any]] = {}

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.TEXT:
            doc = orjson.loads(frame.get_payload_as_memoryview())
            fut = self.waiters.pop(doc["id"], None)
            if fut is not None and not fut.done():
                fut.set_result(doc.get("result"))


@dataclass
class BenchResult:
    """One client's result.

    Attributes:
        name: client name.
        count: round trips completed.
        seconds: wall time measured.
        cpu: process CPU seconds used (client + server share the process).
        error: why the client was skipped, if it was.
    """

    name: str
    count: int = 0
    seconds: float = 0.0
    cpu: float = 0.0
    error: str = ""

    @property
    def rate(self) -> float:
        """Round trips per second."""
        return self.count / self.seconds if self.seconds else 0.0

    @property
    def us_per_rt(self) -> float:
        """Process CPU microseconds per round trip."""
        return self.cpu / self.count * 1e6 if self.count else 0.0


async def _measure(name: str, seconds: float, rt: RoundTrip) -> BenchResult:
    for i in range(200):  # warm-up
        await rt(i)
    n = 0
    t0, c0 = time.perf_counter(), time.process_time()
    end = t0 + seconds
    while True:
        for _ in range(100):
            n += 1
            await rt(n)
        if time.perf_counter() >= end:
            break
    return BenchResult(name, n, time.perf_counter() - t0, time.process_time() - c0)


async def _bench_zenws(url: str, seconds: float, params: Any) -> BenchResult:
    from ..client import connect

    client = await connect(url, reconnect_on_error=False)
    try:

        async def rt(i: int) -> None:
            await client.request("echo", params)

        return await _measure("zenws", seconds, rt)
    finally:
        await client.close()


async def _bench_picows(url: str, seconds: float, params: Any) -> BenchResult:
    transport, listener = await ws_connect(_PicowsClient, url)
    lst: _PicowsClient = listener  # type: ignore[assignment]
    loop = asyncio.get_running_loop()
    try:

        async def rt(i: int) -> None:
            fut = loop.create_future()
            lst.waiters[i] = fut
            msg = {"jsonrpc": "2.0", "id": i, "method": "echo", "params": params}
            transport.send(WSMsgType.TEXT, orjson.dumps(msg))
            await fut

        return await _measure("picows (raw)", seconds, rt)
    finally:
        transport.send_close(WSCloseCode.OK)
        transport.disconnect()


async def _bench_websockets(url: str, seconds: float, params: Any) -> BenchResult:
    from websockets.asyncio.client import connect

    async with connect(url, compression=None) as ws:

        async def rt(i: int) -> None:
            await ws.send(
                orjson.dumps(
                    {"jsonrpc": "2.0", "id": i, "method": "echo", "params": params}
                ).decode()
            )
            orjson.loads(await ws.recv())

        return await _measure("websockets", seconds, rt)


async def _bench_aiohttp(url: str, seconds: float, params: Any) -> BenchResult:
    import aiohttp

    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:

        async def rt(i: int) -> None:
            await ws.send_str(
                orjson.dumps(
                    {"jsonrpc": "2.0", "id": i, "method": "echo", "params": params}
                ).decode()
            )
            orjson.loads((await ws.receive()).data)

        return await _measure("aiohttp", seconds, rt)


CLIENTS: dict[str, Callable[[str, float, Any], Awaitable[BenchResult]]] = {
    "picows": _bench_picows,
    "zenws": _bench_zenws,
    "websockets": _bench_websockets,
    "aiohttp": _bench_aiohttp,
}


async def run_bench(
    seconds: float,
    size: int,
    only: list[str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[BenchResult]:
    """Run every selected client against one loopback server.

    Args:
        seconds: measuring time per client.
        size: approximate request size in bytes.
        only: client names to run (default all).
        progress: called with each client's name before it runs.

    Returns:
        One result per client, baseline (picows) first; missing libraries have ``error``.
    """
    names = [n for n in CLIENTS if not only or n in only]
    unknown = sorted(set(only or ()) - set(CLIENTS))
    if unknown:
        raise ValueError(f"unknown bench client(s): {', '.join(unknown)}")
    params = {"data": "x" * max(0, size - 60)}
    server = await ws_create_server(lambda _req: _RpcServer(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    url = f"ws://127.0.0.1:{port}/"
    results = []
    try:
        for name in names:
            if progress is not None:
                progress(name)
            try:
                results.append(await CLIENTS[name](url, seconds, params))
            except ImportError as exc:
                results.append(BenchResult(name, error=f"not installed ({exc.name})"))
    finally:
        server.close()
        await server.wait_closed()
    return results


def format_table(results: list[BenchResult]) -> list[str]:
    """Plain-text table with ratios against the raw picows baseline."""
    base = next((r for r in results if r.name.startswith("picows") and r.count), None)
    lines = [f"{'client':<14}{'round trips/s':>15}{'us CPU/rt':>11}{'vs picows':>11}"]
    for r in results:
        if r.error:
            lines.append(f"{r.name:<14}{'-':>15}{'-':>11}{'-':>11}  {r.error}")
            continue
        ratio = f"{r.rate / base.rate:.2f}x" if base else "-"
        lines.append(f"{r.name:<14}{r.rate:>15,.0f}{r.us_per_rt:>11.1f}{ratio:>11}")
    return lines


async def bench_command(
    seconds: float, size: int, only: list[str], out: TextIO, rich_ok: bool = False
) -> int:
    """``zenws bench``: run and print the table; returns the exit code."""
    from .base import EXIT_OK, EXIT_USAGE, CliError

    unknown = sorted(set(only) - set(CLIENTS))
    if unknown:
        raise CliError(
            f"unknown bench client(s): {', '.join(unknown)}",
            EXIT_USAGE,
            hint=f"choose from {', '.join(CLIENTS)}",
        )
    status: Any = None
    if rich_ok:  # a spinner naming the client being measured (rich extra, terminals only)
        from rich.console import Console

        status = Console(file=out).status("starting")
        status.start()

    def progress(name: str) -> None:
        if status is not None:
            status.update(f"measuring {name} for {seconds:g} s")

    # The heading first: the table follows when every client was measured.
    print(
        f"loopback JSON-RPC round trips, {size} B requests, {seconds:g} s per client "
        "(client and server share one process: compare ratios, not absolutes)",
        file=out,
        flush=True,
    )
    try:
        results = await run_bench(seconds, size, only or None, progress)
    except ValueError as exc:
        raise CliError(str(exc), EXIT_USAGE, hint=f"choose from {', '.join(CLIENTS)}") from None
    finally:
        if status is not None:
            status.stop()
    for line in format_table(results):
        print(line, file=out)
    return EXIT_OK
