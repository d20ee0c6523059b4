"""Make-before-break rotation vs a plain reconnect: messages lost and duplicated.

``python -m bench.rotation [--mode rotate|reconnect|both] [--n 100] [--rate 10000]``

The Deribit simulator (its own process, pinned to core 1 with ``--server-cpu 1``) streams one
book channel at RATE notifications a second, every one with a consecutive ``change_id``
(``prev_change_id`` = the one before), the same bytes to every connection.  The client
(this process) counts what its handler receives:

- *lost*: change ids the handler never saw (a jump of the change id; a snapshot that
  replaces changes counts the changes it replaced);
- *duplicated*: a change id at or below one already seen;
- *pause*: the longest time between two notifications handed to the application from the
  start of a rotation (or reconnect) until the stream flows again: the switch as the
  application sees it.

Each of the N rounds waits for ``--settle`` seconds of steady stream, then runs
``await client.rotate()`` (mode ``rotate``) or ``await client.reconnect()`` (mode
``reconnect``).  The same server process and stream serve both modes, one after the other.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHANNEL = "book.BTC-PERPETUAL.100ms"


@dataclass
class BookCount:
    """Counts a book channel's change ids as the application receives them."""

    last: int | None = None
    received: int = 0
    lost: int = 0
    duplicated: int = 0
    gaps: int = 0
    arrivals: list[int] = field(default_factory=list)  # monotonic ns, while recording
    recording: bool = False

    def __call__(self, msg: Any) -> None:
        data = msg.json()["params"]["data"]
        cid = data["change_id"]
        self.received += 1
        if self.recording:
            self.arrivals.append(time.monotonic_ns())
        last = self.last
        if last is None:
            self.last = cid
            return
        if cid <= last:
            if data.get("prev_change_id") is not None or cid < last:
                self.duplicated += 1
            return  # a snapshot at the id already seen carries nothing new
        if cid > last + 1 or (data.get("prev_change_id") is None):
            # a jump, or a snapshot standing in for the changes since the last one seen
            missed = cid - last - (1 if data.get("prev_change_id") is not None else 0)
            if missed:
                self.lost += missed
                self.gaps += 1
        self.last = cid

    def longest_pause_ns(self) -> int:
        a = self.arrivals
        return max((b - x for x, b in itertools.pairwise(a)), default=0)


def serve(rate: float) -> None:
    """Run the simulator with a RATE/s book stream; print its URL; serve until stdin closes."""

    async def main() -> None:
        from zenws.testing import DeribitSimulator

        sim = DeribitSimulator(
            market_steps_per_second=rate,
            interval_rates={"100ms": rate},
            rate_limits=False,
            max_connections=None,
            idle_timeout=None,
        )
        async with sim.serve():
            print(sim.url, flush=True)
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(None, sys.stdin.read)

    try:
        import uvloop

        uvloop.run(main())
    except ImportError:
        asyncio.run(main())


def _pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    s = sorted(values)
    return s[min(len(s) - 1, round(q / 100 * (len(s) - 1)))]


async def run(
    url: str, mode: str, n: int, settle: float, retry_delay: float | None = None
) -> dict[str, Any]:
    """N rotations or reconnects of one client; the counts and times."""
    import zenws

    count = BookCount()
    options: dict[str, Any] = {"dialect": "deribit", "request_timeout": 10}
    if retry_delay is not None:
        options["retry_delay"] = retry_delay
    client = await zenws.connect(url, **options)
    durations: list[float] = []
    pauses: list[float] = []
    switches: list[float] = []
    try:
        await client.subscribe([CHANNEL], handler=count)
        for _ in range(n):
            target = count.received + 1
            deadline = time.monotonic() + settle
            while time.monotonic() < deadline or count.received < target:
                await asyncio.sleep(settle / 10)
            count.arrivals = [time.monotonic_ns()]  # the stream was flowing until now
            count.recording = True
            t0 = time.perf_counter()
            if mode == "rotate":
                report = await client.rotate()
                switch_ns = getattr(report, "switch_ns", None)
                if switch_ns is not None:
                    switches.append(switch_ns / 1e3)
            else:
                await client.reconnect()
            durations.append((time.perf_counter() - t0) * 1e3)
            after = count.received + 20  # the stream flows again
            while count.received < after:
                await asyncio.sleep(0.001)
            count.recording = False
            pauses.append(count.longest_pause_ns() / 1e6)
        await asyncio.sleep(settle)
    finally:
        await client.close()
    return {
        "mode": mode if retry_delay is None else f"{mode} (retry_delay={retry_delay:g})",
        "rounds": n,
        "received": count.received,
        "lost": count.lost,
        "duplicated": count.duplicated,
        "gaps": count.gaps,
        "duration_ms": durations,
        "pause_ms": pauses,
        "switch_us": switches,
    }


def _row(r: dict[str, Any]) -> str:
    d, p, s = r["duration_ms"], r["pause_ms"], r["switch_us"]
    switch = f"{_pct(s, 50):.0f} / {_pct(s, 99):.0f} / {max(s):.0f} us" if s else "n/a"
    return (
        f"| {r['mode']} x{r['rounds']} | {r['received']:,} | **{r['lost']:,}** "
        f"({r['gaps']} gaps) | **{r['duplicated']:,}** | "
        f"{_pct(p, 50):.2f} / {_pct(p, 99):.2f} / {max(p, default=0):.2f} ms | {switch} | "
        f"{_pct(d, 50):.1f} / {_pct(d, 99):.1f} / {max(d, default=0):.1f} ms |"
    )


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.rotation", description=__doc__)
    ap.add_argument("--mode", choices=["rotate", "reconnect", "both"], default="both")
    ap.add_argument("--n", type=int, default=100, help="rotations (or reconnects) per mode")
    ap.add_argument("--rate", type=float, default=10_000.0, help="notifications per second")
    ap.add_argument("--settle", type=float, default=0.2, help="seconds of stream per round")
    ap.add_argument("--server-cpu", type=int, default=None, help="pin the server to this CPU")
    ap.add_argument(
        "--retry-delay",
        type=float,
        default=None,
        help="also run the reconnects with this Config.retry_delay (0: no backoff at all)",
    )
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.serve:
        serve(args.rate)
        return
    cmd = [sys.executable, "-m", "bench.rotation", "--serve", "--rate", str(args.rate)]
    if args.server_cpu is not None:
        cmd = ["taskset", "-c", str(args.server_cpu), *cmd]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (os.path.join(ROOT, "src"), ROOT, env.get("PYTHONPATH")) if p
    )
    # The server's stderr is dropped: after each plain reconnect its transport logs
    # "write() called after connection lost" for the notifications already on their way.
    server = subprocess.Popen(
        cmd,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
        text=True,
    )
    try:
        assert server.stdout is not None
        url = server.stdout.readline().strip()
        modes = ["rotate", "reconnect"] if args.mode == "both" else [args.mode]
        results = []
        for mode in modes:
            results.append(asyncio.run(run(url, mode, args.n, args.settle)))
        if args.retry_delay is not None and "reconnect" in modes:
            results.append(
                asyncio.run(run(url, "reconnect", args.n, args.settle, args.retry_delay))
            )
        print(
            f"{args.rate:,.0f} notifications/s, one book channel, consecutive change ids\n\n"
            "| mode | received | lost | duplicated | pause p50 / p99 / max | "
            "switch p50 / p99 / max | call p50 / p99 / max |\n|---|---|---|---|---|---|---|"
        )
        for r in results:
            print(_row(r))
    finally:
        if server.stdin is not None:
            server.stdin.close()
        try:
            server.wait(5)
        except subprocess.TimeoutExpired:
            server.kill()


if __name__ == "__main__":
    main()
