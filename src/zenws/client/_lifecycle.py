"""Connection lifecycle of :class:`zenws.Client`: events from the hot path, liveness host,
reconnect loop, closing handshake."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from .. import registry as _registry
from .. import telemetry as _tm
from .._redact import redact_text, redact_url
from ..errors import ClientClosed, ConnectError, ConnectionLost, ProtocolError, ZenwsError
from ..fast.listener import FastListener, ListenerEvents, Message
from ..state import State
from ._base import ClientBase, lost

_CLOSED_IN_FLIGHT = (
    "the client was closed by the application (close()) while the request was in flight"
)


class ClientEvents(ListenerEvents):
    """The client's sink for what its listeners report (:class:`ListenerEvents`).

    One per client, set as ``events`` of every listener it opens; each event goes to the
    lifecycle handler of that client.
    """

    __slots__ = ("_c",)

    def __init__(self, client: LifecycleMixin) -> None:
        self._c = client

    def on_disconnected(self, lst: FastListener) -> None:
        self._c._on_ws_disconnected(lst)

    def on_peer_close(self, lst: FastListener, code: int, reason: str) -> None:
        self._c._on_peer_close(lst, code, reason)

    def on_protocol_error(self, code: int, reason: str) -> None:
        self._c._on_protocol_error(code, reason)

    def on_violation(self, lst: FastListener, code: int, reason: str) -> None:
        self._c._on_violation(lst, code, reason)

    def on_callback_error(self, exc: BaseException, msg: Message | None) -> None:
        self._c._on_callback_error(exc, msg)

    def on_error_no_id(self, payload: bytes, recv_ns: int) -> None:
        self._c._on_error_no_id(payload, recv_ns)

    def on_write_paused(self, paused: bool) -> None:
        self._c._on_write_paused(paused)


class LifecycleMixin(ClientBase):
    """Disconnects, reconnects and close; also the HeartbeatHost side of the client."""

    @property
    def closed(self) -> bool:
        """True once the client reached CLOSED (closed, or gave up reconnecting)."""
        return self._state is State.CLOSED

    # ------------------------------------------------------------------ callbacks from C

    def _on_ws_disconnected(self, lst: FastListener) -> None:
        timer = self._abort_timers.pop(id(lst), None)
        if timer is not None:
            timer.cancel()  # the handle would keep the listener (and its buffers) alive
        if self._violation is not None and self._violation[0] is lst:
            self._drop_violation()
        if lst is not self._listener:
            return
        self._next_id = lst.next_id
        for k, v in lst.counters().items():
            if k in self._totals:
                self._totals[k] += v
        self._listener = None
        self._req.lst = None
        self.transport = None
        if self._heartbeat is not None:
            self._heartbeat.stop()
        self._liveness.stop()
        # The code zenws failed the connection with wins over the peer's answer to it.
        code: int | None
        if lst.fail_code > 0:
            code, reason = lst.fail_code, lst.fail_reason
        else:
            code = lst.close_code if lst.close_code >= 0 else None
            reason = lst.close_reason
        if code is not None:
            self._close_code, self._close_reason = code, reason
        exc = lost(
            f"connection lost (epoch {lst.epoch}"
            + (f", close code {code}" if code is not None else "")
            + ")",
            sent=True,  # fails the requests that were written (the correlator's)
            epoch=lst.epoch,
            code=code,
            reason=reason,
        )
        self._correlator.fail_all(exc)
        self._fail_limited(lst.epoch, code, reason)
        # the server forgot the subscriptions with the connection
        self._subscriptions.registry.mark_all_pending()
        self._write_gate.wake()  # requests waiting to write fail now (ConnectionLost)
        self._supervisor.backoff.on_disconnected(time.monotonic())
        if self._disconnected is not None and not self._disconnected.done():
            self._disconnected.set_result(None)
        if _tm.active:
            _tm.emit(
                "connection.closed",
                {"code": code, "reason": redact_text(reason)},
                {"epoch": lst.epoch, "url": redact_url(self.config.url)},
            )
        self._log.info("disconnected (epoch %d, code %s)", lst.epoch, code)
        if self._state in (State.CLOSING, State.CLOSED, State.CONNECTING):
            return
        if self.config.reconnect_on_error or self._manual_reconnect:
            self._manual_reconnect = False
            self._set_state(State.RECONNECTING)
            loop = self._loop or asyncio.get_running_loop()
            self._reconnect_task = loop.create_task(self._reconnect_loop(exc))
        else:
            self._finish_closed(exc)

    def _fail_limited(self, epoch: int, code: int | None, reason: str) -> None:
        """Fail the requests still queued in the rate limiter (DESIGN §3: at once).

        ``RateLimiter.close`` leaves the limiter usable for the next connection.
        """
        if self._limiter is not None:
            self._limiter.close(
                lost(
                    f"connection lost (epoch {epoch}) while waiting for the rate limiter",
                    sent=False,
                    epoch=epoch,
                    code=code,
                    reason=reason,
                )
            )

    def _on_peer_close(self, lst: FastListener, code: int, reason: str) -> None:
        self._close_code, self._close_reason = code, reason
        self._log.info("server closed the connection: %d %r", code, redact_text(reason[:120]))
        if self._closed_by_app:  # the server's answer to our close()
            gone: ConnectionLost = ClientClosed(
                _CLOSED_IN_FLIGHT,
                sent=True,
                epoch=lst.epoch,
                code=code,
                reason=reason,
            )
        else:
            gone = lost(
                f"server closed the connection ({code})",
                sent=True,
                epoch=lst.epoch,
                code=code,
                reason=reason,
            )
        self._correlator.fail_all(gone)
        self._fail_limited(lst.epoch, code, reason)
        self._abort_later(lst)

    def _on_protocol_error(self, code: int, reason: str) -> None:
        # The listener (or picows) failed the connection with CLOSE `code` (RFC 6455 §7.1.7):
        # the code is what metrics(), the requests it ends and telemetry report.
        lst = self._listener if self._listener is not None else self._handshaking
        epoch = lst.epoch if lst is not None else self.epoch
        self._close_code, self._close_reason = code, reason
        self._last_error = f"protocol error {code}: {reason}"
        self._log.warning("closing with %d: %s", code, reason)
        if _tm.active:
            _tm.emit("protocol.error", {"code": code}, {"reason": reason, "epoch": epoch})
        self._fail_pending_on_violation(epoch, code, reason)
        if lst is not None:
            self._abort_later(lst)

    def _fail_pending_on_violation(self, epoch: int, code: int, reason: str) -> None:
        # Nothing after a violation is read: no response can come any more.
        exc = lost(
            f"protocol error: zenws closes the connection with {code} ({reason})",
            sent=True,
            epoch=epoch,
            code=code,
            reason=reason,
        )
        exc.__cause__ = ProtocolError(reason, code)
        self._correlator.fail_all(exc)
        self._fail_limited(epoch, code, reason)

    def _on_violation(self, lst: FastListener, code: int, reason: str) -> None:
        """The read guard stopped at a violation, after delivering every frame before it.

        The connection fails once the messages before it are consumed (DESIGN §3: they
        can still be answered): at once when none wait in the queue, else when
        ``async for`` asks for the message after them or ``on_message`` is set, and
        after ``close_timeout`` at the latest.
        """
        self._drop_violation()
        self._violation = (lst, code, reason)
        self._fail_pending_on_violation(lst.epoch, code, reason)
        loop = self._loop or asyncio.get_running_loop()
        self._violation_timer = loop.call_later(self.config.close_timeout, self._fail_violation)
        self._fail_when_consumed()

    def _fail_when_consumed(self) -> None:
        if self._violation is not None and len(self._queue) == 0:
            self._fail_violation()

    def _fail_violation(self) -> None:
        v = self._violation
        self._drop_violation()
        if v is not None:
            v[0].fail(v[1], v[2])

    def _drop_violation(self) -> None:
        self._violation = None
        if self._violation_timer is not None:
            self._violation_timer.cancel()
            self._violation_timer = None

    def _on_error_no_id(self, payload: bytes, recv_ns: int) -> None:
        if _tm.active:
            _tm.emit(
                "protocol.error",
                {"bytes": len(payload)},
                {"reason": "error response without id", "epoch": self.epoch},
            )

    def _on_callback_error(self, exc: BaseException, msg: Message | None) -> None:
        self._log.error("user callback raised %s (isolated)", type(exc).__name__, exc_info=exc)
        if _tm.active:
            _tm.emit(
                "handler.error",
                {},
                {
                    "error": repr(exc)[:200],
                    "epoch": self.epoch,
                    "channel": getattr(msg, "channel", None),
                },
            )

    def _on_write_paused(self, paused: bool) -> None:
        if not paused:
            self._write_gate.wake()

    def _on_overflow(self, what: str) -> None:
        if what in ("drop_oldest", "drop_newest"):
            if _tm.active:
                _tm.emit("message.dropped", {"count": 1}, {"policy": what, "epoch": self.epoch})
        elif what in ("pause", "resume"):
            # The listener delivering (the open one, or one still in its handshake): pausing
            # its transport's reading lets TCP back-pressure reach the server.
            lst = self._listener if self._listener is not None else self._handshaking
            self._pause_reading(lst, what == "pause")
        elif what == "disconnect":
            if _tm.active:
                _tm.emit("message.dropped", {"count": 1}, {"policy": what, "epoch": self.epoch})
            lst = self._listener
            if lst is not None and not lst.closed:
                self._last_error = (
                    f"receive queue overflow: {self._queue.capacity} messages waiting "
                    '(overflow="disconnect")'
                )
                # RFC 6455 §7.4.1: 1008 = policy violation (we cannot keep up).
                lst.close(1008, "receive queue overflow")
                self._abort_later(lst)

    @staticmethod
    def _pause_reading(lst: FastListener | None, pause: bool) -> None:
        """Stop (or resume) reading ``lst``'s socket: ``overflow="pause_reading"``."""
        wst = lst.transport if lst is not None else None
        if wst is None:
            return
        tr = wst.underlying_transport
        tr.pause_reading() if pause else tr.resume_reading()

    def _abort_later(self, lst: FastListener) -> None:
        # One timer per listener, cancelled when it disconnects (_on_ws_disconnected).
        loop, tr = self._loop, lst.transport
        if tr is None or tr.is_disconnected:
            return
        if loop is not None and id(lst) not in self._abort_timers:
            self._abort_timers[id(lst)] = loop.call_later(self.config.close_timeout, lst.abort)

    # ------------------------------------------------------------------ HeartbeatHost

    def send_ping(self, payload: bytes) -> None:
        """Send a PING frame (heartbeat strategies)."""
        self._open_listener().send_ping(payload)

    def send_text(self, data: str | bytes) -> None:
        """Send a text frame (heartbeat strategies)."""
        self._open_listener().send_text(data)

    def force_reconnect(self, reason: str) -> None:
        """Drop the connection now (CLOSE 1011, then abort): pending fail, reconnect follows."""
        lst = self._listener
        if lst is None:
            return
        self._last_error = reason
        lst.close(1011, reason[:100])
        lst.abort()

    def last_frame_ns(self) -> int:
        """Monotonic ns of the last frame of any kind (connection time if none)."""
        lst = self._listener
        return lst.last_frame_ns if lst is not None else 0

    def last_data_ns(self) -> int:
        """Monotonic ns of the last data frame (connection time if none)."""
        lst = self._listener
        return lst.last_data_ns if lst is not None else 0

    # ------------------------------------------------------------------ reconnect

    async def _reconnect_loop(self, cause: BaseException) -> None:
        down_at = time.time()
        old_epoch = self.epoch
        while self._state is State.RECONNECTING:
            delay = self._supervisor.next_delay(cause)
            if delay is None:
                self._give_up(cause)
                return
            if _tm.active:
                _tm.emit(
                    "connection.reconnecting",
                    {"attempt": self._supervisor.attempt, "delay": delay},
                    {"epoch": old_epoch},
                )
            await asyncio.sleep(delay)
            if self._state is not State.RECONNECTING:
                return
            try:
                await self._open()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                cause = exc
                self._last_error = str(exc)
                self._log.info("reconnect attempt %d failed: %s", self._supervisor.attempt, exc)
                continue
            self._supervisor.reconnects += 1
            try:
                await self._after_reconnect()
            except ConnectionLost:
                return  # a new disconnect started its own reconnect
            if _tm.active:
                up_at = time.time()
                _tm.emit(
                    "connection.reconnected",
                    {"gap_s": up_at - down_at},
                    {
                        "down_at": down_at,
                        "up_at": up_at,
                        "epoch": self.epoch,
                        "previous_epoch": old_epoch,
                    },
                )
            return

    async def _after_reconnect(self) -> None:
        await self._supervisor.run_hooks(self, self._on_callback_error)
        if self.config.restore_subscriptions:
            await self._subscriptions.restore()

    def _give_up(self, cause: BaseException) -> None:
        self._log.error("giving up reconnecting: %s", cause)
        if _tm.active:
            _tm.emit(
                "connection.gave_up",
                {"attempts": self._supervisor.attempt},
                {"error": redact_text(str(cause))[:200], "epoch": self.epoch},
            )
        self._finish_closed(cause)

    async def reconnect(self) -> None:
        """Drop the current connection and reconnect now (pending requests fail).

        Raises:
            ZenwsError: the client is closed, or reconnecting gave up.
        """
        if self._state in (State.CLOSING, State.CLOSED):
            raise ZenwsError("client is closed")
        waiter = (self._loop or asyncio.get_running_loop()).create_future()
        self._open_waiters.append(waiter)
        if self._state is State.OPEN and self._listener is not None:
            self._supervisor.backoff.reset()
            self._manual_reconnect = True
            lst = self._listener
            lst.close(1000, "reconnect")
            lst.abort()
        await waiter

    # ------------------------------------------------------------------ closing

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close with the closing handshake (bounded by ``Config.close_timeout``).

        Args:
            code: close code sent to the server (RFC 6455 §7.4).
            reason: UTF-8 reason (truncated to fit a control frame).
        """
        self._closed_by_app = True
        if self._state is State.CLOSED:
            await self._await_recorder()  # e.g. after giving up: the flush is complete
            return
        if self._state is State.CLOSING:
            while not self.closed:
                await asyncio.sleep(0.01)
            await self._await_recorder()
            return
        self._set_state(State.CLOSING)
        task = self._reconnect_task
        if task is not None and task is not asyncio.current_task() and not task.done():
            task.cancel()
        lst, fut = self._listener, self._disconnected
        if lst is not None and fut is not None:
            lst.close(code, reason)
            try:
                await asyncio.wait_for(asyncio.shield(fut), self.config.close_timeout)
            except (asyncio.TimeoutError, TimeoutError):
                lst.abort()
                try:
                    await asyncio.wait_for(asyncio.shield(fut), 1.0)
                except (asyncio.TimeoutError, TimeoutError):
                    self._on_ws_disconnected(lst)
        self._finish_closed(None)
        await self._await_recorder()

    def _close_recorder(self, rec: Any) -> None:
        # The final flush writes to disk: off the loop (Recorder.aclose, a worker thread),
        # so heartbeats and other clients keep running; close() awaits it.
        aclose = getattr(rec, "aclose", None)
        loop = self._loop
        if aclose is None or loop is None or loop.is_closed():
            rec.close()
            return
        self._recorder_closing = loop.create_task(aclose())

    async def _await_recorder(self) -> None:
        task = self._recorder_closing
        if task is not None:
            await asyncio.shield(task)  # a cancelled close() leaves the flush running

    def _finish_closed(self, exc: BaseException | None) -> None:
        if self._heartbeat is not None:
            self._heartbeat.stop()
        self._liveness.stop()
        what = "client closed"
        kind = ConnectionLost
        if self._closed_by_app:
            what = (
                "the client was closed by the application (close()) while the request was in flight"
            )
            kind = ClientClosed
        gone = kind(
            what,
            sent=True,  # the correlator holds written requests only
            epoch=self.epoch,
            code=self._close_code,
            reason=self._close_reason,
        )
        self._correlator.fail_all(gone)
        self._fail_limited(self.epoch, self._close_code, self._close_reason)
        self._deadlines.cancel()
        self._queue.close(exc if isinstance(exc, ConnectError) else None)
        for w in self._open_waiters:
            if not w.done():
                w.set_exception(exc if exc is not None else gone)
        self._open_waiters.clear()
        rec, self._recorder = self._recorder, None
        if rec is not None and self._owns_recorder:
            self._close_recorder(rec)
        self._closed_exc = exc
        if self.config.name is not None:
            _registry.unregister(self.config.name, self)  # only if still this client
        if self._state is not State.CLOSED:
            if self._state not in (State.CLOSING, State.CONNECTING):
                self._set_state(State.CLOSING)
            self._set_state(State.CLOSED)
