"""A redirected upgrade is never followed: the credentials stay with the server they were
meant for, and the redirect is a fatal ConnectError carrying its location."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

import zenws
from rawws import accept_upgrade, raw_server, read_upgrade
from zenws.errors import Category, ConnectError, categorize, explain
from zenws.state import State

REDIRECTS = (301, 302, 303, 307, 308)
SECRETS = {
    "Authorization": "Bearer S3CRET-authorization-value",
    "X-API-Key": "S3CRET-api-key-value",
    "X-BAPI-SIGN": "S3CRET-bapi-sign-value",
}


class Counter:
    """Counts the TCP connections a raw server accepted."""

    def __init__(self) -> None:
        self.n = 0


def redirecting(status: int, location: str, seen: Counter) -> Callable[..., object]:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.n += 1
        await read_upgrade(reader)
        writer.write(
            f"HTTP/1.1 {status} Moved\r\nLocation: {location}\r\n"
            "Set-Cookie: session=S3CRET-cookie-value\r\nContent-Length: 0\r\n\r\n".encode()
        )
        await writer.drain()

    return handler


async def wait_until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


@pytest.mark.asyncio
@pytest.mark.parametrize("status", REDIRECTS)
async def test_redirect_is_a_fatal_connect_error_and_not_followed(status: int) -> None:
    second = Counter()

    async def target(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        second.n += 1
        await accept_upgrade(reader, writer)
        await reader.read()

    first = Counter()
    async with raw_server(target) as target_url:
        location = target_url + "next?sig=S3CRET-location-sig"
        async with raw_server(redirecting(status, location, first)) as url:
            with pytest.raises(ConnectError) as info:
                await zenws.connect(
                    url + "?token=S3CRET-url-token", headers=SECRETS, connect_timeout=5
                )
    exc = info.value
    assert exc.status == status
    assert exc.location == target_url + "next?sig=***"
    assert categorize(exc) is Category.FATAL
    assert first.n == 1
    assert second.n == 0  # the credentials never went to the redirect target
    shown = " ".join(
        [str(exc), repr(exc), repr(exc.headers), str(exc.location), " ".join(explain(exc))]
    )
    assert "S3CRET" not in shown
    assert "redirect" in str(exc) and "not followed" in str(exc)


@pytest.mark.asyncio
async def test_relative_location_is_resolved_against_the_url() -> None:
    seen = Counter()
    async with raw_server(redirecting(307, "/elsewhere?x=1", seen)) as url:
        with pytest.raises(ConnectError) as info:
            await zenws.connect(url)
    assert info.value.location == url + "elsewhere?x=1"
    assert info.value.headers["location"] == url + "elsewhere?x=1"


@pytest.mark.asyncio
@pytest.mark.parametrize("status", (302, 308))
async def test_reconnect_loop_gives_up_at_once_on_a_redirect(status: int) -> None:
    second = Counter()

    async def target(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        second.n += 1
        await accept_upgrade(reader, writer)
        await reader.read()

    first = Counter()
    events: list[tuple[str, dict[str, object]]] = []

    def on_event(event: str, measurements: dict[str, object], meta: dict[str, object]) -> None:
        events.append((event, meta))

    drop = asyncio.Event()
    async with raw_server(target) as target_url:
        redirect = redirecting(status, target_url, Counter())

        async def flaky(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            first.n += 1
            if first.n == 1:  # the first connection opens, then drops
                await accept_upgrade(reader, writer)
                await drop.wait()
                writer.transport.abort()
                return
            await redirect(reader, writer)

        async with raw_server(flaky) as url:
            handle = zenws.telemetry.attach("connection", on_event)
            try:
                client = await zenws.connect(
                    url, headers=SECRETS, retry_delay=0.01, max_backoff=0.05, retry_count=50
                )
                drop.set()
                await wait_until(lambda: client.state is State.CLOSED)
            finally:
                handle.detach()
    assert first.n == 2  # one connection, one refused reconnect, no further attempt
    assert second.n == 0
    gave_up = [meta for event, meta in events if event == "connection.gave_up"]
    assert len(gave_up) == 1
    assert str(status) in str(gave_up[0]["error"]) and "S3CRET" not in str(gave_up[0])


@pytest.mark.asyncio
async def test_mock_server_redirect_next_as_documented() -> None:
    from zenws.testing import MockServer

    async with MockServer() as server, MockServer() as elsewhere:
        server.redirect_next(elsewhere.url, status=307)
        with pytest.raises(ConnectError) as info:
            await zenws.connect(server.url, headers={"Authorization": "Bearer t"})
        assert info.value.status == 307 and info.value.location == elsewhere.url
        assert elsewhere.upgrade_requests == []  # nothing was sent there
        with pytest.raises(ValueError, match="redirect status"):
            server.redirect_next(elsewhere.url, status=200)
        async with await zenws.connect(server.url):  # only the next upgrade was redirected
            pass
