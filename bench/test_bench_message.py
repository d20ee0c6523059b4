"""Micro benchmarks: Message.json(), the per-message hot path, request encoding.

Run: python -m pytest bench/test_bench_message.py --benchmark-only -p no:cacheprovider
Each round runs 100 calls, so per-call time is the reported time / 100.
Baselines: see bench/RESULTS.md (``--benchmark-storage=file://bench/baselines``,
``--benchmark-compare``, ``--benchmark-compare-fail=median:25%``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import orjson
import pytest

from zenws.fast.jsonrpc import Correlator, encode_request
from zenws.fast.listener import FastListener, _make_message

LOOPS = 100
TICKER = (
    b'{"jsonrpc":"2.0","method":"subscription","params":{"channel":"ticker.BTC-PERPETUAL.raw",'
    b'"data":{"timestamp":1732579200123,"stats":{"volume_usd":812345678.0,"volume":9876.5},'
    b'"state":"open","settlement_price":97123.45,"open_interest":123456789,"min_price":96000.0,'
    b'"max_price":98000.0,"mark_price":97050.12,"last_price":97051.0}}}'
)
BOOK = orjson.dumps(
    {
        "jsonrpc": "2.0",
        "method": "subscription",
        "params": {
            "channel": "book.BTC-PERPETUAL.100ms",
            "data": {
                "type": "change",
                "timestamp": 1700000000300,
                "change_id": 1001,
                "bids": [["change", 37010.5 + i, 11000.0] for i in range(25)],
                "asks": [["new", 37011.0 + i, 250.0] for i in range(25)],
            },
        },
    }
)
RESPONSE = b'{"jsonrpc":"2.0","id":%d,"result":{"order_id":"ETH-349249","order_state":"open"}}'
PARAMS = {"instrument_name": "BTC-PERPETUAL", "amount": 100, "type": "limit", "price": 97000.5}


def _loop(fn: Callable[..., Any], *args: Any) -> Callable[[], None]:
    def run() -> None:
        for _ in range(LOOPS):
            fn(*args)

    return run


@pytest.mark.parametrize("decoder", ["simdjson", "orjson", "json"])
@pytest.mark.parametrize("name", ["ticker", "book"])
def test_message_json_first(benchmark: Any, decoder: str, name: str) -> None:
    """Build a Message and parse it once (what a callback reading .json() pays)."""
    raw = TICKER if name == "ticker" else BOOK

    def run() -> None:
        for _ in range(LOOPS):
            _make_message(2, raw, "ch", None, 0, 1, decoder).json()

    benchmark(run)
    assert _make_message(2, raw, "ch", None, 0, 1, decoder).json() == orjson.loads(raw)


def test_message_json_cached(benchmark: Any) -> None:
    msg = _make_message(2, TICKER, "ch", None, 0, 1, "simdjson")
    msg.json()
    benchmark(_loop(msg.json))


def test_orjson_loads_reference(benchmark: Any) -> None:
    benchmark(_loop(orjson.loads, TICKER))


def test_encode_request(benchmark: Any) -> None:
    benchmark(_loop(encode_request, 123456, "private/buy", PARAMS))
    assert orjson.loads(encode_request(1, "private/buy", PARAMS))["params"] == PARAMS


def test_orjson_request_reference(benchmark: Any) -> None:
    doc = {"jsonrpc": "2.0", "id": 123456, "method": "private/buy", "params": PARAMS}
    benchmark(_loop(orjson.dumps, doc))


def test_notification_into_python_callback(benchmark: Any) -> None:
    """Hot path of one notification from Python: scan, route by channel, Message, callback."""
    seen = [0]

    def cb(msg: Any) -> None:
        seen[0] += 1

    lst = FastListener()
    lst.on_message = cb
    benchmark(_loop(lst.feed_message, 1, TICKER))
    assert seen[0] > 0


def test_response_resolved_in_c(benchmark: Any) -> None:
    """Track + resolve one response through the message path (a future per request)."""
    loop = asyncio.new_event_loop()
    corr = Correlator()
    lst = FastListener(correlator=corr)
    payloads = [RESPONSE % i for i in range(LOOPS)]

    def run() -> None:
        for i in range(LOOPS):
            fut = loop.create_future()
            corr.track(i, fut, 1 << 62)
            lst.feed_message(1, payloads[i])

    try:
        benchmark(run)
        assert corr.pending == 0
    finally:
        loop.close()
