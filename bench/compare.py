"""Side-by-side loopback comparison: ``python -m bench.compare [options]``.

One server process (bench/server.py, raw picows) serves every client.  Each
client run is its own process (bench/client.py) so CPU time is the client's
alone.  Repetitions are interleaved (rep 1 of every client, then rep 2, ...) and
medians are reported with their spread, plus ratios against the raw picows
clients measured in the same run.

Topologies (Linux, ``os.sched_setaffinity``):
    same      client and server pinned to the same core (no cross-core wake-ups)
    separate  server on core 1, client on core 0

Example:
    python -m bench.compare --sizes 512 --count 20000 --reps 3 --topology same

Two builds of zenws in one interleaved run (before/after a change): name each build's
``src`` folder with ``--build NAME=PATH`` and suffix a kind with ``@NAME``; that client
runs with ``PYTHONPATH=PATH``:
    python -m bench.compare --topology same --sizes 512 \
        --build before=/tmp/before/src --build after=src \
        --kinds zenws_rpc@before zenws_rpc@after
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_KINDS = [
    "picows_echo",
    "zenws_echo",
    "zenws_fast_echo",
    "picows_ws_echo",
    "aiohttp_echo",
    "websockets_echo",
    "picows_rpc",
    "zenws_rpc",
    "zenws_fast_rpc",
    "picows_ws_rpc",
    "aiohttp_rpc",
    "websockets_rpc",
]


def _pin(cores: list[int] | None) -> Any:
    if cores is None or not hasattr(os, "sched_setaffinity"):
        return None
    return lambda: os.sched_setaffinity(0, set(cores))


def start_server(core: list[int] | None) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.server", "--port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=_pin(core),
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("PORT "):
        proc.kill()
        raise RuntimeError(f"benchmark server did not start: {line!r}")
    return proc, int(line.split()[1])


def run_client(
    kind: str,
    url: str,
    size: int,
    count: int,
    core: list[int] | None,
    builds: dict[str, str] | None = None,
) -> dict[str, Any]:
    env = None
    if "@" in kind:  # kind@build: the client imports that build's zenws
        kind, build = kind.split("@", 1)
        env = {**os.environ, "PYTHONPATH": str(Path((builds or {})[build]).resolve())}
    out = subprocess.run(
        [sys.executable, "-m", "bench.client", kind, url, str(size), str(count)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        preexec_fn=_pin(core),
        timeout=600,
        check=False,
    )
    if out.returncode != 0:
        return {"kind": kind, "error": out.stderr.strip().splitlines()[-1:] or ["failed"]}
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    ok = [r for r in runs if "error" not in r]
    if not ok:
        return {"error": runs[0].get("error")}
    out: dict[str, Any] = {}
    for key in ("rps", "cpu_us", "p50_us", "p99_us", "p999_us"):  # medians + min/max
        vals = [r[key] for r in ok]
        out[key] = statistics.median(vals)
        out[key + "_spread"] = (min(vals), max(vals))
    out["reps"] = len(ok)
    return out


def compare(args: argparse.Namespace) -> dict[str, Any]:
    topologies = {"same": ([0], [0]), "separate": ([1], [0])}
    if any(k.startswith("zenws_fast") for k in args.kinds):
        from bench.fast_build import build_dir

        os.environ["ZENWS_BENCH_FAST_DIR"] = str(build_dir())  # compiled once, reused
    results: dict[str, Any] = {
        "load_before": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "versions": _versions(),
        "machine": {
            "cpu": _cpu_model(),
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "command": " ".join(
            [os.path.basename(sys.executable), "-m", "bench.compare", *sys.argv[1:]]
        ),
        "runs": {},
    }
    builds = dict(b.split("=", 1) for b in args.build)
    for topo in args.topology:
        server_core, client_core = topologies[topo]
        server, port = start_server(server_core)
        try:
            for size in args.sizes:
                raw: dict[str, list[dict[str, Any]]] = {k: [] for k in args.kinds}
                for _ in range(args.reps):
                    for kind in args.kinds:
                        path = "echo" if kind.split("@")[0].endswith("_echo") else "rpc"
                        url = f"ws://127.0.0.1:{port}/{path}"
                        raw[kind].append(
                            run_client(kind, url, size, args.count, client_core, builds)
                        )
                results["runs"][f"{topo}/{size}"] = {k: summarize(v) for k, v in raw.items()}
        finally:
            server.kill()
            server.wait()
    results["load_after"] = os.getloadavg() if hasattr(os, "getloadavg") else None
    return results


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in ("zenws", "picows", "uvloop", "websockets", "aiohttp", "orjson", "Cython"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "-"
    return out


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def table(results: dict[str, Any]) -> str:
    """Markdown tables (one per topology/size) with ratios and the target checks."""
    lines = []
    for key, runs in results["runs"].items():
        base = {"echo": runs.get("picows_echo", {}), "rpc": runs.get("picows_rpc", {})}
        lines.append(f"\n### {key} (topology / payload bytes)\n")
        lines.append(
            "| client | RPS | x raw picows | CPU us/rt | p50 us | p99 us | p99.9 us "
            "| RPS min-max | p99 min-max |"
        )
        lines.append("|---|---:|---:|---:|---:|---:|---:|---|---|")
        for kind, r in runs.items():
            if "error" in r:
                lines.append(f"| {kind} | error: {r['error']} | | | | | | | |")
                continue
            b = base["echo" if kind.endswith("_echo") else "rpc"]
            ratio = r["rps"] / b["rps"] if b.get("rps") else float("nan")
            (lo, hi), (plo, phi) = r["rps_spread"], r["p99_us_spread"]
            lines.append(
                f"| {kind} | {r['rps']:,.0f} | {ratio:.2f} | {r['cpu_us']:.1f} | "
                f"{r['p50_us']:.1f} | {r['p99_us']:.1f} | {r['p999_us']:.1f} | "
                f"{lo:,.0f}-{hi:,.0f} | {plo:.0f}-{phi:.0f} |"
            )
        lines.append("")
        lines.extend(targets(runs))
    return "\n".join(lines)


def targets(runs: dict[str, Any]) -> list[str]:
    """The issue's targets, evaluated on one topology/size block."""
    g = {k: v for k, v in runs.items() if "error" not in v}
    out = []

    def line(name: str, value: float, op: str, limit: float, unit: str = "x") -> None:
        ok = value <= limit if op == "<=" else value >= limit
        out.append(
            f"- {name}: {value:.2f}{unit} (target {op} {limit}{unit}) {'MET' if ok else 'MISSED'}"
        )

    if {"zenws_rpc", "picows_rpc"} <= g.keys():
        line(
            "zenws request() RPS / picows+orjson RPS",
            g["zenws_rpc"]["rps"] / g["picows_rpc"]["rps"],
            ">=",
            1.1,
        )
    if {"zenws_rpc", "aiohttp_rpc"} <= g.keys():
        line(
            "zenws request() CPU/rt / aiohttp",
            g["zenws_rpc"]["cpu_us"] / g["aiohttp_rpc"]["cpu_us"],
            "<=",
            0.55,
        )
    if {"zenws_rpc", "websockets_rpc"} <= g.keys():
        line(
            "zenws request() CPU/rt / websockets",
            g["zenws_rpc"]["cpu_us"] / g["websockets_rpc"]["cpu_us"],
            "<=",
            0.37,
        )
    if {"zenws_echo", "picows_echo"} <= g.keys():
        line(
            "zenws echo p99 - raw picows echo p99",
            g["zenws_echo"]["p99_us"] - g["picows_echo"]["p99_us"],
            "<=",
            10,
            " us",
        )
    if {"zenws_rpc", "picows_rpc"} <= g.keys():
        out.append(
            f"- (info) zenws request() p99 - picows+orjson p99: "
            f"{g['zenws_rpc']['p99_us'] - g['picows_rpc']['p99_us']:.1f} us"
        )
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="zenws loopback comparison")
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 512, 8192])
    parser.add_argument("--count", type=int, default=20000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--kinds", nargs="+", default=DEFAULT_KINDS)
    parser.add_argument(
        "--topology", nargs="+", choices=["same", "separate"], default=["same", "separate"]
    )
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    parser.add_argument(
        "--build",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="a zenws src folder for kinds suffixed @NAME (A/B runs of two builds)",
    )
    args = parser.parse_args(argv)
    results = compare(args)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    print(
        f"machine: {results['machine']}\nversions: {results['versions']}\n"
        f"command: {results['command']}\ndate: {results['date']}\n"
        f"load average before/after: {results['load_before']} / {results['load_after']}"
    )
    print(table(results))


if __name__ == "__main__":
    main()
