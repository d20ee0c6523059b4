"""Messages over ``max_message_size`` are refused with CLOSE 1009 and bounded memory.

A single oversized frame, a message whose fragments add up past the limit and a
deflate bomb (permessage-deflate negotiated by the raw server) all end with a CLOSE
1009 on the wire whose reason names the configured limit.  The server here keeps
writing after the violation: the CLOSE must still reach it (a socket closed with unread
data would reset the connection).  Peak RSS growth while a 1 GiB bomb is refused stays
near the limit (VmHWM, reset through /proc/self/clear_refs before each run).
"""

from __future__ import annotations

import asyncio
import re
import zlib
from typing import Any

import pytest

import zenws
from rawws import accept_value, frame, raw_server, read_frames, read_upgrade
from zenws import State
from zenws.errors import ProtocolConnectError

MIB = 1 << 20


def _bomb(size_mib: int) -> bytes:
    # A raw deflate stream of `size_mib` MiB of zeros (about 1 KiB per MiB): the sync-
    # flushed block of the second MiB repeats unchanged, so it is built without
    # compressing the whole thing; the trailing 00 00 ff ff goes (RFC 7692 §7.2.1).
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    first, again = (c.compress(bytes(MIB)) + c.flush(zlib.Z_SYNC_FLUSH) for _ in range(2))
    return (first + again * (size_mib - 1))[:-4]


def _vmhwm() -> int:
    with open("/proc/self/status") as f:
        m = re.search(r"VmHWM:\s+(\d+) kB", f.read())
    assert m is not None
    return int(m.group(1)) * 1024


def _reset_vmhwm() -> None:
    # Linux: writing 5 to clear_refs resets the peak RSS to the current RSS.
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


class Peer:
    """Answers the upgrade (optionally agreeing to permessage-deflate), then writes the
    frames one by one, each as soon as the socket drains, and records the client's."""

    def __init__(self, frames: list[bytes], *, deflate: bool = False) -> None:
        self.frames_out = frames
        self.deflate = deflate
        self.frames: list[Any] = []
        self.done = asyncio.Event()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            _, headers = await read_upgrade(reader)
            ext = b"Sec-WebSocket-Extensions: permessage-deflate\r\n" if self.deflate else b""
            writer.write(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Accept: "
                + accept_value(headers[b"sec-websocket-key"])
                + b"\r\n"
                + ext
                + b"\r\n"
            )
            reading = asyncio.ensure_future(read_frames(reader, timeout=30))
            try:
                for f in self.frames_out:
                    writer.write(f)
                    await writer.drain()
            except ConnectionError:
                pass
            self.frames.extend(await reading)
        finally:
            self.done.set()


async def _run(peer: Peer, limit: int) -> zenws.Client:
    async with raw_server(peer.handle) as url:
        client = zenws.Client(
            zenws.Config.new(
                url,
                reconnect_on_error=False,
                max_message_size=limit,
                compression="deflate" if peer.deflate else None,
            )
        )
        try:
            await client.start()
        except ProtocolConnectError as exc:
            # The first frames came in the same read as the 101 response.
            assert exc.close_code == 1009
        await asyncio.wait_for(peer.done.wait(), 60)
        loop = asyncio.get_running_loop()
        end = loop.time() + 30
        while client.state is not State.CLOSED:
            assert loop.time() < end
            await asyncio.sleep(0.01)
    return client


def _check_1009(peer: Peer, client: zenws.Client, limit: int) -> None:
    assert peer.frames and peer.frames[-1].opcode == 8, peer.frames
    close = peer.frames[-1].payload
    assert int.from_bytes(close[:2], "big") == 1009
    assert f"max_message_size {limit}" in close[2:].decode()  # the limit, not what was left
    m = client.metrics()
    assert m.close_code == 1009 and str(limit) in m.close_reason


async def test_fragments_adding_up_past_the_limit_get_1009_while_the_server_writes() -> None:
    limit = 1 * MIB
    part = b"x" * (256 * 1024)
    # 16 MiB in 64 fragments: far more than the socket buffers hold when zenws fails.
    frames = [frame(2, part, fin=False)] + [frame(0, part, fin=False) for _ in range(62)]
    peer = Peer([*frames, frame(0, part)])
    client = await _run(peer, limit)
    _check_1009(peer, client, limit)
    assert client.metrics().bytes_in <= limit  # refused at the fragment header


async def test_single_oversized_frame_gets_1009() -> None:
    limit = 1 * MIB
    peer = Peer([frame(2, b"x" * (limit + 1))])
    client = await _run(peer, limit)
    _check_1009(peer, client, limit)


@pytest.mark.parametrize("fragments", [1, 8])
async def test_deflate_bomb_of_1_gib_is_refused_with_bounded_memory(fragments: int) -> None:
    limit = 64 * MIB
    bomb = _bomb(1024)
    n = -(-len(bomb) // fragments)
    parts = [bomb[i : i + n] for i in range(0, len(bomb), n)]
    frames = [
        frame(2 if i == 0 else 0, p, fin=i == len(parts) - 1, rsv1=i == 0)
        for i, p in enumerate(parts)
    ]
    peer = Peer(frames, deflate=True)
    _reset_vmhwm()
    base = _vmhwm()
    client = await _run(peer, limit)
    growth = _vmhwm() - base
    _check_1009(peer, client, limit)
    # The limit, one inflate step (limit / 16) and the bomb itself (1 MiB): not 2x.
    assert growth < 1.5 * limit, f"peak RSS grew by {growth / MIB:.0f} MiB"


async def test_fragmented_deflate_bomb_reason_names_the_configured_limit() -> None:
    limit = 268_435_456
    bomb = _bomb(1024)
    cut = len(_bomb(200)) + 4  # the first fragment inflates to 200 MiB: under the limit
    peer = Peer([frame(2, bomb[:cut], fin=False, rsv1=True), frame(0, bomb[cut:])], deflate=True)
    _reset_vmhwm()
    base = _vmhwm()
    client = await _run(peer, limit)
    growth = _vmhwm() - base
    _check_1009(peer, client, limit)
    assert growth < 1.5 * limit, f"peak RSS grew by {growth / MIB:.0f} MiB"


async def test_compressed_message_near_the_limit_is_delivered_with_one_copy() -> None:
    limit = 64 * MIB
    size = limit - 1000
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    payload = (c.compress(bytes(size)) + c.flush(zlib.Z_SYNC_FLUSH))[:-4]
    peer = Peer(
        [frame(2, payload[:1000], fin=False, rsv1=True), frame(0, payload[1000:])], deflate=True
    )
    got: list[int] = []
    async with raw_server(peer.handle) as url:
        _reset_vmhwm()
        base = _vmhwm()
        client = await zenws.connect(
            url, reconnect_on_error=False, max_message_size=limit, compression="deflate"
        )
        async for msg in client:
            got.append(len(msg))
            break
        growth = _vmhwm() - base
        await client.close()
    assert got == [size]
    assert growth < 1.5 * limit, f"peak RSS grew by {growth / MIB:.0f} MiB"
