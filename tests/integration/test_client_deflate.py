"""permessage-deflate (RFC 7692) negotiated with independent servers, both directions."""

from __future__ import annotations

from typing import Any

import pytest
from _client_servers import AiohttpServer, WebsocketsServer

import zenws


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
