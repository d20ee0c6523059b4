"""BinanceClient against the Binance simulator (loopback): auth, orders, limits, streams, books."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import zenws
from waits import wait_until
from zenws.adapters.binance import BinanceClient
from zenws.errors import ConfigError, RateLimited, RpcError
from zenws.exchanges import binance as wire
from zenws.testing import BinanceSimulator

HMAC_KEY, HMAC_SECRET = "hmac-api-key-123", "hmac-secret-456"
ED_KEY = "ed25519-api-key-789"
_PRIVATE = Ed25519PrivateKey.generate()
PEM = _PRIVATE.private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
)


@dataclasses.dataclass
class Side:  # not plain data: encoded by orjson, not by the C encoder
    side: str = "BUY"


def venue(**kw: Any) -> BinanceSimulator:
    sim = BinanceSimulator(**kw)
    sim.add_hmac_key(HMAC_KEY, HMAC_SECRET)
    sim.add_ed25519_key(ED_KEY, _PRIVATE.public_key())
    return sim


def methods_after(sim: BinanceSimulator, first_conn: int) -> list[str]:
    assert sim.server is not None
    return [
        orjson.loads(r.data).get("method")
        for r in sim.server.received
        if r.connection_id != first_conn and isinstance(r.data, str)
    ]


@asynccontextmanager
async def session(sim: BinanceSimulator, **kw: Any) -> AsyncIterator[BinanceClient]:
    async with sim.serve():
        base = sim.url.rsplit("/ws-api", 1)[0]
        kw.setdefault("retry_delay", 0.05)
        kw.setdefault("time_sync_interval", 0)
        kw.setdefault("stream_url", base + kw.pop("stream_path", "/stream"))
        bc = await BinanceClient.connect(base + "/ws-api/v3", **kw)
        try:
            yield bc
        finally:
            await bc.close()


def params_of(sim: BinanceSimulator, method: str) -> list[dict[str, Any]]:
    out = []
    for rec in sim.server.received if sim.server else []:
        msg = orjson.loads(rec.data)
        if msg.get("method") == method:
            out.append(msg.get("params") or {})
    return out


async def test_hmac_signed_orders() -> None:
    sim = venue()
    async with session(sim, api_key=HMAC_KEY, secret_key=HMAC_SECRET) as bc:
        assert not bc.logged_on  # HMAC keys cannot log on: every signed request carries it
        placed = await bc.order_place(
            "BTCUSDT", "BUY", "LIMIT", price="30000.00", quantity="0.001", timeInForce="GTC"
        )
        status = await bc.order_status("BTCUSDT", orderId=placed["orderId"])
        assert status["status"] == "NEW" and float(status["price"]) == 30000.0
        sent = params_of(sim, "order.place")[0]
        assert sent["apiKey"] == HMAC_KEY and len(sent["signature"]) == 64
        assert abs(sent["timestamp"] - sim.now()) < 5_000


async def test_bad_signature_is_rpc_error_with_status_and_msg() -> None:
    sim = venue()
    async with session(sim, api_key=HMAC_KEY, secret_key="not-the-secret") as bc:
        with pytest.raises(RpcError) as info:
            await bc.order_test("BTCUSDT", "BUY", "MARKET", quantity="1")
    err = info.value
    assert (err.code, err.status) == (-1022, 400)
    assert err.message == "Signature for this request is not valid."
    assert err.rate_limits[0]["rateLimitType"] == "REQUEST_WEIGHT"


async def test_ed25519_logon_then_unsigned_requests() -> None:
    sim = venue()
    async with session(sim, api_key=ED_KEY, private_key=PEM) as bc:
        assert bc.logged_on and bc.metrics().logons == 1
        await bc.order_place(
            "BTCUSDT", "SELL", "LIMIT", price="40000", quantity="0.01", timeInForce="GTC"
        )
        logon = params_of(sim, "session.logon")[0]
        assert logon["apiKey"] == ED_KEY and logon["signature"]
        sent = params_of(sim, "order.place")[0]
        assert "signature" not in sent and "apiKey" not in sent and "timestamp" in sent


async def test_relogon_after_reconnect_before_anything_else() -> None:
    sim = venue()
    async with session(sim, api_key=ED_KEY, private_key=PEM) as bc:
        assert sim.server is not None
        first = sim.server.connections[0].id
        sim.server.abort()
        await wait_until(lambda: bc.epoch == 2 and bc.logged_on, what="re-logon")
        later = methods_after(sim, first)
        assert later[0] == "session.logon", later
        await bc.order_place("BTCUSDT", "BUY", "LIMIT", price="1", quantity="1", timeInForce="GTC")
        assert "signature" not in params_of(sim, "order.place")[-1]
        assert bc.metrics().logons == 2


async def test_1021_reestimates_the_clock_and_retries_once() -> None:
    sim = venue()
    async with session(sim, api_key=HMAC_KEY, secret_key=HMAC_SECRET) as bc:
        assert abs(bc.clock.offset_ms) < 1_000
        sim.knobs.clock_offset_ms = 30_000.0  # the server clock jumps 30 s ahead of ours
        placed = await bc.order_place(
            "BTCUSDT", "BUY", "LIMIT", price="2", quantity="1", timeInForce="GTC"
        )
        status = await bc.order_status("BTCUSDT", orderId=placed["orderId"])
        assert status["orderId"] == placed["orderId"]
        assert len(params_of(sim, "order.place")) == 2  # rejected (-1021), then resent
        assert bc.metrics().resent_1021 == 1
        assert abs(bc.clock.offset_ms - 30_000) < 1_000


async def test_server_rate_limit_numbers_correct_the_local_limiter() -> None:
    sim = venue(weight_limit=100)
    async with session(sim) as bc:
        bucket = bc._limiter.buckets["weight"] if bc._limiter is not None else None
        assert bucket is not None
        await bc.exchange_info()
        used = bc.used_weight
        assert used is not None and used >= 20
        # what the server says is left: far below a local guess (capacity - 20)
        assert bucket.tokens <= (100 - used) + 1.0
        with pytest.raises(RateLimited) as info:
            for _ in range(20):
                await bc.exchange_info()
        exc = info.value
        assert exc.retry_after > 0
        assert isinstance(exc.__cause__, RpcError)
        assert (exc.__cause__.status, exc.__cause__.code) == (429, -1003)
        assert bc.metrics().rate_limited == 1
        # retryAfter is honoured: nothing reaches the server before it
        sent = len(params_of(sim, "exchangeInfo"))
        with pytest.raises(RateLimited) as again:
            await bc.ping()
        assert 0 < again.value.retry_after <= exc.retry_after
        assert again.value.__cause__ is None and len(params_of(sim, "ping")) == 0
        assert len(params_of(sim, "exchangeInfo")) == sent


async def test_streams_combined_and_restored_after_reconnect() -> None:
    sim = BinanceSimulator(stream_rate=100)
    async with session(sim) as bc:
        got: list[Any] = []
        assert await bc.subscribe(["btcusdt@trade"], lambda m: got.append(m.json())) == [
            "btcusdt@trade"
        ]
        await wait_until(lambda: len(got) >= 3, what="trades")
        assert got[0]["stream"] == "btcusdt@trade" and got[0]["data"]["e"] == "trade"
        assert await bc.list_subscriptions() == ["btcusdt@trade"]
        assert bc.streams is not None
        epoch = bc.streams.epoch
        assert sim.server is not None
        (stream,) = [c for c in sim.server.connections if c.request.path.startswith("/stream")]
        sim.server.abort(connection=stream)
        await wait_until(lambda: bc.streams.epoch > epoch, what="stream reconnect")
        n = len(got)
        await wait_until(lambda: len(got) > n + 3, what="trades after restore")
        assert await bc.list_subscriptions() == ["btcusdt@trade"]


async def test_diff_depth_gap_resyncs_that_book_only() -> None:
    sim = venue()
    async with session(sim) as bc:
        gaps: list[Any] = []
        bc.on_gap = gaps.append
        btc = await bc.on_book("BTCUSDT")
        eth = await bc.on_book("ETHUSDT")
        await wait_until(lambda: not btc.stale and not eth.stale, what="books synced")
        assert btc.best_bid() is not None and btc.best_ask() is not None
        sim.inject_gap("BTCUSDT")
        await wait_until(lambda: bc.metrics().gaps == 1, what="gap seen")
        await wait_until(lambda: not btc.stale, what="btc resynced")
        btc_entry, eth_entry = bc.book_entry("BTCUSDT"), bc.book_entry("ETHUSDT")
        assert btc_entry is not None and eth_entry is not None
        assert btc_entry.snapshots == 2 and eth_entry.snapshots == 1
        assert gaps[0].symbol == "BTCUSDT" and gaps[0].got > gaps[0].expected
        assert eth.gaps == 0 and not eth.stale
        assert bc.metrics().resyncs == 1


async def test_server_pings_are_answered_with_their_payload() -> None:
    sim = BinanceSimulator(ping_interval=0.1, pong_timeout=0.5)
    async with session(sim, ping_interval=0.1, heartbeat_timeout=2.0) as bc:
        assert sim.server is not None
        conn = sim.server.connections[0]
        await wait_until(lambda: BinanceSimulator.state(conn).seq >= 10, what="10 pings")
        # the simulator closes a connection whose PINGs stay unanswered for 0.5 s
        assert conn.open and bc.epoch == 1
        assert bc.heartbeat_health().healthy


async def test_missing_server_ping_is_a_dead_peer() -> None:
    sim = BinanceSimulator(ping_interval=0.1)
    async with session(sim, ping_interval=0.1, heartbeat_timeout=0.3) as bc:
        assert sim.server is not None
        sim.server.stall(connection=sim.server.connections[0])
        await wait_until(lambda: bc.epoch >= 2, what="reconnect after missing pings")


async def test_secrets_never_reach_repr_logs_errors_or_recordings(
    tmp_path: Any, caplog: pytest.LogCaptureFixture, events: list[Any]
) -> None:
    sim = venue()
    record = tmp_path / "session.jsonl"
    caplog.set_level(logging.DEBUG, logger="zenws")
    async with session(
        sim, api_key=HMAC_KEY, secret_key=HMAC_SECRET, debug=True, record_to=str(record)
    ) as bc:
        await bc.order_place("BTCUSDT", "BUY", "LIMIT", price="3", quantity="1", timeInForce="GTC")
        signature = params_of(sim, "order.place")[0]["signature"]
        with pytest.raises(RpcError) as info:
            await bc.request("order.status", {"symbol": "BTCUSDT", "orderId": 99}, timeout=5)
        surfaces = {
            "repr": repr(bc) + repr(bc._creds),
            "error": str(info.value) + repr(info.value),
            "logs": caplog.text,
            "telemetry": repr(events),
        }
    surfaces["recording"] = record.read_text()
    assert "order.place" in surfaces["recording"]  # the request was recorded
    assert any(e[1] == "binance.time" for e in events)  # and telemetry was on
    for name, text in surfaces.items():
        for secret in (HMAC_KEY, HMAC_SECRET, signature):
            assert secret not in text, (name, secret)


async def test_user_data_events_resubscribed_after_reconnect() -> None:
    sim = venue()
    async with session(sim, api_key=ED_KEY, private_key=PEM) as bc:
        events: list[Any] = []
        await bc.subscribe_user_data(events.append)
        await bc.order_place(
            "BTCUSDT", "BUY", "LIMIT", price="100", quantity="0.01", timeInForce="GTC"
        )
        await wait_until(lambda: any(e.get("e") == "executionReport" for e in events))
        assert sim.server is not None
        first = sim.server.connections[0].id
        sim.server.abort()
        await wait_until(lambda: bc.epoch == 2 and bc.logged_on, what="re-logon")
        later = methods_after(sim, first)
        await wait_until(lambda: "userDataStream.subscribe" in methods_after(sim, first))
        assert later[0] == "session.logon"
        n = len(events)
        await bc.order_place(
            "BTCUSDT", "BUY", "LIMIT", price="101", quantity="0.01", timeInForce="GTC"
        )
        await wait_until(lambda: len(events) > n, what="user event on the new connection")


STREAMS = [
    f"{s}@{k}"
    for s in ("btcusdt", "ethusdt")
    for k in ("trade", "aggTrade", "bookTicker", "ticker", "miniTicker", "avgPrice")
]


async def test_subscribe_control_messages_are_paced_below_the_incoming_limit() -> None:
    sim = BinanceSimulator()
    # 12 streams, 2 per SUBSCRIBE: 6 control messages, more than the 5/s a connection accepts
    async with session(sim, stream_options={"subscribe_chunk": 2}) as bc:
        assert sorted(await bc.subscribe(STREAMS)) == sorted(STREAMS)
        assert bc.streams is not None and bc.streams.epoch == 1
        assert sorted(await bc.list_subscriptions()) == sorted(STREAMS)
        with pytest.raises(ConfigError, match="1024"):
            await bc.subscribe([f"btcusdt@kline_{i}m" for i in range(1100)])


async def test_raw_endpoint_events_reach_their_stream_handler() -> None:
    sim = BinanceSimulator(stream_rate=100)
    async with session(sim, stream_path="/ws") as bc:  # raw: bare events, no "stream" key
        trades: list[Any] = []
        tickers: list[Any] = []
        await bc.subscribe("btcusdt@trade", lambda m: trades.append(m.json()))
        await bc.subscribe("ethusdt@bookTicker", lambda m: tickers.append(m.json()))
        await wait_until(lambda: len(trades) >= 3 and len(tickers) >= 3, what="raw events")
        assert {t["s"] for t in trades} == {"BTCUSDT"} and "stream" not in trades[0]
        assert {t["s"] for t in tickers} == {"ETHUSDT"}


async def test_order_count_limit_holds_back_orders_only() -> None:
    # Orders placed by another session: this one learns the count from the server's -1015.
    sim = venue(orders_per_10s=3)
    async with session(sim, api_key=HMAC_KEY, secret_key=HMAC_SECRET) as other:
        ids = []
        for i in range(3):
            placed = await other.order_place(
                "BTCUSDT", "BUY", "LIMIT", price=f"{10 + i}", quantity="1", timeInForce="GTC"
            )
            ids.append(placed["orderId"])
        bc = await BinanceClient.connect(
            other.client.config.url, api_key=HMAC_KEY, secret_key=HMAC_SECRET, time_sync_interval=0
        )
        try:
            assert bc._limiter is not None
            with pytest.raises(RateLimited) as info:
                await bc.order_place("BTCUSDT", "BUY", "LIMIT", price="9", quantity="1",
                                     timeInForce="GTC")  # fmt: skip
            assert isinstance(info.value.__cause__, RpcError)
            assert info.value.__cause__.code == -1015 and info.value.bucket == "ORDERS"
            assert bc._limiter.buckets["orders"].tokens < 1  # the server said stop
            sent = len(params_of(sim, "order.place"))
            with pytest.raises(RateLimited):
                await bc.order_place("BTCUSDT", "BUY", "LIMIT", price="8", quantity="1",
                                     timeInForce="GTC")  # fmt: skip
            assert len(params_of(sim, "order.place")) == sent  # held back, not sent
            status = await bc.order_status("BTCUSDT", orderId=ids[0])  # other requests go on
            assert status["orderId"] == ids[0]
        finally:
            await bc.close()


async def test_order_count_limit_is_held_back_locally_until_the_window_ends() -> None:
    sim = venue(orders_per_10s=3, orders_window=2.0)
    async with session(sim, api_key=HMAC_KEY, secret_key=HMAC_SECRET) as bc:
        ids = []
        for i in range(3):
            placed = await bc.order_place(
                "BTCUSDT", "BUY", "LIMIT", price=f"{10 + i}", quantity="1", timeInForce="GTC"
            )
            ids.append(placed["orderId"])
        with pytest.raises(RateLimited) as info:  # the server said 3 of 3: not sent at all
            await bc.order_place("BTCUSDT", "BUY", "LIMIT", price="9", quantity="1",
                                 timeInForce="GTC")  # fmt: skip
        exc = info.value
        assert exc.bucket == "ORDERS" and exc.__cause__ is None
        assert 0 < exc.retry_after <= 2.0
        assert len(params_of(sim, "order.place")) == 3
        # cancels and queries go on
        assert (await bc.order_status("BTCUSDT", orderId=ids[0]))["orderId"] == ids[0]
        await bc.order_cancel("BTCUSDT", orderId=ids[1])
        # once the window the server counted in is over, orders go out again, accepted
        await asyncio.sleep(exc.retry_after)
        placed = await bc.order_place(
            "BTCUSDT", "BUY", "LIMIT", price="9", quantity="1", timeInForce="GTC"
        )
        assert placed["orderId"] not in ids
        assert bc.metrics().rate_limited == 0  # the server never had to refuse an order


async def test_user_data_with_an_hmac_key_uses_the_signed_subscribe() -> None:
    sim = venue()
    async with session(sim, api_key=HMAC_KEY, secret_key=HMAC_SECRET) as bc:
        events: list[Any] = []
        await bc.subscribe_user_data(events.append)
        sent = params_of(sim, "userDataStream.subscribe.signature")
        assert len(sent) == 1 and sent[0]["apiKey"] == HMAC_KEY and sent[0]["signature"]
        await bc.order_place(
            "BTCUSDT", "BUY", "LIMIT", price="100", quantity="0.01", timeInForce="GTC"
        )
        await wait_until(lambda: any(e.get("e") == "executionReport" for e in events))


async def test_requests_are_id_method_params_only_and_default_clients_keep_jsonrpc() -> None:
    sim = venue()
    async with session(sim, api_key=HMAC_KEY, secret_key=HMAC_SECRET) as bc:
        await bc.order_place(
            "BTCUSDT", "BUY", "LIMIT", price="10", quantity="1", timeInForce="GTC"
        )  # C-encoded params
        await bc.request("time", {"note": Side()})  # orjson-encoded params
        await bc.subscribe("btcusdt@trade")  # the stream connection's SUBSCRIBE
        assert sim.server is not None
        sent = [r.data for r in sim.server.received if isinstance(r.data, str)]
        assert {"order.place", "time", "SUBSCRIBE"} <= {orjson.loads(d)["method"] for d in sent}
        for data in sent:
            assert data.startswith('{"id":'), data
            assert list(orjson.loads(data)) == ["id", "method", "params"], data
        seen = len(sim.server.received)
        async with await zenws.connect(sim.url) as plain:  # default dialect: JSON-RPC 2.0
            assert "serverTime" in await plain.request("time")
        data = sim.server.received[seen].data
        assert isinstance(data, str) and orjson.loads(data)["jsonrpc"] == "2.0", data


async def test_both_connections_share_the_connection_attempt_limit() -> None:
    sim = venue()
    async with session(sim) as bc:
        await bc.subscribe("btcusdt@trade")
        limit = bc.attempt_limit
        assert (limit.count, limit.window) == (
            wire.CONNECTION_ATTEMPTS,
            wire.CONNECTION_ATTEMPTS_WINDOW,
        )
        assert bc.client.config.attempt_limit is limit
        assert bc.streams.config.attempt_limit is limit
        assert limit.recent() == 2  # both connects were counted
