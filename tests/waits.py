"""Waits on a condition with a deadline, shared by the whole test suite.

A test that needs something to happen first waits for exactly that, up to a generous deadline,
instead of sleeping a fixed time and hoping it was long enough: on a slow, shared machine the wait
costs time, never a false failure, and on a fast one it costs nothing. A fixed sleep stays only
where the scenario itself needs one (a window in which nothing may happen, pacing a server or a
feed); such a sleep says so in a comment.

``wait_until`` is for coroutines on the event loop; ``wait_until_sync`` for plain threads (a
recorder's writer thread, a file another process writes).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

#: The default deadline, in seconds: generous, since it only matters when a test fails.
TIMEOUT = 10.0


def _timed_out(cond: Callable[[], Any], timeout: float, what: str) -> AssertionError:
    return AssertionError(f"condition not reached within {timeout} s: {what or cond}")


async def wait_until(
    cond: Callable[[], Any], timeout: float = TIMEOUT, what: str = "", interval: float = 0.005
) -> None:
    """Return as soon as ``cond()`` is true; raise ``AssertionError`` once ``timeout`` passes.

    ``cond`` is checked right before the deadline is, so a condition met while the loop was held
    up still counts. ``what`` names the condition in the failure message.
    """
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise _timed_out(cond, timeout, what)
        await asyncio.sleep(interval)


def wait_until_sync(
    cond: Callable[[], Any], timeout: float = TIMEOUT, what: str = "", interval: float = 0.005
) -> None:
    """``wait_until`` for code off the event loop: blocks this thread while it polls."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise _timed_out(cond, timeout, what)
        time.sleep(interval)
