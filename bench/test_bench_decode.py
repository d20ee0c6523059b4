"""Micro benchmarks: zenws.fast.jsonrpc.loads vs orjson.loads vs json.loads.

Run: python -m pytest bench/test_bench_decode.py --benchmark-only -p no:cacheprovider
     (add --benchmark-min-time=0.05 --benchmark-max-time=0.5 for a short run;
     --benchmark-columns=median,min --benchmark-sort=name to compare by name)
Each round runs 100 calls (the function bound to a local), so per-call time is the
reported time / 100; ``extra_info["ns/call"]`` holds it for the median round.

Cases: the 520-byte JSON-RPC echo response of the client benchmark, the same with
8 KiB of text, every message of tests/data/deribit/messages.jsonl (re-encoded
with ``json.dumps``, i.e. with its default ", " / ": " separators) and a 200-level
order book snapshot (``[["new", price, amount], ...]``); ``test_loads_kernel``
decodes the two echo responses with each string kernel.
"""

from __future__ import annotations

import json
import random
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from zenws.fast import jsonrpc

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from corpus import deribit_messages

LOOPS = 100


def _echo(size: int) -> bytes:
    doc = {"jsonrpc": "2.0", "id": 123, "result": {"data": ""}, "usIn": 1, "usOut": 2, "usDiff": 1}
    overhead = len(json.dumps(doc, separators=(",", ":")))
    doc["result"] = {"data": "x" * (size - overhead)}
    return json.dumps(doc, separators=(",", ":")).encode()


def _book(levels: int = 100) -> bytes:
    rnd = random.Random(1)
    return json.dumps(
        {
            "jsonrpc": "2.0",
            "method": "subscription",
            "params": {
                "channel": "book.BTC-PERPETUAL.100ms",
                "data": {
                    "type": "snapshot",
                    "timestamp": 1700000000300,
                    "instrument_name": "BTC-PERPETUAL",
                    "change_id": 1001,
                    "bids": [
                        ["new", round(37000 - i * 0.5, 1), float(rnd.randint(1, 500) * 10)]
                        for i in range(levels)
                    ],
                    "asks": [
                        ["new", round(37001 + i * 0.5, 1), float(rnd.randint(1, 500) * 10)]
                        for i in range(levels)
                    ],
                },
            },
        }
    ).encode()


DERIBIT: dict[str, bytes] = deribit_messages()

CASES: dict[str, bytes] = {
    "echo_520": _echo(520),
    "echo_8k": _echo(8 * 1024 + 77),
    "book_200": _book(),
    **{f"deribit_{name}": raw for name, raw in DERIBIT.items()},
}
assert len(CASES["echo_520"]) == 520
assert len(json.loads(CASES["echo_8k"])["result"]["data"]) == 8 * 1024

DECODERS: dict[str, Callable[[bytes], Any]] = {
    "zenws": jsonrpc.loads,
    "orjson": orjson.loads,
    "json": json.loads,
}


def _loop(fn: Callable[[bytes], Any], raw: bytes) -> Callable[[], None]:
    def run() -> None:
        for _ in range(LOOPS):
            fn(raw)

    return run


@pytest.mark.parametrize("decoder", list(DECODERS))
@pytest.mark.parametrize("case", list(CASES))
def test_loads(benchmark: Any, case: str, decoder: str) -> None:
    raw, fn = CASES[case], DECODERS[decoder]
    assert fn(raw) == json.loads(raw)
    benchmark.group = case
    benchmark.extra_info["bytes"] = len(raw)
    benchmark(_loop(fn, raw))
    if getattr(benchmark, "stats", None) is not None:  # none: --benchmark-disable, codspeed
        benchmark.extra_info["ns/call"] = round(benchmark.stats.stats.median / LOOPS * 1e9, 1)


@pytest.mark.parametrize("kernel", jsonrpc._json_kernels())
@pytest.mark.parametrize("case", ["echo_520", "echo_8k"])
def test_loads_kernel(benchmark: Any, case: str, kernel: str) -> None:
    """loads with each string kernel (ZENWS_JSON_KERNEL / _set_json_kernel)."""
    raw = CASES[case]
    before = jsonrpc._set_json_kernel(kernel)
    try:
        assert jsonrpc.loads(raw) == json.loads(raw)
        benchmark.group = f"{case} kernels"
        benchmark.extra_info["bytes"] = len(raw)
        benchmark(_loop(jsonrpc.loads, raw))
    finally:
        jsonrpc._set_json_kernel(before)
    if getattr(benchmark, "stats", None) is not None:  # none: --benchmark-disable, codspeed
        benchmark.extra_info["ns/call"] = round(benchmark.stats.stats.median / LOOPS * 1e9, 1)
