"""BinanceSimulator's market data over loopback with independent clients (websockets):
depth snapshot + diff stream, broadcast, gaps, trades, stream endpoints and limits,
connection lifetime and the connection-attempt limit."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from binance_ws import call
from zenws.testing import BinanceSimulator


async def events(ws: ClientConnection, n: int, kind: str | None = None) -> list[Any]:
    out: list[Any] = []
    while len(out) < n:
        msg = json.loads(await asyncio.wait_for(ws.recv(), 5))
        data = msg.get("data", msg) if isinstance(msg, dict) else msg
        if kind is None or (isinstance(data, dict) and data.get("e") == kind):
            out.append(msg)
    return out


def apply(book: dict[str, dict[str, str]], event: dict[str, Any]) -> None:
    for side, key in (("bids", "b"), ("asks", "a")):
        for price, qty in event[key]:
            if float(qty) == 0:
                book[side].pop(price, None)
            else:
                book[side][price] = qty


async def test_local_book_from_snapshot_and_diff_stream_matches_the_server() -> None:
    sim = BinanceSimulator(stream_rate=200)
    async with sim.serve(), connect(sim.raw_url("btcusdt@depth@100ms")) as stream:
        buffered = await events(stream, 5)
        async with connect(sim.url) as api:
            snap = (await call(api, 1, "depth", {"symbol": "BTCUSDT", "limit": 5000}))["result"]
        book = {side: {p: q for p, q in snap[side]} for side in ("bids", "asks")}
        last = snap["lastUpdateId"]
        # Binance's recipe: drop events with u <= lastUpdateId; the first applied one has
        # U <= lastUpdateId + 1 <= u; then each U is the previous u + 1.
        pending = [e for e in buffered if e["u"] > last]
        while not pending:
            pending = [e for e in await events(stream, 1) if e["u"] > last]
        assert pending[0]["U"] <= last + 1 <= pending[0]["u"]
        todo = pending + await events(stream, 20)
        sim.knobs.stream_rate = 1e-6  # the market pauses: read what is in flight
        while True:
            for event in todo:
                if event["u"] <= last:
                    continue
                assert event["U"] == last + 1 and event["e"] == "depthUpdate"
                assert event["s"] == "BTCUSDT"
                apply(book, event)
                last = event["u"]
            if last == sim.market.book("BTCUSDT").last_id:
                break
            todo = await events(stream, 1)
        server = sim.market.book("BTCUSDT").snapshot(5000)
        assert {p: q for p, q in server["bids"]} == book["bids"]
        assert {p: q for p, q in server["asks"]} == book["asks"]


async def test_depth_snapshot_honours_limit_and_is_sorted() -> None:
    async with BinanceSimulator().serve() as sim, connect(sim.url) as api:
        snap = (await call(api, 1, "depth", {"symbol": "ETHUSDT", "limit": 5}))["result"]
        assert len(snap["bids"]) == 5 and len(snap["asks"]) == 5
        bids = [float(p) for p, _ in snap["bids"]]
        asks = [float(p) for p, _ in snap["asks"]]
        assert bids == sorted(bids, reverse=True) and asks == sorted(asks) and bids[0] < asks[0]
        assert isinstance(snap["lastUpdateId"], int)
        bad = await call(api, 2, "depth", {"symbol": "ETHUSDT", "limit": 5001})
        assert bad["status"] == 400 and bad["error"]["code"] == -1100
        assert (await call(api, 3, "depth", {}))["error"]["code"] == -1102
        assert (await call(api, 4, "depth", {"symbol": "NOPE"}))["error"]["code"] == -1121


async def test_two_connections_see_identical_diff_events_and_trades() -> None:
    sim = BinanceSimulator(stream_rate=100)
    async with sim.serve():
        url = sim.stream_url("btcusdt@depth", "btcusdt@trade")
        async with connect(url) as one, connect(url) as two:
            a = await events(one, 30)
            b = await events(two, 30)
        depth_a = {m["data"]["u"]: m["data"] for m in a if m["stream"] == "btcusdt@depth"}
        depth_b = {m["data"]["u"]: m["data"] for m in b if m["stream"] == "btcusdt@depth"}
        common = depth_a.keys() & depth_b.keys()
        assert common  # the connections overlap in time ...
        assert all(depth_a[u] == depth_b[u] for u in common)  # ... and see the same events
        trades = [m["data"]["t"] for m in a if m["stream"] == "btcusdt@trade"]
        assert trades == sorted(trades) and len(set(trades)) == len(trades)


async def test_injected_gap_skips_update_ids() -> None:
    sim = BinanceSimulator(stream_rate=50)
    async with sim.serve(), connect(sim.raw_url("ethusdt@depth")) as ws:
        first = (await events(ws, 1))[0]
        last = first["u"]
        sim.inject_gap("ETHUSDT", updates=7)
        gap = None
        for event in await events(ws, 10):
            if event["U"] != last + 1:
                gap = (last, event["U"])
                break
            last = event["u"]
        assert gap is not None and gap[1] - gap[0] > 7


async def test_stream_rate_reaches_thousands_of_messages_per_second() -> None:
    sim = BinanceSimulator(stream_rate=5000)
    async with sim.serve(), connect(sim.raw_url("btcusdt@depth@100ms")) as ws:
        got = await events(ws, 2000)  # each within 5 s: events go out in batches
        assert [e["u"] for e in got] == sorted(e["u"] for e in got)
        assert all(b["U"] == a["u"] + 1 for a, b in itertools.pairwise(got))


async def test_raw_and_combined_endpoints_and_control_messages() -> None:
    sim = BinanceSimulator(stream_rate=50)
    async with sim.serve():
        async with connect(sim.raw_url()) as raw:
            assert await call(raw, 1, "SUBSCRIBE", ["btcusdt@bookTicker"]) == {
                "result": None,
                "id": 1,
            }
            ticker = (await events(raw, 1))[0]
            assert set(ticker) == {"u", "s", "b", "B", "a", "A"} and ticker["s"] == "BTCUSDT"
            listed = await call(raw, 2, "LIST_SUBSCRIPTIONS")
            assert listed == {"result": ["btcusdt@bookTicker"], "id": 2}
            assert await call(raw, 3, "UNSUBSCRIBE", ["btcusdt@bookTicker"]) == {
                "result": None,
                "id": 3,
            }
            await asyncio.sleep(0.3)  # a window of 1-second's limit: 5 messages
            bad = await call(raw, 4, "NOPE", [])
            assert bad["error"]["code"] == 2
        async with connect(sim.stream_url("ethusdt@trade", "ethusdt@ticker")) as combined:
            streams = {m["stream"] for m in await events(combined, 6)}
            assert streams == {"ethusdt@trade", "ethusdt@ticker"}
            listed = await call(combined, 1, "LIST_SUBSCRIPTIONS")
            assert listed["result"] == ["ethusdt@trade", "ethusdt@ticker"]
        with pytest.raises(InvalidStatus) as refused:
            async with connect(sim.url.replace("/ws-api/v3", "/nowhere")):
                pass
        assert refused.value.response.status_code == 404


async def test_stream_limit_and_control_message_rate_close() -> None:
    sim = BinanceSimulator(max_streams=3)
    async with sim.serve(), connect(sim.raw_url()) as ws:
        names = ["btcusdt@trade", "ethusdt@trade", "btcusdt@depth", "ethusdt@depth"]
        over = await call(ws, 1, "SUBSCRIBE", names)
        assert over["error"]["code"] == 2 and over["id"] == 1
        assert (await call(ws, 2, "LIST_SUBSCRIPTIONS"))["result"] == []
        for i in range(10):  # more than 5 incoming messages in a second
            await ws.send(json.dumps({"id": 10 + i, "method": "LIST_SUBSCRIPTIONS"}))
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await asyncio.wait_for(ws.recv(), 5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008


async def test_connection_lifetime_closes_api_and_stream_connections() -> None:
    sim = BinanceSimulator(connection_lifetime=0.3)
    async with sim.serve():
        for url in (sim.url, sim.raw_url("btcusdt@trade")):
            async with connect(url) as ws:
                t0 = time.monotonic()
                with pytest.raises(ConnectionClosed) as closed:
                    while True:
                        await asyncio.wait_for(ws.recv(), 5)
                assert time.monotonic() - t0 >= 0.2
                assert closed.value.rcvd is not None and closed.value.rcvd.code == 1000


async def test_connection_attempt_limit_refuses_upgrades_with_429() -> None:
    sim = BinanceSimulator(connection_attempts=2, connection_attempts_window=60)
    async with sim.serve():
        async with connect(sim.url), connect(sim.raw_url()):
            with pytest.raises(InvalidStatus) as refused:
                async with connect(sim.url):
                    pass
        assert refused.value.response.status_code == 429
        assert int(refused.value.response.headers["Retry-After"]) >= 1
