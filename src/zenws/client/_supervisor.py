"""Supervision of :class:`zenws.Client`: state machine, backoff, reconnect loop, hooks,
heartbeat and liveness.

The :class:`Supervisor` owns the client's state (:func:`zenws.state.transition`), why the
last connection ended (``close_code``, ``close_reason``, ``last_error``), the backoff and
the reconnect hooks, the reconnect loop, the waiters for the next OPEN, and the heartbeat
and dead-peer timers of the open connection.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from .. import heartbeat as _hb
from .. import telemetry as _tm
from .._redact import redact_text
from ..config import Config
from ..errors import ConnectionLost
from ..heartbeat import Heartbeat, Liveness
from ..reconnect import AttemptLimit, Backoff, retry_decision
from ..state import State, transition

ReconnectHook = Callable[[Any], Awaitable[Any]]


class Supervisor:
    """State, reconnect policy and the open connection's heartbeat of one client."""

    __slots__ = (
        "_log",
        "attempt_limit",
        "backoff",
        "close_code",
        "close_reason",
        "closed_by_app",
        "epoch",
        "heartbeat",
        "hooks",
        "last_error",
        "liveness",
        "loop",
        "manual_reconnect",
        "open_waiters",
        "reconnect_task",
        "reconnects",
        "state",
    )

    def __init__(self, config: Config, log: logging.Logger) -> None:
        self._log = log
        self.state = State.CONNECTING
        self.epoch = 0  #: epoch of the current (or last) connection
        self.backoff = Backoff.from_config(config)
        self.attempt_limit = AttemptLimit.of(config.attempt_limit)
        self.hooks: list[ReconnectHook] = []
        self.reconnects = 0  #: successful reconnects (metrics)
        self.close_code: int | None = None
        self.close_reason = ""
        self.last_error: str | None = None
        self.closed_by_app = False  # close() was called: requests get ClientClosed
        self.manual_reconnect = False
        self.loop: asyncio.AbstractEventLoop | None = None
        self.open_waiters: list[asyncio.Future[None]] = []
        self.reconnect_task: asyncio.Task[None] | None = None
        # from_config applies the documented defaults: dead-peer window = heartbeat_timeout,
        # else max(2 x interval, the strategy's interval + timeout) with a heartbeat; the
        # dead-peer timer defers to the strategy's verdict; rejects timeout <= interval.
        heartbeat, liveness = _hb.from_config(config)
        self.heartbeat: Heartbeat | None = heartbeat
        self.liveness: Liveness = liveness if liveness is not None else _hb.Liveness(None, None)

    # ------------------------------------------------------------------ state

    def transition(self, new: State, debug: bool) -> None:
        """Move to ``new`` (RuntimeError for a transition the table forbids)."""
        old = self.state
        self.state = transition(old, new)
        if debug and old is not new:
            self._log.debug("state %s -> %s (epoch %d)", old.name, new.name, self.epoch)

    @property
    def ending(self) -> bool:
        """CLOSING or CLOSED."""
        return self.state in (State.CLOSING, State.CLOSED)

    def opened(self) -> None:
        """A connection opened: reset the backoff, wake those waiting for OPEN."""
        self.backoff.on_connected(time.monotonic())
        for w in self.open_waiters:
            if not w.done():
                w.set_result(None)
        self.open_waiters.clear()

    def lost(self) -> None:
        """The open connection ended: stop its timers, start the backoff's clock."""
        self.stop_watch()
        self.backoff.on_disconnected(time.monotonic())

    def fail_waiters(self, exc: BaseException) -> None:
        """The client closed: those waiting for OPEN get ``exc``."""
        for w in self.open_waiters:
            if not w.done():
                w.set_exception(exc)
        self.open_waiters.clear()

    def open_waiter(self) -> asyncio.Future[None]:
        """A future resolved at the next OPEN (failed if the client closes first)."""
        waiter = (self.loop or asyncio.get_running_loop()).create_future()
        self.open_waiters.append(waiter)
        return waiter

    async def wait_open(self, timeout: float) -> None:
        """Return once OPEN, within ``timeout`` s (``TimeoutError`` otherwise)."""
        if self.state is State.OPEN:
            return
        await asyncio.wait_for(self.open_waiter(), timeout)

    # ------------------------------------------------------------------ heartbeat

    def start_watch(self, host: Any) -> None:
        """Start the heartbeat and the dead-peer timer on the open connection of ``host``."""
        if self.heartbeat is not None:
            self.heartbeat.start(host)
        if self.liveness.enabled:
            self.liveness.start(host)

    def stop_watch(self) -> None:
        """Stop the heartbeat and the dead-peer timer."""
        if self.heartbeat is not None:
            self.heartbeat.stop()
        self.liveness.stop()

    # ------------------------------------------------------------------ reconnecting

    def add_hook(self, hook: ReconnectHook) -> None:
        """Run ``await hook(client)`` after each reconnect (in the order added)."""
        self.hooks.append(hook)

    def next_delay(self, cause: BaseException) -> float | None:
        """Seconds to wait before the next attempt after ``cause``; None: give up."""
        retry, retry_after = retry_decision(cause)
        return self.backoff.next_delay(retry_after) if retry else None

    @property
    def attempt(self) -> int:
        """Attempts since the last reset (telemetry)."""
        return int(self.backoff.attempt)

    async def run_hooks(self, client: Any, on_error: Callable[[BaseException, None], None]) -> None:
        """Await every hook with ``client``; a raising hook is reported to ``on_error``.

        Raises:
            ConnectionLost: a hook lost the new connection (a new reconnect has begun).
        """
        for hook in list(self.hooks):
            try:
                await hook(client)
            except ConnectionLost:
                raise
            except Exception as exc:
                on_error(exc, None)

    def start_reconnect(
        self,
        cause: BaseException,
        open_: Callable[[], Awaitable[None]],
        after: Callable[[], Awaitable[None]],
        give_up: Callable[[BaseException], None],
    ) -> None:
        """Run :meth:`reconnect_loop` in a task (the state is RECONNECTING)."""
        loop = self.loop or asyncio.get_running_loop()
        self.reconnect_task = loop.create_task(self.reconnect_loop(cause, open_, after, give_up))

    def cancel_reconnect(self) -> None:
        """Cancel the reconnect loop (unless it is the caller)."""
        task = self.reconnect_task
        if task is not None and task is not asyncio.current_task() and not task.done():
            task.cancel()

    async def attempt_slot(self, state: State) -> bool:
        """Wait until ``attempt_limit`` allows a connection attempt, and count it.

        Returns:
            False when the state left ``state`` meanwhile (no attempt: the caller stops).
        """
        limit = self.attempt_limit
        if limit is None:
            return True
        while (wait := limit.wait()) > 0:
            self._log.info("connection attempts at their limit (%r): next in %.3f s", limit, wait)
            await asyncio.sleep(wait)
            if self.state is not state:
                return False
        limit.record()
        return True

    async def reconnect_loop(
        self,
        cause: BaseException,
        open_: Callable[[], Awaitable[None]],
        after: Callable[[], Awaitable[None]],
        give_up: Callable[[BaseException], None],
    ) -> None:
        """Backoff, ``open_()``, then ``after()`` (hooks, subscriptions), until OPEN.

        ``give_up(cause)`` when the retry decision says stop.
        """
        down_at = time.time()
        old_epoch = self.epoch
        while self.state is State.RECONNECTING:
            delay = self.next_delay(cause)
            if delay is None:
                self._log.error("giving up reconnecting: %s", cause)
                if _tm.active:
                    _tm.emit(
                        "connection.gave_up",
                        {"attempts": self.attempt},
                        {"error": redact_text(str(cause))[:200], "epoch": self.epoch},
                    )
                give_up(cause)
                return
            if _tm.active:
                _tm.emit(
                    "connection.reconnecting",
                    {"attempt": self.attempt, "delay": delay},
                    {"epoch": old_epoch},
                )
            await asyncio.sleep(delay)
            if self.state is not State.RECONNECTING:
                return
            if not await self.attempt_slot(State.RECONNECTING):
                return
            try:
                await open_()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                cause = exc
                self.last_error = str(exc)
                self._log.info("reconnect attempt %d failed: %s", self.attempt, exc)
                continue
            self.reconnects += 1
            try:
                await after()
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
