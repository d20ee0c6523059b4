"""Request deadlines of :class:`zenws.Client`: one timer for every pending request.

The :class:`Deadlines` part owns the sweep timer; it is re-armed at the earliest deadline
in the :class:`~zenws.fast.jsonrpc.Correlator` and tells the compiled
:class:`~zenws.fast.listener.Requester` whether it is armed (``Requester.armed``).
"""

from __future__ import annotations

import asyncio
import logging
import time

from ..errors import RequestTimeout
from ..fast.jsonrpc import Correlator
from ..fast.listener import Requester


class Deadlines:
    """The one deadline timer of a client's requests."""

    __slots__ = ("_correlator", "_log", "_req", "_timeout_ns", "at", "handle", "loop")

    def __init__(
        self, correlator: Correlator, req: Requester, timeout_ns: int, log: logging.Logger
    ) -> None:
        self._correlator = correlator
        self._req = req
        self._timeout_ns = timeout_ns
        self._log = log
        self.loop: asyncio.AbstractEventLoop | None = None  #: set when the client starts
        self.handle: asyncio.TimerHandle | None = None  #: the armed timer, if any
        self.at = 0  #: monotonic ns it fires at (0: not armed)

    def arm(self, deadline_ns: int, now_ns: int) -> None:
        """Fire at ``deadline_ns`` (monotonic ns), replacing the timer armed before."""
        # Never later than one default timeout from now: the compiled fast path skips
        # this check, and its deadlines (now + default) are then never earlier than
        # the armed sweep.
        deadline_ns = min(deadline_ns, now_ns + self._timeout_ns)
        if self.handle is not None:
            self.handle.cancel()
        self.at = deadline_ns
        self.handle = self.loop.call_later(  # type: ignore[union-attr]
            max(deadline_ns - now_ns, 0) / 1e9 + 0.0005, self.expire
        )
        self._req.armed = True

    def cancel(self) -> None:
        """Disarm the timer (the client is closed)."""
        if self.handle is not None:
            self.handle.cancel()
            self.handle = None
            self._req.armed = False

    def expire(self) -> None:
        """Fail every request past its deadline with RequestTimeout; re-arm for the next."""
        self.handle = None
        self.at = 0
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
            self.arm(nxt, now)
