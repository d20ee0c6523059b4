"""The receive path through a real server: routing, delivery, overflow, isolation, violations."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from _client_servers import WebsocketsServer

import zenws
from zenws import MessageKind, State
from zenws.testing import MockServer


def note(channel: str, i: int) -> str:
    return json.dumps(
        {
            "jsonrpc": "2.0",
            "method": "subscription",
            "params": {"channel": channel, "data": {"i": i}},
        },
        separators=(",", ":"),
    )


def rpc_handler(conn: Any, msg: Any) -> None:
    req = json.loads(msg.data)
    if req.get("method") == "public/subscribe":
        conn.send(
            json.dumps({"jsonrpc": "2.0", "id": req["id"], "result": req["params"]["channels"]})
        )
    elif "id" in req and "method" in req:
        conn.send(json.dumps({"jsonrpc": "2.0", "id": req["id"], "result": req.get("params")}))


async def wait_until(pred: Any, timeout: float = 3.0) -> None:
    for _ in range(int(timeout / 0.01)):
        if pred():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached")


async def test_routing_handler_on_message_and_iterator() -> None:
    async with MockServer(rpc_handler) as srv:
        client = await zenws.connect(srv.url, dialect="deribit")
        routed: list[zenws.Message] = []
        assert await client.subscribe("ticker.A", handler=routed.append) == ["ticker.A"]
        await srv.inject(note("ticker.A", 1))
        await srv.inject(note("trades.B", 2))
        await srv.inject("plain text")
        await srv.send_frame(2, b"\x00\x01bin")
        await wait_until(lambda: len(routed) == 1 and len(client._queue) == 3)
        assert routed[0].channel == "ticker.A" and routed[0].json()["params"]["data"] == {"i": 1}
        assert routed[0].kind is MessageKind.NOTIFICATION and routed[0].epoch == 1
        m1 = await client.__anext__()
        assert m1.channel == "trades.B" and m1.kind is MessageKind.NOTIFICATION
        assert m1.json() is m1.json()  # parsed once, cached
        m2 = await client.__anext__()
        assert m2.kind is MessageKind.OTHER and m2.text == "plain text"
        m3 = await client.__anext__()
        assert m3.kind is MessageKind.BINARY and m3.raw == b"\x00\x01bin"
        with pytest.raises(TypeError):
            _ = m3.text
        seen: list[zenws.Message] = []
        client.on_message = seen.append
        await srv.inject(note("x", 3))
        await wait_until(lambda: len(seen) == 1)
        assert len(client._queue) == 0
        assert "data" not in repr(seen[0])  # payload never shown in repr
        await client.close()


@pytest.mark.parametrize("decoder", ["simdjson", "orjson", "json", "zenws"])
async def test_decoders(decoder: str) -> None:
    async with MockServer(rpc_handler) as srv:
        client = await zenws.connect(srv.url, decoder=decoder)
        await srv.inject('{"a":[1,2.5,"\\u00e9"],"b":null}')
        msg = await asyncio.wait_for(client.__anext__(), 2)
        assert msg.json() == {"a": [1, 2.5, "é"], "b": None}
        await srv.inject("not json")
        bad = await asyncio.wait_for(client.__anext__(), 2)
        with pytest.raises(ValueError):
            bad.json()
        assert client.metrics().invalid_json == 1
        await client.close()


async def test_callback_exception_is_isolated_and_reported() -> None:
    events: list[str] = []
    h = zenws.telemetry.attach("handler", lambda e, m, md: events.append(e))
    try:
        async with MockServer(rpc_handler) as srv:
            client = await zenws.connect(srv.url)

            def boom(msg: zenws.Message) -> None:
                raise RuntimeError("user bug")

            client.on_message = boom
            await srv.inject(note("a", 1))
            await srv.inject(note("a", 2))
            await wait_until(lambda: client.metrics().callback_errors == 2)
            assert client.state is State.OPEN
            assert await client.request("echo", [1]) == [1]
            await client.close()
    finally:
        zenws.telemetry.detach(h)
    assert events.count("handler.error") == 2


@pytest.mark.parametrize(
    ("policy", "expect"),
    [("drop_oldest", [2, 3, 4]), ("drop_newest", [0, 1, 2])],
)
async def test_overflow_drop_policies(policy: str, expect: list[int]) -> None:
    async with MockServer(rpc_handler) as srv:
        client = await zenws.connect(srv.url, queue_size=3, overflow=policy)
        for i in range(5):
            await srv.inject(note("c", i))
        await wait_until(lambda: client.metrics().messages_in == 5)
        got = [(await client.__anext__()).json()["params"]["data"]["i"] for _ in range(3)]
        assert got == expect
        assert client.metrics().dropped == 2
        await client.close()


async def test_overflow_pause_reading_loses_nothing() -> None:
    async with MockServer(rpc_handler) as srv:
        client = await zenws.connect(srv.url, queue_size=4, overflow="pause_reading")
        for i in range(40):
            await srv.inject(note("c", i))
        got = []
        for _ in range(40):
            got.append(
                (await asyncio.wait_for(client.__anext__(), 2)).json()["params"]["data"]["i"]
            )
        assert got == list(range(40))
        assert client.metrics().dropped == 0
        await client.close()


async def test_overflow_disconnect() -> None:
    async with MockServer(rpc_handler) as srv:
        client = await zenws.connect(
            srv.url, queue_size=2, overflow="disconnect", reconnect_on_error=False
        )
        for i in range(3):
            await srv.inject(note("c", i))
        await wait_until(lambda: client.state is State.CLOSED)
        assert client.metrics().dropped >= 1


async def test_deribit_test_request_answered_before_user_code() -> None:
    async with WebsocketsServer() as srv:
        client = await zenws.connect(srv.url, deliver_heartbeats=True)
        order: list[int] = []

        def cb(msg: zenws.Message) -> None:
            # by the time user code sees the heartbeat, public/test is already sent
            order.append(len([r for r in srv.requests if r["method"] == "public/test"]))

        client.on_message = cb
        await client.request("heartbeat", [])
        await wait_until(lambda: len(srv.test_answers) == 0 and order != [])
        assert order == [0] or order == [1]
        await wait_until(lambda: any(r["method"] == "public/test" for r in srv.requests))
        test_req = next(r for r in srv.requests if r["method"] == "public/test")
        assert isinstance(test_req["id"], int)
        # the server's answer resolves the hot path's entry
        await wait_until(lambda: client.metrics().pending == 0)
        assert client.latency_stats().count == 1  # only the user's request, not public/test
        await client.close()


HEARTBEAT = '{"jsonrpc":"2.0","method":"heartbeat","params":{"type":"%s"}}'


@pytest.mark.parametrize("how", ["queue", "on_message"])
async def test_server_heartbeats_stay_out_of_user_code_by_default(how: str) -> None:
    # zenws answers Deribit's test_request itself: by default neither the `async for`
    # queue nor on_message sees heartbeat housekeeping, only the data after it.
    async with MockServer(rpc_handler) as srv:
        client = await zenws.connect(srv.url)
        got: list[zenws.Message] = []
        if how == "on_message":
            client.on_message = got.append
        await srv.inject(HEARTBEAT % "heartbeat")
        await srv.inject(HEARTBEAT % "test_request")
        await srv.inject(note("trades.B", 1))
        if how == "queue":
            got.append(await asyncio.wait_for(client.__anext__(), 5))
        await wait_until(lambda: len(got) == 1)
        await srv.assert_received({"method": "public/test"}, timeout=5)  # answered anyway
        assert got[0].kind is MessageKind.NOTIFICATION and got[0].channel == "trades.B"
        assert len(client._queue) == 0 and client._listener.test_requests == 1
        await client.close()


async def test_deliver_heartbeats_option_hands_them_over() -> None:
    async with MockServer(rpc_handler) as srv:
        client = await zenws.connect(srv.url, deliver_heartbeats=True)
        await srv.inject(HEARTBEAT % "test_request")
        msg = await asyncio.wait_for(client.__anext__(), 5)
        assert msg.kind is MessageKind.HEARTBEAT and str(msg.kind) == "heartbeat"
        await srv.assert_received({"method": "public/test"}, timeout=5)
        await client.close()


async def test_large_fragmented_message_and_limit() -> None:
    async with MockServer(rpc_handler) as srv:
        client = await zenws.connect(srv.url, max_message_size=1 << 20)
        big = json.dumps({"blob": "é" * 200_000}, ensure_ascii=False)
        conn = srv.connections[0]
        conn.send_fragmented(big, [1, 7000, 65536, 3])
        msg = await asyncio.wait_for(client.__anext__(), 5)
        assert msg.text == big
        conn.send("x" * ((1 << 20) + 10))
        await wait_until(lambda: client.state is not State.OPEN or client.epoch > 1)
        assert client.metrics().errors >= 1
        await client.close()


@pytest.mark.parametrize(
    ("frames", "code"),
    [
        ([(1, b"\xff\xfe", True, {})], 1007),  # invalid UTF-8 text
        ([(1, b"x", True, {"rsv2": True})], 1002),  # reserved bit
        ([(1, b"x", True, {"rsv1": True})], 1002),  # RSV1 without deflate
        ([(0, b"x", True, {})], 1002),  # continuation w/o start
        ([(1, b"a", False, {}), (1, b"b", True, {})], 1002),  # new message mid-fragment
        ([(8, b"\x03\xee", True, {})], 1002),  # close code 1006 on the wire
        ([(8, b"\x00\x00", True, {})], 1002),  # close code 0
        ([(8, b"\x13\x88", True, {})], 1002),  # close code 5000
        ([(8, b"\x03\xe8\xff", True, {})], 1007),  # close reason not UTF-8
    ],
)
async def test_protocol_violations_close_with_the_right_code(frames: Any, code: int) -> None:
    async with MockServer(rpc_handler) as srv:
        client = await zenws.connect(srv.url, reconnect_on_error=False)
        conn = srv.connections[0]
        for op, payload, fin, flags in frames:
            conn.send_frame(op, payload, fin=fin, **flags)
        await wait_until(lambda: not conn.open)
        assert conn.close_code == code
        await wait_until(lambda: client.state is State.CLOSED)
        assert client.metrics().errors >= 1


async def test_send_never_blocks_and_request_waits_for_resume_writing() -> None:
    async with MockServer(rpc_handler) as srv:
        client = await zenws.connect(srv.url, reconnect_on_error=False)
        conn = srv.connections[0]
        conn.stall()  # the server stops reading: the client's write buffer fills up
        chunk = b"x" * (256 * 1024)
        for _ in range(200):
            client.send(chunk)  # never blocks, never raises while open
            if client.metrics().write_paused:
                break
            await asyncio.sleep(0)
        assert client.metrics().write_paused
        with pytest.raises((asyncio.TimeoutError, TimeoutError)):
            await asyncio.wait_for(client.request("echo", [1]), 0.3)
        assert client.metrics().pending == 0
        conn.resume()
        assert await asyncio.wait_for(client.request("echo", [2]), 10) == [2]
        assert not client.metrics().write_paused
        await client.close()
