"""Fixtures shared by the integration tests."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from _helpers import Event

from zenws import telemetry


@pytest.fixture
def events() -> Iterator[list[Event]]:
    """Every telemetry event, stamped with time.monotonic_ns() on arrival."""
    got: list[Event] = []
    handle = telemetry.attach("", lambda e, m, md: got.append((time.monotonic_ns(), e, m, md)))
    yield got
    telemetry.detach(handle)
