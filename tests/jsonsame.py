"""Deep equality for JSON differential tests: types, dict order and float bits must match.

Both helpers walk the value with an explicit stack, so a value nested as deep as
any parser accepts (orjson takes 255 levels) is compared without touching the
interpreter's recursion limit: the oracle must never be the thing that fails.
"""

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
    stack = [(a, b)]
    while stack:
        x, y = stack.pop()
        if tuples_as_lists and isinstance(x, tuple):
            x = list(x)
        if type(x) is not type(y):
            return False
        if isinstance(x, float):
            if struct.pack("<d", x) != struct.pack("<d", y):
                return False
        elif isinstance(x, dict):
            if list(x) != list(y):
                return False
            stack.extend((x[k], y[k]) for k in x)
        elif isinstance(x, list):
            if len(x) != len(y):
                return False
            stack.extend(zip(x, y, strict=True))
        elif not bool(x == y):
            return False
    return True


def without_floats(x: Any) -> Any:
    """The value with every float replaced by a marker string (tuples become lists)."""
    root: list[Any] = [None]
    # (source value, container to write into, key or index there)
    stack: list[tuple[Any, Any, Any]] = [(x, root, 0)]
    while stack:
        v, into, at = stack.pop()
        if isinstance(v, float):
            into[at] = "<float>"
        elif isinstance(v, dict):
            d: dict[Any, Any] = dict.fromkeys(v)
            into[at] = d
            stack.extend((item, d, k) for k, item in v.items())
        elif isinstance(v, (list, tuple)):
            out: list[Any] = [None] * len(v)
            into[at] = out
            stack.extend((item, out, i) for i, item in enumerate(v))
        else:
            into[at] = v
    return root[0]
