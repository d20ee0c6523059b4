"""Sending and JSON-RPC requests of :class:`zenws.Client`: the :class:`Requests` part.

It owns the compiled :class:`~zenws.fast.listener.Requester` (bound as ``client.request``),
the deadline sweep (:class:`~zenws.client._deadlines.Deadlines`), the rate limiter, the
write gate and the idempotent retry.  Requests go to the connection it is pointed at
(:meth:`Requests.use`); each connection tracks its own requests in its own Correlator, and
the deadline sweep covers every connection attached (:meth:`Requests.attach`).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Any, Protocol

import orjson

from .. import telemetry as _tm
from .._redact import redact_mapping
from ..config import Config, _seconds
from ..errors import ClientClosed, ConnectionLost, ProtocolError, RequestTimeout, RpcError
from ..fast.listener import FastListener, Requester, result_of
from ..state import State
from ._connection import Connection, lost, mark_unsent
from ._deadlines import Deadlines


def _timed_out(text: str, method: str, rid: Any, t: float) -> RequestTimeout:
    """The ``RequestTimeout`` of one request (and its ``request.timeout`` event)."""
    if _tm.active:
        _tm.emit("request.timeout", {"timeout": t}, {"method": method, "id": rid})
    return RequestTimeout(text, method=method, request_id=rid, timeout=t)


class _DeadlinePassed(Exception):
    """The deadline passed while a request waited to be sent (internal)."""


class _Expiry:
    """The deadline of one request still waiting to be sent: cancels its task once."""

    __slots__ = ("cancelling", "fired", "task")

    def __init__(self, task: asyncio.Task[Any]) -> None:
        self.task = task
        self.fired = False
        # cancel requests already pending on the task (3.11+), as asyncio.timeout keeps
        cancelling = getattr(task, "cancelling", None)
        self.cancelling = cancelling() if cancelling is not None else 0

    def fire(self) -> None:
        self.fired = True
        self.task.cancel()


class WriteGate:
    """Requests waiting for the socket to become writable, woken together in FIFO order.

    Like ``asyncio.Event.wait``, but a waiter that leaves at its deadline (its task is
    cancelled) stays in the deque and is skipped, instead of an O(n) removal each: many
    requests may wait at once behind a peer that stopped reading.
    """

    __slots__ = ("_compact_at", "_waiters")

    def __init__(self) -> None:
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._compact_at = 64

    async def wait(self, loop: asyncio.AbstractEventLoop) -> None:
        """Wait until :meth:`wake` (the transport resumed writing, or the connection ended)."""
        waiters = self._waiters
        if len(waiters) >= self._compact_at:  # amortized: drop those that left
            waiters = self._waiters = deque(f for f in waiters if not f.done())
            self._compact_at = max(64, 2 * len(waiters))
        fut = loop.create_future()
        waiters.append(fut)
        await fut

    def wake(self) -> None:
        """Wake every waiter (each checks again whether it may write)."""
        waiters, self._waiters = self._waiters, deque()
        self._compact_at = 64
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)


class Status(Protocol):
    """What the requests part reads of the client's state (the :class:`Supervisor`)."""

    state: State
    epoch: int
    closed_by_app: bool
    close_code: int | None
    close_reason: str

    async def wait_open(self, timeout: float) -> None: ...


class Requests:
    """``send()``, ``request()``: the compiled Requester, deadlines, limiter, write gate.

    Args:
        config: the client's options.
        status: the client's state (read only).
        limiter: the rate limiter, or None.
        log: the client's logger.
    """

    __slots__ = (
        "_idempotent",
        "_status",
        "_timeout",
        "_timeout_ns",
        "conn",
        "deadlines",
        "debug",
        "limiter",
        "log",
        "loop",
        "requester",
        "waiting",
        "write_gate",
    )

    def __init__(self, config: Config, status: Status, limiter: Any, log: Any) -> None:
        self._status = status
        self.limiter = limiter
        self.log = log
        self.loop: asyncio.AbstractEventLoop | None = None
        self.debug = False
        self.conn: Connection | None = None  #: where requests go (the active connection)
        self.write_gate = WriteGate()  # requests waiting for a writable socket
        self.waiting = 0  # requests not sent yet: limiter queue or write gate
        self._timeout = config.request_timeout
        self._timeout_ns = int(config.request_timeout * 1e9)
        self._idempotent = frozenset(config.idempotent_methods)
        # request() is compiled: the Requester takes the common call with no Python frame
        # and hands everything else to _request (kept current by use() and Deadlines.arm).
        req = self.requester = Requester()
        req.slow = self._request
        req.timeout_ns = self._timeout_ns
        req.idempotent = self._idempotent or None
        self.deadlines = Deadlines(req, self._timeout_ns, log)

    def start(self, loop: asyncio.AbstractEventLoop, debug: bool) -> None:
        """Bind to the running loop (the client starts)."""
        self.loop = self.deadlines.loop = self.requester.loop = loop
        self.debug = debug
        self.requester.plain = self.limiter is None and not debug

    def use(self, conn: Connection | None, is_open: bool) -> None:
        """Send requests on ``conn`` (the compiled path only while ``is_open``)."""
        self.conn = conn
        self.requester.lst = conn.current if conn is not None and is_open else None

    def attach(self, conn: Connection) -> None:
        """Sweep the deadlines of ``conn``'s requests too (until :meth:`detach`)."""
        self.deadlines.watch(conn.correlator)

    def detach(self, conn: Connection) -> None:
        """Stop sweeping ``conn``'s requests (its correlator is empty)."""
        self.deadlines.unwatch(conn.correlator)

    @property
    def pending(self) -> int:
        """Requests not ended: in flight on any attached connection, or waiting to be sent."""
        return self.deadlines.pending + self.waiting

    def fail_all(self, exc: ConnectionLost) -> None:
        """Fail every request in flight on every attached connection."""
        self.deadlines.fail_all(exc)

    def fail_limited(self, epoch: int, code: int | None, reason: str) -> None:
        """Fail the requests still queued in the rate limiter (DESIGN §3: at once).

        ``RateLimiter.close`` leaves the limiter usable for the next connection.
        """
        if self.limiter is not None:
            self.limiter.close(
                lost(
                    f"connection lost (epoch {epoch}) while waiting for the rate limiter",
                    sent=False,
                    epoch=epoch,
                    code=code,
                    reason=reason,
                )
            )

    def close(self, exc: ConnectionLost, epoch: int, code: int | None, reason: str) -> None:
        """The client closed: fail everything pending and disarm the deadline timer."""
        self.fail_all(exc)
        self.fail_limited(epoch, code, reason)
        self.deadlines.cancel()

    # ------------------------------------------------------------------ sending

    def open_listener(self) -> FastListener:
        """The listener to write to now.

        Raises:
            ConnectionLost: not open (``sent=False``).
        """
        conn = self.conn
        lst = None
        if conn is not None:
            lst = conn.current
            if lst is None and conn.handshaking is not None:
                # A callback answering a message that arrived with the 101 response,
                # before open() returned: the connection is usable already.
                lst = conn.handshaking
            elif self._status.state is not State.OPEN:
                lst = None
        if lst is None or lst.closed:
            raise self._not_open(lst)
        return lst

    def _not_open(self, lst: FastListener | None) -> ConnectionLost:
        # What stops a request or send() (nothing was written): the application's own
        # close(), the server's CLOSE already received, or the state of the connection.
        st = self._status
        if st.closed_by_app:
            return ClientClosed(
                "the client was closed by the application (close()); nothing was sent",
                epoch=st.epoch,
                code=st.close_code,
                reason=st.close_reason,
                sent=False,
            )
        if lst is not None and lst.close_code >= 0:
            why = f" ({lst.close_reason!r})" if lst.close_reason else ""
            return lost(
                f"the server closed the connection with code {lst.close_code}{why}",
                sent=False,
                epoch=lst.epoch,
                code=lst.close_code,
                reason=lst.close_reason,
            )
        if lst is not None and lst.sent_close_code >= 0:
            return lost(
                f"the connection is closing (zenws sent close code {lst.sent_close_code})",
                sent=False,
                epoch=lst.epoch,
                code=lst.sent_close_code,
            )
        return lost(
            f"connection is {st.state.name.lower()}",
            sent=False,
            epoch=st.epoch,
            code=st.close_code,
            reason=st.close_reason,
        )

    def send(self, data: str | bytes | bytearray | memoryview | dict[str, Any] | list[Any]) -> None:
        """:meth:`zenws.Client.send` (documented there) on the active connection."""
        lst = self.open_listener()
        try:
            if isinstance(data, str):
                lst.send_text(data)
            elif isinstance(data, (bytes, bytearray, memoryview)):
                lst.send_binary(bytes(data))
            elif isinstance(data, (dict, list)):
                lst.send_text(orjson.dumps(data))
            else:
                raise TypeError(f"send() takes str, bytes, dict or list, not {type(data).__name__}")
        except ConnectionLost as exc:  # the listener's own open check: nothing written
            raise mark_unsent(exc) from None

    async def _request(self, method: str, params: Any, timeout: float | None) -> Any:
        if timeout is not None:  # as Config.request_timeout: a finite number > 0
            timeout = _seconds("timeout", timeout)
        if method in self._idempotent:
            return await self._request_idempotent(method, params, timeout)
        return await self._request_once(method, params, timeout)

    async def _request_idempotent(self, method: str, params: Any, timeout: float | None) -> Any:
        # Config.idempotent_methods opt in: a read lost with its connection is sent again
        # on the next one, within the same overall deadline.  Orders never are.
        t = self._timeout if timeout is None else timeout
        deadline = time.monotonic() + t
        while True:
            try:
                return await self._request_once(method, params, max(deadline - time.monotonic(), 0))
            except ConnectionLost as exc:
                left = deadline - time.monotonic()
                if self._status.state in (State.CLOSING, State.CLOSED) or left <= 0:
                    raise
                self.waiting += 1  # still a request not ended (metrics().pending)
                try:
                    await self._status.wait_open(left)
                except (asyncio.TimeoutError, TimeoutError):
                    raise lost(
                        f"{method}: not reconnected within its {t} s deadline",
                        sent=getattr(exc, "sent", True) is not False,
                        epoch=self._status.epoch,
                    ) from None
                finally:
                    self.waiting -= 1

    async def request_on(
        self, conn: Connection, method: str, params: Any = None, *, timeout: float | None = None
    ) -> Any:
        """``client.request`` on ``conn``, which need not be the active connection.

        A connection being prepared (make-before-break) takes requests this way; ``conn``
        must be :meth:`attach`-ed (its deadlines are swept).  Same errors as
        ``client.request``.
        """
        if timeout is not None:
            timeout = _seconds("timeout", timeout)
        return await self._request_once(method, params, timeout, conn)

    def _listener_of(self, conn: Connection | None) -> FastListener:
        # conn None: the active connection (open_listener()); else conn's, while it lives.
        if conn is None:
            return self.open_listener()
        lst = conn.current
        if lst is None or lst.closed:
            raise self._not_open(lst)
        return lst

    async def _request_once(
        self, method: str, params: Any, timeout: float | None, conn: Connection | None = None
    ) -> Any:
        if conn is None:
            active = self.conn
            lst = active.current if active is not None else None
            if lst is None or lst.closed or self._status.state is not State.OPEN:
                lst = self.open_listener()  # raises ConnectionLost; no tokens taken yet
        else:
            lst = self._listener_of(conn)
        limiter = self.limiter
        queued = limiter is not None and not limiter.acquire_nowait(method)
        t = self._timeout if timeout is None else timeout
        left = t
        if queued or lst.write_paused:
            # Off the common path: only a request that must wait gets a timer here.
            lst, left = await self._wait_to_send(method, t, queued, conn)
        sent = 0
        fut = self.loop.create_future()  # type: ignore[union-attr]
        try:
            rid = lst.send_request(method, params, fut, int(left * 1e9))
        except BaseException as exc:
            # Not written (closed connection, params that do not encode): the tokens
            # were not used, give them back.
            if limiter is not None:
                limiter.refund(method)
            if isinstance(exc, ConnectionLost):
                mark_unsent(exc)
            raise
        deadline = lst.last_deadline_ns
        dl = self.deadlines
        if deadline < dl.at or dl.handle is None:
            dl.arm(deadline, time.monotonic_ns())
        if self.debug:
            self.log.debug(
                "request %s id=%d params=%s epoch=%d",
                method,
                rid,
                redact_mapping(params),
                lst.epoch,
            )
        if _tm.active:
            sent = time.monotonic_ns()
            _tm.emit("request.sent", {}, {"method": method, "id": rid, "epoch": lst.epoch})
        try:
            payload = await fut
        except asyncio.CancelledError:
            lst.correlator.discard(rid)
            raise
        except RequestTimeout:
            raise _timed_out(
                f"{method} (id {rid}) got no response within {t} s", method, rid, t
            ) from None
        except ConnectionLost:
            if _tm.active:
                _tm.emit("request.failed", {}, {"method": method, "id": rid, "epoch": lst.epoch})
            raise
        try:
            result = result_of(payload, method, rid)
        except (RpcError, ProtocolError):
            if _tm.active:
                _tm.emit("request.failed", {}, {"method": method, "id": rid})
            raise
        if _tm.active:
            rtt = {"rtt_ns": time.monotonic_ns() - sent} if sent else {}
            _tm.emit("request.resolved", rtt, {"method": method})
        return result

    async def _wait_to_send(
        self, method: str, t: float, queued: bool, conn: Connection | None
    ) -> tuple[FastListener, float]:
        """Wait for the rate limiter's tokens, then for a writable socket, within ``t`` s.

        DESIGN §3: every wait has the request's deadline.  Counted in ``metrics().pending``
        meanwhile.  Returns the open listener and the seconds left for the response.

        Raises:
            RequestTimeout: the deadline passed first (nothing was written; ``request_id``
                is None).
            RateLimited: the limiter's queue is full.
            ConnectionLost: the connection dropped meanwhile (``sent=False``).
        """
        loop = self.loop
        task = asyncio.current_task()
        assert loop is not None and task is not None
        limiter = self.limiter
        start = loop.time()
        expiry = _Expiry(task)
        timer = loop.call_at(start + t, expiry.fire)
        granted = not queued  # holds the limiter's tokens (to give back if never sent)
        waiting = "the rate limiter" if queued else "the socket to become writable"
        self.waiting += 1
        try:
            if queued:
                await limiter.acquire(method)
                granted = True
                waiting = "the socket to become writable"
            lst = self._listener_of(conn)
            while lst.write_paused:  # the peer stopped reading: its buffers are full
                await self.write_gate.wait(loop)
                lst = self._listener_of(conn)
            left = t - (loop.time() - start)
            if left <= 0:
                raise _DeadlinePassed
        except (asyncio.CancelledError, _DeadlinePassed) as exc:
            if granted and limiter is not None:
                limiter.refund(method)
            if isinstance(exc, asyncio.CancelledError):
                if not expiry.fired:
                    raise
                # 3.11+: undo our own cancel; another one (the caller's) still stands.
                uncancel = getattr(task, "uncancel", None)
                if uncancel is not None and uncancel() > expiry.cancelling:
                    raise
            raise _timed_out(
                f"{method} was not sent within its {t} s deadline (waiting for {waiting})",
                method,
                None,
                t,
            ) from None
        except BaseException as exc:
            if granted and limiter is not None:
                limiter.refund(method)
            if isinstance(exc, ConnectionLost):
                mark_unsent(exc)
            raise
        finally:
            timer.cancel()
            self.waiting -= 1
        return lst, left
