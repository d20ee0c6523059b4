"""Helpers shared by the client integration tests: telemetry event records and polling waits
(the bare-TCP WebSocket server kit lives in ``tests/rawws.py``).

The ``events`` fixture that fills an ``Event`` list lives in ``tests/integration/conftest.py``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import zenws.client
from zenws.state import State

#: (monotonic ns on arrival, event name, measurements, metadata) of one telemetry event.
Event = tuple[int, str, dict[str, Any], dict[str, Any]]


def named(events: list[Event], name: str) -> list[Event]:
    return [ev for ev in events if ev[1] == name]


async def wait_until(cond: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.005)


async def wait_open(client: zenws.client.Client, epoch: int, timeout: float = 5.0) -> None:
    await wait_until(lambda: client.epoch >= epoch and client.state is State.OPEN, timeout)
