"""The server side of WebSocket written by hand on a bare asyncio TCP server.

Hostile-server tests need to send what no polite server sends (bytes in the same write
as the 101 response, reserved bits, redirects, stalls), so they do not use picows or
``MockServer``'s normal path. :func:`raw_server` starts a TCP server on 127.0.0.1 and runs
one coroutine per accepted connection; :func:`accept_upgrade` answers the upgrade;
:func:`frame` builds any frame, valid or not; :func:`read_frames` decodes what the client
sent.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from zenws.fast.frame import decode, encode

#: RFC 6455 section 1.3: the GUID the server appends to Sec-WebSocket-Key.
WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def read_upgrade(reader: asyncio.StreamReader) -> tuple[bytes, dict[bytes, bytes]]:
    """Read the client's upgrade request: (request line, lower-cased header names -> values)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    headers = {}
    for line in lines[1:]:
        if b":" in line:
            name, value = line.split(b":", 1)
            headers[name.strip().lower()] = value.strip()
    return lines[0], headers


def accept_value(key: bytes) -> bytes:
    """The Sec-WebSocket-Accept answer to a Sec-WebSocket-Key."""
    return base64.b64encode(hashlib.sha1(key + WS_GUID).digest())


async def accept_upgrade(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, after: bytes = b""
) -> dict[bytes, bytes]:
    """Read the client's upgrade request and answer 101 (with ``after`` in the same write).

    Returns the request's headers (lower-cased names).
    """
    _, headers = await read_upgrade(reader)
    writer.write(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Accept: "
        + accept_value(headers[b"sec-websocket-key"])
        + b"\r\n\r\n"
        + after
    )
    return headers


def frame(opcode: int, payload: bytes | str = b"", **flags: Any) -> bytes:
    """One server frame, unmasked, with no validity checks (``fin``, ``rsv1..3``, ``mask``)."""
    raw = payload.encode() if isinstance(payload, str) else payload
    return encode(opcode, raw, strict=False, **flags)


async def read_frames(reader: asyncio.StreamReader, timeout: float = 5.0) -> list[Any]:
    """Decode the client's frames until it sends CLOSE, closes TCP or ``timeout`` passes."""
    frames: list[Any] = []
    buf = b""
    with contextlib.suppress(asyncio.TimeoutError, ConnectionError):
        while True:
            data = await asyncio.wait_for(reader.read(65536), timeout)
            if not data:
                break
            buf += data
            while (res := decode(buf)) is not None:
                fr, used = res
                buf = buf[used:]
                frames.append(fr)
                if fr.opcode == 8:
                    return frames
    return frames


@contextlib.asynccontextmanager
async def raw_server(handler: Handler) -> AsyncIterator[str]:
    """A TCP server on 127.0.0.1 running ``handler`` per connection; yields its ws:// URL."""
    tasks: set[asyncio.Task[None]] = set()

    async def run(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)
        try:
            with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
                await handler(reader, writer)
        finally:
            writer.close()
            tasks.discard(task)

    server = await asyncio.start_server(run, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"ws://127.0.0.1:{port}/"
    finally:
        server.close()
        for task in list(tasks):
            task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.gather(*tasks, return_exceptions=True)
