"""zenws.exchanges is the one source of venue facts: the client and the simulators agree.

The rate-limit presets, the subscription dialects, the heartbeat strategies, the error
categories and the Deribit/Binance simulators read the same tables; a venue fact changed in
``zenws.exchanges`` changes everywhere at once.
"""

from __future__ import annotations

import json
from typing import Any

from websockets.asyncio.client import connect

from zenws import errors, heartbeat, subscriptions
from zenws.exchanges import binance, deribit
from zenws.ratelimit import preset
from zenws.testing import BinanceKnobs, DeribitKnobs, DeribitSimulator
from zenws.testing.deribit.methods import MATCHING, SUBSCRIBE

CREDS = {
    "grant_type": "client_credentials",
    "client_id": "sim_client",
    "client_secret": "sim_secret",
}


def test_one_matching_engine_list_for_the_preset_and_the_simulator() -> None:
    limiter = preset("deribit")
    assert set(deribit.MATCHING_ENGINE_METHODS) == MATCHING
    assert {
        m for m, (bucket, _) in limiter.costs.items() if bucket == "matching_engine"
    } == MATCHING
    assert set(deribit.SUBSCRIBE_METHODS) == SUBSCRIBE
    assert {m for m, (bucket, _) in limiter.costs.items() if bucket == "subscribe"} == SUBSCRIBE
    assert len(deribit.MATCHING_ENGINE_METHODS) == len(MATCHING)  # no duplicates


def test_deribit_numbers_are_the_same_in_the_preset_and_the_simulator() -> None:
    c, k, limiter = deribit.CREDITS, DeribitKnobs(), preset("deribit")
    assert (k.credits_pool, k.credits_cost, k.credits_refill) == (
        c["credits_pool"], c["request_cost"], c["credits_refill"])  # fmt: skip
    assert (k.subscribe_pool, k.subscribe_cost, k.subscribe_refill) == (
        c["subscribe_pool"], c["subscribe_cost"], c["subscribe_refill"])  # fmt: skip
    assert (k.matching_pool, k.matching_refill) == (
        c["matching_engine_burst"], c["matching_engine_rate"])  # fmt: skip
    assert limiter.buckets["non_matching"].capacity == c["credits_pool"]
    assert limiter.buckets["matching_engine"].capacity == c["matching_engine_burst"]
    assert limiter.default == ("non_matching", c["request_cost"])
    assert k.min_heartbeat_interval == heartbeat.DERIBIT_MIN_INTERVAL
    assert k.max_channels_per_subscribe == subscriptions.DERIBIT_MAX_PER_REQUEST
    assert k.rate_limit_close_code == deribit.RATE_LIMIT_CLOSE_CODE
    too_many = errors.RpcError(deribit.TOO_MANY_REQUESTS, "too_many_requests")
    assert errors.categorize(too_many) is errors.Category.RECOVERABLE


def test_binance_weights_are_the_same_in_the_preset_and_the_simulator() -> None:
    k, limiter = BinanceKnobs(), preset("binance")
    assert k.weights == binance.WEIGHTS
    weights = {m: w for m, (bucket, w) in limiter.costs.items() if bucket == "weight"}
    orders = {m for m, (bucket, _) in limiter.costs.items() if bucket == "orders"}
    assert orders == {m for m, spec in binance.METHODS.items() if spec.orders}
    assert weights == {m: w for m, w in binance.WEIGHTS.items() if m not in orders}
    assert limiter.buckets["orders"].capacity <= k.orders_per_10s
    assert k.weight_limit == binance.WEIGHT_PER_MINUTE
    assert (k.ping_interval, k.pong_timeout) == (binance.PING_INTERVAL, binance.PONG_TIMEOUT)
    assert k.max_streams == binance.MAX_STREAMS_PER_CONNECTION


async def _call(ws: Any, req_id: int, method: str, params: dict[str, Any]) -> dict[str, Any]:
    await ws.send(json.dumps({"jsonrpc": "2.0", "id": req_id, "method": method, "params": params}))
    while True:
        msg: dict[str, Any] = json.loads(await ws.recv())
        if msg.get("id") == req_id:
            return msg


async def test_simulator_bills_every_matching_engine_method_to_the_matching_bucket() -> None:
    # private/close_position is a matching-engine request in the client's preset; the
    # simulator charged it to the (large) general credit pool before the lists were one.
    sim = DeribitSimulator(matching_pool=1.0, matching_refill=0.0)
    sim.register("private/close_position", lambda sim, conn, session, params: "closed")
    async with sim.serve(), connect(sim.url, ping_interval=None, open_timeout=5) as ws:
        assert "result" in await _call(ws, 1, "public/auth", CREDS)
        assert (await _call(ws, 2, "private/close_position", {}))["result"] == "closed"
        second = await _call(ws, 3, "private/close_position", {})
        assert second["error"]["code"] == deribit.TOO_MANY_REQUESTS
