"""Cost of ``record_to=``: JSON-RPC round trips/s with and without recording.

Target (issue 6): fewer than 5 % fewer round trips/s with recording on. Runs against the
shared loopback server (``bench/server.py``, path ``/rpc``) in a child process, interleaving
repetitions of both modes so that machine noise hits both alike, and also reports the cost of
one ``Recorder.write`` call on the loop thread.

    taskset -c 0 python bench/recording_overhead.py [--n 20000] [--reps 5] [--size 512] [--uvloop]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import zenws.client as zc
from zenws.recorder import Recorder

ROOT = Path(__file__).resolve().parent.parent


def start_server() -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.server", "--port", "0"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("PORT"):
            return proc, int(line.split()[1])
    raise RuntimeError("benchmark server did not start")


async def round_trips(url: str, n: int, size: int, record_to: str | None) -> float:
    opts = {"record_to": record_to} if record_to else {}
    client = await zc.connect(url, **opts)
    params = {"pad": "x" * max(0, size - 60)}
    try:
        for _ in range(min(2000, n // 10 + 1)):  # warm-up
            await client.request("public/echo", params)
        t0 = time.perf_counter()
        for _ in range(n):
            await client.request("public/echo", params)
        return n / (time.perf_counter() - t0)
    finally:
        await client.close()


def write_cost(n: int = 200_000) -> float:
    """Nanoseconds per ``Recorder.write`` of a 300-byte text frame (loop-thread side only)."""
    frame = '{"jsonrpc":"2.0","method":"subscription","params":{"channel":"ticker","data":' + (
        '"' + "x" * 220 + '"}}'
    )
    with tempfile.TemporaryDirectory() as d:
        rec = Recorder(os.path.join(d, "w.jsonl"), buffer_size=n + 1, flush_entries=4096)
        write = rec.write
        t0 = time.perf_counter_ns()
        for _ in range(n):
            write("in", "text", frame, 1)
        ns = (time.perf_counter_ns() - t0) / n
        rec.close()
        assert rec.dropped == 0
    return ns


async def main(args: argparse.Namespace) -> None:
    proc, port = start_server()
    url = f"ws://127.0.0.1:{port}/rpc"
    off: list[float] = []
    on: list[float] = []
    try:
        with tempfile.TemporaryDirectory() as d:
            for rep in range(args.reps):
                off.append(await round_trips(url, args.n, args.size, None))
                on.append(await round_trips(url, args.n, args.size, f"{d}/r{rep}.jsonl"))
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    m_off, m_on = statistics.median(off), statistics.median(on)
    loss = (1 - m_on / m_off) * 100
    print(f"round trips/s without recording: {m_off:,.0f}  (reps {[round(x) for x in off]})")
    print(f"round trips/s with recording:    {m_on:,.0f}  (reps {[round(x) for x in on]})")
    print(f"throughput loss: {loss:.1f} %  (target < 5 %)")
    print(f"Recorder.write on the loop thread: {write_cost():.0f} ns per frame")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--uvloop", action="store_true")
    a = ap.parse_args()
    if a.uvloop:
        import uvloop

        uvloop.run(main(a))
    else:
        asyncio.run(main(a))
