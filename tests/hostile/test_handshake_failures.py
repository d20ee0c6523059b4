"""Servers that break the opening handshake: every one is a ``ConnectError`` within
``connect_timeout`` (sooner when the answer is plainly wrong), the client closes its socket,
and the next connection works.

RFC 6455 §4.1: the client fails the connection unless the answer is ``101`` with
``Upgrade: websocket``, ``Connection: Upgrade`` and the right ``Sec-WebSocket-Accept``.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from _hostile import PROMPT, serve_rpc

import zenws
from rawws import accept_upgrade, accept_value, raw_server, read_upgrade
from zenws.errors import Category, ConnectError, categorize
from zenws.testing import MockServer

Reply = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
CONNECT_TIMEOUT = 1.0


def switching(headers: bytes) -> Reply:
    """A 101 answer with exactly these header lines (``{accept}`` is filled in)."""

    async def reply(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        _, req = await read_upgrade(reader)
        accept = accept_value(req[b"sec-websocket-key"])
        writer.write(
            b"HTTP/1.1 101 Switching Protocols\r\n" + headers.replace(b"{accept}", accept) + b"\r\n"
        )

    return reply


def raw_answer(data: bytes, *, close: bool = False) -> Reply:
    async def reply(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_upgrade(reader)
        writer.write(data)
        if close:
            await writer.drain()
            writer.close()

    return reply


async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await read_upgrade(reader)


async def endless_headers(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await read_upgrade(reader)
    writer.write(b"HTTP/1.1 101 Switching Protocols\r\n")
    for i in range(200_000):  # ~20 MB if nobody stops reading
        writer.write(b"X-Junk-%d: %s\r\n" % (i, b"a" * 100))
        await writer.drain()


async def attempt(reply: Reply | None, *, tls: bool = False) -> tuple[ConnectError, float, bool]:
    """Connect to a server whose first connection runs ``reply`` (``None``: never speak).

    Returns the ConnectError, the seconds it took, and whether the server then saw the
    client close its socket.  The server's second connection is a working JSON-RPC server
    (over TLS: a ``MockServer``), and a request through it must succeed.
    """
    seen = {"connections": 0, "peer_closed": False}
    finished = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen["connections"] += 1
        if seen["connections"] > 1:
            await accept_upgrade(reader, writer)
            await serve_rpc(reader, writer)
            return
        try:
            if reply is not None:
                await reply(reader, writer)
            if not writer.is_closing():
                # Wait (bounded) for the client to give up and close its end.
                while await asyncio.wait_for(reader.read(65536), 10):
                    pass
                seen["peer_closed"] = True
        finally:
            finished.set()

    async with raw_server(handler) as url:
        kw: dict[str, Any] = {}
        if tls:
            url = url.replace("ws://", "wss://")
            kw["ssl"] = ssl.create_default_context()
        t0 = time.monotonic()
        with pytest.raises(ConnectError) as info:
            await asyncio.wait_for(
                zenws.connect(url, reconnect_on_error=False, connect_timeout=CONNECT_TIMEOUT, **kw),
                CONNECT_TIMEOUT + 5,
            )
        took = time.monotonic() - t0
        await asyncio.wait_for(finished.wait(), 15)
        if tls:
            await healthy_over_tls()
        else:
            async with zenws.connect(url, reconnect_on_error=False) as client:
                assert await asyncio.wait_for(client.request("ok", [2]), 10) == [2]
    return info.value, took, seen["peer_closed"]


async def healthy_over_tls() -> None:
    def rpc(conn: Any, msg: Any) -> None:
        doc = msg.json()
        conn.send({"jsonrpc": "2.0", "id": doc["id"], "result": doc["params"]})

    async with (
        MockServer(rpc, ssl=True) as srv,
        zenws.connect(srv.url, ssl=srv.ssl_context, reconnect_on_error=False) as client,
    ):
        assert await asyncio.wait_for(client.request("ok", [2]), 10) == [2]


async def test_tcp_accepted_but_no_answer_times_out() -> None:
    err, took, peer_closed = await attempt(silent)
    assert CONNECT_TIMEOUT * 0.9 <= took <= CONNECT_TIMEOUT + PROMPT
    assert "timed out" in str(err) and err.status is None
    assert categorize(err) is Category.RECOVERABLE
    assert peer_closed  # the client closed the socket it gave up on


async def test_stalled_tls_handshake_times_out() -> None:
    # TCP accept, never a byte of TLS back: the ClientHello goes unanswered.
    err, took, peer_closed = await attempt(None, tls=True)
    assert CONNECT_TIMEOUT * 0.9 <= took <= CONNECT_TIMEOUT + PROMPT
    assert "timed out" in str(err) and err.url.startswith("wss://")
    assert categorize(err) is Category.RECOVERABLE
    assert peer_closed


async def test_partial_status_line_then_silence_times_out() -> None:
    err, took, peer_closed = await attempt(raw_answer(b"HTTP/1.1 101 Switching Proto"))
    assert CONNECT_TIMEOUT * 0.9 <= took <= CONNECT_TIMEOUT + PROMPT
    assert "timed out" in str(err)
    assert peer_closed


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\x00\xffGARBAGE\r\n\r\n", "invalid HTTP status line"),
        (b"SSH-2.0-OpenSSH_9.6\r\n\r\n", "unknown protocol (expected HTTP/1.1)"),
        (b"HTTP/1.1 abc Nope\r\n\r\n", "invalid HTTP status line"),
    ],
    ids=["binary", "ssh_banner", "bad_status"],
)
async def test_garbage_instead_of_http_fails_fast_with_a_reason(data: bytes, reason: str) -> None:
    err, took, peer_closed = await attempt(raw_answer(data))
    assert took < CONNECT_TIMEOUT * 0.9  # not a timeout: the answer is plainly wrong
    assert reason in str(err), str(err)
    assert err.status is None
    assert categorize(err) is Category.RECOVERABLE
    assert peer_closed


@pytest.mark.parametrize(
    "data",
    [b"", b"SSH-2.0-OpenSSH_9.6\r\n", b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: webs"],
    ids=["nothing", "banner", "half_a_101"],
)
async def test_server_closes_during_the_handshake(data: bytes) -> None:
    err, took, _ = await attempt(raw_answer(data, close=True))
    assert took < CONNECT_TIMEOUT * 0.9
    assert isinstance(err, ConnectError) and err.status is None


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"", "closed the connection without answering the WebSocket upgrade request"),
        (
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: webs",
            "closed the connection before the end of its answer to the WebSocket upgrade "
            "request (47 bytes received)",
        ),
        (
            b"SSH-2.0-OpenSSH_9.6\r\n",
            "closed the connection before the end of its answer to the WebSocket upgrade "
            "request (21 bytes received)",
        ),
    ],
    ids=["nothing", "half_a_101", "banner"],
)
async def test_closing_during_the_handshake_says_so(data: bytes, says: str) -> None:
    # The error names what happened: no "handshake completed" when it never did.
    err, _, _ = await attempt(raw_answer(data, close=True))
    assert says in str(err), str(err)
    assert "completed" not in str(err)
    assert categorize(err) is Category.RECOVERABLE


async def test_http_200_instead_of_101() -> None:
    err, took, peer_closed = await attempt(
        raw_answer(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
    )
    assert took < CONNECT_TIMEOUT * 0.9
    assert err.status == 200 and err.body == b"hello"
    assert peer_closed


@pytest.mark.parametrize(
    "headers",
    [
        b"",
        b"Sec-WebSocket-Accept: {accept}\r\n",
        b"Connection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n",
        b"Upgrade: websocket\r\nSec-WebSocket-Accept: {accept}\r\n",
        b"Upgrade: h2c\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n",
        b"Upgrade: websocket\r\nConnection: Upgrade\r\n",
        b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: AAAA\r\n",
    ],
    ids=[
        "no_headers",
        "no_upgrade_no_connection",
        "no_upgrade",
        "no_connection",
        "upgrade_h2c",
        "no_accept",
        "wrong_accept",
    ],
)
async def test_101_without_a_valid_upgrade_is_refused(headers: bytes) -> None:
    err, took, peer_closed = await attempt(switching(headers))
    assert took < CONNECT_TIMEOUT * 0.9
    assert err.status == 101
    assert categorize(err) is Category.FATAL  # the same server answers the same way again
    assert peer_closed


async def test_endless_response_headers_are_bounded() -> None:
    err, took, _ = await attempt(endless_headers)
    assert took <= CONNECT_TIMEOUT + PROMPT
    assert "exceed" in str(err), str(err)
