"""Soak: 1,000,000 messages (requests + notifications) through one zenws client.

``python -m bench.soak [--messages 1000000] [--k 4] [--window 64]``

The bench server's ``/mixed`` path answers each JSON-RPC request and then pushes K
notifications on a subscribed channel, so (K + 1) messages arrive per request.
``--window`` requests are kept in flight by as many tasks.  Sampled after warm-up
(10 % of the messages) and every 10 % after: RSS (``/proc/self/statm``, after a
``gc.collect()``), pending requests, tracked subscriptions and
``len(asyncio.all_tasks())``.  Pass: the final RSS is within 5 % of the warm-up
sample and pending/subscriptions/tasks do not grow.  Exit status 0 = pass.

``python -m bench.soak --churn 10000`` runs the connection churn instead: that many
connections in turn against a bare-TCP server, each opened, used (one message each
way) and failed in one of five ways (1009 single frame, 1009 fragments, 1002 reserved
bit, 1007 invalid UTF-8, TCP reset mid-frame).  RSS is sampled after a warm-up and every
10 % (``gc.collect()`` + ``malloc_trim``); pass: it grows by less than 15 MiB.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import ctypes
import gc
import hashlib
import os
import sys
import time
from typing import Any

from bench.compare import start_server


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def soak(url: str, messages: int, k: int, window: int) -> bool:
    import zenws

    client = await zenws.connect(url, request_timeout=30.0, queue_size=1024)
    notes = [0]

    def on_note(msg: Any) -> None:
        notes[0] += 1

    await client.subscribe(["ticker.BTC-PERPETUAL.raw"], on_note)
    requests = messages // (k + 1)
    done = [0]
    params = {"instrument_name": "BTC-PERPETUAL", "depth": 10}
    samples: list[tuple[float, int, int, int, int, int]] = []
    marks = iter(range(requests // 10, requests + 1, requests // 10))
    next_mark = [next(marks)]

    def sample() -> None:
        gc.collect()
        m = client.metrics()
        samples.append(
            (
                time.monotonic(),
                done[0] * (k + 1),
                rss_bytes(),
                m.pending,
                m.subscriptions,
                len(asyncio.all_tasks()),
            )
        )

    async def worker(n: int) -> None:
        for _ in range(n):
            result = await client.request("public/echo", params)
            assert result == params
            done[0] += 1
            if done[0] == next_mark[0]:
                sample()
                next_mark[0] = next(marks, -1)

    t0 = time.monotonic()
    per = [requests // window + (1 if i < requests % window else 0) for i in range(window)]
    await asyncio.gather(*(worker(n) for n in per))
    want_notes = (requests + 1) * k  # the subscribe request is answered with k pushes too
    while notes[0] < want_notes and time.monotonic() - t0 < 600:  # the last pushes
        await asyncio.sleep(0.01)
    sample()
    wall = time.monotonic() - t0
    m = client.metrics()
    await client.close()

    warm, end = samples[0], samples[-1]
    total = done[0] + notes[0]
    print(
        f"{total:,} messages ({done[0]:,} responses + {notes[0]:,} notifications) in "
        f"{wall:.1f} s = {total / wall:,.0f} msg/s; dropped {m.dropped}, errors {m.errors}"
    )
    print("| after msgs | RSS MiB | pending | subscriptions | tasks |")
    print("|---:|---:|---:|---:|---:|")
    for _, n, rss, pend, subs, tasks in samples:
        print(f"| {n:,} | {rss / 2**20:.1f} | {pend} | {subs} | {tasks} |")
    growth = (end[2] - warm[2]) / warm[2]
    checks = {
        "all messages arrived": notes[0] == want_notes and m.dropped == 0 and m.errors == 0,
        f"RSS within 5 % of warm-up ({growth:+.2%})": abs(growth) <= 0.05,
        f"pending <= window ({window}) throughout, 0 at the end": end[3] == 0
        and all(x[3] <= window for x in samples),
        "subscriptions unchanged": all(x[4] == warm[4] for x in samples),
        "tasks do not grow": all(x[5] <= warm[5] for x in samples),
    }
    for name, ok in checks.items():
        print(f"- {name}: {'PASS' if ok else 'FAIL'}")
    return all(checks.values())


CHURN_LIMIT = 256 * 1024


def _churn_kinds() -> dict[str, tuple[bytes, int | None]]:
    from zenws.fast.frame import encode

    def f(op: int, payload: bytes, **kw: Any) -> bytes:
        return encode(op, payload, strict=False, **kw)

    half = CHURN_LIMIT // 2
    return {
        "1009 single frame": (f(2, b"x" * (CHURN_LIMIT + 1)), 1009),
        "1009 fragments": (
            f(2, b"x" * half, fin=False) + f(0, b"y" * half, fin=False) + f(0, b"z" * 1024),
            1009,
        ),
        "1002 reserved bit": (f(1, b"x", rsv2=True), 1002),
        "1007 invalid UTF-8": (f(1, b"bad \xc3\x28 utf-8"), 1007),
        "TCP reset mid-frame": (f(2, b"r" * 65536)[:20000], None),
    }


async def _churn_peer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    from zenws.fast.frame import decode, encode

    kinds = _churn_kinds()
    try:
        head = await reader.readuntil(b"\r\n\r\n")
        key = next(
            ln.split(b":", 1)[1].strip()
            for ln in head.split(b"\r\n")
            if ln.lower().startswith(b"sec-websocket-key:")
        )
        accept = base64.b64encode(
            hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest()
        )
        writer.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
        )
        buf = b""
        while (res := decode(buf)) is None:  # the client's message names the failure
            data = await reader.read(65536)
            if not data:
                return
            buf += data
        kind = res[0].payload.decode()
        writer.write(encode(1, b"echo", strict=False) + kinds[kind][0])
        await writer.drain()
        if kinds[kind][1] is None:
            writer.transport.abort()
            return
        buf = b""
        while True:  # until the client's CLOSE (RFC 6455 §7.1.1: the server closes TCP)
            while (res := decode(buf)) is not None:
                buf = buf[res[1] :]
                if res[0].opcode == 8:
                    return
            data = await asyncio.wait_for(reader.read(65536), 10)
            if not data:
                return
            buf += data
    except (ConnectionError, asyncio.IncompleteReadError, asyncio.TimeoutError):
        pass
    finally:
        writer.close()


def _trimmed_rss() -> int:
    gc.collect()
    libc = ctypes.CDLL(None)
    if hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)
    return rss_bytes()


async def churn(connections: int) -> bool:
    import zenws

    kinds = list(_churn_kinds())
    server = await asyncio.start_server(_churn_peer, "127.0.0.1", 0)
    url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/"
    codes: dict[str, set[int | None]] = {k: set() for k in kinds}

    async def one(i: int) -> None:
        kind = kinds[i % len(kinds)]
        client = await zenws.connect(url, reconnect_on_error=False, max_message_size=CHURN_LIMIT)
        client.send(kind)
        async for _ in client:  # the echo; ends once the failed connection is closed
            pass
        while client.state is not zenws.State.CLOSED:
            await asyncio.sleep(0.001)
        codes[kind].add(client.metrics().close_code)

    warmup = max(50, connections // 20)
    for i in range(warmup):
        await one(i)
    samples = [(0, _trimmed_rss())]
    t0 = time.monotonic()
    step = max(1, connections // 10)
    for i in range(connections):
        await one(i)
        if (i + 1) % step == 0:
            samples.append((i + 1, _trimmed_rss()))
    wall = time.monotonic() - t0
    server.close()
    print(f"{connections:,} failed connections in {wall:.1f} s ({connections / wall:,.0f}/s)")
    print("| after connections | RSS MiB |")
    print("|---:|---:|")
    for n, rss in samples:
        print(f"| {n:,} | {rss / 2**20:.1f} |")
    growth = samples[-1][1] - samples[0][1]
    want = {k: {v[1]} for k, v in _churn_kinds().items()}
    checks = {
        f"RSS growth under 15 MiB ({growth / 2**20:+.1f} MiB)": growth < 15 * 2**20,
        f"close codes as expected ({codes})": codes == want,
    }
    for name, ok in checks.items():
        print(f"- {name}: {'PASS' if ok else 'FAIL'}")
    return all(checks.values())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="zenws soak")
    p.add_argument("--messages", type=int, default=1_000_000)
    p.add_argument("--k", type=int, default=4, help="notifications per response")
    p.add_argument("--window", type=int, default=64, help="requests in flight")
    p.add_argument("--churn", type=int, default=0, metavar="N", help="N failed connections instead")
    a = p.parse_args(argv)
    import uvloop

    if a.churn:
        return 0 if uvloop.run(churn(a.churn)) else 1
    server, port = start_server([1])
    try:
        ok = uvloop.run(soak(f"ws://127.0.0.1:{port}/mixed?k={a.k}", a.messages, a.k, a.window))
    finally:
        server.kill()
        server.wait()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
