"""Test-suite wide configuration: every async test runs on both event loops."""

from __future__ import annotations

import asyncio
import importlib.metadata
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


def pytest_configure(config: pytest.Config) -> None:
    """Refuse to run against a source tree that is not installed, with the reason.

    The suite tests the installed package: its console script, its pytest plugin (an entry
    point), its metadata and its compiled extensions.  ``PYTHONPATH=src`` alone provides none
    of the first three, and their tests would fail one by one with unclear messages.
    """
    try:
        importlib.metadata.distribution("zenws")
    except importlib.metadata.PackageNotFoundError:
        raise pytest.UsageError(
            "zenws is not installed in this interpreter "
            f"({sys.executable}): the tests need its entry points (console script, "
            "pytest plugin) and metadata. Run `make test` (builds and installs the wheel "
            "into .venv-test) or `pip install -e .` first."
        ) from None
