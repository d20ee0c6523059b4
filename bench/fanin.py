"""Notification fan-in: messages/s a client dispatches to user code.

``python -m bench.fanin [--n 200000] [--size 200] [--reps 3]``

The bench server (/stream) pushes N Deribit-shaped notifications (``subscription``
on ``ticker.BTC-PERPETUAL.raw``, about SIZE bytes) as fast as its transport allows,
then ``{"done": N}``.  Each variant runs in its own process pinned to core 0 (the
server on core 1) and reports N / (time from the trigger to the last message):

- ``zenws_callback``  zenws.connect + ``client.on_message = python_function``
  (scan, channel routing, a zenws.Message per notification, the Python call);
- ``zenws_cython``    a FastListener Cython subclass overriding ``on_message_c``
  (bench/fast_client.pyx ``CountStrategy``): no Message, no Python call;
- ``picows_python``   raw picows, a Python ``on_ws_frame`` counting frames (reference).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from typing import Any

from bench.compare import ROOT, _pin, start_server

VARIANTS = ["zenws_callback", "zenws_cython", "picows_python"]


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


async def _zenws(url: str, n: int, cython: bool) -> tuple[float, float]:
    import zenws

    loop = asyncio.get_running_loop()
    done = loop.create_future()
    if cython:
        from bench.fast_build import load

        cls = load().CountStrategy
        client = zenws.Client(zenws.Config.new(url, queue_size=16), listener_class=cls)
        await client.start()
        lst: Any = client._listener
        lst.target, lst.done = n + 1, done
    else:
        seen = [0]

        def on_message(msg: Any) -> None:
            seen[0] += 1
            if seen[0] == n + 1:
                done.set_result(None)

        client = zenws.Client(zenws.Config.new(url, queue_size=16))
        client.on_message = on_message
        await client.start()
    cpu0, t0 = _cpu(), time.perf_counter()
    client.send("go")
    await done
    wall, cpu = time.perf_counter() - t0, _cpu() - cpu0
    m = client.metrics()
    assert m.messages_in >= n + 1 and m.dropped == 0, m
    await client.close()
    return wall, cpu


async def _picows(url: str, n: int) -> tuple[float, float]:
    from picows import WSCloseCode, WSListener, WSMsgType, ws_connect

    done = asyncio.get_running_loop().create_future()

    class L(WSListener):  # type: ignore[misc]
        count = 0

        def on_ws_frame(self, transport: Any, frame: Any) -> None:
            if frame.msg_type == WSMsgType.TEXT:
                self.count += 1
                if self.count == n + 1:
                    done.set_result(None)

    transport, _ = await ws_connect(L, url)
    cpu0, t0 = _cpu(), time.perf_counter()
    transport.send(WSMsgType.TEXT, b"go")
    await done
    wall, cpu = time.perf_counter() - t0, _cpu() - cpu0
    transport.send_close(WSCloseCode.OK)
    transport.disconnect()
    return wall, cpu


def child(variant: str, url: str, n: int) -> None:
    import uvloop

    if variant == "picows_python":
        wall, cpu = uvloop.run(_picows(url, n))
    else:
        wall, cpu = uvloop.run(_zenws(url, n, cython=variant == "zenws_cython"))
    print(json.dumps({"variant": variant, "msgs_per_s": n / wall, "cpu_ns_per_msg": cpu / n * 1e9}))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="zenws notification fan-in")
    p.add_argument("--n", type=int, default=200_000)
    p.add_argument("--size", type=int, default=200)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--variants", nargs="+", default=VARIANTS)
    p.add_argument("--child", nargs=3, metavar=("VARIANT", "URL", "N"), help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.child:
        return child(a.child[0], a.child[1], int(a.child[2]))
    if "zenws_cython" in a.variants:
        from bench.fast_build import build_dir

        os.environ["ZENWS_BENCH_FAST_DIR"] = str(build_dir())
    server, port = start_server([1])
    url = f"ws://127.0.0.1:{port}/stream?n={a.n}&size={a.size}"
    runs: dict[str, list[dict[str, float]]] = {v: [] for v in a.variants}
    try:
        for _ in range(a.reps):
            for v in a.variants:
                out = subprocess.run(
                    [sys.executable, "-m", "bench.fanin", "--child", v, url, str(a.n)],
                    cwd=ROOT,
                    capture_output=True,
                    text=True,
                    preexec_fn=_pin([0]),
                    timeout=300,
                    check=False,
                )
                if out.returncode != 0:
                    print(f"{v}: {out.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
                    continue
                runs[v].append(json.loads(out.stdout.strip().splitlines()[-1]))
    finally:
        server.kill()
        server.wait()
    print(f"fan-in: n={a.n} size={a.size} reps={a.reps} load={os.getloadavg()}")
    print("| variant | msgs/s (median) | min-max | client CPU ns/msg |")
    print("|---|---:|---|---:|")
    for v, rs in runs.items():
        if not rs:
            continue
        mps = [r["msgs_per_s"] for r in rs]
        cpu = statistics.median(r["cpu_ns_per_msg"] for r in rs)
        print(
            f"| {v} | {statistics.median(mps):,.0f} | {min(mps):,.0f}-{max(mps):,.0f} | {cpu:.0f} |"
        )
    cb = runs.get("zenws_callback")
    if cb:
        med = statistics.median(r["msgs_per_s"] for r in cb)
        verdict = "MET" if med >= 200_000 else "MISSED"
        print(
            f"\n- notifications/s into a Python callback: {med:,.0f} (target >= 200,000) {verdict}"
        )


if __name__ == "__main__":
    main()
