"""Test-suite wide configuration: every async test runs on both event loops."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Mapping

import pytest

LOOP_FACTORIES: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "asyncio": asyncio.new_event_loop,
}
if sys.platform != "win32":
    import uvloop

    LOOP_FACTORIES["uvloop"] = uvloop.new_event_loop


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> Mapping[str, Callable[[], asyncio.AbstractEventLoop]]:
    """Parametrize every asyncio test over the plain asyncio loop and uvloop."""
    return LOOP_FACTORIES
