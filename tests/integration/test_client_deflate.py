"""permessage-deflate (RFC 7692) negotiated with independent servers, both directions."""

from __future__ import annotations

import asyncio
import base64
import random
from typing import Any

import pytest
import websockets
from _client_servers import AiohttpServer, WebsocketsServer
from websockets.asyncio.server import serve
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory

import zenws
import zenws.config


@pytest.mark.parametrize("make", [lambda: WebsocketsServer(compression="deflate"), AiohttpServer])
async def test_deflate_round_trips(make: Any) -> None:
    async with make() as srv:
        client = await zenws.connect(srv.url, compression="deflate")
        lst = client._listener
        assert lst is not None and lst.deflate
        blob = "abc" * 50_000
        assert await client.request("echo", {"blob": blob}) == {"blob": blob}
        m = client.metrics()
        # 150 kB each way travelled compressed (rsv1 frames on the wire)
        assert m.bytes_out < 20_000 and m.bytes_in < 20_000
        for i in range(50):  # context takeover across many messages
            assert await client.request("echo", [i, "x" * i]) == [i, "x" * i]
        await client.close()


async def test_no_deflate_when_server_declines() -> None:
    async with WebsocketsServer(compression=None) as srv:
        client = await zenws.connect(srv.url, compression="deflate")
        assert client._listener is not None and not client._listener.deflate
        assert await client.request("echo", ["plain"]) == ["plain"]
        await client.close()


async def test_deflate_not_offered_by_default() -> None:
    async with WebsocketsServer(compression="deflate") as srv:
        client = await zenws.connect(srv.url)
        assert "Sec-WebSocket-Extensions" not in srv.headers[-1]
        assert client._listener is not None and not client._listener.deflate
        await client.close()


# -- negotiated parameters (RFC 7692 §7.1) against a python-websockets echo server ------


class _EchoServer:
    """websockets echo server with an explicit permessage-deflate factory; keeps the
    request/response Sec-WebSocket-Extensions headers of every connection."""

    def __init__(self, factory: Any, rewrite: str | None = None) -> None:
        self.factory = factory
        self.rewrite = rewrite
        self.seen: list[tuple[str | None, str | None]] = []
        self.errors: list[websockets.ConnectionClosed] = []

    async def __aenter__(self) -> _EchoServer:
        async def handler(ws: Any) -> None:
            self.seen.append(
                (
                    ws.request.headers.get("Sec-WebSocket-Extensions"),
                    ws.response.headers.get("Sec-WebSocket-Extensions"),
                )
            )
            try:
                async for msg in ws:
                    await ws.send(msg)
            except websockets.ConnectionClosed as exc:
                self.errors.append(exc)

        def process_response(conn: Any, request: Any, response: Any) -> None:
            if self.rewrite is not None:
                del response.headers["Sec-WebSocket-Extensions"]
                response.headers["Sec-WebSocket-Extensions"] = self.rewrite

        self.server = await serve(
            handler,
            "127.0.0.1",
            0,
            compression=None,
            extensions=[self.factory],
            max_size=None,
            ping_interval=None,
            process_response=process_response,
        )
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self.server.close()
        await self.server.wait_closed()

    @property
    def url(self) -> str:
        port = next(iter(self.server.sockets)).getsockname()[1]
        return f"ws://127.0.0.1:{port}/"


async def _echo(client: Any, text: str) -> int:
    """Send ``text``, wait for the echo; return the wire bytes the send took."""
    before = client.metrics().bytes_out
    client.send(text)
    msg = await asyncio.wait_for(client.__anext__(), 10)
    assert msg.text == text
    return int(client.metrics().bytes_out - before)


# 4 KiB of incompressible text repeated: compressible only through back-references
# 4 KiB away, which a 512-byte (9-bit) window cannot hold.
_BLOCK = base64.b64encode(random.Random(7).randbytes(3072)).decode()
_REPEATED = _BLOCK * 8


async def test_client_no_context_takeover_with_9_bit_window() -> None:
    # Autobahn 13.5: the server accepts only an offer with client_no_context_takeover
    # and answers client_no_context_takeover; client_max_window_bits=9.
    factory = ServerPerMessageDeflateFactory(
        client_no_context_takeover=True, client_max_window_bits=9
    )
    async with _EchoServer(factory) as srv:
        client = await zenws.connect(srv.url, compression={"client_no_context_takeover": True})
        offer, answer = srv.seen[-1]
        assert offer == "permessage-deflate; client_no_context_takeover; client_max_window_bits"
        assert answer is not None and "client_max_window_bits=9" in answer
        sizes = [await _echo(client, _REPEATED) for _ in range(3)]
        # the server decodes with a 512-byte window: every message got through intact,
        # so nothing referred further back; and no message refers to the previous one
        assert sizes[0] == sizes[1] == sizes[2] > len(_REPEATED) // 2
        await client.close()
        assert not [e for e in srv.errors if e.rcvd is None or e.rcvd.code != 1000]


async def test_offered_client_no_context_takeover_is_kept_when_not_answered() -> None:
    # RFC 7692 §7.1.1.1: offering client_no_context_takeover promises a reset per
    # message even when the server's answer does not repeat it.
    plain = "permessage-deflate"  # the answer as a server that ignores the hint sends it
    async with _EchoServer(ServerPerMessageDeflateFactory(), rewrite=plain) as srv:
        client = await zenws.connect(srv.url, compression={"client_no_context_takeover": True})
        text = _BLOCK[:1000]
        first, second = await _echo(client, text), await _echo(client, text)
        assert first == second
        await client.close()
    async with _EchoServer(ServerPerMessageDeflateFactory()) as srv:
        client = await zenws.connect(srv.url, compression="deflate")
        first, second = await _echo(client, text), await _echo(client, text)
        assert second < first // 4  # context takeover: the repeat is a back-reference
        await client.close()


async def test_server_parameters_requested() -> None:
    opts = zenws.config.DeflateOptions(
        server_no_context_takeover=True, server_max_window_bits=10, client_max_window_bits=12
    )
    async with _EchoServer(ServerPerMessageDeflateFactory()) as srv:
        client = await zenws.connect(srv.url, compression=opts)
        offer, answer = srv.seen[-1]
        assert offer == (
            "permessage-deflate; server_no_context_takeover; server_max_window_bits=10; "
            "client_max_window_bits=12"
        )
        assert answer is not None
        assert "server_no_context_takeover" in answer and "server_max_window_bits=10" in answer
        for _ in range(3):
            await _echo(client, _REPEATED)
        assert client.metrics().bytes_in < 3 * len(_REPEATED)  # it was compressed
        await client.close()


@pytest.mark.parametrize(
    ("options", "answer"),
    [
        ({"server_no_context_takeover": True}, "permessage-deflate"),
        ({"server_max_window_bits": 10}, "permessage-deflate; server_max_window_bits=12"),
        ({"client_max_window_bits": None}, "permessage-deflate; client_max_window_bits=10"),
        ({"client_max_window_bits": 10}, "permessage-deflate; client_max_window_bits=11"),
    ],
)
async def test_answer_contradicting_the_offer_fails(options: dict[str, Any], answer: str) -> None:
    async with _EchoServer(ServerPerMessageDeflateFactory(), rewrite=answer) as srv:
        with pytest.raises(zenws.ConnectError, match="permessage-deflate") as ei:
            await zenws.connect(
                srv.url, compression=options, reconnect_on_error=False, retry_count=0
            )
        assert ei.value.status == 101


async def test_compression_level() -> None:
    async with _EchoServer(ServerPerMessageDeflateFactory()) as srv:
        stored = await zenws.connect(srv.url, compression={"level": 0})
        default = await zenws.connect(srv.url, compression="deflate")
        fast = await zenws.connect(srv.url, compression=zenws.config.DeflateOptions(level=1))
        raw = len(_REPEATED)
        assert await _echo(stored, _REPEATED) > raw  # level 0: stored blocks
        assert await _echo(default, _REPEATED) < raw // 4
        assert await _echo(fast, _REPEATED) < raw // 4
        assert srv.seen[0][0] == srv.seen[1][0]  # the level is not part of the offer
        for c in (stored, default, fast):
            await c.close()
