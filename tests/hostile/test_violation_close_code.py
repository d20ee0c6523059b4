"""The close code zenws sends after a violation is visible to the user.

zenws fails the connection with 1002 (protocol error), 1007 (invalid UTF-8) or 1009
(message too big).  That code and its reason must reach the user through the exception
of every pending request, ``metrics().close_code`` and a ``protocol.error`` telemetry
event; a violation that comes with the 101 response (nothing before it) makes
``connect()`` raise a protocol error carrying the code.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import zenws
from rawws import accept_upgrade, frame, raw_server, read_frames
from zenws import State
from zenws.errors import Category, ConnectError, ProtocolError, categorize, explain

LIMIT = 4096

# The bad bytes, the close code zenws must send and a word of its reason.
VIOLATIONS: dict[str, tuple[bytes, int, str]] = {
    "RSV2": (frame(1, "x", rsv2=True), 1002, "RSV2"),
    "reserved opcode": (frame(3, b""), 1002, "opcode"),
    "invalid UTF-8": (frame(1, b"ok \xff ok"), 1007, "UTF-8"),
    "oversized frame": (frame(2, b"x" * (LIMIT + 1)), 1009, str(LIMIT)),
    "oversized fragments": (
        frame(2, b"x" * LIMIT, fin=False) + frame(0, b"x" * 8),
        1009,
        str(LIMIT),
    ),
}


class Peer:
    """Answers the upgrade, waits for the client's request, then sends ``bad``."""

    def __init__(self, bad: bytes, *, with_101: bool = False) -> None:
        self.bad = bad
        self.with_101 = with_101
        self.frames: list[Any] = []
        self.done = asyncio.Event()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            if self.with_101:
                await accept_upgrade(reader, writer, self.bad)
            else:
                await accept_upgrade(reader, writer)
                while not any(f.opcode == 1 for f in self.frames):  # the request
                    self.frames.extend(await read_frames_one(reader))
                writer.write(self.bad)
            self.frames.extend(await read_frames(reader, timeout=10))
        finally:
            self.done.set()


async def read_frames_one(reader: asyncio.StreamReader) -> list[Any]:
    from zenws.fast.frame import decode

    buf = b""
    while True:
        data = await reader.read(65536)
        if not data:
            raise ConnectionError("client went away")
        buf += data
        res = decode(buf)
        if res is not None:
            assert res[1] == len(buf)
            return [res[0]]


def close_code_of(frames: list[Any]) -> int:
    assert frames and frames[-1].opcode == 8, frames
    return int.from_bytes(frames[-1].payload[:2], "big")


async def _wait(pred: Any, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not pred():
        assert loop.time() < end, "condition not reached"
        await asyncio.sleep(0.005)


@pytest.mark.parametrize("name", list(VIOLATIONS))
async def test_code_reaches_pending_requests_metrics_and_telemetry(name: str) -> None:
    bad, code, word = VIOLATIONS[name]
    peer = Peer(bad)
    events: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
    handle = zenws.telemetry.attach("protocol.error", lambda e, m, md: events.append((e, m, md)))
    try:
        async with raw_server(peer.handle) as url:
            client = await zenws.connect(url, reconnect_on_error=False, max_message_size=LIMIT)
            with pytest.raises(zenws.ConnectionLost) as ei:
                await client.request("public/get_time", timeout=10)
            await asyncio.wait_for(peer.done.wait(), 10)
            await _wait(lambda: client.state is State.CLOSED)
    finally:
        zenws.telemetry.detach(handle)
    assert close_code_of(peer.frames) == code  # what went on the wire
    exc = ei.value
    assert exc.code == code and word in exc.reason
    assert isinstance(exc.__cause__, ProtocolError) and exc.__cause__.close_code == code
    m = client.metrics()
    assert m.close_code == code and word in m.close_reason
    assert [(e, m_["code"]) for e, m_, _ in events] == [("protocol.error", code)]
    assert word in events[0][2]["reason"] and events[0][2]["epoch"] == 1


@pytest.mark.parametrize("name", list(VIOLATIONS))
async def test_violation_with_the_101_makes_connect_raise_a_protocol_error(name: str) -> None:
    bad, code, word = VIOLATIONS[name]
    peer = Peer(bad, with_101=True)
    async with raw_server(peer.handle) as url:
        client = zenws.Client(
            zenws.Config.new(url, reconnect_on_error=False, max_message_size=LIMIT)
        )
        with pytest.raises(ConnectError) as ei:
            await client.start()
        await asyncio.wait_for(peer.done.wait(), 10)
    assert close_code_of(peer.frames) == code
    exc = ei.value
    assert isinstance(exc, ProtocolError) and exc.close_code == code
    assert word in str(exc) and str(code) in str(exc)
    assert categorize(exc) is Category.RECOVERABLE
    assert explain(exc).docs.endswith(f"#close-{code}")
    assert client.state is State.CLOSED
    m = client.metrics()
    assert m.close_code == code and word in m.close_reason
