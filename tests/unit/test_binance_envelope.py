"""The response envelope beside ``result``: Correlator.on_response and Binance-shaped errors."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from zenws.errors import RpcError
from zenws.fast.jsonrpc import Correlator
from zenws.fast.latency import LatencyBuffer
from zenws.fast.listener import FastListener, result_of

LIMITS = [{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "limit": 6000, "count": 7}]


def test_binance_error_keeps_status_msg_and_rate_limits() -> None:
    doc = {
        "id": 3,
        "status": 429,
        "error": {"code": -1003, "msg": "Too much request weight used", "data": {"retryAfter": 9}},
        "rateLimits": LIMITS,
    }
    for payload in (doc, orjson.dumps(doc)):
        with pytest.raises(RpcError) as info:
            result_of(payload, "exchangeInfo", 3)
        err = info.value
        assert (err.code, err.status, err.message) == (-1003, 429, "Too much request weight used")
        assert err.data == {"retryAfter": 9} and err.rate_limits == LIMITS


def test_jsonrpc_error_has_no_status() -> None:
    with pytest.raises(RpcError) as info:
        result_of({"jsonrpc": "2.0", "id": 1, "error": {"code": 10028, "message": "m"}}, "x")
    assert (info.value.message, info.value.status, info.value.rate_limits) == ("m", None, None)


@pytest.mark.parametrize(
    "wire",
    [
        b'{"id":5,"status":200,"result":{"x":1},"rateLimits":[1]}',  # decoded on the read path
        b'{"status":200,"id":5,"result":{"x":1},"rateLimits":[1]}',  # the scan path (bytes)
    ],
)
async def test_on_response_sees_each_matched_envelope_first(wire: bytes) -> None:
    corr = Correlator()
    lst = FastListener(correlator=corr, latency=LatencyBuffer(16))
    seen: list[Any] = []
    fut = asyncio.get_running_loop().create_future()

    def observe(doc: Any) -> None:
        seen.append((orjson.loads(doc) if isinstance(doc, bytes) else doc, fut.done()))

    corr.on_response = observe
    corr.track(5, fut, 2**62, 1)
    lst.feed_message(1, wire, 10)
    assert seen == [({"id": 5, "status": 200, "result": {"x": 1}, "rateLimits": [1]}, False)]
    assert result_of(fut.result(), "m") == {"x": 1}
    lst.feed_message(1, b'{"id":6,"status":200,"result":1}', 11)  # unknown id: not observed
    assert len(seen) == 1


async def test_on_response_that_raises_is_isolated() -> None:
    corr = Correlator()
    lst = FastListener(correlator=corr, latency=LatencyBuffer(16))
    corr.on_response = lambda doc: 1 / 0
    fut = asyncio.get_running_loop().create_future()
    corr.track(1, fut, 2**62, 1)
    lst.feed_message(1, b'{"id":1,"status":200,"result":2}', 5)
    assert fut.done() and lst.callback_errors == 1
