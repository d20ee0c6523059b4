"""Misuse a type checker must flag: each ``# E: <code>`` line has exactly that mypy error.

Never imported or run (see ``test_mypy.py``).  Proves the public API is not silently
``Any``: a stub that lost its types would let these through.
"""

from __future__ import annotations

import zenws
from zenws.fast.jsonrpc import scan
from zenws.fast.latency import LatencyBuffer
from zenws.fast.ratelimit import TokenBucket


async def misuse() -> None:
    await zenws.connect(9000)  # E: arg-type
    client = await zenws.connect("ws://127.0.0.1:9000")
    await client.request(42)  # E: arg-type
    client.sned(b"typo")  # E: attr-defined
    TokenBucket(10, 1.0).try_acquire("one")  # E: arg-type
    LatencyBuffer().add("1500")  # E: arg-type
    scan("not bytes")  # E: arg-type
    p99: str = LatencyBuffer().summary().p99  # E: assignment
    zenws.Config.new()  # E: call-arg
    print(p99)
