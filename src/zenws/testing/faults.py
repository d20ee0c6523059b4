"""``FaultProxy``: a TCP proxy on loopback that puts network faults between a client and any
server (a :class:`~zenws.testing.MockServer`, a simulator, another library's server).

It offers Toxiproxy's set of faults in pure asyncio (no ``tc netem``, no external daemon):
latency with jitter, a bandwidth cap, slicing into small segments, a blackhole that keeps the
sockets open, TCP reset, half-close, a data limit and a slow close.  Each is set per direction
(``"upstream"`` = client to server, ``"downstream"`` = server to client, or ``"both"``), at
construction or at any moment, and applies to the open connections and to the later ones::

    async with MockServer() as server, FaultProxy(server.url, latency=0.05, jitter=0.02) as proxy:
        client = await zenws.connect(proxy.url)
        proxy.set("downstream", slice_size=1)      # the server's bytes arrive one by one
        proxy.blackhole()                           # silence, sockets open
        proxy.heal()                                # every fault off
        proxy.reset_all()                           # RST to both peers of every connection

The proxy is transparent to TLS (bytes are relayed, never decrypted): put it in front of a
``wss://`` server and ``proxy.url`` is ``wss://`` too.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import enum
import random
import time
from collections import Counter
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from ._faultpipe import Ending, Faults, Pipe, ProxyConnection, Way, reset_socket, set_nodelay

__all__ = [
    "Direction",
    "Ending",
    "FaultProxy",
    "Faults",
    "Pipe",
    "ProxyConnection",
    "ProxyStats",
    "Way",
]

#: ``"upstream"`` (client to server), ``"downstream"`` (server to client) or ``"both"``.
Direction = Literal["upstream", "downstream", "both"]

_DIRECTIONS: tuple[Way, ...] = ("upstream", "downstream")
_COUNTS = ("bytes_up", "bytes_down", "dropped_up", "dropped_down", "writes_up", "writes_down")
_DEFAULT_PORTS = {"ws": 80, "http": 80, "wss": 443, "https": 443}


class _Keep(enum.Enum):
    KEEP = 0


_KEEP = _Keep.KEEP


@dataclass(frozen=True)
class ProxyStats:
    """Counters of a :class:`FaultProxy` since it was created (all connections).

    Attributes:
        connections_total: client connections accepted and relayed to the target.
        connections_open: those still open.
        connections_failed: client connections reset because the target could not be reached
            (or the proxy was disabled).
        bytes_up / bytes_down: bytes delivered to the server / to the client.
        dropped_up / dropped_down: bytes discarded (blackhole, half-close, end of connection).
        writes_up / writes_down: socket writes (segments) toward the server / the client.
    """

    connections_total: int
    connections_open: int
    connections_failed: int
    bytes_up: int
    bytes_down: int
    dropped_up: int
    dropped_down: int
    writes_up: int
    writes_down: int


def _directions(direction: Direction) -> tuple[Way, ...]:
    if direction == "both":
        return _DIRECTIONS
    if direction not in _DIRECTIONS:
        raise ValueError(f"direction must be 'upstream', 'downstream' or 'both', not {direction!r}")
    return (direction,)


class FaultProxy:
    """A TCP proxy on ``127.0.0.1`` (port 0 by default) with injectable network faults.

    Args:
        target: the server, as a URL (``ws://host:port/path``, ``wss://``, ``http://``) or a
            ``(host, port)`` pair.
        host: address to listen on.
        port: port to listen on; 0 picks a free one.
        latency, jitter, bandwidth, slice_size, slice_delay, blackhole, limit_data,
            close_delay: initial :class:`Faults` for both directions.
        seed: seed of the jitter's random numbers (reproducible runs).
        connect_timeout: seconds to reach the target before the client's connection is reset.

    Attributes:
        target_host / target_port: where connections are relayed.
        connections: every open :class:`ProxyConnection`, oldest first.
    """

    def __init__(
        self,
        target: str | tuple[str, int],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        latency: float = 0.0,
        jitter: float = 0.0,
        bandwidth: float = 0.0,
        slice_size: int = 0,
        slice_delay: float = 0.0,
        blackhole: bool = False,
        limit_data: int = 0,
        close_delay: float = 0.0,
        seed: int | None = None,
        connect_timeout: float = 5.0,
    ) -> None:
        if isinstance(target, str):
            parts = urlsplit(target)
            if not parts.hostname:
                raise ValueError(f"target URL has no host: {target!r}")
            self._scheme = parts.scheme or "ws"
            self.target_host = parts.hostname
            self.target_port = parts.port or _DEFAULT_PORTS.get(self._scheme, 80)
            self._path = urlunsplit(("", "", parts.path or "/", parts.query, ""))
        else:
            self._scheme, self._path = "ws", "/"
            self.target_host, self.target_port = target[0], int(target[1])
        self.host = host
        self.port = port
        self.connect_timeout = connect_timeout
        initial = Faults(
            latency=latency,
            jitter=jitter,
            bandwidth=bandwidth,
            slice_size=slice_size,
            slice_delay=slice_delay,
            blackhole=blackhole,
            limit_data=limit_data,
            close_delay=close_delay,
        )
        self._faults = {d: initial for d in _DIRECTIONS}
        self._rng = random.Random(seed)
        self._enabled = True
        self._server: asyncio.AbstractServer | None = None
        self.connections: list[ProxyConnection] = []
        self._handlers: set[asyncio.Task[None]] = set()
        self._total = 0
        self._failed = 0
        self._ended: Counter[str] = Counter(dict.fromkeys(_COUNTS, 0))

    def __repr__(self) -> str:
        faults = {d: f for d, f in self._faults.items() if f != Faults()}
        return (
            f"<FaultProxy {self.host}:{self.port} -> {self.target_host}:{self.target_port} "
            f"open={len(self.connections)} faults={faults}>"
        )

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> FaultProxy:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    @property
    def url(self) -> str:
        """The target's URL with the proxy's address: same scheme (``ws``/``wss``), path and
        query."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self._scheme}://{host}:{self.port}{self._path}"

    async def start(self) -> None:
        """Start listening (no-op when already listening)."""
        if self._server is not None:
            return
        self._server = await asyncio.start_server(self._handle, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def aclose(self) -> None:
        """Stop listening and close every connection (FIN to both peers)."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for conn in list(self.connections):
            conn.close()  # its relay then ends by itself
        await asyncio.sleep(0)
        handlers = list(self._handlers)
        for task in handlers:
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)

    # ------------------------------------------------------------------ faults

    def faults(self, direction: Way) -> Faults:
        """The :class:`Faults` in force for one direction."""
        return self._faults[direction]

    @property
    def upstream(self) -> Faults:
        """Faults on the client-to-server direction."""
        return self._faults["upstream"]

    @property
    def downstream(self) -> Faults:
        """Faults on the server-to-client direction."""
        return self._faults["downstream"]

    def set(
        self,
        direction: Direction = "both",
        *,
        latency: float | _Keep = _KEEP,
        jitter: float | _Keep = _KEEP,
        bandwidth: float | _Keep = _KEEP,
        slice_size: int | _Keep = _KEEP,
        slice_delay: float | _Keep = _KEEP,
        blackhole: bool | _Keep = _KEEP,
        limit_data: int | _Keep = _KEEP,
        close_delay: float | _Keep = _KEEP,
    ) -> None:
        """Change some faults of ``direction``; the others keep their values.

        Applies at once to open connections (data already waiting included) and to later ones.
        A number set to 0 turns its fault off.  See :class:`Faults` for each field.

        Raises:
            ValueError: an invalid value or direction (nothing is changed).
        """
        given: dict[str, Any] = {
            "latency": latency,
            "jitter": jitter,
            "bandwidth": bandwidth,
            "slice_size": slice_size,
            "slice_delay": slice_delay,
            "blackhole": blackhole,
            "limit_data": limit_data,
            "close_delay": close_delay,
        }
        changes = {k: v for k, v in given.items() if v is not _KEEP}
        new = {d: dataclasses.replace(self._faults[d], **changes) for d in _directions(direction)}
        self._faults.update(new)

    def blackhole(self, direction: Direction = "both") -> None:
        """Discard every byte in ``direction`` from now on; the sockets stay open.

        The peers see silence, as behind a dead link (no FIN, no RST).  Bytes discarded are
        lost for good: after :meth:`heal` the stream may resume in the middle of a frame.
        """
        self.set(direction, blackhole=True)

    def heal(self, direction: Direction = "both") -> None:
        """Turn every fault of ``direction`` off (a healthy link)."""
        for d in _directions(direction):
            self._faults[d] = Faults()

    def reset_all(self) -> None:
        """Reset every open connection: both peers get RST (SO_LINGER 0), no FIN."""
        for conn in list(self.connections):
            conn.reset()

    def close_all(self) -> None:
        """Close every open connection with FIN to both peers."""
        for conn in list(self.connections):
            conn.close()

    def half_close(self, direction: Way) -> None:
        """Shut one direction of every open connection (see
        :meth:`ProxyConnection.half_close`): ``"downstream"`` sends FIN to the client,
        ``"upstream"`` to the server; the other direction keeps flowing."""
        _directions(direction)
        for conn in list(self.connections):
            conn.half_close(direction)

    def disable(self) -> None:
        """Reset every open connection and every new one until :meth:`enable` (a target that
        is down)."""
        self._enabled = False
        self.reset_all()

    def enable(self) -> None:
        """Relay new connections again after :meth:`disable`."""
        self._enabled = True

    # ------------------------------------------------------------------ observation

    def stats(self) -> ProxyStats:
        """The proxy's counters (closed connections included)."""
        totals = Counter(self._ended)
        for conn in self.connections:
            totals.update(_counts(conn))
        return ProxyStats(
            connections_total=self._total,
            connections_open=len(self.connections),
            connections_failed=self._failed,
            **{k: totals[k] for k in _COUNTS},
        )

    async def wait_for_connections(
        self, n: int = 1, *, total: bool = False, timeout: float = 5.0
    ) -> None:
        """Wait until ``n`` connections are open (``total=True``: were ever accepted).

        Raises:
            TimeoutError: not reached within ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while (self._total if total else len(self.connections)) < n:
            if time.monotonic() > deadline:
                what = "accepted" if total else "open"
                have = self._total if total else len(self.connections)
                raise TimeoutError(f"{have} of {n} proxied connections {what} after {timeout} s")
            await asyncio.sleep(0.005)

    # ------------------------------------------------------------------ relaying

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            conn = await self._open(reader, writer)
            if conn is not None:
                await self._relay(conn)
        except asyncio.CancelledError:
            # Only aclose() cancels these tasks; asyncio's stream server logs a handler
            # task that ends cancelled, so it ends normally instead.
            writer.transport.abort()
        finally:
            self._handlers.discard(task)

    async def _open(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> ProxyConnection | None:
        if not self._enabled:
            self._failed += 1
            reset_socket(writer)
            return None
        try:
            server = await asyncio.wait_for(
                asyncio.open_connection(self.target_host, self.target_port),
                self.connect_timeout,
            )
        except (OSError, asyncio.TimeoutError):
            self._failed += 1
            reset_socket(writer)
            return None
        set_nodelay(writer)
        set_nodelay(server[1])
        self._total += 1
        return ProxyConnection(self._total, (reader, writer), server, self.faults, self._rng)

    async def _relay(self, conn: ProxyConnection) -> None:
        self.connections.append(conn)
        try:
            conn.start()
            await conn.wait_closed()
        finally:
            with contextlib.suppress(ValueError):
                self.connections.remove(conn)
            conn.close()  # a cancelled relay (aclose) still ends its sockets
            self._ended.update(_counts(conn))


def _counts(conn: ProxyConnection) -> dict[str, int]:
    up, down = conn.upstream, conn.downstream
    return {
        "bytes_up": up.forwarded,
        "bytes_down": down.forwarded,
        "dropped_up": up.dropped,
        "dropped_down": down.dropped,
        "writes_up": up.writes,
        "writes_down": down.writes,
    }
