"""MockServer proven with independent clients (websockets, aiohttp, raw sockets)."""

from __future__ import annotations

import asyncio
import base64
import os
import re
import select
import time
from collections import deque

import aiohttp
import pytest
import websockets
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosedError, InvalidStatus

from zenws.testing import Connection, Handler, MockServer, Received
from zenws.testing.certs import self_signed


def ws_connect(url: str, **kw: object) -> connect:
    kw.setdefault("ping_interval", None)  # no background pings: the tests drive them
    kw.setdefault("open_timeout", 5)
    return connect(url, **kw)  # type: ignore[arg-type]


async def raw_upgrade(
    port: int, path: str = "/"
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert head.startswith(b"HTTP/1.1 101"), head
    return reader, writer


# ---------------------------------------------------------------- echo, capture, inject
async def test_echo_text_and_binary_with_websockets() -> None:
    async with MockServer() as server, ws_connect(server.url) as ws:
        await ws.send("hello")
        assert await ws.recv() == "hello"
        await ws.send(b"\x00\xffbin")
        assert await ws.recv() == b"\x00\xffbin"
        assert [m.data for m in server.received] == ["hello", b"\x00\xffbin"]
        assert server.connections[0].received[0].is_text


async def test_echo_with_aiohttp_and_fragmented_client_message() -> None:
    async with (
        MockServer() as server,
        aiohttp.ClientSession() as session,
        session.ws_connect(server.url) as ws,
    ):
        await ws.send_json({"a": 1})
        assert await ws.receive_json(timeout=5) == {"a": 1}
        async with ws_connect(server.url) as ws2:
            await ws2.send(["frag", "mented"])  # websockets sends an iterable as fragments
            assert await ws2.recv() == "fragmented"
        await server.assert_received("fragmented")


async def test_handler_function_sync_and_async_order_is_kept() -> None:
    async def slow_upper(conn: Connection, msg: Received) -> None:
        await asyncio.sleep(0.05 if msg.data == "a" else 0)
        conn.send(msg.text.upper())

    async with MockServer(slow_upper) as server, ws_connect(server.url) as ws:
        for word in ("a", "b", "c"):
            await ws.send(word)
        assert [await ws.recv() for _ in range(3)] == ["A", "B", "C"]


async def test_handler_class_hooks() -> None:
    events: list[str] = []

    class Greeter(Handler):
        def on_connect(self, connection: Connection) -> None:
            events.append("connect")
            connection.send({"hello": connection.id})

        def on_message(self, connection: Connection, message: Received) -> None:
            events.append(f"msg:{message.data}")

        def on_disconnect(self, connection: Connection) -> None:
            events.append("disconnect")

    async with MockServer(Greeter()) as server:
        async with ws_connect(server.url) as ws:
            assert await ws.recv() == '{"hello":1}'
            await ws.send("x")
            await server.assert_received("x")
        await server.all_connections[0].wait_closed()
    assert events == ["connect", "msg:x", "disconnect"]


async def test_capture_is_bounded_per_connection() -> None:
    async with (
        MockServer(lambda c, m: None, capture_limit=3) as server,
        ws_connect(server.url) as ws,
    ):
        for i in range(5):
            await ws.send(str(i))
        await server.assert_received("4")
        conn = server.connections[0]
        assert [m.data for m in conn.received] == ["2", "3", "4"]
        assert conn.messages_in == 5
        assert len(server.received) == 3


async def test_inject_all_or_one_connection() -> None:
    async with MockServer() as server, ws_connect(server.url) as a, ws_connect(server.url) as b:
        first, second = await server.wait_for_connections(2)
        assert await server.inject({"x": 1}) == 2
        assert await a.recv() == '{"x":1}' and await b.recv() == '{"x":1}'
        assert await server.inject(b"only-b", connection=second) == 1
        assert await server.inject("only-a", connection=first.id) == 1
        assert await b.recv() == b"only-b"
        assert await a.recv() == "only-a"


async def test_inject_without_connection_is_a_clear_error() -> None:
    async with MockServer() as server:
        with pytest.raises(LookupError, match="no open connection"):
            await server.inject("x")


async def test_assert_received_matchers_and_failure_message() -> None:
    async with MockServer(lambda c, m: None) as server, ws_connect(server.url) as ws:
        await ws.send('{"method": "public/test", "params": {"a": [1, 2], "b": true}}')
        await ws.send("plain text 42")
        await server.assert_received("plain text 42")
        await server.assert_received(re.compile(r"text \d+"))
        msg = await server.assert_received({"method": "public/test", "params": {"a": [1, 2]}})
        assert msg.json()["params"]["b"] is True
        await server.assert_received(lambda m: m.text.endswith("42"))
        with pytest.raises(AssertionError) as info:
            await server.assert_received({"params": {"b": 1}}, timeout=0.2)  # true is not 1
        text = str(info.value)
        assert "2 message(s) received" in text and "plain text 42" in text


async def test_assert_received_waits_for_late_message() -> None:
    async with MockServer() as server, ws_connect(server.url) as ws:

        async def later() -> None:
            await asyncio.sleep(0.1)
            await ws.send("late")

        task = asyncio.create_task(later())
        await server.assert_received("late", timeout=5)
        await task


async def test_wait_for_connections_timeout_is_an_assertion() -> None:
    async with MockServer() as server:
        with pytest.raises(AssertionError, match="expected 1 connection"):
            await server.wait_for_connections(1, timeout=0.1)


# ---------------------------------------------------------------- faults
async def test_close_with_code_and_reason_websockets() -> None:
    async with MockServer() as server, ws_connect(server.url) as ws:
        await server.wait_for_connections(1)
        await server.close_connections(4000, "maintenance window")
        with pytest.raises(ConnectionClosedError) as info:
            await ws.recv()
        assert info.value.rcvd is not None
        assert (info.value.rcvd.code, info.value.rcvd.reason) == (4000, "maintenance window")
        assert server.all_connections[0].close_code == 4000  # the client echoed it


async def test_close_with_code_and_reason_aiohttp() -> None:
    async with (
        MockServer() as server,
        aiohttp.ClientSession() as session,
        session.ws_connect(server.url) as ws,
    ):
        await server.wait_for_connections(1)
        closing = asyncio.create_task(server.close_connections(1013, "try later"))
        msg = await ws.receive(timeout=5)
        assert msg.type == aiohttp.WSMsgType.CLOSE
        assert (msg.data, msg.extra) == (1013, "try later")
        await closing


async def test_abort_gives_no_close_frame_websockets() -> None:
    async with MockServer() as server, ws_connect(server.url) as ws:
        (conn,) = await server.wait_for_connections(1)
        server.abort()
        with pytest.raises(ConnectionClosedError) as info:
            await asyncio.wait_for(ws.recv(), 5)
        assert info.value.rcvd is None  # no close frame arrived
        await conn.wait_closed()
        assert not conn.open


async def test_abort_gives_no_close_frame_aiohttp() -> None:
    async with (
        MockServer() as server,
        aiohttp.ClientSession() as session,
        session.ws_connect(server.url) as ws,
    ):
        await server.wait_for_connections(1)
        server.abort()
        msg = await ws.receive(timeout=5)
        assert msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)
        assert ws.close_code == 1006  # abnormal: no close code from the server


async def test_abort_is_a_tcp_reset() -> None:
    async with MockServer() as server:
        reader, writer = await raw_upgrade(server.port)
        await server.wait_for_connections(1)
        server.abort()
        with pytest.raises(ConnectionResetError):
            data = await asyncio.wait_for(reader.read(100), 5)
            assert data == b"", "expected a reset, got data or FIN"
            raise AssertionError("got FIN instead of RST")
        writer.close()


async def test_stall_keeps_socket_open_and_silent() -> None:
    async with MockServer() as server, ws_connect(server.url) as ws:
        (conn,) = await server.wait_for_connections(1)
        server.stall()
        await server.inject("dropped while stalled")
        pong = await ws.ping()
        with pytest.raises((TimeoutError, asyncio.TimeoutError)):
            await asyncio.wait_for(asyncio.shield(pong), 0.5)
        await ws.send("unread")
        with pytest.raises((TimeoutError, asyncio.TimeoutError)):
            await asyncio.wait_for(ws.recv(), 0.3)
        assert ws.state is websockets.protocol.State.OPEN
        assert conn.open and conn.stalled and conn.messages_in == 0 and conn.dropped >= 1
        conn.resume()  # the buffered ping and message are read now
        await asyncio.wait_for(pong, 5)
        assert await ws.recv() == "unread"


async def test_stall_raw_socket_sees_no_fin() -> None:
    async with MockServer() as server:
        reader, writer = await raw_upgrade(server.port)
        await server.wait_for_connections(1)
        server.stall()
        writer.write(b"\x89\x80\x00\x00\x00\x00")  # masked empty PING
        with pytest.raises((TimeoutError, asyncio.TimeoutError)):
            await asyncio.wait_for(reader.read(100), 0.5)
        assert not reader.at_eof()
        writer.close()


@pytest.mark.skipif(not hasattr(select, "POLLRDHUP"), reason="peer-close watch needs POLLRDHUP")
async def test_stalled_connection_is_dropped_when_the_client_leaves() -> None:
    async with MockServer() as server:
        async with ws_connect(server.url, close_timeout=0.1) as ws:
            (conn,) = await server.wait_for_connections(1)
            conn.stall()
            await ws.send("unread")
        await conn.wait_closed(timeout=5)  # noticed without reading anything
        assert server.connections == [] and conn.messages_in == 0


async def test_ignore_pings_but_keep_data_flowing() -> None:
    async with MockServer() as server, ws_connect(server.url) as ws:
        (conn,) = await server.wait_for_connections(1)
        pong = await ws.ping()
        await asyncio.wait_for(pong, 5)
        server.ignore_pings()
        pong = await ws.ping()
        await ws.send("still echoing")
        assert await ws.recv() == "still echoing"
        assert not pong.done()
        assert conn.pings == 2
        conn.ignore_pings(False)
        await asyncio.wait_for(await ws.ping(), 5)


async def test_ignore_pings_applies_to_later_connections() -> None:
    async with MockServer() as server:
        server.ignore_pings()
        async with ws_connect(server.url) as ws:
            pong = await ws.ping()
            with pytest.raises((TimeoutError, asyncio.TimeoutError)):
                await asyncio.wait_for(pong, 0.3)


async def test_delay_replies_keeps_order() -> None:
    async with MockServer() as server, ws_connect(server.url) as ws:
        await server.wait_for_connections(1)
        server.delay_replies(0.2)
        start = time.monotonic()
        await ws.send("1")
        await ws.send("2")
        assert await asyncio.wait_for(ws.recv(), 5) == "1"
        assert time.monotonic() - start >= 0.19
        assert await asyncio.wait_for(ws.recv(), 5) == "2"


async def test_refuse_next_upgrades_websockets() -> None:
    async with MockServer() as server:
        server.refuse_next(2, 503, headers={"Retry-After": "7"}, body="down for maintenance")
        for _ in range(2):
            with pytest.raises(InvalidStatus) as info:
                async with ws_connect(server.url):
                    pass
            response = info.value.response
            assert response.status_code == 503
            assert response.headers["Retry-After"] == "7"
            assert response.body == b"down for maintenance"
        async with ws_connect(server.url) as ws:  # the third attempt is accepted
            await ws.send("ok")
            assert await ws.recv() == "ok"
        assert len(server.upgrade_requests) == 3
        assert len(server.all_connections) == 1


async def test_refuse_with_429_aiohttp() -> None:
    async with MockServer() as server, aiohttp.ClientSession() as session:
        server.refuse_next(1, 429, headers={"Retry-After": "1"})
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await session.ws_connect(server.url)
        assert info.value.status == 429
        assert info.value.headers is not None and info.value.headers["Retry-After"] == "1"


async def test_max_connections_gives_429() -> None:
    async with MockServer(max_connections=1) as server, ws_connect(server.url):
        with pytest.raises(InvalidStatus) as info:
            async with ws_connect(server.url):
                pass
        assert info.value.response.status_code == 429


async def test_path_filter_gives_404() -> None:
    async with MockServer(path="/ws/api/v2") as server:
        assert server.url.endswith("/ws/api/v2")
        with pytest.raises(InvalidStatus) as info:
            async with ws_connect(server.url.replace("/ws/api/v2", "/other")):
                pass
        assert info.value.response.status_code == 404
        async with ws_connect(server.url) as ws:
            await ws.send("in")
            assert await ws.recv() == "in"


async def test_upgrade_requests_record_path_query_headers() -> None:
    async with MockServer() as server:
        url = server.url + "feed?token=abc&x=1"
        async with ws_connect(url, additional_headers={"Authorization": "Bearer t0k"}):
            pass
        (req,) = server.upgrade_requests
        assert req.path == "/feed"
        assert req.query == {"token": "abc", "x": "1"}
        assert req.headers["authorization"] == "Bearer t0k"
        assert req.target == "/feed?token=abc&x=1"


async def test_client_close_code_is_recorded() -> None:
    async with MockServer() as server:
        async with ws_connect(server.url) as ws:
            (conn,) = await server.wait_for_connections(1)
            await ws.close(4001, "client done")
        await conn.wait_closed()
        assert (conn.close_code, conn.close_reason) == (4001, "client done")


async def test_restart_on_same_port() -> None:
    async with MockServer() as server:
        url = server.url
        async with ws_connect(url) as ws:
            await server.wait_for_connections(1)
            restart = asyncio.create_task(server.restart(downtime=0.1))
            with pytest.raises(ConnectionClosedError) as info:
                await ws.recv()
            assert info.value.rcvd is not None and info.value.rcvd.code == 1012
            await restart
        assert server.url == url
        async with ws_connect(url) as ws:
            await ws.send("back")
            assert await ws.recv() == "back"


async def test_stop_refuses_connects_and_start_reuses_the_port() -> None:
    server = MockServer()
    await server.start()
    url = server.url
    await server.stop()
    with pytest.raises(OSError):
        async with ws_connect(url):
            pass
    await server.start()
    try:
        assert server.url == url
        async with ws_connect(url) as ws:
            await ws.send("again")
            assert await ws.recv() == "again"
    finally:
        await server.stop()


async def test_close_on_a_stalled_connection_sends_no_close_frame() -> None:
    async with MockServer() as server, ws_connect(server.url) as ws:
        (conn,) = await server.wait_for_connections(1)
        conn.stall()
        await conn.close(4000, "never sent")
        with pytest.raises(ConnectionClosedError) as info:
            await asyncio.wait_for(ws.recv(), 5)
        assert info.value.rcvd is None


async def test_restart_with_abort_sends_no_close() -> None:
    async with MockServer() as server, ws_connect(server.url) as ws:
        await server.wait_for_connections(1)
        await server.restart(abort=True)
        with pytest.raises(ConnectionClosedError) as info:
            await ws.recv()
        assert info.value.rcvd is None


# ---------------------------------------------------------------- hand-built frames
async def _client_fails_with(server: MockServer, send: str, code: int, **kw: object) -> None:
    async with ws_connect(server.url, **kw) as ws:  # type: ignore[arg-type]
        (conn,) = await server.wait_for_connections(1)
        getattr(conn, send[0])(*send[1:])  # type: ignore[index]
        with pytest.raises(ConnectionClosedError) as info:
            await asyncio.wait_for(ws.recv(), 5)
        assert info.value.sent is not None and info.value.sent.code == code
    await conn.wait_closed()
    assert conn.close_code == code


async def test_fragmented_message_arrives_whole() -> None:
    async with MockServer() as server, ws_connect(server.url) as ws:
        (conn,) = await server.wait_for_connections(1)
        conn.send_fragmented("abcdefghij", [3, 3])
        assert await ws.recv() == "abcdefghij"
        conn.send_fragmented(b"\x01\x02\x03\x04", 4)
        assert await ws.recv() == b"\x01\x02\x03\x04"


async def test_fragments_arrive_as_sent_to_aiohttp() -> None:
    async with (
        MockServer() as server,
        aiohttp.ClientSession() as session,
        session.ws_connect(server.url) as ws,
    ):
        (conn,) = await server.wait_for_connections(1)
        conn.send_frame(1, "hel", fin=False)
        conn.send_frame(9, b"p")  # a PING between fragments is legal (RFC 6455 §5.4)
        conn.send_frame(0, "lo", fin=True)
        msg = await ws.receive(timeout=5)
        assert (msg.type, msg.data) == (aiohttp.WSMsgType.TEXT, "hello")


@pytest.mark.parametrize(
    ("fault", "code"),
    [
        (
            (
                "send_frame",
                1,
                b"x",
            ),
            1002,
        ),
        (("send_frame", 3, b"x"), 1002),  # reserved opcode
        (("send_frame", 11, b""), 1002),  # reserved control opcode
        (("send_frame", 0, b"orphan"), 1002),  # continuation without a start
        (("send_frame", 9, b"x" * 126), 1002),  # control frame > 125 bytes
        (
            (
                "send_frame",
                9,
                b"x",
            ),
            1002,
        ),
        (("send_frame", 1, b"\xff\xfe"), 1007),  # invalid UTF-8 in text
    ],
    ids=["rsv1", "opcode3", "opcode11", "orphan-cont", "big-ping", "fragmented-ping", "utf8"],
)
async def test_invalid_frames_make_websockets_fail(fault: tuple[object, ...], code: int) -> None:
    flags: dict[str, object] = {}
    if fault[0] == "send_frame" and fault[1] == 1 and fault[2] == b"x":
        flags = {"rsv1": True}
    if fault[1] == 9 and fault[2] == b"x":
        flags = {"fin": False}
    async with MockServer() as server, ws_connect(server.url) as ws:
        (conn,) = await server.wait_for_connections(1)
        conn.send_frame(*fault[1:], **flags)  # type: ignore[arg-type]
        with pytest.raises(ConnectionClosedError) as info:
            await asyncio.wait_for(ws.recv(), 5)
        assert info.value.sent is not None and info.value.sent.code == code
        await conn.wait_closed()
        assert conn.close_code == code  # what the client put on the wire


async def test_masked_frame_from_server() -> None:
    async with MockServer() as server:
        async with aiohttp.ClientSession() as session, session.ws_connect(server.url) as ws:
            (conn,) = await server.wait_for_connections(1)
            conn.send_frame(1, "masked", mask=b"\x01\x02\x03\x04")
            msg = await ws.receive(timeout=5)  # aiohttp is lenient and unmasks it
            assert (msg.type, msg.data) == (aiohttp.WSMsgType.TEXT, "masked")
        async with ws_connect(server.url) as ws2:  # websockets enforces RFC 6455 §5.1
            (conn,) = await server.wait_for_connections(1)
            conn.send_frame(1, "masked", mask=True)
            with pytest.raises(ConnectionClosedError) as info:
                await asyncio.wait_for(ws2.recv(), 5)
            assert info.value.sent is not None and info.value.sent.code == 1002


async def test_oversized_message_gets_1009() -> None:
    async with MockServer() as server, ws_connect(server.url, max_size=1024) as ws:
        (conn,) = await server.wait_for_connections(1)
        conn.send_frame(2, b"\x00" * 4096)
        with pytest.raises(ConnectionClosedError) as info:
            await asyncio.wait_for(ws.recv(), 5)
        assert info.value.sent is not None and info.value.sent.code == 1009


async def test_send_raw_bytes() -> None:
    async with MockServer() as server, ws_connect(server.url) as ws:
        await server.wait_for_connections(1)
        assert await server.send_raw(b"\x81\x03raw") == 1
        assert await ws.recv() == "raw"


async def test_invalid_utf8_from_client_gets_1007() -> None:
    async with MockServer() as server:
        reader, writer = await raw_upgrade(server.port)
        writer.write(b"\x81\x82\x00\x00\x00\x00\xff\xfe")  # masked text frame, key 0
        data = await asyncio.wait_for(reader.read(100), 5)
        assert data[0] == 0x88 and int.from_bytes(data[2:4], "big") == 1007
        writer.close()


# ---------------------------------------------------------------- TLS
async def test_tls_with_both_clients() -> None:
    async with MockServer(ssl=True) as server:
        assert server.url.startswith("wss://127.0.0.1:")
        async with ws_connect(server.url, ssl=server.ssl_context) as ws:
            await ws.send("secure")
            assert await ws.recv() == "secure"
        async with (
            aiohttp.ClientSession() as session,
            session.ws_connect(server.url, ssl=server.ssl_context) as ws2,
        ):
            await ws2.send_str("secure2")
            assert (await ws2.receive(timeout=5)).data == "secure2"
        async with ws_connect(server.url, ssl=server.ssl_context) as ws:
            (conn,) = await server.wait_for_connections(1)
            conn.abort()
            with pytest.raises(ConnectionClosedError) as info:
                await ws.recv()
            assert info.value.rcvd is None


async def test_tls_untrusted_client_fails() -> None:
    import ssl

    async with MockServer(ssl=True) as server:
        with pytest.raises(ssl.SSLCertVerificationError):
            async with ws_connect(server.url, ssl=ssl.create_default_context()):
                pass


@pytest.mark.parametrize("backend", ["trustme", "cryptography"])
async def test_certificate_backends(backend: str) -> None:
    pair = self_signed(backend)  # type: ignore[arg-type]
    assert pair.backend == backend
    async with MockServer(ssl=pair.server) as server:
        url = server.url.replace("127.0.0.1", "localhost")
        async with ws_connect(url, ssl=pair.client) as ws:
            await ws.send("x")
            assert await ws.recv() == "x"


# ---------------------------------------------------------------- scenario
async def test_scenario_reads_as_a_story() -> None:
    async with MockServer(lambda c, m: None) as server:
        story = (
            server.scenario()
            .on_connect()
            .send({"hello": "client"})
            .after(messages=2)
            .send("got two")
            .after(seconds=0.1)
            .close(4000, "story over")
            .on_connect()
            .abort()
        )
        async with ws_connect(server.url) as ws:
            assert await ws.recv() == '{"hello":"client"}'
            await ws.send("one")
            await ws.send("two")
            assert await ws.recv() == "got two"
            with pytest.raises(ConnectionClosedError) as info:
                await asyncio.wait_for(ws.recv(), 5)
            assert info.value.rcvd is not None
            assert (info.value.rcvd.code, info.value.rcvd.reason) == (4000, "story over")
        async with ws_connect(server.url) as ws:
            with pytest.raises(ConnectionClosedError) as info:
                await asyncio.wait_for(ws.recv(), 5)
            assert info.value.rcvd is None
        await story.wait(timeout=5)
        assert story.done


async def test_scenario_not_finished_reports_progress() -> None:
    async with MockServer() as server:
        story = server.scenario().on_connect().send("hi").after(messages=5).abort()
        async with ws_connect(server.url) as ws:
            assert await ws.recv() == "hi"
            with pytest.raises(AssertionError, match="not finished"):
                await story.wait(timeout=0.2)


def test_scenario_after_needs_exactly_one_trigger() -> None:
    async def build() -> None:
        async with MockServer() as server:
            with pytest.raises(ValueError, match="exactly one"):
                server.scenario().after()

    asyncio.run(build())


# ---------------------------------------------------------------- hooks, limits, hygiene
async def test_handler_on_upgrade_can_refuse() -> None:
    from zenws.testing import Refusal, UpgradeRequest

    class NeedsToken(Handler):
        def on_upgrade(self, request: UpgradeRequest) -> Refusal | None:
            if request.query.get("token") != "good":
                return Refusal(401, {"WWW-Authenticate": "Bearer"}, b"bad token")
            return None

    async with MockServer(NeedsToken()) as server:
        with pytest.raises(InvalidStatus) as info:
            async with ws_connect(server.url + "?token=bad"):
                pass
        assert info.value.response.status_code == 401
        assert info.value.response.headers["WWW-Authenticate"] == "Bearer"
        async with ws_connect(server.url + "?token=good"):
            await server.wait_for_connections(1)


async def test_client_frame_over_max_frame_size_gets_1009() -> None:
    async with MockServer(max_frame_size=1024) as server, ws_connect(server.url) as ws:
        await ws.send(b"\x00" * 4096)
        with pytest.raises(ConnectionClosedError) as info:
            await asyncio.wait_for(ws.recv(), 5)
        assert info.value.rcvd is not None and info.value.rcvd.code == 1009


async def test_secrets_are_redacted_in_reprs_and_failures() -> None:
    async with MockServer(lambda c, m: None) as server:
        headers = {"Authorization": "Bearer sekrit-header"}
        async with ws_connect(server.url + "?api_key=sekrit-q", additional_headers=headers) as ws:
            await ws.send('{"params": {"client_secret": "sekrit-json", "client_id": "me"}}')
            msg = await server.assert_received({"params": {"client_id": "me"}})
            with pytest.raises(AssertionError) as info:
                await server.assert_received("never", timeout=0.1)
        shown = repr(msg) + str(info.value) + repr(server.upgrade_requests[0])
        assert "sekrit" not in shown
        assert '"client_id": "me"' in shown and "***" in shown
        assert msg.json()["params"]["client_secret"] == "sekrit-json"  # data itself is intact


async def test_clear_forgets_captures() -> None:
    async with MockServer() as server, ws_connect(server.url) as ws:
        await ws.send("old")
        await server.assert_received("old")
        server.clear()
        assert server.received == [] and server.connections[0].received == deque()
        with pytest.raises(AssertionError):
            await server.assert_received("old", timeout=0.1)


def test_missing_certificate_packages_name_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "trustme", None)
    monkeypatch.setitem(sys.modules, "cryptography", None)
    with pytest.raises(ImportError, match=r"zenws\[testing\]"):
        self_signed()


async def test_close_does_not_hang_on_a_client_that_never_answers() -> None:
    async with MockServer() as server:
        reader, writer = await raw_upgrade(server.port)
        (conn,) = await server.wait_for_connections(1)
        await conn.close(4002, "bye", timeout=0.2)  # the raw client ignores the CLOSE
        assert not conn.open
        data = await asyncio.wait_for(reader.read(100), 5)
        assert data[:2] == b"\x88\x05" and data[2:4] == (4002).to_bytes(2, "big")
        assert data[4:] == b"bye"
        writer.close()


async def test_nothing_is_written_after_abort() -> None:
    async with MockServer() as server:
        reader, writer = await raw_upgrade(server.port)
        (conn,) = await server.wait_for_connections(1)
        conn.delay_replies(0.05)
        conn.send("late reply")  # scheduled, then the connection is reset first
        conn.abort()
        assert conn.send("after abort") is False
        with pytest.raises(ConnectionResetError):
            data = await asyncio.wait_for(reader.read(100), 5)
            raise AssertionError(f"expected a reset, got {data!r}")
        writer.close()


async def test_stop_with_a_client_stuck_before_its_upgrade() -> None:
    server = MockServer()
    await server.start()
    _reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"GET / HTTP/1.1\r\n")  # never finishes the request
    await asyncio.sleep(0.05)  # the scenario: the server holds the half-sent request
    await asyncio.wait_for(server.stop(), 10)
    assert not server.started
    writer.close()


async def test_failing_hooks_are_isolated(caplog: pytest.LogCaptureFixture) -> None:
    class Broken(Handler):
        def on_connect(self, connection: Connection) -> None:
            raise RuntimeError("boom on connect")

        def on_message(self, connection: Connection, message: Received) -> None:
            if message.data == "bad":
                raise RuntimeError("boom on message")
            connection.send(message.data)

        def on_pong(self, connection: Connection, payload: bytes) -> None:
            raise RuntimeError("boom on pong")

    async with MockServer(Broken()) as server, ws_connect(server.url) as ws:
        await ws.send("bad")
        (conn,) = await server.wait_for_connections(1)
        conn.send_ping(b"x")  # websockets answers; on_pong raises
        await ws.send("good")
        assert await asyncio.wait_for(ws.recv(), 5) == "good"  # the connection survived
    assert "boom on connect" in caplog.text and "boom on message" in caplog.text
    assert "boom on pong" in caplog.text


async def test_scenario_message_counts_are_exact_and_failures_surface() -> None:
    async with MockServer(lambda c, m: None) as server, ws_connect(server.url) as ws:
        await ws.send("before")  # sent before the story: not counted
        await server.assert_received("before")
        story = server.scenario().after(messages=2).send("two").after(messages=1).send("three")
        for word in ("a", "b", "c"):  # one burst: the second trigger still needs message 3
            await ws.send(word)
        assert await asyncio.wait_for(ws.recv(), 5) == "two"
        assert await asyncio.wait_for(ws.recv(), 5) == "three"
        await story.wait(timeout=5)

        def explode(conn: Connection) -> None:
            raise RuntimeError("action failed")

        failing = server.scenario().do(explode)
        with pytest.raises(RuntimeError, match="action failed"):
            await failing.wait(timeout=5)
