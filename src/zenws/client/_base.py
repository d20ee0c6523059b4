"""Shared state declarations of :class:`zenws.Client` and its parts.

The client is split by responsibility: requests (:mod:`zenws.client._requests`),
subscriptions (:mod:`zenws.client._subscriptions`), connection lifecycle
(:mod:`zenws.client._lifecycle`), reconnect policy (:mod:`zenws.client._supervisor`) and the
public class (:mod:`zenws.client`).  This base only declares the attributes they share (set
in ``Client.__init__``) and the methods one part calls on another.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any

from ..config import Config
from ..errors import ConnectionLost
from ..fast.jsonrpc import Correlator
from ..fast.latency import LatencyBuffer
from ..fast.listener import FastListener, Message, MessageQueue, Requester
from ..heartbeat import Heartbeat, Liveness
from ..state import State

if TYPE_CHECKING:
    from ._deadlines import Deadlines
    from ._requests import WriteGate
    from ._subscriptions import Subscriptions
    from ._supervisor import Supervisor

Handler = Callable[[Message], Any]
ReconnectHook = Callable[[Any], Awaitable[Any]]


def lost(
    message: str, *, sent: bool, epoch: int, code: int | None = None, reason: str = ""
) -> ConnectionLost:
    """A :class:`ConnectionLost` carrying ``sent``: whether the request/frame was written.

    ``sent=False`` means provably not written (the client was not open, or the request was
    still in the rate limiter's queue), so another connection may safely take it
    (``zenws.Pool``); ``sent=True`` means it was written and may have been executed.
    """
    return ConnectionLost(message, epoch=epoch, code=code, reason=reason, sent=sent)


def mark_unsent(exc: ConnectionLost) -> ConnectionLost:
    """Tag a ConnectionLost raised before anything was written (``exc.sent = False``)."""
    exc.sent = False
    return exc


class ClientBase:
    """Attributes and cross-part methods of a client (see ``Client.__init__``)."""

    config: Config
    epoch: int
    transport: Any
    subprotocol: str | None
    latency: LatencyBuffer
    _listener_class: type[FastListener]
    _listener: FastListener | None
    _handshaking: FastListener | None
    _state: State
    _log: logging.Logger
    _loop: asyncio.AbstractEventLoop | None
    _correlator: Correlator
    _queue: MessageQueue
    _on_message: Handler | None
    _subscriptions: Subscriptions
    _heartbeat: Heartbeat | None
    _liveness: Liveness
    _limiter: Any
    _supervisor: Supervisor
    _recorder: Any
    _owns_recorder: bool
    _recorder_closing: asyncio.Task[None] | None
    _next_id: int
    _totals: dict[str, int]
    _deadlines: Deadlines
    _req: Requester
    _write_gate: WriteGate
    _waiting: int
    _disconnected: asyncio.Future[None] | None
    _open_waiters: list[asyncio.Future[None]]
    _reconnect_task: asyncio.Task[None] | None
    _close_code: int | None
    _violation: tuple[FastListener, int, str] | None
    _violation_timer: asyncio.TimerHandle | None
    _abort_timers: dict[int, asyncio.TimerHandle]
    _close_reason: str
    _last_error: str | None
    _manual_reconnect: bool
    _closed_exc: BaseException | None
    _closed_by_app: bool
    _debug: bool
    _timeout: float
    _timeout_ns: int
    _idempotent: frozenset[str]

    def _set_state(self, new: State) -> None:
        raise NotImplementedError

    async def _open(self) -> None:
        raise NotImplementedError

    def request(
        self, method: str, params: Any = None, *, timeout: float | None = None
    ) -> Coroutine[Any, Any, Any]:
        raise NotImplementedError

    def _open_listener(self) -> FastListener:
        raise NotImplementedError

    def _on_callback_error(self, exc: BaseException, msg: Message | None) -> None:
        raise NotImplementedError

    def _finish_closed(self, exc: BaseException | None) -> None:
        raise NotImplementedError
