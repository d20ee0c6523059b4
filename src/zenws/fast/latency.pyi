"""Type stubs for zenws.fast.latency (ring of int64 ns samples, percentiles)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple, SupportsIndex, final

import numpy as np
import numpy.typing as npt
from typing_extensions import Buffer

__all__ = ["LatencyBuffer", "LatencySummary"]

class LatencySummary(NamedTuple):
    """Latency statistics in nanoseconds (all 0 for an empty buffer)."""

    p50: int
    p90: int
    p99: int
    p999: int
    min: int
    max: int
    mean: float
    last: int
    # The field shadows tuple.count(); the name is part of the public contract.
    count: int  # type: ignore[assignment]

@final
class LatencyBuffer:
    """Ring buffer of the last `capacity` int64 nanosecond samples."""

    def __init__(self, capacity: int = 1024) -> None: ...
    def add(self, ns: SupportsIndex) -> None: ...
    def extend(self, values: Buffer | Iterable[SupportsIndex]) -> None: ...
    @property
    def capacity(self) -> int: ...
    @property
    def count(self) -> int: ...
    @property
    def last(self) -> int: ...
    def __len__(self) -> int: ...
    def percentiles(self, qs: Iterable[float]) -> tuple[int, ...]: ...
    def summary(self) -> LatencySummary: ...
    def to_numpy(self) -> npt.NDArray[np.int64]: ...
    def clear(self) -> None: ...

def _force_selection_fallback(on: bool) -> None: ...
