"""MockServer.from_recording driven by an independent client (python-websockets)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import orjson
import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from zenws.recorder import Recorder, RecordingError
from zenws.testing.replay import ReplayHandler, from_recording, load_scripts


def req(i: int, method: str, params: object = None) -> str:
    return orjson.dumps({"jsonrpc": "2.0", "id": i, "method": method, "params": params}).decode()


def resp(i: int, result: object) -> str:
    return orjson.dumps({"jsonrpc": "2.0", "id": i, "result": result}).decode()


def note(channel: str, n: int) -> str:
    return orjson.dumps(
        {"jsonrpc": "2.0", "method": "subscription", "params": {"channel": channel, "data": n}}
    ).decode()


def make_recording(p: Path, gap_ns: int = 1_000_000) -> None:
    t = time.monotonic_ns()
    k = 0

    def at() -> int:
        nonlocal k
        k += 1
        return t + k * gap_ns

    with Recorder(p, url="wss://exchange.test/ws") as rec:
        rec.write("out", "text", req(1, "public/subscribe", {"channels": ["ticker.BTC"]}), 1, at())
        rec.write("in", "text", resp(1, ["ticker.BTC"]), 1, at())
        for n in range(3):
            rec.write("in", "text", note("ticker.BTC", n), 1, at())
        rec.write("out", "text", req(2, "public/test"), 1, at())
        rec.write("in", "text", resp(2, {"version": "1.2.26"}), 1, at())
        rec.write("in", "binary", b"\x01\x02", 1, at())
        rec.write("in", "close", None, 1, at(), code=1012, reason="restart")
        rec.write("out", "close", None, 1, at(), code=1012, reason="restart")
        rec.write("out", "text", req(3, "public/subscribe", {"channels": ["ticker.BTC"]}), 2, at())
        rec.write("in", "text", resp(3, ["ticker.BTC"]), 2, at())
        for n in range(3, 5):
            rec.write("in", "text", note("ticker.BTC", n), 2, at())


async def recv_json(ws: websockets.ClientConnection) -> object:
    return orjson.loads(await asyncio.wait_for(ws.recv(), 5))


def test_scripts_split_by_connection(tmp_path: Path) -> None:
    p = tmp_path / "r.jsonl"
    make_recording(p)
    s1, s2 = load_scripts(p)
    assert (s1.epoch, s2.epoch) == (1, 2)
    assert [i.method for i in s1.items] == [
        "public/subscribe",
        None,
        None,
        None,
        "public/test",
        None,
        None,
    ]
    assert s1.ends_with_close and not s2.ends_with_close
    assert [i.method for i in s2.items] == ["public/subscribe", None, None]


async def test_replays_session_with_remapped_ids_and_reconnect(tmp_path: Path) -> None:
    p = tmp_path / "r.jsonl"
    make_recording(p)
    server = from_recording(p)
    async with server:
        async with websockets.connect(server.url) as ws:
            # pushes recorded after the subscribe response wait for the subscribe
            with pytest.raises(asyncio.TimeoutError):  # 3.10: not the builtin TimeoutError
                await asyncio.wait_for(ws.recv(), 0.2)
            await ws.send(req(100, "public/subscribe", {"channels": ["ticker.BTC"]}))
            assert await recv_json(ws) == {"jsonrpc": "2.0", "id": 100, "result": ["ticker.BTC"]}
            got = [await recv_json(ws) for _ in range(3)]
            assert [g["params"]["data"] for g in got] == [0, 1, 2]  # type: ignore[index]
            await ws.send(req("abc", "public/test"))
            assert await recv_json(ws) == {
                "jsonrpc": "2.0",
                "id": "abc",
                "result": {"version": "1.2.26"},
            }
            assert await asyncio.wait_for(ws.recv(), 5) == b"\x01\x02"
            with pytest.raises(ConnectionClosed) as ei:
                await asyncio.wait_for(ws.recv(), 5)
            assert ei.value.rcvd is not None and ei.value.rcvd.code == 1012
        async with websockets.connect(server.url) as ws:
            await ws.send(req(7, "public/subscribe", {"channels": ["ticker.BTC"]}))
            assert await recv_json(ws) == {"jsonrpc": "2.0", "id": 7, "result": ["ticker.BTC"]}
            got = [await recv_json(ws) for _ in range(2)]
            assert [g["params"]["data"] for g in got] == [3, 4]  # type: ignore[index]
            # used-up method: the last recorded answer repeats; unknown method: JSON-RPC error
            await ws.send(req(8, "public/test"))
            assert await recv_json(ws) == {
                "jsonrpc": "2.0",
                "id": 8,
                "result": {"version": "1.2.26"},
            }
            await ws.send(req(9, "private/buy", {"amount": 10}))
            err = await recv_json(ws)
            assert err["id"] == 9 and err["error"]["code"] == -32601  # type: ignore[index]
    handler = server.handler
    assert isinstance(handler, ReplayHandler)
    assert handler.unmatched == [("private/buy", {"amount": 10})]
    assert handler.answered == 4 and handler.pushed == 7


async def test_connection_without_recorded_close_is_dropped(tmp_path: Path) -> None:
    p = tmp_path / "r.jsonl"
    t = time.monotonic_ns()
    with Recorder(p) as rec:
        rec.write("in", "text", note("a", 1), 1, t)
        rec.write("in", "text", note("b", 2), 2, t + 1000)  # reconnect without any close
    async with from_recording(p) as server:
        async with websockets.connect(server.url) as ws:
            assert (await recv_json(ws))["params"]["channel"] == "a"  # type: ignore[index]
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 5)
        async with websockets.connect(server.url) as ws:
            assert (await recv_json(ws))["params"]["channel"] == "b"  # type: ignore[index]


async def test_pushes_follow_recorded_pace(tmp_path: Path) -> None:
    p = tmp_path / "r.jsonl"
    t = time.monotonic_ns()
    with Recorder(p) as rec:
        for n in range(3):
            rec.write("in", "text", note("x", n), 1, t + n * 100_000_000)
    async with from_recording(p, speed=1.0) as server, websockets.connect(server.url) as ws:
        start = time.monotonic()
        for _ in range(3):
            await recv_json(ws)
        assert time.monotonic() - start >= 0.18  # lower bound only


def test_corrupt_recording_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "r.jsonl"
    make_recording(p)
    with open(p, "ab") as f:
        f.write(b"garbage\n")
    with pytest.raises(RecordingError, match="line 17"):
        from_recording(p)
    with pytest.raises(ValueError):
        ReplayHandler(p, speed=-1)
