"""Soak: 1,000,000 messages (requests + notifications) through one zenws client.

``python -m bench.soak [--messages 1000000] [--k 4] [--window 64]``

The bench server's ``/mixed`` path answers each JSON-RPC request and then pushes K
notifications on a subscribed channel, so (K + 1) messages arrive per request.
``--window`` requests are kept in flight by as many tasks.  Sampled after warm-up
(10 % of the messages) and every 10 % after: RSS (``/proc/self/statm``, after a
``gc.collect()``), pending requests, tracked subscriptions and
``len(asyncio.all_tasks())``.  Pass: the final RSS is within 5 % of the warm-up
sample and pending/subscriptions/tasks do not grow.  Exit status 0 = pass.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="zenws soak")
    p.add_argument("--messages", type=int, default=1_000_000)
    p.add_argument("--k", type=int, default=4, help="notifications per response")
    p.add_argument("--window", type=int, default=64, help="requests in flight")
    a = p.parse_args(argv)
    import uvloop

    server, port = start_server([1])
    try:
        ok = uvloop.run(soak(f"ws://127.0.0.1:{port}/mixed?k={a.k}", a.messages, a.k, a.window))
    finally:
        server.kill()
        server.wait()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
