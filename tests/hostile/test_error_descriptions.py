"""Errors describe the real situation: ``str(exc)``, ``categorize(exc)`` and ``explain(exc)``
for situations that used to be described as something else (docs/errors.md).

- a request after the application's own ``close()`` (not "the peer finished the session");
- a plain HTTP 200 answer to the upgrade: not a WebSocket endpoint, fatal;
- a 101 answer with a wrong ``Sec-WebSocket-Accept``: that reason, never the frame bytes
  that followed the response;
- a request after the server's CLOSE arrived (not "connection is open").
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

import zenws
from rawws import accept_upgrade, accept_value, frame, raw_server, read_upgrade
from zenws import telemetry
from zenws.errors import (
    Category,
    ClientClosed,
    ConnectError,
    ConnectionLost,
    categorize,
    explain,
)
from zenws.testing import MockServer


async def wait_until(cond: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.005)


def rpc_handler(conn: Any, msg: Any) -> None:
    req = json.loads(msg.data)
    if req["method"] != "never":
        conn.send(json.dumps({"jsonrpc": "2.0", "id": req["id"], "result": req.get("params")}))


# -- the application's own close() ---------------------------------------------------------


@pytest.mark.parametrize("timeout", [None, 5.0], ids=["compiled", "python"])
async def test_request_after_close_says_the_application_closed_the_client(
    timeout: float | None,
) -> None:
    async with MockServer(rpc_handler) as srv:
        client = await zenws.connect(srv.url)
        assert await client.request("echo", [1]) == [1]
        await client.close()
        n = len(srv.received)
        with pytest.raises(ClientClosed) as ei:
            await client.request("echo", [2], timeout=timeout)
        exc = ei.value
        assert isinstance(exc, ConnectionLost) and exc.sent is False
        assert "closed by the application" in str(exc) and "nothing was sent" in str(exc)
        assert categorize(exc) is Category.FATAL
        why = explain(exc)
        assert why.message.startswith("the client was closed by the application")
        assert "peer" not in why.message + why.suggestion
        assert "new" in why.suggestion and why.docs == "zenws docs errors#client-closed"
        with pytest.raises(ClientClosed):
            client.send({"x": 1})
        assert len(srv.received) == n  # nothing reached the server


async def test_requests_in_flight_at_close_fail_as_closed_by_the_application() -> None:
    async with MockServer(rpc_handler) as srv:
        client = await zenws.connect(srv.url)
        pending = [asyncio.ensure_future(client.request("never", [i])) for i in range(3)]
        await wait_until(lambda: len(srv.received) == 3)
        await client.close()
        for task in pending:
            exc = task.exception()
            assert isinstance(exc, ClientClosed) and exc.sent is True
            assert categorize(exc) is Category.FATAL
            assert "in flight" in explain(exc).message


# -- a plain HTTP 200 answer -----------------------------------------------------------------


async def _http_200(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await read_upgrade(reader)
    writer.write(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 15\r\n\r\n<html>hi</html>"
    )
    await writer.drain()


async def test_http_200_is_not_a_websocket_endpoint_and_fatal() -> None:
    async with raw_server(_http_200) as url:
        with pytest.raises(ConnectError) as ei:
            await zenws.connect(url)
    exc = ei.value
    assert exc.status == 200 and "is not a WebSocket endpoint: HTTP 200" in str(exc)
    assert categorize(exc) is Category.FATAL
    why = explain(exc)
    assert why.message.startswith("not a WebSocket endpoint (HTTP 200)")
    assert "retries" not in why.suggestion and "URL" in why.suggestion
    assert why.docs == "zenws docs errors#not-websocket"


async def test_a_server_turned_plain_http_is_not_retried() -> None:
    # Connected once; the endpoint then answers upgrades with HTTP 200: the reconnect loop
    # gives up after that one attempt instead of retrying with backoff.
    attempts: list[int] = []
    events: list[str] = []
    drop = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        attempts.append(1)
        if len(attempts) > 1:
            return await _http_200(reader, writer)
        await accept_upgrade(reader, writer)
        await drop.wait()  # then the connection ends: TCP closes

    handle = telemetry.attach("connection", lambda e, m, md: events.append(e))
    try:
        async with raw_server(handler) as url:
            client = await zenws.connect(url, retry_delay=0.01, max_backoff=0.05)
            drop.set()
            await wait_until(lambda: client.state is zenws.State.CLOSED)
            await asyncio.sleep(0.2)  # no further attempt follows
            assert len(attempts) == 2
            assert "connection.gave_up" in events
            with pytest.raises(ConnectionLost):
                await client.request("x")
            await client.close()
    finally:
        telemetry.detach(handle)


# -- a wrong Sec-WebSocket-Accept --------------------------------------------------------


async def test_wrong_accept_key_is_named_and_the_following_bytes_are_not_shown() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_upgrade(reader)
        writer.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: "
            + accept_value(b"not-the-key-the-client-sent")
            + b"\r\n\r\n"
            + frame(1, "garbage-after-101")
            + frame(9, b"\x00\xff")
        )
        await writer.drain()
        await asyncio.sleep(1)

    async with raw_server(handler) as url:
        with pytest.raises(ConnectError) as ei:
            await zenws.connect(url)
    exc = ei.value
    text = str(exc)
    assert "the server's Sec-WebSocket-Accept does not match" in text
    assert "garbage" not in text and "refused" not in text and exc.body == b""
    assert categorize(exc) is Category.FATAL
    why = explain(exc)
    assert "Sec-WebSocket-Accept does not match" in why.message
    assert "garbage" not in why.message and "refused" not in why.message
    assert why.docs == "zenws docs errors#handshake-invalid"


# -- a request after the server's CLOSE ---------------------------------------------------


@pytest.mark.parametrize("timeout", [None, 5.0], ids=["compiled", "python"])
async def test_request_after_the_servers_close_frame_names_code_and_reason(
    timeout: float | None,
) -> None:
    closed = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await accept_upgrade(reader, writer)
        writer.write(frame(8, (4001).to_bytes(2, "big") + b"session replaced"))
        await writer.drain()
        await closed.wait()  # keep TCP open: the client sits between CLOSE and disconnect

    async with raw_server(handler) as url:
        client = await zenws.connect(url, reconnect_on_error=False, close_timeout=5)
        try:
            await wait_until(lambda: client.metrics().close_code == 4001)
            with pytest.raises(ConnectionLost) as ei:
                await client.request("x", timeout=timeout)
            exc = ei.value
            assert (
                str(exc) == "the server closed the connection with code 4001 ('session replaced')"
            )
            assert "open" not in str(exc)
            assert exc.code == 4001 and exc.reason == "session replaced" and exc.sent is False
            assert categorize(exc) is Category.RECOVERABLE
            why = explain(exc)
            assert "close 4001" in why.message and "session replaced" in why.message
            with pytest.raises(ConnectionLost) as es:
                client.send("x")
            assert "code 4001" in str(es.value)
        finally:
            closed.set()
            await client.close()
