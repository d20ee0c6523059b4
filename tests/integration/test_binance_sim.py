"""BinanceSimulator proven with independent clients (websockets, aiohttp)."""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
import pytest
from websockets.asyncio.client import connect

from binance_ws import call
from waits import wait_until
from zenws.testing import BinanceSimulator


async def test_request_shapes() -> None:
    async with BinanceSimulator().serve() as sim, connect(sim.url) as ws:
        assert sim.url.endswith("/ws-api/v3")
        pong = await call(ws, "a1", "ping")
        assert pong["status"] == 200 and pong["result"] == {}
        limits = pong["rateLimits"][0]
        # opening a WebSocket API connection costs 2 weight, the ping 1
        assert limits["rateLimitType"] == "REQUEST_WEIGHT" and limits["count"] == 3
        now = await call(ws, 2, "time")
        assert abs(now["result"]["serverTime"] - time.time() * 1000) < 60_000
        price = await call(ws, 3, "ticker.price", {"symbol": "BTCUSDT"})
        assert float(price["result"]["price"]) > 0
        bad = await call(ws, 4, "ticker.price", {"symbol": "NOPE"})
        assert bad["status"] == 400 and bad["error"]["code"] == -1121
        unknown = await call(ws, 5, "nope")
        assert unknown["status"] == 400 and "error" in unknown


async def test_weight_limit_gives_429() -> None:
    sim = BinanceSimulator(weight_limit=3, connect_weight=0)
    async with sim.serve() as sim, connect(sim.url) as ws:
        for i in range(3):
            assert (await call(ws, i, "ping"))["status"] == 200
        over = await call(ws, 9, "ping")
        assert over["status"] == 429 and over["error"]["code"] == -1003
        assert over["error"]["data"]["retryAfter"] > over["error"]["data"]["serverTime"]


async def test_server_pings_answered_by_websockets_keep_connection() -> None:
    sim = BinanceSimulator(ping_interval=0.05, pong_timeout=2.0)
    async with sim.serve() as sim, connect(sim.url, ping_interval=None) as ws:
        await asyncio.sleep(0.6)  # a window of 12 PINGs: websockets answers each automatically
        assert (await call(ws, 1, "ping"))["status"] == 200
        assert sim.server is not None
        await wait_until(lambda: sim.state(sim.server.connections[0]).last_pong is not None)
        st = sim.state(sim.server.connections[0])
        assert st.last_pong is not None


async def test_missing_pong_closes_connection_aiohttp() -> None:
    sim = BinanceSimulator(ping_interval=0.05, pong_timeout=0.2)
    async with (
        sim.serve() as sim,
        aiohttp.ClientSession() as session,
        session.ws_connect(sim.url, autoping=False) as ws,
    ):
        msg = await ws.receive(timeout=5)
        assert msg.type == aiohttp.WSMsgType.PING  # the server pings; we never answer
        while msg.type == aiohttp.WSMsgType.PING:
            msg = await ws.receive(timeout=5)
        assert msg.type == aiohttp.WSMsgType.CLOSE
        assert (msg.data, msg.extra) == (1008, "pong timeout")


async def test_unsolicited_pongs_do_not_count_but_echoes_do() -> None:
    sim = BinanceSimulator(ping_interval=0.05, pong_timeout=0.4)
    async with (
        sim.serve() as sim,
        aiohttp.ClientSession() as session,
        session.ws_connect(sim.url, autoping=False) as ws,
    ):
        deadline = time.monotonic() + 0.8  # twice the pong timeout, echoing every PING
        while time.monotonic() < deadline:
            msg = await ws.receive(timeout=5)
            assert msg.type == aiohttp.WSMsgType.PING
            await ws.pong(msg.data)
        assert not ws.closed
        while True:  # now only unsolicited PONGs: the server gives up
            await ws.pong(b"unsolicited")
            msg = await ws.receive(timeout=5)
            if msg.type != aiohttp.WSMsgType.PING:
                break
        assert (msg.type, msg.data, msg.extra) == (aiohttp.WSMsgType.CLOSE, 1008, "pong timeout")


async def test_streams_subscribe_list_unsubscribe() -> None:
    sim = BinanceSimulator(stream_rate=50.0, path="/stream")
    async with sim.serve() as sim, connect(sim.url) as ws:
        ok = await call(ws, 1, "SUBSCRIBE", ["btcusdt@trade", "ethusdt@bookTicker", "x@y"])
        assert ok == {"result": None, "id": 1}
        listed = await call(ws, 2, "LIST_SUBSCRIPTIONS")
        assert listed["result"] == ["btcusdt@trade", "ethusdt@bookTicker"]
        seen: set[str] = set()
        while len(seen) < 2:
            event = json.loads(await asyncio.wait_for(ws.recv(), 5))
            if "stream" in event:
                seen.add(event["stream"])
                if event["stream"] == "btcusdt@trade":
                    assert event["data"]["e"] == "trade" and event["data"]["s"] == "BTCUSDT"
        await call(ws, 3, "UNSUBSCRIBE", ["btcusdt@trade", "ethusdt@bookTicker"])
        assert (await call(ws, 4, "LIST_SUBSCRIPTIONS"))["result"] == []


def test_unknown_knob_is_rejected() -> None:
    with pytest.raises(TypeError, match="unknown BinanceSimulator knob"):
        BinanceSimulator(nope=1)
