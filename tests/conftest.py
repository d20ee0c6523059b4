"""Test-suite wide configuration.

* Every async test runs on both event loops (asyncio and uvloop).
* Hypothesis: no test depends on the machine's speed (no per-example deadline, no
  "too slow" health check), and the examples are derived from each test's name
  (``derandomize``), so a run reproduces the one before it on any machine.  Exploring
  with fresh random examples is a local job: ``ZENWS_HYPOTHESIS=explore pytest ...``
  (a failure prints the ``@reproduce_failure`` blob to pin it).
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import os
import sys
from collections.abc import Callable, Mapping

import pytest
from hypothesis import HealthCheck, settings

_STEADY = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow]}
settings.register_profile("repeatable", derandomize=True, **_STEADY)
settings.register_profile("explore", print_blob=True, **_STEADY)
settings.load_profile(os.environ.get("ZENWS_HYPOTHESIS", "repeatable"))

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
