"""Helpers shared by the client integration tests: telemetry event records, polling waits and
the server side of a bare WebSocket upgrade.

The ``events`` fixture that fills an ``Event`` list lives in ``tests/integration/conftest.py``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import time
from collections.abc import Callable
from typing import Any

import zenws.client
from zenws.state import State

#: (monotonic ns on arrival, event name, measurements, metadata) of one telemetry event.
Event = tuple[int, str, dict[str, Any], dict[str, Any]]


def named(events: list[Event], name: str) -> list[Event]:
    return [ev for ev in events if ev[1] == name]


async def wait_until(cond: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.005)


async def wait_open(client: zenws.client.Client, epoch: int, timeout: float = 5.0) -> None:
    await wait_until(lambda: client.epoch >= epoch and client.state is State.OPEN, timeout)


#: RFC 6455 section 1.3: the GUID the server appends to Sec-WebSocket-Key.
WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


async def accept_upgrade(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, after: bytes = b""
) -> None:
    """Read the client's upgrade request and answer 101 (with ``after`` in the same write)."""
    head = await reader.readuntil(b"\r\n\r\n")
    key = next(
        line.split(b":", 1)[1].strip()
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"sec-websocket-key:")
    )
    accept = base64.b64encode(hashlib.sha1(key + WS_GUID).digest())
    writer.write(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n" + after
    )
