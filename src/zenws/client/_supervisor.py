"""Reconnect policy of :class:`zenws.Client`: backoff, retry decision, reconnect hooks.

The :class:`Supervisor` owns this state; the lifecycle part asks it how long to wait
before the next attempt and runs the hooks through it after a reconnect.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..config import Config
from ..errors import ConnectionLost
from ..reconnect import Backoff, retry_decision
from ._base import ReconnectHook


class Supervisor:
    """Backoff between attempts, the reconnect hooks and the count of reconnects."""

    __slots__ = ("backoff", "hooks", "reconnects")

    def __init__(self, config: Config) -> None:
        self.backoff = Backoff.from_config(config)
        self.hooks: list[ReconnectHook] = []
        self.reconnects = 0  #: successful reconnects (metrics)

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
