"""Latency regression gate: ``make bench-check`` (``python -m bench.check``).

Runs the micro benchmarks (bench/test_bench_*.py) and the loopback ``request()`` round
trip (bench/test_bench_roundtrip.py) pinned to one core, then compares them with the
committed baseline ``bench/baselines/<machine>/check.json`` and exits 1 when one is
slower than its threshold allows (bench/README.md):

- every micro benchmark: ``min`` (the least disturbed round) at most +30 %;
- the round trip, taken from the least disturbed of 10 consecutive blocks of rounds (a
  burst of other work on a shared machine lands in some blocks, a slower request path in
  all of them): p50 at most +30 %, p99 at most +100 %, and p50 net of the loop entry
  (``test_loop_entry_reference``, same statistic) at most +40 %.

A benchmark missing from the run or from the baseline is reported; only a missing one
fails (a new benchmark enters with ``--save``).  ``--save`` writes the baseline instead of
comparing.  Compare on the machine the baseline came from, with nothing else running.

Example:
    taskset -c 0 python -m bench.check            # what make bench-check runs
    python -m bench.check --save                  # new baseline after a deliberate change
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MICRO_MIN = 0.30
RT_P50 = 0.30
RT_P99 = 1.00
RT_NET_P50 = 0.40
ROUNDTRIP = "bench/test_bench_roundtrip.py::test_request_roundtrip"
LOOP_ENTRY = "bench/test_bench_roundtrip.py::test_loop_entry_reference"


def machine_key() -> str:
    """The folder of this machine's baselines, as pytest-benchmark names it."""
    impl = platform.python_implementation()
    major_minor = ".".join(platform.python_version_tuple()[:2])
    return f"{platform.system()}-{impl}-{major_minor}-{platform.architecture()[0]}"


def run_benchmarks(out: Path, core: int | None) -> None:
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "bench").glob("test_bench_*.py")),
        "--benchmark-only",
        "-p",
        "no:cacheprovider",
        "-q",
        "--benchmark-min-time=0.000005",
        "--benchmark-max-time=0.25",
        "--benchmark-columns=min,median,max,rounds",
        "--benchmark-sort=fullname",
        f"--benchmark-json={out}",
    ]
    if core is not None and shutil.which("taskset"):
        cmd = ["taskset", "-c", str(core), *cmd]
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, cwd=ROOT, check=True)


def _slim(doc: dict[str, Any]) -> dict[str, Any]:
    """The run without its raw rounds (tens of MB): what the comparison and a reader need."""
    for b in doc["benchmarks"]:
        b["stats"].pop("data", None)
        b.pop("options", None)
    return doc


def load(path: Path) -> dict[str, dict[str, Any]]:
    doc = json.loads(path.read_text())
    return {b["fullname"]: b for b in doc["benchmarks"]}


def _metrics(bench: dict[str, dict[str, Any]]) -> dict[str, tuple[float, float]]:
    """name -> (value in us, allowed relative increase)."""
    out: dict[str, tuple[float, float]] = {}
    for name, b in bench.items():
        if name in (ROUNDTRIP, LOOP_ENTRY):
            continue
        out[f"{name} [min]"] = (b["stats"]["min"] * 1e6, MICRO_MIN)
    if ROUNDTRIP in bench:
        rt = bench[ROUNDTRIP]["extra_info"]
        out["request() round trip [p50, best block]"] = (float(rt["p50_best_block_us"]), RT_P50)
        out["request() round trip [p99, best block]"] = (float(rt["p99_best_block_us"]), RT_P99)
        if LOOP_ENTRY in bench:
            net = rt["p50_best_block_us"] - bench[LOOP_ENTRY]["extra_info"]["p50_best_block_us"]
            out["request() round trip net of loop entry [p50, best block]"] = (net, RT_NET_P50)
    return out


def compare(base: dict[str, dict[str, Any]], now: dict[str, dict[str, Any]]) -> int:
    b, n = _metrics(base), _metrics(now)
    failed = 0
    width = max(len(k) for k in b | n)
    print(f"\n{'benchmark':{width}}  {'baseline us':>12}  {'now us':>12}  {'change':>8}  limit")
    for key in sorted(b | n):
        if key not in n:
            print(f"{key:{width}}  {b[key][0]:12.3f}  {'missing':>12}  {'':8}  FAIL")
            failed += 1
            continue
        if key not in b:
            print(f"{key:{width}}  {'new':>12}  {n[key][0]:12.3f}  {'':8}  (not in the baseline)")
            continue
        (was, limit), (got, _) = b[key], n[key]
        change = got / was - 1 if was > 0 else 0.0
        verdict = "FAIL" if change > limit else "ok"
        failed += verdict == "FAIL"
        print(f"{key:{width}}  {was:12.3f}  {got:12.3f}  {change:+8.1%}  +{limit:.0%} {verdict}")
    for name in (ROUNDTRIP, LOOP_ENTRY):
        if name in now:
            info = now[name]["extra_info"]
            print(f"{name}: p50 per block {info['p50_blocks_us']} us")
            print(f"{' ' * len(name)}  p99 per block {info['p99_blocks_us']} us")
    print(f"\n{len(b | n)} compared, {failed} over the threshold")
    return failed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--save", action="store_true", help="write the baseline instead")
    parser.add_argument("--baseline", type=Path, default=None, help="baseline JSON to use")
    parser.add_argument("--core", type=int, default=0, help="CPU to pin to (-1: no pinning)")
    parser.add_argument("--json", type=Path, default=None, help="compare this run's JSON")
    args = parser.parse_args()
    baseline = args.baseline or ROOT / "bench" / "baselines" / machine_key() / "check.json"
    with tempfile.TemporaryDirectory() as tmp:
        out = args.json or Path(tmp) / "now.json"
        if args.json is None:
            env_core = None if args.core < 0 else args.core
            run_benchmarks(out, env_core)
        if args.save:
            baseline.parent.mkdir(parents=True, exist_ok=True)
            baseline.write_text(json.dumps(_slim(json.loads(out.read_text())), indent=1) + "\n")
            print(f"baseline written: {baseline.relative_to(ROOT)}")
            return 0
        if not baseline.exists():
            print(
                f"no baseline for this machine: {baseline} (make bench-baseline)", file=sys.stderr
            )
            return 2
        print(f"baseline: {baseline.relative_to(ROOT)} ({os.path.getsize(baseline)} bytes)")
        return 1 if compare(load(baseline), load(out)) else 0


if __name__ == "__main__":
    sys.exit(main())
