"""DeribitSimulator proven with independent clients (websockets, aiohttp)."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import select
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, ConnectionClosedError, InvalidStatus

from zenws.testing import DeribitSimulator
from zenws.testing.deribit import sign

CREDS = {
    "grant_type": "client_credentials",
    "client_id": "sim_client",
    "client_secret": "sim_secret",
}


class Rpc:
    """A tiny JSON-RPC client over websockets that keeps notifications aside."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.ids = itertools.count(1)
        self.notes: list[dict[str, Any]] = []
        self.stray: list[dict[str, Any]] = []  # responses without id

    async def recv(self, timeout: float = 5.0) -> dict[str, Any]:
        msg: dict[str, Any] = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
        return msg

    async def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        req_id = next(self.ids)
        await self.ws.send(
            json.dumps({"jsonrpc": "2.0", "id": req_id, "method": method, "params": params or {}})
        )
        while True:
            msg = await self.recv()
            if msg.get("id") == req_id:
                return msg
            (self.stray if "error" in msg else self.notes).append(msg)

    async def result(self, method: str, params: dict[str, Any] | None = None) -> Any:
        msg = await self.call(method, params)
        assert "result" in msg, msg
        return msg["result"]

    async def error(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        msg = await self.call(method, params)
        assert "error" in msg, msg
        return dict(msg["error"])

    async def note(self, channel: str, timeout: float = 5.0) -> dict[str, Any]:
        for i, msg in enumerate(self.notes):
            if msg.get("params", {}).get("channel") == channel:
                return self.notes.pop(i)
        deadline = time.monotonic() + timeout
        while True:
            msg = await self.recv(max(0.01, deadline - time.monotonic()))
            if msg.get("params", {}).get("channel") == channel:
                return msg
            self.notes.append(msg)


@asynccontextmanager
async def client(sim: DeribitSimulator) -> AsyncIterator[Rpc]:
    async with connect(sim.url, ping_interval=None, open_timeout=5) as ws:
        yield Rpc(ws)


@asynccontextmanager
async def simulator(**knobs: Any) -> AsyncIterator[DeribitSimulator]:
    async with DeribitSimulator(**knobs).serve() as sim:
        yield sim


# ---------------------------------------------------------------- basics
async def test_public_test_envelope_and_exception() -> None:
    async with simulator() as sim, client(sim) as rpc:
        before = time.time_ns() // 1000
        msg = await rpc.call("public/test")
        assert msg["jsonrpc"] == "2.0" and msg["result"] == {"version": "1.2.26"}
        assert msg["testnet"] is True
        assert before <= msg["usIn"] <= msg["usOut"]
        assert msg["usDiff"] == msg["usOut"] - msg["usIn"]
        err = await rpc.call("public/test", {"expected_result": "exception"})
        assert err["error"]["code"] == 11094 and err["id"] == 2 and "usIn" in err
        assert isinstance(await rpc.result("public/get_time"), int)
        assert (await rpc.error("public/nope"))["code"] == -32601


async def test_malformed_requests_get_errors_and_connection_survives() -> None:
    async with simulator() as sim, client(sim) as rpc:
        await rpc.ws.send("{not json")
        assert (await rpc.recv())["error"]["code"] == -32700
        await rpc.ws.send("[1, 2]")
        assert (await rpc.recv())["error"]["code"] == -32600
        assert await rpc.result("public/test") == {"version": "1.2.26"}


# ---------------------------------------------------------------- heartbeats
async def test_set_heartbeat_below_minimum_is_rejected() -> None:
    async with simulator() as sim, client(sim) as rpc:
        err = await rpc.error("public/set_heartbeat", {"interval": 5})
        assert err["code"] == -32602 and err["data"]["param"] == "interval"


async def test_answered_test_requests_keep_connection_open() -> None:
    async with simulator(min_heartbeat_interval=0.05) as sim, client(sim) as rpc:
        assert await rpc.result("public/set_heartbeat", {"interval": 0.3}) == "ok"
        for _ in range(3):
            msg = await rpc.recv()
            assert msg == {
                "jsonrpc": "2.0",
                "method": "heartbeat",
                "params": {"type": "test_request"},
            }
            assert await rpc.result("public/test") == {"version": "1.2.26"}
        assert sim.server is not None and len(sim.server.connections) == 1


async def test_unanswered_test_request_closes_connection() -> None:
    async with simulator(min_heartbeat_interval=0.05) as sim, client(sim) as rpc:
        await rpc.result("public/set_heartbeat", {"interval": 0.1})
        assert (await rpc.recv())["params"]["type"] == "test_request"
        with pytest.raises(ConnectionClosed) as info:
            await rpc.recv(timeout=5)
        assert info.value.rcvd is not None and info.value.rcvd.reason == "heartbeat timeout"


async def test_public_test_without_id_does_not_answer_a_test_request() -> None:
    async with simulator(min_heartbeat_interval=0.05) as sim, client(sim) as rpc:
        await rpc.result("public/set_heartbeat", {"interval": 0.2})
        assert (await rpc.recv())["params"]["type"] == "test_request"
        await rpc.ws.send(json.dumps({"jsonrpc": "2.0", "method": "public/test"}))
        reply = await rpc.recv()
        assert "id" not in reply and reply["result"] == {"version": "1.2.26"}
        with pytest.raises(ConnectionClosed) as info:
            await rpc.recv(timeout=5)
        assert info.value.rcvd is not None and info.value.rcvd.reason == "heartbeat timeout"


async def test_disable_heartbeat_and_plain_heartbeats_with_aiohttp() -> None:
    async with (
        simulator(min_heartbeat_interval=0.05, heartbeat_cycle=("heartbeat",)) as sim,
        aiohttp.ClientSession() as session,
        session.ws_connect(sim.url) as ws,
    ):
        await ws.send_json(
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "public/set_heartbeat",
                "params": {"interval": 0.05},
            }
        )
        assert (await ws.receive_json(timeout=5))["result"] == "ok"
        for _ in range(3):  # plain heartbeats need no answer
            assert (await ws.receive_json(timeout=5))["params"] == {"type": "heartbeat"}
        await ws.send_json({"jsonrpc": "2.0", "id": 2, "method": "public/disable_heartbeat"})
        while (msg := await ws.receive_json(timeout=5)).get("id") != 2:
            pass
        assert msg["result"] == "ok"
        with pytest.raises((TimeoutError, asyncio.TimeoutError)):
            await ws.receive_json(timeout=0.3)


# ---------------------------------------------------------------- auth
async def test_client_credentials_and_private_method_auth() -> None:
    async with simulator() as sim, client(sim) as rpc:
        assert (await rpc.error("private/get_open_orders"))["code"] == 10000
        bad = dict(CREDS, client_secret="wrong")
        assert (await rpc.error("public/auth", bad))["code"] == 13004
        res = await rpc.result("public/auth", CREDS)
        assert res["token_type"] == "bearer" and res["expires_in"] == 900
        assert res["access_token"] and res["refresh_token"]
        assert await rpc.result("private/get_open_orders") == []


async def test_client_signature_checked() -> None:
    async with simulator() as sim, client(sim) as rpc:
        ts = int(time.time() * 1000)
        params = {
            "grant_type": "client_signature",
            "client_id": "sim_client",
            "timestamp": ts,
            "nonce": "abc123",
            "data": "",
            "signature": sign("sim_secret", ts, "abc123"),
        }
        assert "access_token" in await rpc.result("public/auth", params)
        forged = dict(params, signature=sign("other_secret", ts, "abc123"))
        assert (await rpc.error("public/auth", forged))["code"] == 13004
        old = ts - 3_600_000
        stale = dict(params, timestamp=old, signature=sign("sim_secret", old, "abc123"))
        assert (await rpc.error("public/auth", stale))["code"] == 13004


async def test_refresh_token_is_single_use() -> None:
    async with simulator() as sim, client(sim) as rpc:
        first = await rpc.result("public/auth", CREDS)
        refresh = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
        second = await rpc.result("public/auth", refresh)
        assert second["access_token"] != first["access_token"]
        assert (await rpc.error("public/auth", refresh))["code"] == 13004


async def test_token_expiry_gives_13009_until_reauth() -> None:
    async with simulator(access_token_ttl=0.2) as sim, client(sim) as rpc:
        res = await rpc.result("public/auth", CREDS)
        assert res["expires_in"] == 0.2  # how long the token lives (whole seconds: an int)
        await asyncio.sleep(0.3)
        err = await rpc.error("private/get_open_orders")
        assert err["code"] == 13009
        sim.knobs.access_token_ttl = 60.0  # knobs are live; keep the next token valid
        await rpc.result("public/auth", CREDS)
        assert await rpc.result("private/get_open_orders") == []
        assert sim.expire_tokens() >= 1
        assert (await rpc.error("private/get_open_orders"))["code"] == 13009


async def test_access_token_param_from_another_connection() -> None:
    async with simulator() as sim, client(sim) as a, client(sim) as b:
        token = (await a.result("public/auth", CREDS))["access_token"]
        assert await b.result("private/get_open_orders", {"access_token": token}) == []
        err = await b.error("private/get_open_orders", {"access_token": "forged"})
        assert err["code"] == 13009
        # the token authorized single calls; b's connection itself is still anonymous
        assert (await b.error("private/get_open_orders"))["code"] == 10000


# ---------------------------------------------------------------- subscriptions
async def test_subscribe_limit_gives_error_without_id() -> None:
    async with simulator() as sim, client(sim) as rpc:
        too_many = [f"ticker.BTC-PERPETUAL.100ms.{i}" for i in range(251)]
        await rpc.ws.send(
            json.dumps(
                {
                    "jsonrpc": "2.0",
                    "id": 77,
                    "method": "public/subscribe",
                    "params": {"channels": too_many},
                }
            )
        )
        msg = await rpc.recv()
        assert "id" not in msg
        assert msg["error"] == {"code": -32600, "message": "request entity too large"}
        ok = await rpc.result("public/subscribe", {"channels": too_many[:250]})
        assert ok == []  # 250 is allowed; unknown channels are left out


async def test_raw_channels_need_auth_and_private_channels_need_private() -> None:
    async with simulator() as sim, client(sim) as rpc:
        err = await rpc.error("public/subscribe", {"channels": ["trades.BTC-PERPETUAL.raw"]})
        assert err["code"] == 13778
        assert await rpc.result("public/subscribe", {"channels": ["user.orders.any.any.raw"]}) == []
        await rpc.result("public/auth", CREDS)
        got = await rpc.result("private/subscribe", {"channels": ["user.orders.any.any.raw"]})
        assert got == ["user.orders.any.any.raw"]


async def test_book_snapshot_then_consecutive_changes_then_exact_gap() -> None:
    rates = {"raw": 50.0, "100ms": 50.0, "agg2": 1.0}
    async with simulator(interval_rates=rates) as sim, client(sim) as rpc:
        channel = "book.BTC-PERPETUAL.100ms"
        assert await rpc.result("public/subscribe", {"channels": [channel]}) == [channel]
        snap = (await rpc.note(channel))["params"]["data"]
        assert snap["type"] == "snapshot" and len(snap["bids"]) == 10 and len(snap["asks"]) == 10
        assert snap["bids"][0][1] < snap["asks"][0][1]
        assert all(level[0] == "new" for level in snap["bids"] + snap["asks"])
        last = snap["change_id"]
        for _ in range(3):
            change = (await rpc.note(channel))["params"]["data"]
            assert change["type"] == "change" and change["prev_change_id"] == last
            last = change["change_id"]
        sim.inject_gap(channel)
        gap = (await rpc.note(channel))["params"]["data"]
        assert gap["prev_change_id"] == last + 1  # exactly one change_id skipped
        assert gap["change_id"] == last + 2
        after = (await rpc.note(channel))["params"]["data"]
        assert after["prev_change_id"] == gap["change_id"]


async def test_gap_every_knob() -> None:
    rates = {"raw": 50.0, "100ms": 50.0, "agg2": 1.0}
    async with simulator(interval_rates=rates, gap_every=2) as sim, client(sim) as rpc:
        channel = "book.ETH-PERPETUAL.100ms"
        await rpc.result("public/subscribe", {"channels": [channel]})
        last = (await rpc.note(channel))["params"]["data"]["change_id"]
        skips = []
        for _ in range(4):
            data = (await rpc.note(channel))["params"]["data"]
            skips.append(data["prev_change_id"] - last)
            last = data["change_id"]
        assert skips == [0, 1, 0, 1]


async def test_ticker_and_trades_and_unsubscribe() -> None:
    rates = {"raw": 50.0, "100ms": 50.0, "agg2": 1.0}
    async with simulator(interval_rates=rates, trade_probability=1.0) as sim, client(sim) as rpc:
        await rpc.result("public/auth", CREDS)
        chans = ["ticker.BTC-PERPETUAL.100ms", "trades.BTC-PERPETUAL.raw"]
        assert await rpc.result("public/subscribe", {"channels": chans}) == chans
        tick = (await rpc.note(chans[0]))["params"]["data"]
        assert tick["instrument_name"] == "BTC-PERPETUAL"
        assert tick["best_bid_price"] < tick["best_ask_price"] and tick["state"] == "open"
        trades = (await rpc.note(chans[1]))["params"]["data"]
        assert isinstance(trades, list) and trades[0]["direction"] in ("buy", "sell")
        assert await rpc.result("public/unsubscribe", {"channels": chans}) == chans
        await asyncio.sleep(0.1)
        rpc.notes.clear()
        with pytest.raises((TimeoutError, asyncio.TimeoutError)):
            await rpc.note(chans[0], timeout=0.3)


async def test_same_seed_same_market() -> None:
    a, b, c = DeribitSimulator(seed=7), DeribitSimulator(seed=7), DeribitSimulator(seed=8)
    for sim in (a, b, c):
        for _ in range(50):
            sim.market.instruments["BTC-PERPETUAL"].step()
    books = [s.market.instruments["BTC-PERPETUAL"] for s in (a, b, c)]
    assert books[0].bids == books[1].bids and books[0].mid_ticks == books[1].mid_ticks
    assert books[0].bids != books[2].bids


# ---------------------------------------------------------------- orders
async def test_orders_place_fill_cancel() -> None:
    async with simulator() as sim, client(sim) as rpc:
        await rpc.result("public/auth", CREDS)
        rest = await rpc.result(
            "private/buy",
            {"instrument_name": "BTC-PERPETUAL", "amount": 10, "price": 100.0, "label": "a"},
        )
        assert rest["order"]["order_state"] == "open" and rest["trades"] == []
        fill = await rpc.result(
            "private/sell", {"instrument_name": "BTC-PERPETUAL", "amount": 20, "type": "market"}
        )
        assert fill["order"]["order_state"] == "filled" and len(fill["trades"]) == 1
        await rpc.result(
            "private/buy", {"instrument_name": "ETH-PERPETUAL", "amount": 1, "price": 1.0}
        )
        assert len(await rpc.result("private/get_open_orders")) == 2
        eth = await rpc.result("private/get_open_orders_by_currency", {"currency": "ETH"})
        assert [o["instrument_name"] for o in eth] == ["ETH-PERPETUAL"]
        oid = rest["order"]["order_id"]
        cancelled = await rpc.result("private/cancel", {"order_id": oid})
        assert cancelled["order_state"] == "cancelled"
        assert (await rpc.error("private/cancel", {"order_id": oid}))["code"] == 11044
        assert (await rpc.error("private/cancel", {"order_id": "nope"}))["code"] == 10004
        assert await rpc.result("private/cancel_all") == 1
        assert await rpc.result("private/get_open_orders") == []
        bad = await rpc.error("private/buy", {"instrument_name": "X", "amount": 1})
        assert bad["code"] == -32602


async def test_edit_positions_and_label_cancel() -> None:
    async with simulator() as sim, client(sim) as rpc:
        await rpc.result("public/auth", CREDS)
        placed = await rpc.result(
            "private/buy",
            {"instrument_name": "BTC-PERPETUAL", "amount": 10, "price": 100.0, "label": "q"},
        )
        oid = placed["order"]["order_id"]
        edited = await rpc.result("private/edit", {"order_id": oid, "amount": 20, "price": 101})
        assert edited["order"]["amount"] == 20.0 and edited["order"]["replaced"] is True
        assert edited["order"]["order_state"] == "open"
        assert await rpc.result("private/cancel_by_label", {"label": "q"}) == 1
        await rpc.result(
            "private/buy", {"instrument_name": "BTC-PERPETUAL", "amount": 30, "type": "market"}
        )
        await rpc.result(
            "private/sell", {"instrument_name": "BTC-PERPETUAL", "amount": 10, "type": "market"}
        )
        positions = await rpc.result("private/get_positions", {"currency": "BTC"})
        assert [(p["instrument_name"], p["size"], p["direction"]) for p in positions] == [
            ("BTC-PERPETUAL", 20.0, "buy")
        ]
        await rpc.result(
            "private/buy", {"instrument_name": "ETH-PERPETUAL", "amount": 1, "price": 1.0}
        )
        assert await rpc.result("private/cancel_all_by_currency", {"currency": "ETH"}) == 1
        summary = await rpc.result("private/get_account_summary", {"currency": "BTC"})
        assert summary["currency"] == "BTC" and summary["equity"] > 0


async def test_public_market_queries() -> None:
    async with simulator() as sim, client(sim) as rpc:
        assert await rpc.result("public/hello", {"client_name": "t"}) == {"version": "1.2.26"}
        book = await rpc.result(
            "public/get_order_book", {"instrument_name": "ETH-PERPETUAL", "depth": 5}
        )
        assert len(book["bids"]) == 5 and book["bids"][0][0] < book["asks"][0][0]
        index = await rpc.result("public/get_index_price", {"index_name": "btc_usd"})
        assert index["index_price"] > 0
        instruments = await rpc.result("public/get_instruments", {"currency": "BTC"})
        assert [i["instrument_name"] for i in instruments] == ["BTC-PERPETUAL"]
        assert (await rpc.result("public/ticker", {"instrument_name": "BTC-PERPETUAL"}))[
            "state"
        ] == "open"


async def test_order_updates_on_user_orders_channel() -> None:
    async with simulator() as sim, client(sim) as rpc:
        await rpc.result("public/auth", CREDS)
        await rpc.result("private/subscribe", {"channels": ["user.orders.any.any.raw"]})
        placed = await rpc.result(
            "private/buy", {"instrument_name": "BTC-PERPETUAL", "amount": 10, "price": 100.0}
        )
        note = (await rpc.note("user.orders.any.any.raw"))["params"]["data"]
        assert note["order_id"] == placed["order"]["order_id"]


async def _place_resting(rpc: Rpc) -> str:
    res = await rpc.result(
        "private/buy", {"instrument_name": "BTC-PERPETUAL", "amount": 10, "price": 100.0}
    )
    return str(res["order"]["order_id"])


async def _wait_open_orders(rpc: Rpc, count: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 5
    while True:
        orders: list[dict[str, Any]] = await rpc.result("private/get_open_orders")
        if len(orders) == count or time.monotonic() > deadline:
            return orders
        await asyncio.sleep(0.02)


async def test_cancel_on_disconnect_cancels_that_connections_orders() -> None:
    async with simulator() as sim, client(sim) as watcher:
        await watcher.result("public/auth", CREDS)
        kept = await _place_resting(watcher)
        async with client(sim) as trader:
            await trader.result("public/auth", CREDS)
            assert (
                await trader.result("private/enable_cancel_on_disconnect", {"scope": "connection"})
                == "ok"
            )
            cod = await trader.result("private/get_cancel_on_disconnect")
            assert cod == {"scope": "connection", "enabled": True}
            await _place_resting(trader)
            assert len(await watcher.result("private/get_open_orders")) == 2
            await sim.drop_connection(sim.server.connections[-1])  # type: ignore[union-attr]
            with pytest.raises(ConnectionClosedError):
                await trader.recv()
        orders = await _wait_open_orders(watcher, 1)
        assert [o["order_id"] for o in orders] == [kept]


async def test_no_cancel_without_cod_or_after_logout() -> None:
    async with simulator() as sim, client(sim) as watcher:
        await watcher.result("public/auth", CREDS)
        async with client(sim) as plain:
            await plain.result("public/auth", CREDS)
            await _place_resting(plain)
        async with client(sim) as leaving:
            await leaving.result("public/auth", CREDS)
            await leaving.result("private/enable_cancel_on_disconnect", {})
            await _place_resting(leaving)
            assert await leaving.result("private/logout") == "ok"
            with pytest.raises(ConnectionClosed):
                await leaving.recv()
        await asyncio.sleep(0.1)
        assert len(await watcher.result("private/get_open_orders")) == 2


# ---------------------------------------------------------------- limits and faults
async def test_credit_exhaustion_gives_10028_then_session_closes() -> None:
    knobs = {"credits_pool": 1500.0, "credits_refill": 0.0}
    async with simulator(**knobs) as sim, client(sim) as rpc:
        for _ in range(3):
            await rpc.result("public/get_time")
        err = await rpc.call("public/get_time")
        assert err["error"] == {"code": 10028, "message": "too_many_requests"} and err["id"] == 4
        with pytest.raises(ConnectionClosed) as info:
            await rpc.recv()
        assert info.value.rcvd is not None and info.value.rcvd.code == 1008
        assert sim.server is not None
        assert sim.session(sim.server.all_connections[0]).closing  # later requests ignored


async def test_matching_engine_bucket_is_separate() -> None:
    async with simulator(matching_pool=2.0, matching_refill=0.0) as sim, client(sim) as rpc:
        await rpc.result("public/auth", CREDS)
        for _ in range(2):
            await _place_resting(rpc)
        assert await rpc.result("private/get_open_orders")  # other bucket still fine
        err = await rpc.error("private/buy", {"instrument_name": "BTC-PERPETUAL", "amount": 1})
        assert err["code"] == 10028


async def test_connection_limit_gives_429() -> None:
    async with simulator(max_connections=1) as sim, client(sim):
        with pytest.raises(InvalidStatus) as info:
            async with client(sim):
                pass
        assert info.value.response.status_code == 429


async def test_fail_next_and_idle_timeout() -> None:
    async with simulator(idle_timeout=1.0) as sim, client(sim) as rpc:
        sim.fail_next("public/get_time", 10040, "retry")
        assert (await rpc.error("public/get_time"))["code"] == 10040
        assert isinstance(await rpc.result("public/get_time"), int)
        sim.fail_next(code=11051, message="system_maintenance", count=None)
        assert (await rpc.error("public/test"))["code"] == 11051
        assert (await rpc.error("public/test"))["code"] == 11051
        sim.clear_faults()
        await rpc.result("public/test")
        with pytest.raises(ConnectionClosed) as info:
            await rpc.recv(timeout=5)
        assert info.value.rcvd is not None and info.value.rcvd.reason == "idle timeout"


async def test_stall_hook_silences_the_connection() -> None:
    async with simulator() as sim, client(sim) as rpc:
        await rpc.result("public/test")
        sim.stall()
        await rpc.ws.send(json.dumps({"jsonrpc": "2.0", "id": 9, "method": "public/test"}))
        with pytest.raises((TimeoutError, asyncio.TimeoutError)):
            await rpc.recv(timeout=0.3)
        assert sim.server is not None and sim.server.connections[0].open
        await sim.drop_connection()  # don't let the client wait out its close timeout


def test_standalone_module_prints_url() -> None:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "zenws.testing.deribit", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 30)
        assert ready, "the simulator printed nothing within 30 s"
        line = proc.stdout.readline().strip()
        assert line.startswith("ws://127.0.0.1:") and line.endswith("/ws/api/v2"), line

        async def probe() -> Any:
            async with connect(line, open_timeout=5) as ws:
                await ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "public/test"}))
                return json.loads(await asyncio.wait_for(ws.recv(), 5))

        assert asyncio.run(probe())["result"] == {"version": "1.2.26"}
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert proc.returncode == 0, proc.stderr.read() if proc.stderr else ""


async def test_price_index_channel_and_custom_publish() -> None:
    async with (
        simulator(interval_rates={"raw": 20.0, "100ms": 10.0, "agg2": 1.0}) as sim,
        client(sim) as rpc,
    ):
        sim.extra_channels.add("custom.feed")
        chans = ["deribit_price_index.btc_usd", "custom.feed", "deribit_price_index.xyz_usd"]
        assert await rpc.result("public/subscribe", {"channels": chans}) == chans[:2]
        assert sim.publish("custom.feed", {"x": 1}) == 1
        assert (await rpc.note("custom.feed"))["params"]["data"] == {"x": 1}
        index = (await rpc.note("deribit_price_index.btc_usd", timeout=5))["params"]["data"]
        assert index["index_name"] == "btc_usd" and index["price"] > 0


async def test_cancel_on_disconnect_account_scope_fires_on_heartbeat_failure() -> None:
    async with simulator(min_heartbeat_interval=0.05) as sim, client(sim) as watcher:
        await watcher.result("public/auth", CREDS)
        await _place_resting(watcher)  # another connection's order: account scope cancels it
        async with client(sim) as trader:
            await trader.result("public/auth", CREDS)
            await trader.result("private/enable_cancel_on_disconnect", {"scope": "account"})
            await _place_resting(trader)
            await trader.result("public/set_heartbeat", {"interval": 0.1})
            with pytest.raises(ConnectionClosed):  # test_requests left unanswered
                while True:
                    await trader.recv()
        orders = await _wait_open_orders(watcher, 0)
        assert orders == []
