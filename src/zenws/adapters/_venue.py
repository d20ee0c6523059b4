"""What every venue adapter shares: its background tasks, telemetry and ``async with``."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from types import TracebackType
from typing import Any, TypeVar

from .. import telemetry as _tm

_A = TypeVar("_A", bound="VenueClient")


class VenueClient:
    """Base of :class:`~zenws.adapters.DeribitClient` and :class:`~zenws.adapters.BinanceClient`.

    Holds the adapter's background tasks (token refresh, resyncs, logons...), which
    :meth:`close` cancels; ``async with`` closes the adapter on exit.
    """

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    async def close(self) -> None:
        """Stop background tasks; subclasses close their connections after calling this."""
        for task in list(self._tasks):
            task.cancel()

    async def __aenter__(self: _A) -> _A:
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    @staticmethod
    def _emit(event: str, measurements: dict[str, Any], metadata: dict[str, Any]) -> None:
        if _tm.active:
            _tm.emit(event, measurements, metadata)
