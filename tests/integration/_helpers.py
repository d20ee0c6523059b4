"""Helpers shared by the client integration tests: telemetry event records and a wait for a
connection epoch (the bare-TCP WebSocket server kit lives in ``tests/rawws.py``, the waits on a
condition in ``tests/waits.py``).

The ``events`` fixture that fills an ``Event`` list lives in ``tests/integration/conftest.py``.
"""

from __future__ import annotations

from typing import Any

import zenws.client
from waits import wait_until
from zenws.state import State

#: (monotonic ns on arrival, event name, measurements, metadata) of one telemetry event.
Event = tuple[int, str, dict[str, Any], dict[str, Any]]


def named(events: list[Event], name: str) -> list[Event]:
    return [ev for ev in events if ev[1] == name]


async def wait_open(client: zenws.client.Client, epoch: int, timeout: float = 10.0) -> None:
    await wait_until(
        lambda: client.epoch >= epoch and client.state is State.OPEN,
        timeout,
        what=f"connection epoch {epoch} open",
    )
