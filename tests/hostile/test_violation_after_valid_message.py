"""Valid messages and a violation in the same read as the 101 response.

The original Autobahn fuzzing server writes a case's frames as soon as the connection
opens, so a valid message and the invalid frame after it arrive with the 101 response
(cases 3.2, 3.3, 4.1.3, 4.1.4, 4.2.3-4.2.5, 5.15).  Through the public path
(``await zenws.connect()``, then ``async for`` or ``on_message``) the connection must
open, every valid message before the violation must be delivered and its answer must
reach the server before zenws' CLOSE 1002, and the code must be visible (metrics).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import zenws
from rawws import accept_upgrade, frame, raw_server, read_frames
from waits import wait_until
from zenws import State

PING = frame(9, b"ping")

# What each Autobahn case sends in one write, and the messages before its violation.
CASES: dict[str, tuple[bytes, list[str]]] = {
    "3.2 RSV2 after a valid message": (
        frame(1, "Hello, world!") + frame(1, "Hello, world!", rsv2=True) + PING,
        ["Hello, world!"],
    ),
    "3.3 RSV1+RSV2 after a valid message": (
        frame(1, "Hello, world!") + frame(1, "Hello, world!", rsv1=True, rsv2=True) + PING,
        ["Hello, world!"],
    ),
    "4.1.3 reserved data opcode 5": (
        frame(1, "Hello, world!") + frame(5, b"") + PING,
        ["Hello, world!"],
    ),
    "4.1.4 reserved data opcode 6 with payload": (
        frame(1, "Hello, world!") + frame(6, b"hello") + PING,
        ["Hello, world!"],
    ),
    "4.2.3 reserved control opcode 13": (
        frame(1, "Hello, world!") + frame(13, b"") + PING,
        ["Hello, world!"],
    ),
    "4.2.4 reserved control opcode 14 with payload": (
        frame(1, "Hello, world!") + frame(14, b"hello") + PING,
        ["Hello, world!"],
    ),
    "4.2.5 reserved control opcode 15": (
        frame(1, "Hello, world!") + frame(15, b"") + PING,
        ["Hello, world!"],
    ),
    "5.15 continuation with nothing to continue": (
        frame(1, "fragment1", fin=False)
        + frame(0, "fragment2")
        + frame(0, "fragment3", fin=False)
        + frame(1, "fragment4"),
        ["fragment1fragment2"],
    ),
    "several messages before the violation": (
        frame(1, "one")
        + PING
        + frame(2, b"two")
        + frame(1, "thr", fin=False)
        + frame(0, "ee")
        + frame(1, "x", rsv3=True),
        ["one", "two", "three"],
    ),
}


class Peer:
    """Raw server: 101 + ``after`` in one write, then records what the client sends."""

    def __init__(self, after: bytes) -> None:
        self.after = after
        self.frames: list[Any] = []
        self.done = asyncio.Event()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await accept_upgrade(reader, writer, self.after)
            self.frames.extend(await read_frames(reader, timeout=10))
        finally:
            self.done.set()


def _text(m: zenws.Message) -> str:
    return m.raw.decode()


@pytest.mark.parametrize("consumer", ["on_message", "async_for"])
@pytest.mark.parametrize("case", list(CASES))
async def test_valid_messages_are_delivered_and_answered_before_the_1002(
    case: str, consumer: str
) -> None:
    wire, expected = CASES[case]
    peer = Peer(wire)
    got: list[str] = []
    async with raw_server(peer.handle) as url:
        client = await zenws.connect(url, reconnect_on_error=False)
        assert client.state is State.OPEN  # the handshake itself was fine

        def echo(m: zenws.Message) -> None:
            got.append(_text(m))
            client.send(m.raw if m.kind is zenws.MessageKind.BINARY else _text(m))

        if consumer == "on_message":
            client.on_message = echo  # what came with the 101 is handed over first
        else:
            async for msg in client:  # ends when the failed connection is closed
                echo(msg)
        await asyncio.wait_for(peer.done.wait(), 10)
        await wait_until(lambda: client.state is State.CLOSED)
    assert got == expected
    # read_frames stops at the client's CLOSE: every answer went out before it.
    assert [f.payload.decode() for f in peer.frames if f.opcode in (1, 2)] == expected
    assert peer.frames[-1].opcode == 8
    assert int.from_bytes(peer.frames[-1].payload[:2], "big") == 1002
    m = client.metrics()
    assert m.close_code == 1002 and m.close_reason


async def test_a_long_tail_after_the_violation_is_never_parsed() -> None:
    # Far more bytes follow the violating frame in the 101's read than one frame may
    # hold: picows must never parse them (it would fail the connection on the reserved
    # opcode before delivering the valid message).  The guard announces to picows only
    # the bytes before the violation; it never rewrites picows' buffer.
    wire = frame(1, "Hello, world!") + frame(5, b"") + frame(1, "x" * 70_000) + PING
    peer = Peer(wire)
    got: list[str] = []
    async with raw_server(peer.handle) as url:
        client = await zenws.connect(url, reconnect_on_error=False, max_message_size=1024)

        def echo(m: zenws.Message) -> None:
            got.append(_text(m))
            client.send(_text(m))

        client.on_message = echo
        await asyncio.wait_for(peer.done.wait(), 10)
        await wait_until(lambda: client.state is State.CLOSED)
    assert got == ["Hello, world!"]
    assert [f.payload.decode() for f in peer.frames if f.opcode == 1] == ["Hello, world!"]
    assert peer.frames[-1].opcode == 8
    assert int.from_bytes(peer.frames[-1].payload[:2], "big") == 1002
    assert client.metrics().close_reason == "reserved data opcode"
