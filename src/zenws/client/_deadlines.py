"""Request deadlines of :class:`zenws.Client`: one timer for every pending request.

The :class:`Deadlines` part owns the sweep timer; it is re-armed at the earliest deadline
in the :class:`~zenws.fast.jsonrpc.Correlator` of every connection it watches (usually
one; two while a connection is being replaced) and tells the compiled
:class:`~zenws.fast.listener.Requester` whether it is armed (``Requester.armed``).
"""

from __future__ import annotations

import asyncio
import logging
import time

from ..errors import ConnectionLost, RequestTimeout
from ..fast.jsonrpc import Correlator
from ..fast.listener import Requester


class Deadlines:
    """The one deadline timer of a client's requests."""

    __slots__ = ("_correlators", "_log", "_req", "_timeout_ns", "at", "handle", "loop")

    def __init__(self, req: Requester, timeout_ns: int, log: logging.Logger) -> None:
        self._correlators: list[Correlator] = []
        self._req = req
        self._timeout_ns = timeout_ns
        self._log = log
        self.loop: asyncio.AbstractEventLoop | None = None  #: set when the client starts
        self.handle: asyncio.TimerHandle | None = None  #: the armed timer, if any
        self.at = 0  #: monotonic ns it fires at (0: not armed)

    def watch(self, correlator: Correlator) -> None:
        """Sweep ``correlator``'s requests too."""
        if all(c is not correlator for c in self._correlators):
            self._correlators.append(correlator)

    def unwatch(self, correlator: Correlator) -> None:
        """Stop sweeping ``correlator``."""
        self._correlators = [c for c in self._correlators if c is not correlator]

    @property
    def pending(self) -> int:
        """Requests in flight in every watched correlator."""
        return sum(c.pending for c in self._correlators)

    def fail_all(self, exc: ConnectionLost) -> None:
        """Fail every request of every watched correlator with ``exc``."""
        for c in self._correlators:
            c.fail_all(exc)

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
        nxt: int | None = None
        for correlator in list(self._correlators):
            for rid, waiter in correlator.expire(now):
                exc = RequestTimeout("request timed out", request_id=rid)
                if isinstance(waiter, asyncio.Future):
                    if not waiter.done():
                        waiter.set_exception(exc)
                else:
                    try:
                        waiter(exc)
                    except Exception as e:  # a hot-path waiter must not break the sweep
                        self._log.debug("expired waiter raised %r", e)
            at = correlator.next_deadline()
            if at is not None and (nxt is None or at < nxt):
                nxt = at
        if nxt is not None:
            self.arm(nxt, now)
