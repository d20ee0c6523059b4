"""URL userinfo never reaches the Host header: it is sent as ``Authorization: Basic`` and
stays redacted in reprs, exceptions and logs."""

from __future__ import annotations

import asyncio
import base64

import pytest

import zenws
from rawws import accept_upgrade, raw_server
from zenws.errors import ConnectError


async def capture_upgrade(userinfo: str, **options: object) -> tuple[dict[bytes, bytes], str]:
    """Connect with ``userinfo@`` in the URL; return the request headers and the client repr."""
    seen: list[dict[bytes, bytes]] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await accept_upgrade(reader, writer))
        await reader.read()

    async with raw_server(handler) as url:
        with_userinfo = url.replace("ws://", f"ws://{userinfo}@")
        # the raw server never answers CLOSE: do not wait for it
        async with await zenws.connect(with_userinfo, close_timeout=0.2, **options) as client:
            shown = f"{client!r} {client.config!r}"
    return seen[0], shown


@pytest.mark.asyncio
async def test_userinfo_becomes_basic_auth_and_host_is_host_port(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(1)
    headers, shown = await capture_upgrade("trader:S3CRET")
    host = headers[b"host"].decode()
    assert "@" not in host and "S3CRET" not in host and host.startswith("127.0.0.1:")
    assert headers[b"authorization"] == b"Basic " + base64.b64encode(b"trader:S3CRET")
    assert "S3CRET" not in shown and "trader:***@" in shown
    expected_b64 = base64.b64encode(b"trader:S3CRET").decode()
    for record in caplog.records:
        text = record.getMessage()
        assert "S3CRET" not in text and expected_b64 not in text, text


@pytest.mark.asyncio
async def test_userinfo_is_percent_decoded() -> None:
    headers, _ = await capture_upgrade("tr%40der:p%3As%2Fs")
    assert headers[b"authorization"] == b"Basic " + base64.b64encode(b"tr@der:p:s/s")
    assert b"%" not in headers[b"host"] and b"@" not in headers[b"host"]


@pytest.mark.asyncio
async def test_explicit_authorization_header_wins_over_userinfo() -> None:
    headers, _ = await capture_upgrade("trader:S3CRET", headers={"Authorization": "Bearer T"})
    assert headers[b"authorization"] == b"Bearer T"
    assert b"@" not in headers[b"host"]


@pytest.mark.asyncio
async def test_userinfo_never_in_connect_error_text() -> None:
    async def refuse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()

    async with raw_server(refuse) as url:
        with pytest.raises(ConnectError) as info:
            await zenws.connect(url.replace("ws://", "ws://trader:S3CRET@"))
    text = f"{info.value} {info.value!r} {info.value.url} {' '.join(zenws.explain(info.value))}"
    assert info.value.status == 403
    assert "S3CRET" not in text
