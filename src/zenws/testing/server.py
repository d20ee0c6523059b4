"""``MockServer``: a real picows WebSocket server on loopback with fault injection.

It echoes by default, captures every client message, and can break the connection in every way
a production server or network does: close with any code, reset the TCP connection, go silent
while keeping the socket open, stop reading (back-pressure), stop answering pings, delay
replies, refuse upgrades with an HTTP status or redirect them, send invalid frames, restart on
the same port.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl as ssl_module
import time
from collections import deque
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

import picows

from .._logging import redacting_logger
from .connection import Connection, _Listener
from .handler import Handler, MessageFunction, Received, Refusal, UpgradeRequest, as_handler
from .matching import Matcher, describe, matches

if TYPE_CHECKING:
    from .scenario import Scenario

__all__ = ["MockServer", "Refusal"]

log = logging.getLogger("zenws.testing")

ConnectionRef = Connection | int | None


class MockServer:
    """A WebSocket server for tests: ``async with MockServer() as server: ... server.url``.

    Args:
        handler: ``None`` echoes; a :class:`~zenws.testing.Handler` or a callable
            ``(connection, message)`` decides replies (sync or async).
        host: loopback address to bind.
        port: 0 picks a free port; it is kept across :meth:`restart`.
        ssl: ``True`` generates a throw-away certificate (see :mod:`zenws.testing.certs`);
            an ``ssl.SSLContext`` is used as the server context.
        path: accept upgrades only on this path (others get 404); ``None`` accepts any.
        capture_limit: messages kept per connection and server-wide (oldest dropped first).
        max_connections: open connections allowed; further upgrades get HTTP 429.
        max_frame_size: largest client frame accepted (picows closes with 1009 above it).

    Attributes:
        handler: the active :class:`~zenws.testing.Handler`.
        upgrade_requests: every upgrade attempt (accepted or refused), oldest first.
        answer_pings: default of :attr:`Connection.answer_pings` for new connections.
        reply_delay: default of :attr:`Connection.reply_delay` for new connections.
    """

    def __init__(
        self,
        handler: Handler | MessageFunction | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        ssl: bool | ssl_module.SSLContext | None = None,
        path: str | None = None,
        capture_limit: int = 10_000,
        max_connections: int | None = None,
        max_frame_size: int = 64 * 1024 * 1024,
    ) -> None:
        self.handler: Handler = as_handler(handler)
        self.host = host
        self.port = port
        self.path = path
        self.capture_limit = capture_limit
        self.max_connections = max_connections
        self.max_frame_size = max_frame_size
        self.answer_pings = True
        self.reply_delay = 0.0
        self.upgrade_requests: list[UpgradeRequest] = []
        self._ssl_arg = ssl
        self._server_ctx: ssl_module.SSLContext | None = None
        self.ssl_context: ssl_module.SSLContext | None = None
        self._server: asyncio.AbstractServer | None = None
        self._received: deque[Received] = deque(maxlen=capture_limit)
        self._all: list[Connection] = []
        self._open: dict[int, Connection] = {}
        self._refusals: deque[Refusal] = deque()
        self._next_id = 0
        self._changed: asyncio.Event | None = None
        self._scenarios: list[Scenario] = []

    @classmethod
    def from_recording(cls, path: Any, *, speed: float | None = None, **kw: Any) -> MockServer:
        """A server that replays a zenws recording (see :mod:`zenws.testing.replay_handler`)."""
        from .replay_handler import ReplayHandler

        return cls(ReplayHandler(path, speed=speed), **kw)

    # ------------------------------------------------------------------ lifecycle
    async def __aenter__(self) -> MockServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def started(self) -> bool:
        """True while listening."""
        return self._server is not None

    @property
    def url(self) -> str:
        """``ws://host:port/path`` (``wss://`` with TLS); stable across restarts."""
        scheme = "wss" if self._ssl_arg else "ws"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}{self.path or '/'}"

    async def start(self) -> None:
        """Start listening (on the same port again after :meth:`stop`)."""
        if self._server is not None:
            return
        self._changed = asyncio.Event()
        if self._ssl_arg is True and self._server_ctx is None:
            from .certs import self_signed

            pair = self_signed()
            self._server_ctx, self.ssl_context = pair.server, pair.client
        elif isinstance(self._ssl_arg, ssl_module.SSLContext):
            self._server_ctx = self._ssl_arg
        self._server = await picows.ws_create_server(
            self._factory,
            self.host,
            self.port,
            ssl=self._server_ctx,
            reuse_address=True,
            enable_auto_pong=False,  # pongs are answered per connection (see ignore_pings)
            max_frame_size=self.max_frame_size,
            websocket_handshake_timeout=5,
            logger_name=redacting_logger("zenws.testing.picows"),
        )
        self.port = self._server.sockets[0].getsockname()[1]
        await self.handler.on_start(self)

    async def stop(self, *, code: int = 1001, reason: str = "server stopping") -> None:
        """Close every connection (``code``/``reason``), then stop listening.

        Stalled connections are reset (they cannot take part in a closing handshake).
        """
        if self._server is None:
            return
        server, self._server = self._server, None
        server.close()
        for scenario in self._scenarios:
            scenario.cancel()
        self._scenarios.clear()
        await self._handler_stop()
        await self._close_all(code, reason, abort=False)
        await self._wait_closed(server)

    async def restart(
        self, *, downtime: float = 0.0, abort: bool = False, code: int = 1012
    ) -> None:
        """Drop every connection, stay down for ``downtime`` seconds, listen on the same port.

        Args:
            downtime: seconds with nothing listening (connects are refused meanwhile).
            abort: reset connections instead of closing them with ``code``.
            code: close code (1012 = service restart, RFC 6455 §7.4.1 / IANA registry).
        """
        if self._server is not None:
            server, self._server = self._server, None
            server.close()
            await self._close_all(code, "server restart", abort=abort)
            await self._handler_stop()
            await self._wait_closed(server)
        if downtime > 0:
            await asyncio.sleep(downtime)
        await self.start()

    async def _close_all(self, code: int, reason: str, *, abort: bool) -> None:
        conns = list(self._open.values())
        for conn in conns:
            if abort or conn.stalled:
                conn.abort()  # a half-open peer cannot take part in a closing handshake
        await asyncio.gather(
            *(c.close(code, reason, timeout=1.0) for c in conns),  # aborted ones: just wait
            return_exceptions=True,
        )

    @staticmethod
    async def _wait_closed(server: asyncio.AbstractServer) -> None:
        # Python >= 3.12 also waits for connections still in their HTTP upgrade (not ours
        # yet, so not closed above); reset those (3.13 API) and never hang on them.
        abort_clients = getattr(server, "abort_clients", None)
        if abort_clients is not None:
            abort_clients()
        with contextlib.suppress(TimeoutError, asyncio.TimeoutError):
            await asyncio.wait_for(server.wait_closed(), 5.0)

    async def _handler_stop(self) -> None:
        try:
            await self.handler.on_stop(self)
        except Exception:
            log.exception("mock server handler failed in on_stop")

    # ------------------------------------------------------------------ inspection
    @property
    def connections(self) -> list[Connection]:
        """Open connections, oldest first."""
        return list(self._open.values())

    @property
    def all_connections(self) -> list[Connection]:
        """Every connection ever accepted (open or closed), oldest first."""
        return list(self._all)

    @property
    def received(self) -> list[Received]:
        """Messages captured from all connections, oldest first (bounded)."""
        return list(self._received)

    def clear(self) -> None:
        """Forget captured messages (server-wide and per connection) and upgrade requests."""
        self._received.clear()
        self.upgrade_requests.clear()
        for conn in self._all:
            conn.received.clear()

    def connection(self, ref: ConnectionRef = None) -> Connection:
        """Resolve a connection reference.

        Args:
            ref: a :class:`Connection`, its id, or ``None`` for the latest open one.

        Returns:
            The connection.

        Raises:
            LookupError: there is no such connection.
        """
        if isinstance(ref, Connection):
            return ref
        if ref is None:
            if not self._open:
                raise LookupError("no open connection")
            return next(reversed(self._open.values()))
        for conn in self._all:
            if conn.id == ref:
                return conn
        raise LookupError(f"no connection with id {ref}")

    def _targets(self, ref: ConnectionRef) -> list[Connection]:
        return self.connections if ref is None else [self.connection(ref)]

    async def wait_for_connections(
        self, n: int = 1, *, timeout: float = 5.0, total: bool = False
    ) -> list[Connection]:
        """Wait until ``n`` connections are open (or, with ``total``, were ever accepted).

        Returns:
            The open connections (or all of them with ``total``).

        Raises:
            AssertionError: not reached within ``timeout`` seconds.
        """

        def pool() -> list[Connection]:
            return self.all_connections if total else self.connections

        try:
            await self._wait_until(lambda: len(pool()) >= n, timeout)
        except TimeoutError:
            raise AssertionError(
                f"expected {n} connection(s) within {timeout}s, have {len(pool())}"
                f" ({len(self._all)} accepted, {len(self.upgrade_requests)} upgrade requests)"
            ) from None
        return pool()

    async def assert_received(
        self, matcher: Matcher, *, timeout: float = 1.0, connection: ConnectionRef = None
    ) -> Received:
        """Wait for a captured message that matches (already captured ones count).

        Args:
            matcher: exact str/bytes, ``re.Pattern``, dict subset of the JSON, or callable
                (see :mod:`zenws.testing.matching`).
            timeout: seconds to wait.
            connection: look only at this connection.

        Returns:
            The first matching message.

        Raises:
            AssertionError: nothing matched in time; the message lists what was received.
        """

        def source() -> Iterable[Received]:
            if connection is None:
                return self._received
            return self.connection(connection).received

        found: list[Received] = []

        def check() -> bool:
            for msg in source():
                if matches(matcher, msg):
                    found.append(msg)
                    return True
            return False

        try:
            await self._wait_until(check, timeout)
        except TimeoutError:
            raise AssertionError(describe(matcher, source())) from None
        return found[0]

    async def _wait_until(self, predicate: Any, timeout: float | None) -> None:
        """Re-check ``predicate`` after every server event until true (TimeoutError)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not predicate():
            changed = self._changed or asyncio.Event()
            self._changed = changed
            if deadline is None:
                await changed.wait()
                continue
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            with contextlib.suppress(TimeoutError, asyncio.TimeoutError):
                await asyncio.wait_for(changed.wait(), left)

    def _notify(self) -> None:
        if self._changed is not None:
            self._changed.set()
            self._changed = asyncio.Event()

    # ------------------------------------------------------------------ sending
    async def inject(self, msg: Any, *, connection: ConnectionRef = None) -> int:
        """Send a message to every open connection, or to one.

        Args:
            msg: ``str`` (text), bytes (binary) or a JSON-able object (text).
            connection: a :class:`Connection` or id; ``None`` = all open connections.

        Returns:
            How many connections it was written to (stalled ones drop it).

        Raises:
            LookupError: there is no open connection to send to.
        """
        targets = self._targets(connection)
        if not targets:
            raise LookupError("inject(): no open connection")
        sent = sum(1 for conn in targets if conn.send(msg))
        await asyncio.sleep(0)
        return sent

    async def send_raw(self, data: bytes, *, connection: ConnectionRef = None) -> int:
        """Write raw bytes to the TCP stream of every open connection (or one)."""
        sent = sum(1 for conn in self._targets(connection) if conn.send_raw(data))
        await asyncio.sleep(0)
        return sent

    async def send_frame(
        self,
        opcode: int,
        payload: bytes | str = b"",
        *,
        connection: ConnectionRef = None,
        **flags: Any,
    ) -> int:
        """Send a hand-built frame (see :meth:`Connection.send_frame`) to all or one."""
        sent = sum(
            1 for conn in self._targets(connection) if conn.send_frame(opcode, payload, **flags)
        )
        await asyncio.sleep(0)
        return sent

    # ------------------------------------------------------------------ faults
    async def close_connections(
        self,
        code: int = 1000,
        reason: str = "",
        *,
        connection: ConnectionRef = None,
        timeout: float = 2.0,
    ) -> None:
        """Close all (or one) connection with exactly this close code and reason."""
        await asyncio.gather(
            *(c.close(code, reason, timeout=timeout) for c in self._targets(connection))
        )

    def abort(self, *, connection: ConnectionRef = None) -> None:
        """Reset all (or one) TCP connection: no close frame reaches the client."""
        for conn in self._targets(connection):
            conn.abort()

    def stall(self, *, connection: ConnectionRef = None) -> None:
        """Make all (or one) connection a silent half-open peer (see :meth:`Connection.stall`)."""
        for conn in self._targets(connection):
            conn.stall()

    def pause_reading(self, *, connection: ConnectionRef = None) -> None:
        """Stop reading from all (or one) connection, still writing to it (back-pressure).

        See :meth:`Connection.pause_reading`; :meth:`resume_reading` undoes it.
        """
        for conn in self._targets(connection):
            conn.pause_reading()

    def resume_reading(self, *, connection: ConnectionRef = None) -> None:
        """Undo :meth:`pause_reading` for all (or one) connection."""
        for conn in self._targets(connection):
            conn.resume_reading()

    def ignore_pings(self, enabled: bool = True, *, connection: ConnectionRef = None) -> None:
        """Stop answering PINGs on all (or one) connection; with ``connection=None`` also for
        connections accepted later."""
        if connection is None:
            self.answer_pings = not enabled
        for conn in self._targets(connection):
            conn.ignore_pings(enabled)

    def delay_replies(self, seconds: float, *, connection: ConnectionRef = None) -> None:
        """Delay outgoing data on all (or one) connection; ``connection=None`` also sets the
        default for later connections."""
        if connection is None:
            self.reply_delay = max(0.0, float(seconds))
        for conn in self._targets(connection):
            conn.delay_replies(seconds)

    def refuse_next(
        self,
        n: int | None = 1,
        status: int = 503,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes | str = b"",
    ) -> Refusal:
        """Answer the next ``n`` upgrade requests with an HTTP error instead of 101.

        Args:
            n: how many upgrades to refuse (``None``: all, until :meth:`clear_refusals`).
            status: HTTP status (>= 300), e.g. 429 with ``{"Retry-After": "1"}``.
            headers: response headers.
            body: response body.

        Returns:
            The queued :class:`Refusal` (its ``remaining`` counts down).
        """
        if status < 300 or status > 599:
            raise ValueError(f"refusal status must be 3xx-5xx, got {status}")
        refusal = Refusal(
            status, dict(headers or {}), body.encode() if isinstance(body, str) else body, n
        )
        self._refusals.append(refusal)
        return refusal

    def redirect_next(self, location: str, status: int = 302, n: int | None = 1) -> Refusal:
        """Answer the next ``n`` upgrade requests with an HTTP redirect to ``location``.

        zenws never follows it (a fatal :class:`~zenws.errors.ConnectError` with
        ``status`` and ``location``); use it to check that a client under test does not
        carry its credentials to another server.

        Args:
            location: the ``Location`` header (absolute or relative URL).
            status: 301, 302, 303, 307 or 308.
            n: how many upgrades to redirect (``None``: all, until :meth:`clear_refusals`).

        Returns:
            The queued :class:`Refusal`.

        Raises:
            ValueError: ``status`` is not a redirect status.
        """
        if status not in (301, 302, 303, 307, 308):
            raise ValueError(f"redirect status must be 301, 302, 303, 307 or 308, got {status}")
        return self.refuse_next(n, status, headers={"Location": location})

    def clear_refusals(self) -> None:
        """Accept upgrades again."""
        self._refusals.clear()

    def scenario(self) -> Scenario:
        """Start a scripted story on this server (see :class:`~zenws.testing.Scenario`)."""
        from .scenario import Scenario

        story = Scenario(self)
        self._scenarios.append(story)
        return story

    # ------------------------------------------------------------------ picows glue
    def _factory(self, request: Any) -> Any:
        record = UpgradeRequest.from_picows(request)
        self.upgrade_requests.append(record)
        self._notify()
        if self.path is not None and record.path != self.path:
            return None  # picows answers 404
        while self._refusals and self._refusals[0].remaining == 0:
            self._refusals.popleft()
        if self._refusals:
            refusal = self._refusals[0]
            if refusal.remaining is not None:
                refusal.remaining -= 1
            return refusal.response()
        decided = self.handler.on_upgrade(record)
        if decided is not None:
            return decided.response()
        if self.max_connections is not None and len(self._open) >= self.max_connections:
            return Refusal(429, {"Retry-After": "1"}, b"too many connections").response()
        self._next_id += 1
        conn = Connection(self, self._next_id, record, self.capture_limit)
        return _Listener(conn)

    def _connected(self, conn: Connection) -> None:
        self._all.append(conn)  # only upgrades that completed count as connections
        self._open[conn.id] = conn
        self._notify()

    def _disconnected(self, conn: Connection) -> None:
        self._open.pop(conn.id, None)
        self._notify()

    def _captured(self, message: Received) -> None:
        self._received.append(message)
        self._notify()

    def __repr__(self) -> str:
        state = "listening" if self.started else "stopped"
        return f"<MockServer {self.url} {state} connections={len(self._open)}>"
