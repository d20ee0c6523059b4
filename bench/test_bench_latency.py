"""Micro benchmarks for zenws.fast.latency (pytest-benchmark).

Run: python -m pytest bench/test_bench_latency.py --benchmark-only -p no:cacheprovider
Each round runs 100 calls (the method bound to a local); ``extra_info["per_call"]``
is the fastest round divided by 100.  The percentile benchmarks use the same
100k-sample array for zenws and numpy (contract: zenws >= 2x faster).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from zenws.fast.latency import LatencyBuffer

LOOPS = 100
N = 100_000
QS = (50, 99)
# Round-trip times in ns, shaped like a real latency distribution (log-normal
# around 45 us with a tail), fixed seed so every run measures the same data.
SAMPLES = np.random.default_rng(20261126).lognormal(np.log(45_000), 0.35, N).astype(np.int64)


def _loop(fn: Callable[..., Any], *args: Any) -> Callable[[], None]:
    def run() -> None:
        for _ in range(LOOPS):
            fn(*args)

    return run


def _per_call(benchmark: Any) -> None:
    if getattr(benchmark, "stats", None) is None:  # pytest-codspeed counts, no timings
        return
    per_call = benchmark.stats.stats.min / LOOPS
    benchmark.extra_info["per_call"] = (
        f"{per_call * 1e9:.1f} ns" if per_call < 1e-6 else f"{per_call * 1e6:.1f} us"
    )


def full_buffer() -> LatencyBuffer:
    buf = LatencyBuffer(N)
    buf.extend(SAMPLES)
    return buf


def test_add(benchmark: Any) -> None:
    buf = LatencyBuffer(1024)
    add = buf.add
    benchmark(_loop(add, 45_123))
    _per_call(benchmark)


def test_percentiles_50_99_of_100k(benchmark: Any) -> None:
    percentiles = full_buffer().percentiles
    assert percentiles(QS) == tuple(np.percentile(SAMPLES, QS, method="inverted_cdf"))
    benchmark(_loop(percentiles, QS))
    _per_call(benchmark)


@pytest.mark.parametrize("method", ["inverted_cdf", "linear"])
def test_numpy_percentile_50_99_of_100k(benchmark: Any, method: Any) -> None:
    percentile = np.percentile

    def run() -> None:
        for _ in range(LOOPS):
            percentile(SAMPLES, QS, method=method)

    benchmark(run)
    _per_call(benchmark)


def test_summary_of_100k(benchmark: Any) -> None:
    summary = full_buffer().summary
    benchmark(_loop(summary))
    _per_call(benchmark)


def test_to_numpy_100k(benchmark: Any) -> None:
    to_numpy = full_buffer().to_numpy
    benchmark(_loop(to_numpy))
    _per_call(benchmark)


def test_to_numpy_1024(benchmark: Any) -> None:
    buf = LatencyBuffer(1024)
    buf.extend(SAMPLES[:1500])  # wrapped ring: two copies
    to_numpy = buf.to_numpy
    benchmark(_loop(to_numpy))
    _per_call(benchmark)
