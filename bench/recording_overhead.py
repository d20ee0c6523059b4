"""Cost of ``record_to=``: JSON-RPC round trips/s with and without recording.

Target (issue 6): fewer than 5 % fewer round trips/s with recording on. Runs against the
shared loopback server (``bench/server.py``, path ``/rpc``) in a child process, interleaving
repetitions of both modes so that machine noise hits both alike. Per mode it reports the
medians of round trips/s, of the event-loop thread's CPU per round trip and (recording on) of
the recorder's writer thread's CPU per round trip; and the cost of one ``Recorder.write``
call on the loop thread.

    taskset -c 0 python bench/recording_overhead.py --uvloop --writer-cpu 1   # trading layout
    python bench/recording_overhead.py --uvloop                                # unpinned
    taskset -c 0 python bench/recording_overhead.py --uvloop                   # one core

Options: ``--n 20000 --reps 5 --size 512 --uvloop --writer-cpu N --buffer-bytes B``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python bench/recording_overhead.py` from anywhere
    sys.path.insert(0, str(ROOT))

import zenws.client as zc  # noqa: E402
from zenws.recorder import Recorder  # noqa: E402


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


def thread_cpu(thread: threading.Thread | None) -> float:
    """CPU seconds used so far by ``thread`` (0.0 where the platform cannot tell)."""
    if thread is None or thread.ident is None or not hasattr(time, "pthread_getcpuclockid"):
        return 0.0
    try:
        return time.clock_gettime(time.pthread_getcpuclockid(thread.ident))
    except (OSError, ProcessLookupError):
        return 0.0


class Run:
    """One measured run: round trips/s and CPU microseconds per round trip."""

    def __init__(self, rate: float, loop_us: float, writer_us: float) -> None:
        self.rate, self.loop_us, self.writer_us = rate, loop_us, writer_us


async def round_trips(
    url: str, n: int, size: int, record_to: str | None, writer_cpu: int | None, arena: int
) -> Run:
    rec = None
    opts = {}
    if record_to:
        # the client accepts an open Recorder: that is how writer_cpu reaches it
        rec = Recorder(record_to, url=url, writer_cpu=writer_cpu, buffer_bytes=arena)
        opts["record_to"] = rec
    client = await zc.connect(url, **opts)
    writer = rec._writer.thread if rec is not None else None
    params = {"pad": "x" * max(0, size - 60)}
    try:
        for _ in range(min(2000, n // 10 + 1)):  # warm-up
            await client.request("public/echo", params)
        c0, w0, t0 = time.thread_time(), thread_cpu(writer), time.perf_counter()
        for _ in range(n):
            await client.request("public/echo", params)
        t1, c1, w1 = time.perf_counter(), time.thread_time(), thread_cpu(writer)
        return Run(n / (t1 - t0), (c1 - c0) / n * 1e6, (w1 - w0) / n * 1e6)
    finally:
        await client.close()
        if rec is not None:
            await rec.aclose()
            assert rec.dropped == 0 and rec.error is None, (rec.dropped, rec.error)


def write_cost(n: int = 100_000, *, drain: bool) -> float:
    """Loop-thread CPU nanoseconds per ``Recorder.write`` of a 300-byte text frame.

    With ``drain`` the writer thread works meanwhile (``flush_entries=256``); without, it
    sleeps until the end, which leaves the cost of the call and the copy alone.
    """
    frame = '{"jsonrpc":"2.0","method":"subscription","params":{"channel":"ticker","data":' + (
        '"' + "x" * 220 + '"}}'
    )
    best = float("inf")
    with tempfile.TemporaryDirectory() as d:
        for rep in range(3):
            rec = Recorder(
                os.path.join(d, f"w{rep}.jsonl"),
                buffer_size=n + 1,
                buffer_bytes=n * 400,
                flush_entries=256 if drain else n + 1,
                flush_interval=0.2 if drain else 3600,
            )
            write = rec.write
            t0 = time.thread_time_ns()
            for _ in range(n):
                write("in", "text", frame, 1)
            best = min(best, (time.thread_time_ns() - t0) / n)
            rec.close()
            assert rec.dropped == 0
    return best


def _fmt(runs: list[Run], attr: str) -> str:
    vals = [getattr(r, attr) for r in runs]
    return f"{statistics.median(vals):.2f}"


async def main(args: argparse.Namespace) -> None:
    proc, port = start_server()
    url = f"ws://127.0.0.1:{port}/rpc"
    off: list[Run] = []
    on: list[Run] = []
    try:
        with tempfile.TemporaryDirectory() as d:
            for rep in range(args.reps):
                off.append(await round_trips(url, args.n, args.size, None, None, 0))
                path = f"{d}/r{rep}.jsonl"
                on.append(
                    await round_trips(
                        url, args.n, args.size, path, args.writer_cpu, args.buffer_bytes
                    )
                )
                os.unlink(path)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    m_off = statistics.median(r.rate for r in off)
    m_on = statistics.median(r.rate for r in on)
    loss = (1 - m_on / m_off) * 100
    where = "unpinned" if args.writer_cpu is None else f"CPU {args.writer_cpu}"
    print(f"affinity of this process: {sorted(os.sched_getaffinity(0))}; writer thread: {where}")
    print(f"round trips/s without recording: {m_off:,.0f}  (reps {[round(r.rate) for r in off]})")
    print(f"round trips/s with recording:    {m_on:,.0f}  (reps {[round(r.rate) for r in on]})")
    print(f"throughput loss: {loss:.1f} %  (target < 5 %)")
    print(
        f"loop-thread CPU per round trip: {_fmt(off, 'loop_us')} us off, "
        f"{_fmt(on, 'loop_us')} us on; writer thread: {_fmt(on, 'writer_us')} us"
    )
    print(
        f"Recorder.write, loop-thread CPU per frame: {write_cost(drain=False):.0f} ns "
        f"(writer asleep), {write_cost(drain=True):.0f} ns (writer draining meanwhile)"
    )


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--uvloop", action="store_true")
    ap.add_argument("--writer-cpu", type=int, default=None, help="pin the writer thread")
    ap.add_argument("--buffer-bytes", type=int, default=8 << 20, help="the recorder's arena")
    a = ap.parse_args()
    if a.uvloop:
        import uvloop

        uvloop.run(main(a))
    else:
        asyncio.run(main(a))
