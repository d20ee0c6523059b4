"""Quick loopback check of the request() hot path (not the full comparison in bench/).

Measures sequential JSON-RPC round trips per second and client CPU per round trip for
``zenws.Client.request()`` and for a hand-written picows + orjson correlator, against
the same picows echo-RPC server running in a child process.

    taskset -c 0 python bench/quick_rpc.py [--n 20000] [--size 512] [--uvloop]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import time
from typing import Any

import orjson
from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect, ws_create_server

import zenws


def _server(port_q: Any) -> None:
    class Echo(WSListener):  # type: ignore[misc]
        def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
            if frame.msg_type == WSMsgType.TEXT:
                req = orjson.loads(frame.get_payload_as_bytes())
                transport.send(
                    WSMsgType.TEXT,
                    orjson.dumps({"jsonrpc": "2.0", "id": req["id"], "result": req.get("params")}),
                )
            elif frame.msg_type == WSMsgType.CLOSE:
                transport.send_close(frame.get_close_code())
                transport.disconnect()

    async def main() -> None:
        server = await ws_create_server(lambda _r: Echo(), "127.0.0.1", 0)
        port_q.put(server.sockets[0].getsockname()[1])
        await asyncio.Event().wait()

    try:
        import uvloop

        uvloop.run(main())
    except ImportError:  # pragma: no cover
        asyncio.run(main())


class RawCorrelator(WSListener):  # type: ignore[misc]
    """What a user writes by hand on picows: a dict of futures keyed by id, orjson."""

    def __init__(self) -> None:
        super().__init__()
        self.pending: dict[int, asyncio.Future[Any]] = {}
        self.transport: WSTransport | None = None
        self.next_id = 0

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.TEXT:
            msg = orjson.loads(frame.get_payload_as_bytes())
            fut = self.pending.pop(msg["id"], None)
            if fut is not None and not fut.done():
                fut.set_result(msg["result"])

    async def request(self, method: str, params: Any) -> Any:
        self.next_id += 1
        rid = self.next_id
        fut = asyncio.get_running_loop().create_future()
        self.pending[rid] = fut
        assert self.transport is not None
        self.transport.send(
            WSMsgType.TEXT,
            orjson.dumps({"jsonrpc": "2.0", "id": rid, "method": method, "params": params}),
        )
        return await fut


async def _bench(name: str, call: Any, n: int, params: Any) -> tuple[float, float]:
    for _ in range(min(2000, n // 10)):  # warm-up
        await call("echo", params)
    c0, t0 = time.process_time(), time.perf_counter()
    for _ in range(n):
        await call("echo", params)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    rps, us = n / wall, cpu / n * 1e6
    print(f"{name:<22} {rps:>9.0f} req/s  {us:6.1f} us client CPU / round trip")
    return rps, us


async def _run(url: str, n: int, size: int, rounds: int) -> None:
    params = {"data": "x" * max(0, size - 60)}
    _, raw = await ws_connect(RawCorrelator, url)
    client = await zenws.connect(url, request_timeout=30)
    best: dict[str, tuple[float, float]] = {}
    clients = (("picows+orjson (hand)", raw.request), ("zenws request()", client.request))
    for _ in range(rounds):  # interleaved rounds; keep the best (least disturbed) of each
        for name, call in clients:
            rps, us = await _bench(name, call, n, params)
            if name not in best or rps > best[name][0]:
                best[name] = (rps, us)
    raw.transport.send_close(1000)
    raw.transport.disconnect()
    await client.close()
    (h_rps, h_us), (z_rps, z_us) = best["picows+orjson (hand)"], best["zenws request()"]
    print(f"best: hand {h_rps:.0f} req/s {h_us:.1f} us | zenws {z_rps:.0f} req/s {z_us:.1f} us")
    print(f"ratio zenws/hand: {z_rps / h_rps:.2f}x req/s, {z_us / h_us:.2f}x CPU")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--uvloop", action="store_true", help="client on uvloop (default asyncio)")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds per client")
    args = ap.parse_args()
    q: Any = mp.get_context("spawn").Queue()
    proc = mp.get_context("spawn").Process(target=_server, args=(q,), daemon=True)
    proc.start()
    try:
        port = q.get(timeout=20)
        url = f"ws://127.0.0.1:{port}/"
        print(
            f"pid {os.getpid()} affinity {sorted(os.sched_getaffinity(0))} "
            f"loop {'uvloop' if args.uvloop else 'asyncio'} size {args.size} B n {args.n}"
        )
        if args.uvloop:
            import uvloop

            uvloop.run(_run(url, args.n, args.size, args.rounds))
        else:
            asyncio.run(_run(url, args.n, args.size, args.rounds))
    finally:
        proc.kill()


if __name__ == "__main__":
    main()
