"""zenws.fast.latency: LatencyBuffer ring, percentiles vs numpy "inverted_cdf"."""

from __future__ import annotations

import importlib.machinery
import math
import pickle
from array import array
from collections.abc import Iterator

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zenws.errors import ConfigError
from zenws.fast import latency
from zenws.fast.latency import LatencyBuffer, LatencySummary

INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)


def ref(values: np.ndarray | list[int], qs: list[float]) -> tuple[int, ...]:
    arr = np.asarray(values, dtype=np.int64)
    return tuple(int(v) for v in np.percentile(arr, qs, method="inverted_cdf"))


def filled(values: list[int] | np.ndarray, capacity: int | None = None) -> LatencyBuffer:
    buf = LatencyBuffer(capacity if capacity is not None else max(1, len(values)))
    buf.extend(np.asarray(values, dtype=np.int64))
    return buf


def test_compiled_extension_loaded() -> None:
    # The compiled module is what is tested, never a pure-Python stand-in.
    assert isinstance(latency.__loader__, importlib.machinery.ExtensionFileLoader)
    assert latency.__file__ is not None
    assert latency.__file__.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))


# ---- the nearest-rank definition -------------------------------------------


def boundary_qs(n: int) -> list[float]:
    """Every percentile where the rank changes for n samples, and its float neighbours."""
    out = []
    for k in range(n + 1):
        q = 100.0 * k / n
        for v in (q, float(np.nextafter(q, -np.inf)), float(np.nextafter(q, np.inf))):
            if 0.0 <= v <= 100.0:
                out.append(v)
    return out


GRID = [i / 100 for i in range(10_001)]  # 0, 0.01, ..., 100


@pytest.mark.parametrize("n", range(1, 66))
def test_rank_formula_equals_numpy_exhaustively(n: int) -> None:
    # Distinct values shuffled: the returned value identifies the chosen rank.
    values = np.random.default_rng(n).permutation(n).astype(np.int64) * 7 - 3
    buf = filled(values)
    qs = GRID + boundary_qs(n) + [0.0, 100.0, 5e-324, 99.99999999999999, 50.0, 99.9]
    assert buf.percentiles(qs) == ref(values, qs)


@pytest.mark.parametrize("n", [1, 2, 3, 7, 99, 100, 101, 999, 1000, 1001, 100_000])
def test_common_percentiles_and_extremes(n: int) -> None:
    values = np.random.default_rng(7).integers(-(10**12), 10**12, n)
    buf = filled(values)
    qs = [0, 0.1, 1, 25, 50, 75, 90, 99, 99.9, 99.99, 100]
    assert buf.percentiles(qs) == ref(values, qs)
    assert buf.percentiles((0, 100)) == (values.min(), values.max())


def organ_pipe(n: int) -> np.ndarray:
    half = np.arange(n // 2)
    return np.concatenate([half, half[::-1], [0] * (n % 2)])


@pytest.mark.parametrize(
    "make",
    [
        lambda n: np.zeros(n, dtype=np.int64),
        lambda n: np.arange(n),
        lambda n: np.arange(n)[::-1],
        organ_pipe,
        lambda n: np.random.default_rng(1).integers(0, 3, n),
        lambda n: np.random.default_rng(2).integers(0, 50, n),
        lambda n: np.tile([5, 1, 4, 2, 3], n // 5 + 1)[:n],
        lambda n: np.where(np.arange(n) % 100 == 0, 10**9, 1000),
    ],
    ids=["equal", "sorted", "reversed", "organ", "3vals", "50vals", "sawtooth", "spikes"],
)
@pytest.mark.parametrize("n", [5, 601, 5000, 60_000])
def test_adversarial_shapes_and_duplicates(make, n: int) -> None:  # type: ignore[no-untyped-def]
    values = np.asarray(make(n), dtype=np.int64)
    qs = [0, 1, 10, 33.3, 50, 50, 66.7, 90, 99, 99.9, 100]
    assert filled(values).percentiles(qs) == ref(values, qs)


@settings(max_examples=300, deadline=None)
@given(
    values=st.lists(INT64, min_size=1, max_size=300),
    capacity=st.integers(min_value=1, max_value=400),
    qs=st.lists(st.floats(min_value=0, max_value=100), min_size=0, max_size=24),
)
def test_percentiles_match_numpy_with_wraparound(
    values: list[int], capacity: int, qs: list[float]
) -> None:
    buf = LatencyBuffer(capacity)
    for v in values:
        buf.add(v)
    window = values[-capacity:]
    assert buf.to_numpy().tolist() == window
    assert buf.percentiles(qs) == ref(window, qs)
    assert len(buf) == len(window)
    assert buf.count == len(values)
    assert buf.last == values[-1]


@settings(max_examples=100, deadline=None)
@given(values=st.lists(st.integers(-5, 5), min_size=1, max_size=2000))
def test_percentiles_with_heavy_duplicates(values: list[int]) -> None:
    qs = [0, 12.5, 50, 87.5, 99, 100]
    assert filled(values).percentiles(qs) == ref(values, qs)


@pytest.fixture
def heap_fallback() -> Iterator[None]:
    """Run the O(n log k) heap-select fallback on every range (normally only for
    inputs that defeat Floyd-Rivest partitioning)."""
    latency._force_selection_fallback(True)
    try:
        yield
    finally:
        latency._force_selection_fallback(False)


@pytest.mark.parametrize("n", [1, 2, 3, 10, 601, 5000])
def test_heap_select_fallback_matches_numpy(heap_fallback: None, n: int) -> None:
    rng = np.random.default_rng(n)
    qs = [0, 0.1, 10, 50, 50, 90, 99, 99.9, 100]
    for values in (rng.integers(-(10**9), 10**9, n), rng.integers(0, 4, n), np.arange(n)[::-1]):
        assert filled(values).percentiles(qs) == ref(values, qs)
    values = rng.integers(0, 10**6, n)
    buf = filled(values)
    s = buf.summary()
    assert (s.p50, s.p90, s.p99, s.p999) == ref(values, [50, 90, 99, 99.9])


@settings(max_examples=50, deadline=None)
@given(values=st.lists(INT64, min_size=1, max_size=700), qs=st.lists(st.floats(0, 100)))
def test_heap_select_fallback_property(values: list[int], qs: list[float]) -> None:
    latency._force_selection_fallback(True)
    try:
        assert filled(values).percentiles(qs) == ref(values, qs)
    finally:
        latency._force_selection_fallback(False)


def test_percentiles_keep_request_order_and_duplicates() -> None:
    buf = filled(list(range(1, 101)))
    assert buf.percentiles([99, 1, 50, 1, 100, 0]) == (99, 1, 50, 1, 100, 1)
    assert buf.percentiles([]) == ()
    assert buf.percentiles(iter([50.0])) == (50,)
    assert buf.percentiles(np.array([25.0, 75.0])) == (25, 75)


def test_many_percentiles_at_once() -> None:
    values = np.random.default_rng(3).integers(0, 10**6, 10_000)
    qs = [i / 4 for i in range(401)]  # more than the on-stack fast path holds
    assert filled(values).percentiles(qs) == ref(values, qs)


def test_percentiles_do_not_disturb_the_ring() -> None:
    buf = LatencyBuffer(8)
    buf.extend([5, 3, 9, 1, 7, 2, 8, 4, 6, 0])  # wraps
    before = buf.to_numpy().tolist()
    buf.percentiles((10, 50, 90))
    buf.summary()
    assert buf.to_numpy().tolist() == before == [9, 1, 7, 2, 8, 4, 6, 0]


# ---- errors ------------------------------------------------------------------


def test_empty_buffer_percentiles_raise_clear_error() -> None:
    with pytest.raises(ValueError, match="empty"):
        LatencyBuffer(4).percentiles((50,))


@pytest.mark.parametrize("bad", [-0.001, 100.0001, 1e9, -math.inf, math.inf, math.nan])
def test_percentile_outside_range_rejected(bad: float) -> None:
    buf = filled([1, 2, 3])
    with pytest.raises(ValueError, match=r"\[0, 100\]"):
        buf.percentiles((50, bad))


def test_percentiles_need_an_iterable_of_numbers() -> None:
    buf = filled([1, 2, 3])
    with pytest.raises(TypeError):
        buf.percentiles(50)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        buf.percentiles(["50"])  # type: ignore[list-item]


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "8", None, 2**41])
def test_capacity_validated(bad: object) -> None:
    with pytest.raises(ConfigError) as info:
        LatencyBuffer(bad)  # type: ignore[arg-type]
    assert info.value.field == "capacity"


@pytest.mark.parametrize("bad", [1.5, "7", None, b"1"])
def test_add_rejects_non_integers(bad: object) -> None:
    buf = LatencyBuffer(4)
    with pytest.raises(TypeError):
        buf.add(bad)  # type: ignore[arg-type]
    assert buf.count == 0 and len(buf) == 0


def test_add_range_is_int64() -> None:
    buf = LatencyBuffer(4)
    buf.add(2**63 - 1)
    buf.add(-(2**63))
    buf.add(np.int32(-5))
    with pytest.raises(OverflowError):
        buf.add(2**63)
    assert buf.to_numpy().tolist() == [2**63 - 1, -(2**63), -5]


def test_extend_is_all_or_nothing() -> None:
    buf = LatencyBuffer(4)
    buf.add(1)
    with pytest.raises(TypeError):
        buf.extend([2, 3, 4.5])  # type: ignore[list-item]
    with pytest.raises(OverflowError):
        buf.extend([2, 2**64])
    with pytest.raises(TypeError):
        buf.extend(np.array([1.0, 2.0]))
    assert buf.to_numpy().tolist() == [1] and buf.count == 1 and buf.last == 1


# ---- extend sources, order, summary -------------------------------------------


def gen(n: int):  # type: ignore[no-untyped-def]
    yield from range(n)


@pytest.mark.parametrize(
    "source",
    [
        lambda n: np.arange(n, dtype=np.int64),
        lambda n: np.arange(n, dtype=np.int32),
        lambda n: np.arange(2 * n, dtype=np.int64)[::2] // 2,
        lambda n: list(range(n)),
        lambda n: tuple(range(n)),
        gen,
        lambda n: array("q", range(n)),
        lambda n: memoryview(array("q", range(n))),
        lambda n: range(n),
    ],
    ids=["ndarray", "int32", "strided", "list", "tuple", "gen", "array", "memoryview", "range"],
)
@pytest.mark.parametrize("n", [0, 1, 5, 8, 13, 30])
def test_extend_sources_and_wraparound(source, n: int) -> None:  # type: ignore[no-untyped-def]
    buf = LatencyBuffer(8)
    buf.extend([-1, -2, -3])
    buf.extend(source(n))
    expected = [-1, -2, -3, *range(n)][-8:]
    assert buf.to_numpy().tolist() == expected
    assert buf.count == 3 + n
    assert buf.last == expected[-1]
    assert len(buf) == len(expected)


def test_extend_readonly_array() -> None:
    arr = np.arange(5, dtype=np.int64)
    arr.flags.writeable = False
    buf = LatencyBuffer(3)
    buf.extend(arr)
    assert buf.to_numpy().tolist() == [2, 3, 4]


def test_to_numpy_oldest_first_after_wrap() -> None:
    buf = LatencyBuffer(5)
    for v in range(1, 13):
        buf.add(v * 10)
    out = buf.to_numpy()
    assert out.dtype == np.int64
    assert out.tolist() == [80, 90, 100, 110, 120]
    out[0] = -1  # a copy, not a view of the ring
    assert buf.to_numpy()[0] == 80
    assert LatencyBuffer(3).to_numpy().shape == (0,)


def test_summary_fields_match_numpy() -> None:
    rng = np.random.default_rng(11)
    values = rng.integers(1_000, 5_000_000, 5_000)
    buf = LatencyBuffer(4_096)
    buf.extend(values)
    window = values[-4_096:]
    s = buf.summary()
    assert isinstance(s, LatencySummary)
    assert (s.p50, s.p90, s.p99, s.p999) == ref(window, [50, 90, 99, 99.9])
    assert s.min == window.min() and s.max == window.max()
    assert s.mean == pytest.approx(float(window.mean()), rel=1e-12)
    assert s.last == values[-1]
    assert s.count == 5_000
    assert s._fields == ("p50", "p90", "p99", "p999", "min", "max", "mean", "last", "count")
    assert pickle.loads(pickle.dumps(s)) == s


def test_summary_of_empty_buffer_is_all_zero() -> None:
    s = LatencyBuffer(4).summary()
    assert tuple(s) == (0, 0, 0, 0, 0, 0, 0.0, 0, 0)


def test_summary_single_sample_and_negative_values() -> None:
    buf = LatencyBuffer(4)
    buf.add(-42)
    assert buf.summary() == LatencySummary(-42, -42, -42, -42, -42, -42, -42.0, -42, 1)


def test_clear_resets_everything() -> None:
    buf = LatencyBuffer(3)
    buf.extend([1, 2, 3, 4])
    buf.clear()
    assert len(buf) == 0 and buf.count == 0 and buf.last == 0
    assert buf.to_numpy().tolist() == []
    buf.extend([7, 8])
    assert buf.to_numpy().tolist() == [7, 8]
    assert buf.percentiles((0, 100)) == (7, 8)


def test_properties_and_repr() -> None:
    buf = LatencyBuffer(16)
    assert buf.capacity == 16 and buf.last == 0 and buf.count == 0 and len(buf) == 0
    buf.add(5)
    assert repr(buf) == "LatencyBuffer(capacity=16, len=1, count=1)"
    assert LatencyBuffer().capacity == 1024
