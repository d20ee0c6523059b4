"""Micro benchmarks for zenws.fast.jsonrpc (pytest-benchmark).

Run: python -m pytest bench/test_bench_jsonrpc.py --benchmark-only -p no:cacheprovider
     (add --benchmark-min-time=0.05 --benchmark-max-time=0.5 for a short run)
Each round runs 100 calls (the function bound to a local), so per-call time is the
reported time / 100; ``extra_info["ns/call"]`` holds it for the fastest round.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import orjson
import pytest
import simdjson

from zenws.fast import jsonrpc

LOOPS = 100

# A realistic ~300-byte Deribit response (public/ticker-like result plus the
# usIn/usOut/usDiff/testnet members every Deribit response carries).
RESPONSE = json.dumps(
    {
        "jsonrpc": "2.0",
        "id": 4711,
        "result": {
            "timestamp": 1732579200123,
            "instrument_name": "BTC-PERPETUAL",
            "best_bid_price": 97050.5,
            "best_ask_price": 97051.0,
            "mark_price": 97050.12,
            "open_interest": 123456789,
            "stats": {"volume": 9876.5, "high": 98000.0},
        },
        "usIn": 1732579200123456,
        "usOut": 1732579200123789,
        "usDiff": 333,
        "testnet": False,
    },
    separators=(",", ":"),
).encode()
assert 280 <= len(RESPONSE) <= 320, len(RESPONSE)

NOTIFICATION = json.dumps(
    {
        "jsonrpc": "2.0",
        "method": "subscription",
        "params": {
            "channel": "ticker.BTC-PERPETUAL.100ms",
            "data": {
                "timestamp": 1732579200123,
                "instrument_name": "BTC-PERPETUAL",
                "best_bid_price": 97050.5,
                "best_bid_amount": 12000.0,
                "best_ask_price": 97051.0,
                "best_ask_amount": 3400.0,
                "mark_price": 97050.12,
                "index_price": 97045.33,
                "open_interest": 123456789,
                "state": "open",
            },
        },
    },
    separators=(",", ":"),
).encode()

PARAMS = {"instrument_name": "BTC-PERPETUAL", "amount": 100, "type": "limit", "price": 97050.5}


def _loop(fn: Callable[..., Any], *args: Any) -> Callable[[], None]:
    # A direct call, as in the orjson/simdjson references: ``fn(*args)`` would
    # add CPython's generic call path (about 25 ns) to every call measured.
    if len(args) == 1:
        (a,) = args

        def run1() -> None:
            for _ in range(LOOPS):
                fn(a)

        return run1

    def run() -> None:
        for _ in range(LOOPS):
            fn(*args)

    return run


def _per_call(benchmark: Any) -> None:
    if getattr(benchmark, "stats", None) is not None:  # none: --benchmark-disable, codspeed
        benchmark.extra_info["ns/call"] = round(benchmark.stats.stats.min / LOOPS * 1e9, 1)


# --------------------------------------------------------------- scan (response, id)


def test_scan_response(benchmark: Any) -> None:
    benchmark.extra_info["bytes"] = len(RESPONSE)
    benchmark(_loop(jsonrpc.scan, RESPONSE))
    _per_call(benchmark)


def test_scan_id_response(benchmark: Any) -> None:
    benchmark(_loop(jsonrpc.scan_id, RESPONSE))
    _per_call(benchmark)


def test_scan_strict_response(benchmark: Any) -> None:
    benchmark(_loop(jsonrpc.scan_strict, RESPONSE))
    _per_call(benchmark)


def test_orjson_id_response(benchmark: Any) -> None:
    loads = orjson.loads

    def run() -> None:
        for _ in range(LOOPS):
            loads(RESPONSE)["id"]

    benchmark(run)
    _per_call(benchmark)


def test_simdjson_id_response(benchmark: Any) -> None:
    parse: Callable[[bytes], Any] = simdjson.Parser().parse

    def run() -> None:
        for _ in range(LOOPS):
            parse(RESPONSE)["id"]  # the lazy document dies with the expression

    benchmark(run)
    _per_call(benchmark)


# --------------------------------------------------------------- scan (notification, channel)


def test_scan_notification_channel(benchmark: Any) -> None:
    scan = jsonrpc.scan
    benchmark.extra_info["bytes"] = len(NOTIFICATION)

    def run() -> None:
        for _ in range(LOOPS):
            _ = scan(NOTIFICATION).channel

    benchmark(run)
    _per_call(benchmark)


def test_orjson_notification_channel(benchmark: Any) -> None:
    loads = orjson.loads

    def run() -> None:
        for _ in range(LOOPS):
            loads(NOTIFICATION)["params"]["channel"]

    benchmark(run)
    _per_call(benchmark)


# --------------------------------------------------------------- encode


def test_encode_request(benchmark: Any) -> None:
    benchmark.group = "encode private/buy"
    benchmark(_loop(jsonrpc.encode_request, 123456, "private/buy", PARAMS))
    _per_call(benchmark)


def test_encode_orjson_dict(benchmark: Any) -> None:
    benchmark.group = "encode private/buy"
    dumps = orjson.dumps

    def run() -> None:
        for i in range(LOOPS):
            dumps({"jsonrpc": "2.0", "id": i, "method": "private/buy", "params": PARAMS})

    benchmark(run)
    _per_call(benchmark)


# echo-RPC params of bench/quick_rpc.py: the request is about `size` bytes.
ECHO_SIZES = {"64B": 64, "512B": 512, "8KiB": 8192}


def _echo_params(size: int) -> dict[str, str]:
    return {"data": "x" * max(0, size - 60)}


@pytest.mark.parametrize("size", list(ECHO_SIZES))
@pytest.mark.parametrize(
    "impl", ["zenws", *(f"zenws-{k}" for k in jsonrpc._json_kernels()), "orjson"]
)
def test_encode_echo(benchmark: Any, impl: str, size: str) -> None:
    """encode_request(1, "public/echo", params) vs orjson.dumps of the request dict."""
    params = _echo_params(ECHO_SIZES[size])
    dumps, enc = orjson.dumps, jsonrpc.encode_request
    want = dumps({"jsonrpc": "2.0", "id": 1, "method": "public/echo", "params": params})
    assert enc(1, "public/echo", params) == want
    benchmark.group = f"encode echo {size}"
    benchmark.extra_info["bytes"] = len(want)
    before = jsonrpc.loads_kernel()
    if impl.startswith("zenws-"):
        jsonrpc._set_json_kernel(impl[6:])

    def run_zenws() -> None:
        for _ in range(LOOPS):
            enc(1, "public/echo", params)

    def run_orjson() -> None:
        for _ in range(LOOPS):
            dumps({"jsonrpc": "2.0", "id": 1, "method": "public/echo", "params": params})

    try:
        benchmark(run_orjson if impl == "orjson" else run_zenws)
    finally:
        jsonrpc._set_json_kernel(before)
    _per_call(benchmark)


# --------------------------------------------------------------- correlator


@pytest.mark.parametrize("kind", ["int", "str"])
def test_correlator_track_resolve(benchmark: Any, kind: str) -> None:
    c = jsonrpc.Correlator()
    track, resolve = c.track, c.resolve
    ids: list[Any] = list(range(10_000, 10_000 + LOOPS))
    if kind == "str":
        ids = [f"r{i}" for i in ids]
    sink: list[Any] = []
    waiter = sink.append  # a cheap callable: measures the table, not a future

    def run() -> None:
        for i in ids:
            track(i, waiter, 10**18, 1)
            resolve(i, None, 2)

    benchmark(run)
    sink.clear()
    _per_call(benchmark)


def test_correlator_c_path(benchmark: Any) -> None:
    """track_c + resolve_c from Cython (what zenws.fast.listener does per request)."""
    c = jsonrpc.Correlator()
    sink: list[Any] = []
    waiter = sink.append
    loop = jsonrpc._c_track_resolve_loop
    benchmark(loop, c, waiter, LOOPS)
    assert loop(c, waiter, LOOPS) == LOOPS
    sink.clear()
    _per_call(benchmark)


def test_dict_track_resolve_reference(benchmark: Any) -> None:
    """What a hand-written Python correlator does per request (for scale)."""
    pending: dict[int, tuple[Any, int, int]] = {}
    ids = list(range(10_000, 10_000 + LOOPS))
    sink: list[Any] = []
    waiter = sink.append

    def run() -> None:
        for i in ids:
            pending[i] = (waiter, 1, 10**18)
            w, sent, _ = pending.pop(i)
            w(None)
            2 - sent

    benchmark(run)
    sink.clear()
    _per_call(benchmark)
