"""Scripted server behaviour that reads as a story instead of a series of sleeps.

Example::

    story = (
        server.scenario()
        .on_connect().send({"hello": "client"})
        .after(messages=2).send("two received")
        .after(seconds=0.2).close(4000, "bye")
        .on_connect().abort()          # the reconnect is reset at once
    )
    ...  # drive a client
    await story.wait(timeout=5)        # re-raises a failure of the script

Triggers run in order; each waits relative to the previous step.  Message counts are exact
positions (``after(messages=2).after(messages=1)`` fires on the 3rd message even if all three
arrive in one burst) and start when the scenario is created.  ``on_connect()`` waits for the
*next* new connection and binds the following steps to it; without it the steps act on the
newest open connection.  Actions are added after a trigger and run together when it fires.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .connection import Connection
    from .server import MockServer

__all__ = ["Scenario"]

log = logging.getLogger("zenws.testing")

Action = Callable[["Connection"], Any]


@dataclass
class _Step:
    kind: str  # "connect" | "messages" | "seconds" | "start"
    value: float = 0.0
    actions: list[Action] = field(default_factory=list)


class Scenario:
    """A script of triggers and actions running against a :class:`~zenws.testing.MockServer`.

    Create it with :meth:`MockServer.scenario`; it starts running on the next loop iteration, so
    build the whole chain synchronously.
    """

    def __init__(self, server: MockServer) -> None:
        """Start the script task (steps are added by the builder methods)."""
        self.server = server
        self.steps: list[_Step] = [_Step("start")]
        self.log: list[str] = []
        self._seen_connections = len(server.all_connections)
        # Messages already received when the scenario was created do not count for after().
        self._baseline = {c.id: c.messages_in for c in server.connections}
        self._task = asyncio.get_running_loop().create_task(self._run())
        self._task.add_done_callback(_report)

    # ------------------------------------------------------------------ triggers
    def on_connect(self) -> Scenario:
        """Wait for the next new connection; later steps act on it."""
        self.steps.append(_Step("connect"))
        return self

    def after(self, messages: int | None = None, *, seconds: float | None = None) -> Scenario:
        """Wait for ``messages`` more client messages on the bound connection, or ``seconds``.

        Args:
            messages: count of further messages (since the previous step fired).
            seconds: time since the previous step fired.

        Raises:
            ValueError: neither or both given.
        """
        if (messages is None) == (seconds is None):
            raise ValueError("after() takes exactly one of messages=... or seconds=...")
        if messages is not None:
            self.steps.append(_Step("messages", float(messages)))
        else:
            self.steps.append(_Step("seconds", float(seconds or 0.0)))
        return self

    # ------------------------------------------------------------------ actions
    def do(self, fn: Action) -> Scenario:
        """Run ``fn(connection)`` (sync or async) when the current trigger fires."""
        self.steps[-1].actions.append(fn)
        return self

    def send(self, msg: Any) -> Scenario:
        """Send a message (str, bytes or JSON-able)."""
        return self.do(lambda c: c.send(msg))

    def send_raw(self, data: bytes) -> Scenario:
        """Write raw bytes on the TCP stream."""
        return self.do(lambda c: c.send_raw(data))

    def send_frame(self, opcode: int, payload: bytes | str = b"", **flags: Any) -> Scenario:
        """Send a hand-built frame (see :meth:`Connection.send_frame`)."""
        return self.do(lambda c: c.send_frame(opcode, payload, **flags))

    def close(self, code: int = 1000, reason: str = "") -> Scenario:
        """Close with exactly this code and reason."""
        return self.do(lambda c: c.close(code, reason))

    def abort(self) -> Scenario:
        """Reset the TCP connection (no close frame)."""
        return self.do(lambda c: c.abort())

    def stall(self) -> Scenario:
        """Go silent with the socket open."""
        return self.do(lambda c: c.stall())

    def ignore_pings(self, enabled: bool = True) -> Scenario:
        """Stop (or resume) answering PINGs."""
        return self.do(lambda c: c.ignore_pings(enabled))

    def delay_replies(self, seconds: float) -> Scenario:
        """Delay later outgoing data frames."""
        return self.do(lambda c: c.delay_replies(seconds))

    # ------------------------------------------------------------------ running
    @property
    def done(self) -> bool:
        """True once every step ran (or the script failed / was cancelled)."""
        return self._task.done()

    async def wait(self, timeout: float = 5.0) -> None:
        """Wait for the script to finish.

        Raises:
            AssertionError: it did not finish in time (shows the steps that ran).
            Exception: whatever an action raised.
        """
        try:
            await asyncio.wait_for(asyncio.shield(self._task), timeout)
        except (TimeoutError, asyncio.TimeoutError):
            ran = "; ".join(self.log) or "nothing"
            raise AssertionError(
                f"scenario not finished within {timeout}s; ran: {ran}; "
                f"waiting on step {len(self.log) + 1} of {len(self.steps)}"
            ) from None

    def cancel(self) -> None:
        """Stop the script (the server does this on stop)."""
        self._task.cancel()

    async def _run(self) -> None:
        await asyncio.sleep(0)  # let the builder chain finish
        conn: Connection | None = None
        mark = 0
        for index, step in enumerate(self.steps):
            if step.kind == "connect":
                conn = await self._next_connection()
                mark = 0
            elif step.kind == "messages":
                if conn is None:  # bind to the newest connection, counting from creation
                    conn = await self._latest()
                    mark = self._baseline.get(conn.id, 0)
                mark += int(step.value)  # message positions are exact: after(2), after(1) = 3rd
                await self._wait_messages(conn, mark)
            elif step.kind == "seconds":
                await asyncio.sleep(step.value)
                if conn is not None:
                    mark = _count(conn)
                else:  # not bound yet: later after(messages=...) count from here
                    self._baseline = {c.id: c.messages_in for c in self.server.connections}
            if step.actions:
                conn = conn or await self._latest()
            self.log.append(f"{index}:{step.kind}@{time.monotonic():.3f}")
            for action in step.actions:
                assert conn is not None
                result = action(conn)
                if asyncio.iscoroutine(result) or isinstance(result, asyncio.Future):
                    await result

    async def _wait_messages(self, conn: Connection, target: int) -> None:
        await self.server._wait_until(lambda: _count(conn) >= target, timeout=None)

    async def _next_connection(self) -> Connection:
        want = self._seen_connections + 1
        await self.server._wait_until(
            lambda: len(self.server.all_connections) >= want, timeout=None
        )
        self._seen_connections = want
        return self.server.all_connections[want - 1]

    async def _latest(self) -> Connection:
        await self.server._wait_until(lambda: bool(self.server.connections), None)
        conn = self.server.connections[-1]
        self._seen_connections = max(self._seen_connections, len(self.server.all_connections))
        return conn


def _report(task: asyncio.Task[None]) -> None:
    # Retrieve the exception so it is logged once here even if nobody awaits wait().
    if not task.cancelled() and task.exception() is not None:
        log.error("scenario failed", exc_info=task.exception())


def _count(conn: Connection) -> int:
    # Counts all messages ever received, not the bounded capture, so long runs stay exact.
    return conn.messages_in
