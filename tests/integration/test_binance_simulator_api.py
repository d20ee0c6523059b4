"""BinanceSimulator's WebSocket API over loopback with an independent client (websockets):
response envelope, rate limits, signatures, recvWindow, sessions, orders, user data."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from websockets.asyncio.client import connect

from binance_ws import call
from zenws.exchanges import binance
from zenws.testing import BinanceSimulator

SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"


def hmac_signed(params: dict[str, Any], api_key: str = "hkey", secret: str = SECRET) -> Any:
    params = {**params, "apiKey": api_key, "timestamp": params.get("timestamp", _ms())}
    payload = binance.signature_payload(params).encode()
    params["signature"] = hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest()
    return params


def ed_signed(params: dict[str, Any], key: Ed25519PrivateKey, api_key: str = "ekey") -> Any:
    params = {**params, "apiKey": api_key, "timestamp": params.get("timestamp", _ms())}
    payload = binance.signature_payload(params).encode()
    params["signature"] = base64.b64encode(key.sign(payload)).decode()
    return params


def _ms() -> int:
    return int(time.time() * 1000)


def _code(reply: Any) -> tuple[int, int]:
    return reply["status"], reply["error"]["code"]


async def test_rate_limits_in_every_response_orders_only_on_order_methods() -> None:
    sim = BinanceSimulator(connect_weight=0)
    sim.add_hmac_key("hkey", SECRET)
    async with sim.serve(), connect(sim.url) as ws:
        depth = await call(ws, 1, "depth", {"symbol": "BTCUSDT", "limit": 1000})
        assert [r["rateLimitType"] for r in depth["rateLimits"]] == ["REQUEST_WEIGHT"]
        assert depth["rateLimits"][0] == {
            "rateLimitType": "REQUEST_WEIGHT",
            "interval": "MINUTE",
            "intervalNum": 1,
            "limit": 6000,
            "count": 50,  # depth with limit 1000 weighs 50
        }
        params = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.01"}
        placed = await call(ws, 2, "order.place", hmac_signed(params))
        assert placed["status"] == 200, placed
        orders = [r for r in placed["rateLimits"] if r["rateLimitType"] == "ORDERS"]
        assert [(r["interval"], r["intervalNum"], r["limit"], r["count"]) for r in orders] == [
            ("SECOND", 10, 50, 1),
            ("DAY", 1, 160000, 1),
        ]
        quiet = await call(ws, 3, "time", {"returnRateLimits": False})
        assert "rateLimits" not in quiet and quiet["status"] == 200


async def test_weight_budget_429_with_retry_after_then_418_ban() -> None:
    sim = BinanceSimulator(weight_limit=4, connect_weight=0, ban_after=2, ban_duration=30)
    async with sim.serve(), connect(sim.url) as ws:
        for i in range(4):
            assert (await call(ws, i, "ping"))["status"] == 200
        over = await call(ws, 10, "ping")
        assert _code(over) == (429, -1003)
        data = over["error"]["data"]
        assert data["serverTime"] < data["retryAfter"] <= data["serverTime"] + 61_000
        assert "current limit is 4 request weight per 1 MINUTE" in over["error"]["msg"]
        assert over["rateLimits"][0]["count"] == 5
        assert _code(await call(ws, 11, "ping")) == (429, -1003)
        banned = await call(ws, 12, "ping")  # the third violation in the window: banned
        assert _code(banned) == (418, -1003)
        until = banned["error"]["data"]["retryAfter"]
        assert until >= banned["error"]["data"]["serverTime"] + 29_000
        assert f"IP banned until {until}" in banned["error"]["msg"]
        # the ban outlives the weight window and covers every connection of the IP
        async with connect(sim.url) as other:
            assert _code(await call(other, 1, "time")) == (418, -1003)


async def test_hmac_signatures_keys_and_recv_window() -> None:
    sim = BinanceSimulator()
    sim.add_hmac_key("hkey", SECRET)
    async with sim.serve(), connect(sim.url) as ws:
        ok = await call(ws, 1, "account.status", hmac_signed({}))
        assert ok["status"] == 200 and {b["asset"] for b in ok["result"]["balances"]} >= {"USDT"}
        upper = hmac_signed({})
        upper["signature"] = upper["signature"].upper()  # HMAC signatures: case-insensitive
        assert (await call(ws, 2, "account.status", upper))["status"] == 200
        bad = hmac_signed({}, secret="wrong")
        assert _code(await call(ws, 3, "account.status", bad)) == (400, -1022)
        tampered = hmac_signed({"omitZeroBalances": False})
        tampered["omitZeroBalances"] = True
        assert _code(await call(ws, 4, "account.status", tampered)) == (400, -1022)
        unknown = hmac_signed({}, api_key="nobody")
        assert _code(await call(ws, 5, "account.status", unknown)) == (401, -2015)
        missing = await call(ws, 6, "account.status", {"timestamp": _ms()})
        assert _code(missing) == (400, -1102) and "'apiKey'" in missing["error"]["msg"]
        stale = hmac_signed({"timestamp": _ms() - 6000})
        assert _code(await call(ws, 7, "account.status", stale)) == (400, -1021)
        wide = hmac_signed({"timestamp": _ms() - 6000, "recvWindow": 10_000})
        assert (await call(ws, 8, "account.status", wide))["status"] == 200
        too_wide = hmac_signed({"recvWindow": 60_001})
        assert _code(await call(ws, 9, "account.status", too_wide)) == (400, -1131)
        ahead = hmac_signed({"timestamp": _ms() + 3000})
        reply = await call(ws, 10, "account.status", ahead)
        assert _code(reply) == (400, -1021) and "ahead of the server" in reply["error"]["msg"]
        assert (await call(ws, 11, "depth", {"symbol": "BTCUSDT"}))["status"] == 200  # NONE


async def test_server_clock_offset_drifts_time_and_timestamp_checks() -> None:
    sim = BinanceSimulator(clock_offset_ms=-10_000)  # the server runs 10 s behind
    sim.add_hmac_key("hkey", SECRET)
    async with sim.serve(), connect(sim.url) as ws:
        server = (await call(ws, 1, "time"))["result"]["serverTime"]
        assert abs(server - (_ms() - 10_000)) < 2_000
        reply = await call(ws, 2, "account.status", hmac_signed({}))
        assert _code(reply) == (400, -1021)  # our clock is 10 s ahead of the server's
        synced = hmac_signed({"timestamp": server})
        assert (await call(ws, 3, "account.status", synced))["status"] == 200


async def test_ed25519_signatures_and_session_logon() -> None:
    key = Ed25519PrivateKey.generate()
    pem = key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    sim = BinanceSimulator()
    sim.add_ed25519_key("ekey", pem)
    sim.add_hmac_key("hkey", SECRET)
    async with sim.serve(), connect(sim.url) as ws:
        assert (await call(ws, 1, "account.status", ed_signed({}, key)))["status"] == 200
        forged = ed_signed({}, Ed25519PrivateKey.generate())
        assert _code(await call(ws, 2, "account.status", forged)) == (400, -1022)
        # before logon, a timestamp alone is not enough
        assert _code(await call(ws, 3, "account.status", {"timestamp": _ms()}))[1] == -1102
        hmac_logon = await call(ws, 4, "session.logon", hmac_signed({}))
        assert hmac_logon["status"] != 200  # session.logon takes Ed25519 keys only
        logon = await call(ws, 5, "session.logon", ed_signed({}, key))
        assert logon["status"] == 200, logon
        assert logon["result"]["apiKey"] == "ekey" and logon["result"]["authorizedSince"]
        after = await call(ws, 6, "account.status", {"timestamp": _ms()})
        assert after["status"] == 200
        stale = await call(ws, 7, "account.status", {"timestamp": _ms() - 60_000})
        assert _code(stale) == (400, -1021)  # the session still checks recvWindow
        status = await call(ws, 8, "session.status")
        assert status["result"]["apiKey"] == "ekey"
        out = await call(ws, 9, "session.logout")
        assert out["result"]["apiKey"] is None
        assert _code(await call(ws, 10, "account.status", {"timestamp": _ms()}))[1] == -1102


async def test_orders_and_user_data_events_after_subscribe() -> None:
    key = Ed25519PrivateKey.generate()
    sim = BinanceSimulator(orders_per_10s=3)
    sim.add_ed25519_key("ekey", key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))
    async with sim.serve(), connect(sim.url) as ws:
        assert (await call(ws, 1, "session.logon", ed_signed({}, key)))["status"] == 200
        sub = await call(ws, 2, "userDataStream.subscribe")
        sub_id = sub["result"]["subscriptionId"]
        limit = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
                 "quantity": "0.01000000", "price": "30000.00", "newClientOrderId": "mine-1",
                 "timestamp": _ms()}  # fmt: skip
        pushed: list[Any] = []  # user-data events may come before the response
        placed = await call(ws, 3, "order.place", limit, sink=pushed)
        assert placed["status"] == 200, placed
        order = placed["result"]
        assert order["status"] == "NEW" and order["clientOrderId"] == "mine-1"
        assert order["fills"] == [] and order["type"] == "LIMIT"
        while len(pushed) < 2:
            pushed.append(json.loads(await asyncio.wait_for(ws.recv(), 5)))
        assert all(m["subscriptionId"] == sub_id for m in pushed)
        pushed = [m["event"] for m in pushed]
        assert pushed[0]["e"] == "executionReport" and pushed[0]["x"] == "NEW"
        assert pushed[0]["i"] == order["orderId"] and pushed[0]["c"] == "mine-1"
        assert pushed[1]["e"] == "outboundAccountPosition"
        query = {"symbol": "BTCUSDT", "orderId": order["orderId"], "timestamp": _ms()}
        assert (await call(ws, 4, "order.status", query))["result"]["status"] == "NEW"
        opened = await call(ws, 5, "openOrders.status", {"timestamp": _ms()})
        assert [o["orderId"] for o in opened["result"]] == [order["orderId"]]
        cancelled = await call(ws, 6, "order.cancel", query)
        assert cancelled["result"]["status"] == "CANCELED"
        assert _code(await call(ws, 7, "order.cancel", query)) == (400, -2011)
        gone = {"symbol": "BTCUSDT", "orderId": 999, "timestamp": _ms()}
        assert _code(await call(ws, 8, "order.status", gone)) == (400, -2013)
        market = {"symbol": "BTCUSDT", "side": "SELL", "type": "MARKET", "quantity": "0.5",
                  "timestamp": _ms()}  # fmt: skip
        filled = await call(ws, 9, "order.place", market)
        assert filled["result"]["status"] == "FILLED" and len(filled["result"]["fills"]) == 1
        broke = {**market, "quantity": "100"}
        assert _code(await call(ws, 10, "order.place", broke)) == (400, -2010)
        tested = await call(ws, 11, "order.test", market)
        assert tested["result"] == {} and "ORDERS" not in str(tested["rateLimits"])
        too_many = await call(ws, 12, "order.place", market)  # the 4th order in 10 s
        assert _code(too_many) == (429, -1015) and too_many["error"]["data"]["retryAfter"]
        assert (await call(ws, 13, "userDataStream.unsubscribe"))["result"] == {}
        assert sim.user_streams == {}


async def test_odd_param_types_get_an_error_answer_and_the_connection_goes_on() -> None:
    async with BinanceSimulator().serve() as sim, connect(sim.url) as ws:
        odd = await call(ws, 1, "ticker.price", {"symbols": [["BTCUSDT"]]})
        assert odd["status"] >= 400 and odd["error"]["code"] in (-1000, -1100, -1121)
        await ws.send(b"\xff not json")  # binary garbage
        reply = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert reply["id"] is None and reply["error"]["code"] == -1100
        assert (await call(ws, 2, "ping"))["status"] == 200


async def test_hmac_key_subscribes_to_user_data_with_a_signed_request() -> None:
    sim = BinanceSimulator()
    sim.add_hmac_key("hkey", SECRET)
    async with sim.serve(), connect(sim.url) as ws:
        unsigned = await call(ws, 1, "userDataStream.subscribe")
        assert _code(unsigned) == (401, -2015)  # no session.logon
        sub = await call(ws, 2, "userDataStream.subscribe.signature", hmac_signed({}))
        sub_id = sub["result"]["subscriptionId"]
        pushed: list[Any] = []
        market = {"symbol": "ETHUSDT", "side": "BUY", "type": "MARKET", "quantity": "1"}
        placed = await call(ws, 3, "order.place", hmac_signed(market), sink=pushed)
        assert placed["result"]["status"] == "FILLED"
        while len(pushed) < 3:  # NEW, TRADE, account position
            pushed.append(json.loads(await asyncio.wait_for(ws.recv(), 5)))
        assert {m["subscriptionId"] for m in pushed} == {sub_id}
        assert [m["event"]["e"] for m in pushed] == [
            "executionReport",
            "executionReport",
            "outboundAccountPosition",
        ]
        assert [m["event"]["x"] for m in pushed[:2]] == ["NEW", "TRADE"]
