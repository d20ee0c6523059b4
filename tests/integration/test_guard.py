"""zenws.fast.guard.ReadGuard: RFC 6455 checks on the byte stream in front of picows.

picows parses the frame after the current one before delivering it, hands over
complete frames only, and answers a second CLOSE with 1002 (DESIGN §6).  These
tests write hand-built frames straight to the TCP stream of a real server and
check what the client delivers and which close code it puts on the wire.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest

import zenws
from rawws import accept_upgrade, frame, raw_server
from waits import wait_until
from zenws import State
from zenws.fast.frame import decode, encode
from zenws.fast.guard import ReadGuard
from zenws.testing import MockServer


def echo_handler(conn: Any, msg: Any) -> None:
    conn.send(msg.data)


def text(payload: bytes | str, *, fin: bool = True, opcode: int = 1) -> bytes:
    raw = payload.encode() if isinstance(payload, str) else payload
    return encode(opcode, raw, fin=fin, strict=False)


@pytest.mark.parametrize("tls", [False, True])
async def test_guard_is_installed_and_traffic_flows(tls: bool) -> None:
    async with MockServer(echo_handler, ssl=True if tls else None) as srv:
        kw: dict[str, Any] = {"ssl": srv.ssl_context} if tls else {}
        client = await zenws.connect(srv.url, reconnect_on_error=False, **kw)
        listener = client._listener
        assert isinstance(listener.guard, ReadGuard)
        assert listener.prevalidated
        proto = client.transport.underlying_transport.get_protocol()
        assert proto is listener.guard
        got: list[str] = []
        client.on_message = lambda m: got.append(m.text)
        for i in range(50):
            client.send(f"héllo {i} €" * (1 + i * 40))
        await wait_until(lambda: len(got) == 50)
        assert got == [f"héllo {i} €" * (1 + i * 40) for i in range(50)]
        assert listener.guard.bytes_forwarded > 0 and not listener.guard.stopped
        await client.close()
        assert srv.connections == [] or not srv.connections[0].open


@pytest.mark.parametrize("consumer", ["on_message", "async_for"])
async def test_message_before_a_reserved_opcode_is_delivered_then_1002(consumer: str) -> None:
    async with MockServer() as srv:
        client = await zenws.connect(srv.url, reconnect_on_error=False)
        guard = client._listener.guard
        conn = srv.connections[0]
        got: list[str] = []

        def echo(m: zenws.Message) -> None:
            got.append(m.text)
            client.send(m.text)  # still possible: the connection fails only afterwards

        if consumer == "on_message":
            client.on_message = echo
        # One TCP write: a valid text message, then a frame with reserved opcode 5.
        conn.send_raw(text("before the bad frame") + encode(5, b"", strict=False) + text("after"))
        if consumer == "async_for":

            async def consume() -> None:
                try:
                    async for msg in client:
                        echo(msg)
                except zenws.ConnectionLost:
                    pass  # the iterator ends with the cause once the client is closed

            task = asyncio.ensure_future(consume())
            await wait_until(lambda: not conn.open)
            await asyncio.wait_for(task, 3)
        await wait_until(lambda: not conn.open)
        assert got == ["before the bad frame"]
        assert [r.data for r in srv.received] == ["before the bad frame"]  # echoed first
        assert conn.close_code == 1002
        await wait_until(lambda: client.state is State.CLOSED)
        assert guard.fail_code == 1002


async def test_invalid_utf8_fails_before_the_frame_completes() -> None:
    async with MockServer(echo_handler) as srv:
        client = await zenws.connect(srv.url, reconnect_on_error=False)
        guard = client._listener.guard
        conn = srv.connections[0]
        got: list[Any] = []
        client.on_message = got.append
        frame = text(b"valid start " + b"\xff" + b"x" * 87)  # 100 bytes: 2-byte header
        assert frame[14] == 0xFF
        head = frame[: 2 + 12]
        conn.send_raw(head)  # header + the valid bytes
        await asyncio.sleep(0.1)  # a window: valid bytes so far, the connection stays open
        assert conn.open
        conn.send_raw(frame[14:15])  # the bad byte; the other 87 bytes never come
        await wait_until(lambda: not conn.open, timeout=2.0)
        assert conn.close_code == 1007
        assert got == []
        assert guard.fail_code == 1007


async def test_two_close_frames_in_one_write_echo_the_first_code() -> None:
    async with MockServer(echo_handler) as srv:
        client = await zenws.connect(srv.url, reconnect_on_error=False)
        guard = client._listener.guard
        conn = srv.connections[0]
        conn.send_raw(encode(8, b"\x03\xe8", strict=False) + encode(8, b"", strict=False))
        await wait_until(lambda: not conn.open)
        await wait_until(lambda: client.state is State.CLOSED)
        assert conn.close_code == 1000  # the echo of the first CLOSE, never 1002
        assert guard.listener.sent_close_code == 1000
        assert client.metrics().errors == 0
        assert guard.stopped and guard.fail_code == 0


async def test_fragmented_text_split_inside_chars_headers_and_reads() -> None:
    async with MockServer(echo_handler) as srv:
        client = await zenws.connect(srv.url, reconnect_on_error=False)
        conn = srv.connections[0]
        got: list[str] = []
        client.on_message = lambda m: got.append(m.text)
        message = "añ€𝄞" * 60 + "z" * 300  # > 125 bytes in the last fragment: 16-bit length
        raw = message.encode()
        # Fragment boundaries in the middle of the 2-, 3- and 4-byte characters.
        cuts = [2, 4, 8, 11, len(raw) - 301]
        parts = [raw[a:b] for a, b in zip([0, *cuts], [*cuts, len(raw)], strict=True)]
        wire = b"".join(
            encode(1 if i == 0 else 0, p, fin=i == len(parts) - 1, strict=False)
            for i, p in enumerate(parts)
        )
        # A ping between fragments is legal (RFC 6455 §5.4).
        ping = encode(9, b"p", strict=False)
        wire = wire[:8] + ping + wire[8:]  # after the first two fragments (4 bytes each)
        # Reads of 1..7 bytes: headers and characters split across reads.
        pos, step = 0, 1
        while pos < len(wire):
            conn.send_raw(wire[pos : pos + step])
            pos += step
            step = step % 7 + 1
            if pos < 80:
                await asyncio.sleep(0.002)
        await wait_until(lambda: got == [message])
        assert conn.open and client.state is State.OPEN
        await client.close()


async def test_utf8_state_survives_fragments_and_a_bad_continuation_is_1007() -> None:
    async with MockServer(echo_handler) as srv:
        client = await zenws.connect(srv.url, reconnect_on_error=False)
        conn = srv.connections[0]
        got: list[Any] = []
        client.on_message = got.append
        # "€" = e2 82 ac: e2 82 ends fragment 1, fragment 2 starts with an ASCII byte.
        conn.send_raw(text(b"ok \xe2\x82", fin=False))
        await asyncio.sleep(0.05)  # the scenario: the two fragments arrive apart
        conn.send_raw(text(b"a rest", opcode=0))
        await wait_until(lambda: not conn.open)
        assert conn.close_code == 1007 and got == []


# ---- frames that arrive together with the 101 response ------------------------------


class RawServer:
    """A bare TCP server that completes the upgrade and writes `after` in the same write."""

    def __init__(self, after: bytes) -> None:
        self.after = after
        self.client_frames: list[Any] = []
        self.done = asyncio.Event()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await accept_upgrade(reader, writer, self.after)
        buf = b""
        try:
            while True:
                data = await asyncio.wait_for(reader.read(65536), 5)
                if not data:
                    break
                buf += data
                while (res := decode(buf)) is not None:
                    frame, used = res
                    buf = buf[used:]
                    self.client_frames.append(frame)
                    if frame.opcode == 8:
                        return  # the server closes TCP first (RFC 6455 §7.1.1)
        except (asyncio.TimeoutError, ConnectionError):
            pass
        finally:
            self.done.set()
            writer.close()


async def run_raw(after: bytes, consume: Any) -> RawServer:
    raw = RawServer(after)
    server = await asyncio.start_server(raw.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        client = zenws.Client(zenws.Config.new(f"ws://127.0.0.1:{port}/", reconnect_on_error=False))
        client.on_message = (lambda m: consume(client, m)) if consume is not None else None
        # The connection may fail before start() returns; what it sent is checked.
        with contextlib.suppress(zenws.ConnectError):
            await client.start()
        await asyncio.wait_for(raw.done.wait(), 5)
        await wait_until(lambda: client.state is State.CLOSED)
    finally:
        server.close()
    return raw


async def test_frames_with_the_101_response_are_guarded_too() -> None:
    got: list[str] = []

    def echo(client: zenws.Client, m: zenws.Message) -> None:
        got.append(m.text)
        client.send(m.text)

    raw = await run_raw(text("with the 101") + encode(5, b"", strict=False), echo)
    assert got == ["with the 101"]
    # The echo goes out before the CLOSE 1002 (picows alone sends the CLOSE first).
    assert [(f.opcode, f.payload[:2]) for f in raw.client_frames] == [
        (1, b"wi"),
        (8, b"\x03\xea"),
    ]
    assert raw.client_frames[0].payload == b"with the 101"


async def test_two_close_frames_with_the_101_response() -> None:
    raw = await run_raw(encode(8, b"\x03\xe8", strict=False) + encode(8, b"", strict=False), None)
    closes = [f for f in raw.client_frames if f.opcode == 8]
    assert [int.from_bytes(f.payload[:2], "big") for f in closes] == [1000]


# ---- the event loops' own transports (picows without aiofastnet) ----------------------


@pytest.mark.parametrize("tls", [False, True])
async def test_loop_native_transports_carry_the_guard(tls: bool) -> None:
    from zenws.fast.guard import connect
    from zenws.fast.listener import FastListener

    async with MockServer(ssl=True if tls else None) as srv:
        got: list[bytes] = []
        listener = FastListener()

        def on_message(m: zenws.Message) -> None:
            got.append(m.raw)
            listener.send_text(m.raw)

        listener.on_message = on_message
        transport, returned = await connect(
            lambda: listener,
            srv.url,
            ssl_context=srv.ssl_context if tls else None,
            use_aiofastnet=False,
        )
        assert returned is listener
        underlying = transport.underlying_transport
        assert "aiofastnet" not in type(underlying).__module__
        assert underlying.get_protocol() is listener.guard
        assert isinstance(listener.guard, ReadGuard) and listener.prevalidated
        conn = srv.connections[0]
        conn.send_raw(text("x" * 70000) + text("y€") + encode(3, b"", strict=False))
        await wait_until(lambda: not conn.open)
        assert got == [b"x" * 70000, "y€".encode()]
        assert [r.data for r in srv.received] == ["x" * 70000, "y€"]
        assert conn.close_code == 1002
        await asyncio.wait_for(transport.wait_disconnected(), 3)


async def test_valid_stream_in_random_reads_is_delivered_intact() -> None:
    import random

    rng = random.Random(6455)
    async with MockServer() as srv:
        client = await zenws.connect(srv.url, reconnect_on_error=False, max_message_size=1 << 20)
        conn = srv.connections[0]
        got: list[bytes] = []
        client.on_message = lambda m: got.append(m.raw)
        sent: list[bytes] = []
        wire = b""
        for size in (0, 1, 125, 126, 127, 65535, 65536, 70001, 300):
            body = ("é" * (size // 2) + "a" * (size % 2)).encode()
            sent.append(body)
            wire += text(body)
            wire += encode(9, b"ping", strict=False)
            sent.append(bytes(range(256)) * 3)
            wire += encode(2, sent[-1], strict=False)
        pos = 0
        while pos < len(wire):
            n = rng.choice((1, 2, 3, 9, 13, 14, 15, 700, 40000))
            conn.send_raw(wire[pos : pos + n])
            pos += n
            if rng.random() < 0.2:
                await asyncio.sleep(0)
        await wait_until(lambda: len(got) == len(sent), timeout=10)
        assert got == sent
        assert client.state is State.OPEN and not client._listener.guard.stopped
        await client.close()


async def test_a_listener_of_its_own_gets_every_byte_unchecked() -> None:
    # connect() guards FastListeners; any other picows listener gets the stream as
    # picows parses it, the frames that came with the 101 included.
    from picows import WSFrame, WSListener, WSTransport

    from zenws.fast.guard import connect

    got: list[tuple[int, bytes]] = []

    class Plain(WSListener):
        def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
            got.append((frame.msg_type.value, frame.get_payload_as_bytes()))

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await accept_upgrade(reader, writer, frame(1, "one") + frame(1, "two", rsv2=True))
        await reader.read()

    async with raw_server(handler) as url:
        transport, listener = await connect(Plain, url)
        assert isinstance(listener, Plain)
        await wait_until(lambda: len(got) == 2)
        assert got == [(1, b"one"), (1, b"two")]  # RSV2 is the listener's business here
        transport.disconnect()
