"""Connections that end on a violation leave no memory behind.

1,000 connections in turn, each opened, used (one message each way) and failed in one
of five ways: a single frame over ``max_message_size`` (1009), fragments adding up past
it after a full buffer's worth was assembled (1009), a reserved bit (1002), invalid
UTF-8 (1007), or a TCP reset in the middle of a frame.  After a warm-up, resident memory
(``/proc/self/statm``, after ``gc.collect()`` and ``malloc_trim``) must stay flat: the
listener, its assembler buffer, the read guard and the timers of a failed connection are
all released with it.
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
import os

import zenws
from rawws import accept_upgrade, frame, raw_server, read_frames
from zenws import State
from zenws.fast.frame import decode

LIMIT = 256 * 1024
PER_KIND = 200  # x 5 kinds = 1,000 connections per event loop
WARMUP = 10

KINDS: dict[str, tuple[bytes, int | None]] = {
    "1009 single frame": (frame(2, b"x" * (LIMIT + 1)), 1009),
    "1009 fragments": (
        frame(2, b"x" * (LIMIT // 2), fin=False)
        + frame(0, b"y" * (LIMIT // 2), fin=False)
        + frame(0, b"z" * 1024),
        1009,
    ),
    "1002 reserved bit": (frame(1, "x", rsv2=True), 1002),
    "1007 invalid UTF-8": (frame(1, b"bad \xc3\x28 utf-8"), 1007),
    "TCP reset mid-frame": (frame(2, b"r" * 65536)[:20000], None),
}

_libc = ctypes.CDLL(None)


def _rss() -> int:
    gc.collect()
    if hasattr(_libc, "malloc_trim"):
        _libc.malloc_trim(0)
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def _handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await accept_upgrade(reader, writer)
    buf = b""
    while (res := decode(buf)) is None:  # the client's message names the failure
        data = await reader.read(65536)
        if not data:
            return
        buf += data
    kind = res[0].payload.decode()
    writer.write(frame(1, "echo: " + kind) + KINDS[kind][0])
    await writer.drain()
    if KINDS[kind][1] is None:
        writer.transport.abort()  # RST with a frame half sent
        return
    await read_frames(reader, timeout=10)  # until the client's CLOSE


async def _one(url: str, kind: str) -> None:
    client = await zenws.connect(url, reconnect_on_error=False, max_message_size=LIMIT)
    client.send(kind)
    got = [m.raw async for m in client]  # ends once the failed connection is closed
    assert got == [b"echo: " + kind.encode()]
    loop = asyncio.get_running_loop()
    end = loop.time() + 10
    while client.state is not State.CLOSED:
        assert loop.time() < end
        await asyncio.sleep(0.001)
    assert client.metrics().close_code == KINDS[kind][1], kind


async def test_failed_connections_leave_rss_flat() -> None:
    kinds = list(KINDS)
    async with raw_server(_handle) as url:
        for _ in range(WARMUP):
            for kind in kinds:
                await _one(url, kind)
        before = _rss()
        for _ in range(PER_KIND):
            for kind in kinds:
                await _one(url, kind)
        growth = _rss() - before
    assert growth < 15 * 1024 * 1024, f"RSS grew by {growth / 2**20:.1f} MiB over 1,000 connections"
