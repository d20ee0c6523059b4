"""The moving parts of :class:`zenws.testing.FaultProxy`: one proxied TCP connection and its
two one-way pipes.

A :class:`Pipe` reads from one socket and writes to the other.  Its reader stamps every chunk
with the time it may leave (arrival + latency ± jitter, never before the chunk ahead of it:
TCP keeps order) and queues it; its writer waits for that time and writes the chunk in
segments (slicing, bandwidth pacing).  Faults are read from the proxy at each step, so a
change takes effect on data already in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import random
import socket
import struct
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

__all__ = ["Ending", "Faults", "Pipe", "ProxyConnection", "Way"]

#: One direction: ``"upstream"`` (client to server) or ``"downstream"`` (server to client).
Way = Literal["upstream", "downstream"]

#: Bytes read from a socket at once.
READ_SIZE = 65536
#: Bytes a pipe holds (waiting for latency or bandwidth) before it stops reading: the sender
#: then feels TCP back-pressure, as behind a slow link.
MAX_QUEUED = 4 * 1024 * 1024


@dataclass(frozen=True)
class Faults:
    """The faults applied to one direction of every proxied connection (Toxiproxy's toxics).

    The default value is a healthy link.  Numbers that are 0 are off.

    Attributes:
        latency: seconds added to every chunk (Toxiproxy ``latency``).
        jitter: up to this many seconds added to or taken from the latency, uniformly at
            random per chunk (never below 0; order is always kept).
        bandwidth: cap in bytes per second (``bandwidth``); 0 = unlimited.
        slice_size: forward in segments of at most this many bytes, one write each
            (``slicer``); 1 puts every byte in its own TCP segment; 0 = off.
        slice_delay: seconds between two segments of one chunk.
        blackhole: read and discard everything; sockets stay open (``timeout`` with 0): a
            peer's FIN or RST is held back too, and passed on once the blackhole is lifted.
        limit_data: close the connection once this many bytes went through in this
            direction (``limit_data``); 0 = no limit.
        close_delay: seconds before an end of stream (FIN) is passed on (``slow_close``).

    Raises:
        ValueError: a negative number, or a size that is not an int.
    """

    latency: float = 0.0
    jitter: float = 0.0
    bandwidth: float = 0.0
    slice_size: int = 0
    slice_delay: float = 0.0
    blackhole: bool = False
    limit_data: int = 0
    close_delay: float = 0.0

    def __post_init__(self) -> None:
        for name in ("latency", "jitter", "bandwidth", "slice_delay", "close_delay"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"Faults.{name} must be a number >= 0, got {value!r}")
        for name in ("slice_size", "limit_data"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"Faults.{name} must be an int >= 0, got {value!r}")

    def delay(self, rng: random.Random) -> float:
        """Seconds one chunk is held back: latency ± jitter, never negative."""
        if self.jitter:
            return max(0.0, self.latency + rng.uniform(-self.jitter, self.jitter))
        return self.latency


class Ending(enum.Enum):
    """How a proxied connection ended."""

    OPEN = "open"
    CLOSED = "closed"  # FIN to both peers
    RESET = "reset"  # RST to both peers


async def sleep_until(deadline: float) -> None:
    """Sleep until ``time.monotonic()`` reaches ``deadline``, never less.

    A loop's timers may fire early by their resolution (uvloop: whole milliseconds from a
    clock cached per iteration), which would let data through before its latency.
    """
    while (left := deadline - time.monotonic()) > 0:
        await asyncio.sleep(left)


def set_nodelay(writer: asyncio.StreamWriter) -> None:
    """Disable Nagle: a segment of one byte leaves at once."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def reset_socket(writer: asyncio.StreamWriter) -> None:
    """Close with RST instead of FIN (SO_LINGER on with a zero timeout, then abort)."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class Pipe:
    """One direction of a proxied connection: ``src`` is read, ``dst`` written.

    Attributes:
        name: ``"upstream"`` (client to server) or ``"downstream"`` (server to client).
        forwarded: bytes written to ``dst``.
        dropped: bytes discarded (blackhole, half-close, end of the connection).
        writes: write calls on ``dst`` (one per segment).
        shut: the direction was half-closed: nothing more goes through.
        eof: the source ended its stream and the end was passed on (or the pipe shut).
    """

    def __init__(
        self,
        conn: ProxyConnection,
        name: str,
        src: asyncio.StreamReader,
        dst: asyncio.StreamWriter,
        faults: Callable[[], Faults],
        rng: random.Random,
    ) -> None:
        self.conn = conn
        self.name = name
        self.forwarded = 0
        self.dropped = 0
        self.writes = 0
        self.shut = False
        self.eof = False
        self._src = src
        self._dst = dst
        self._faults = faults
        self._rng = rng
        self._queue: deque[tuple[float, bytes]] = deque()  # b"" = end of stream
        self._queued = 0
        self._last_due = 0.0
        self._next_send = 0.0  # bandwidth pacing
        self._wake = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()

    # ---- reading side ----------------------------------------------------------------

    async def read_loop(self) -> None:
        """Read ``src`` until end of stream; an error resets the whole connection."""
        try:
            while True:
                await self._room.wait()
                data = await self._src.read(READ_SIZE)
                if not data:
                    break
                self._accept(data)
        except (ConnectionError, OSError):
            await self._through_blackhole()
            self.conn.reset()  # the peer reset: pass the RST on
            return
        self._push(b"")

    async def _through_blackhole(self) -> None:
        # A blackhole passes nothing on, not even the end of the stream or a reset: the
        # other peer keeps an open, silent socket until the link heals.
        while self._faults().blackhole and not self.shut:
            await asyncio.sleep(0.01)

    def _accept(self, data: bytes) -> None:
        faults = self._faults()
        if self.shut or faults.blackhole:
            self.dropped += len(data)
            return
        self._push(data, faults.delay(self._rng))
        self._queued += len(data)
        if self._queued >= MAX_QUEUED:
            self._room.clear()

    def _push(self, data: bytes, delay: float = 0.0) -> None:
        due = max(self._last_due, time.monotonic() + delay)
        self._last_due = due
        self._queue.append((due, data))
        self._wake.set()

    # ---- writing side ----------------------------------------------------------------

    async def write_loop(self) -> None:
        """Forward queued chunks when due; an error resets the whole connection."""
        try:
            while True:
                while not self._queue:
                    self._wake.clear()
                    await self._wake.wait()
                due, data = self._queue.popleft()
                if not data:
                    await self._pass_eof()
                    return
                self._queued -= len(data)
                if self._queued < MAX_QUEUED:
                    self._room.set()
                await sleep_until(due)
                await self._send(data)
        except (ConnectionError, OSError):
            self.conn.reset()

    async def _send(self, data: bytes) -> None:
        faults = self._faults()
        step = faults.slice_size or len(data)
        if faults.bandwidth:
            step = min(step, max(1, int(faults.bandwidth / 100)))  # 10 ms of data at most
        for off in range(0, len(data), step):
            faults = self._faults()
            if self.shut or faults.blackhole:
                self.dropped += len(data) - off
                return
            piece = data[off : off + step]
            if faults.limit_data:
                piece = piece[: max(0, faults.limit_data - self.forwarded)]
            if faults.bandwidth:
                await self._pace(len(piece), faults.bandwidth)
            if piece:
                self._dst.write(piece)
                self.forwarded += len(piece)
                self.writes += 1
                await self._dst.drain()
            if faults.limit_data and self.forwarded >= faults.limit_data:
                self.dropped += len(data) - off - len(piece)
                self.conn.close()
                return
            if faults.slice_size and off + step < len(data):
                # Yield even without a delay so the receiver reads each segment apart.
                await sleep_until(time.monotonic() + faults.slice_delay)
                await asyncio.sleep(0)

    async def _pace(self, size: int, rate: float) -> None:
        now = time.monotonic()
        if self._next_send > now:
            await sleep_until(self._next_send)
        else:
            self._next_send = now  # an idle link builds up no credit
        self._next_send += size / rate

    async def _pass_eof(self) -> None:
        await self._through_blackhole()
        delay = self._faults().close_delay
        if delay:
            await sleep_until(time.monotonic() + delay)
        if not self.shut:
            self.shutdown()
        self.conn.pipe_ended()

    def discard(self) -> None:
        """Drop what is queued (counted in :attr:`dropped`)."""
        self.dropped += self._queued
        self._queue.clear()
        self._queued = 0
        self._room.set()

    def shutdown(self) -> None:
        """Half-close: drop what is queued, send FIN to ``dst``, discard anything later."""
        self.shut = True
        self.eof = True
        self.discard()
        if self._dst.can_write_eof() and not self._dst.is_closing():
            with contextlib.suppress(OSError, RuntimeError):
                self._dst.write_eof()


class ProxyConnection:
    """One client connection through a :class:`~zenws.testing.FaultProxy` and its upstream.

    Attributes:
        id: 1 for the proxy's first connection, then 2, 3, ...
        upstream: the client-to-server :class:`Pipe` (``forwarded``, ``dropped``, ``writes``).
        downstream: the server-to-client :class:`Pipe`.
        ending: how it ended (:class:`Ending`), ``Ending.OPEN`` while it lasts.
    """

    def __init__(
        self,
        conn_id: int,
        client: tuple[asyncio.StreamReader, asyncio.StreamWriter],
        server: tuple[asyncio.StreamReader, asyncio.StreamWriter],
        faults: Callable[[Way], Faults],
        rng: random.Random,
    ) -> None:
        self.id = conn_id
        self.ending = Ending.OPEN
        self._client = client[1]
        self._server = server[1]
        up, down = (lambda: faults("upstream")), (lambda: faults("downstream"))
        self.upstream = Pipe(self, "upstream", client[0], server[1], up, rng)
        self.downstream = Pipe(self, "downstream", server[0], client[1], down, rng)
        self._tasks: list[asyncio.Task[None]] = []
        self._done = asyncio.Event()

    def __repr__(self) -> str:
        return (
            f"<ProxyConnection {self.id} {self.ending.value} "
            f"up={self.upstream.forwarded} down={self.downstream.forwarded}>"
        )

    @property
    def open(self) -> bool:
        """True until the connection was closed or reset."""
        return self.ending is Ending.OPEN

    def start(self) -> None:
        """Start the four pumps (a reader and a writer per direction)."""
        loop = asyncio.get_running_loop()
        for pipe in (self.upstream, self.downstream):
            self._tasks.append(loop.create_task(pipe.read_loop()))
            self._tasks.append(loop.create_task(pipe.write_loop()))

    async def wait_closed(self) -> None:
        """Return once the connection was closed or reset."""
        await self._done.wait()

    def pipe(self, direction: Way) -> Pipe:
        """The :class:`Pipe` for ``"upstream"`` or ``"downstream"``."""
        return self.upstream if direction == "upstream" else self.downstream

    def half_close(self, direction: Way) -> None:
        """Shut one direction: its receiver gets FIN, later data that way is discarded.

        Args:
            direction: ``"upstream"`` (FIN to the server) or ``"downstream"`` (FIN to the
                client).
        """
        if self.open:
            self.pipe(direction).shutdown()
            self.pipe_ended()

    def pipe_ended(self) -> None:
        """Close the connection once both directions have ended."""
        if self.upstream.eof and self.downstream.eof:
            self.close()

    def close(self) -> None:
        """Close both sockets with FIN (after what was already written)."""
        if self._end(Ending.CLOSED):
            self._client.close()
            self._server.close()

    def reset(self) -> None:
        """Reset both sockets (RST): the peers see ECONNRESET, no FIN."""
        if self._end(Ending.RESET):
            reset_socket(self._client)
            reset_socket(self._server)

    def _end(self, how: Ending) -> bool:
        if not self.open:
            return False
        self.ending = how
        self.upstream.discard()
        self.downstream.discard()
        current = asyncio.current_task()
        for task in self._tasks:
            if task is not current:
                task.cancel()
        self._done.set()
        return True
