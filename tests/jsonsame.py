"""Deep equality for JSON differential tests: types, dict order and float bits must match."""

from __future__ import annotations

import struct
from typing import Any


def same(a: Any, b: Any, *, tuples_as_lists: bool = False) -> bool:
    """True when ``a`` and ``b`` are equal values of equal types (floats bit for bit).

    Args:
        a: the value built by zenws (or the reference).
        b: the value to compare with.
        tuples_as_lists: compare a tuple in ``a`` as the list JSON turns it into.
    """
    if tuples_as_lists and isinstance(a, tuple):
        a = list(a)
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return struct.pack("<d", a) == struct.pack("<d", b)
    if isinstance(a, dict):
        return list(a) == list(b) and all(
            same(a[k], b[k], tuples_as_lists=tuples_as_lists) for k in a
        )
    if isinstance(a, list):
        return len(a) == len(b) and all(
            same(x, y, tuples_as_lists=tuples_as_lists) for x, y in zip(a, b, strict=True)
        )
    return bool(a == b)


def without_floats(x: Any) -> Any:
    """The value with every float replaced by a marker string (tuples become lists)."""
    if isinstance(x, float):
        return "<float>"
    if isinstance(x, dict):
        return {k: without_floats(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [without_floats(v) for v in x]
    return x
