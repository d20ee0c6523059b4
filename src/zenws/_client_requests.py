"""Sending and JSON-RPC requests of :class:`zenws.Client` (deadlines, fast path)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine
from typing import Any

import orjson

from . import telemetry as _tm
from ._client_base import ClientBase, lost, mark_unsent
from ._redact import redact_mapping
from .config import _seconds
from .errors import ClientClosed, ConnectionLost, ProtocolError, RequestTimeout, RpcError
from .fast.listener import FastListener, result_of
from .state import State


class RequestsMixin(ClientBase):
    """``send()``, ``request()`` and the one deadline timer for all requests."""

    # ------------------------------------------------------------------ sending

    def _open_listener(self) -> FastListener:
        lst = self._listener
        if lst is None and self._handshaking is not None:
            # A callback answering a message that arrived with the 101 response,
            # before open() returned: the connection is usable already.
            lst = self._handshaking
        elif self._state is not State.OPEN:
            lst = None
        if lst is None or lst.closed:
            raise self._not_open(lst)
        return lst

    def _not_open(self, lst: FastListener | None) -> ConnectionLost:
        # What stops a request or send() (nothing was written): the application's own
        # close(), the server's CLOSE already received, or the state of the connection.
        if self._closed_by_app:
            return ClientClosed(
                "the client was closed by the application (close()); nothing was sent",
                epoch=self.epoch,
                code=self._close_code,
                reason=self._close_reason,
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
            f"connection is {self._state.name.lower()}",
            sent=False,
            epoch=self.epoch,
            code=self._close_code,
            reason=self._close_reason,
        )

    def send(self, data: str | bytes | bytearray | memoryview | dict[str, Any] | list[Any]) -> None:
        """Send one message without waiting (str -> text, bytes -> binary, dict/list -> JSON).

        Never blocks: the frame goes into the transport's write buffer (watch
        ``metrics().write_paused`` for back-pressure).

        Raises:
            ConnectionLost: the connection is not open.
            TypeError: unsupported data type.
        """
        lst = self._open_listener()
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

    def request(
        self, method: str, params: Any = None, *, timeout: float | None = None
    ) -> Coroutine[Any, Any, Any]:
        """Send a JSON-RPC 2.0 request and return its ``result`` (``await`` it).

        Compiled: each client binds its :class:`~zenws.fast.listener.Requester`'s
        ``request`` here, so the common call (default deadline, no rate limiter, no
        back-pressure, no debug logging, no telemetry handler) creates the compiled
        request coroutine with no Python frame in between; any other call runs the
        general path (an ``async def``).

        Args:
            method: the JSON-RPC method.
            params: JSON-serializable params (orjson), or ``None``.
            timeout: seconds (default ``Config.request_timeout``); every request has one.
                Validated like ``request_timeout`` (a finite number > 0) before anything
                is sent.

        Returns:
            The ``result`` member of the response.

        Raises:
            ConfigError: ``timeout`` is not a finite number > 0 (nothing was sent).
            RpcError: the response carried an ``error`` object.
            ProtocolError: the response to this request was malformed (``close_code`` is
                None, ``reason`` says what was wrong); the connection stays open.
            RequestTimeout: no response before the deadline (the entry is removed).
            ConnectionLost: not open, or the connection dropped while waiting
                (``zenws.errors.ClientClosed`` after the application's own ``close()``).
            RateLimited: the rate limiter's queue is full.
        """
        return self._req.request(method, params, timeout=timeout)

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
                if self._state in (State.CLOSING, State.CLOSED) or left <= 0:
                    raise
                try:
                    await self._wait_open(left)
                except (asyncio.TimeoutError, TimeoutError):
                    raise lost(
                        f"{method}: not reconnected within its {t} s deadline",
                        sent=getattr(exc, "sent", True) is not False,
                        epoch=self.epoch,
                    ) from None

    async def _wait_open(self, timeout: float) -> None:
        if self._state is State.OPEN:
            return
        waiter = (self._loop or asyncio.get_running_loop()).create_future()
        self._open_waiters.append(waiter)
        await asyncio.wait_for(waiter, timeout)

    async def _request_once(self, method: str, params: Any, timeout: float | None) -> Any:
        lst = self._listener
        if lst is None or lst.closed or self._state is not State.OPEN:
            lst = self._open_listener()  # raises ConnectionLost; no tokens taken yet
        limiter = self._limiter
        if limiter is not None and not limiter.acquire_nowait(method):
            # FIFO wait; a disconnect fails it at once (RateLimiter.close in the
            # disconnect path), so it never outlives its connection.
            await limiter.acquire(method)
        t = self._timeout if timeout is None else timeout
        sent = 0
        fut = self._loop.create_future()  # type: ignore[union-attr]
        try:
            if limiter is not None:
                lst = self._open_listener()  # the connection may be gone after the wait
            if lst.write_paused:
                await self._wait_writable()
                lst = self._open_listener()
            rid = lst.send_request(method, params, fut, int(t * 1e9))
        except BaseException as exc:
            # Not written (closed connection, cancelled back-pressure wait, params that
            # do not encode): the tokens were not used, give them back.
            if limiter is not None:
                limiter.refund(method)
            if isinstance(exc, ConnectionLost):
                mark_unsent(exc)
            raise
        deadline = lst.last_deadline_ns
        if deadline < self._sweep_at or self._sweep is None:
            self._arm_sweep(deadline, time.monotonic_ns())
        if self._debug:
            self._log.debug(
                "request %s id=%d params=%s epoch=%d",
                method,
                rid,
                redact_mapping(params),
                self.epoch,
            )
        if _tm.active:
            sent = time.monotonic_ns()
            _tm.emit("request.sent", {}, {"method": method, "id": rid, "epoch": self.epoch})
        try:
            payload = await fut
        except asyncio.CancelledError:
            self._correlator.discard(rid)
            raise
        except RequestTimeout:
            if _tm.active:
                _tm.emit("request.timeout", {"timeout": t}, {"method": method, "id": rid})
            raise RequestTimeout(
                f"{method} (id {rid}) got no response within {t} s",
                method=method,
                request_id=rid,
                timeout=t,
            ) from None
        except ConnectionLost:
            if _tm.active:
                _tm.emit("request.failed", {}, {"method": method, "id": rid, "epoch": self.epoch})
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

    async def _wait_writable(self) -> None:
        ev = self._writable
        if ev is not None:
            await ev.wait()

    def _arm_sweep(self, deadline_ns: int, now_ns: int) -> None:
        # Never later than one default timeout from now: the compiled fast path skips
        # this check, and its deadlines (now + default) are then never earlier than
        # the armed sweep.
        deadline_ns = min(deadline_ns, now_ns + self._timeout_ns)
        if self._sweep is not None:
            self._sweep.cancel()
        self._sweep_at = deadline_ns
        self._sweep = self._loop.call_later(  # type: ignore[union-attr]
            max(deadline_ns - now_ns, 0) / 1e9 + 0.0005, self._expire
        )
        self._req.armed = True

    def _expire(self) -> None:
        self._sweep = None
        self._sweep_at = 0
        self._req.armed = False
        now = time.monotonic_ns()
        for rid, waiter in self._correlator.expire(now):
            exc = RequestTimeout("request timed out", request_id=rid)
            if isinstance(waiter, asyncio.Future):
                if not waiter.done():
                    waiter.set_exception(exc)
            else:
                try:
                    waiter(exc)
                except Exception as e:  # a hot-path waiter must not break the sweep
                    self._log.debug("expired waiter raised %r", e)
        nxt = self._correlator.next_deadline()
        if nxt is not None:
            self._arm_sweep(nxt, now)
