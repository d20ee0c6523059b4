"""zenws.fast: the compiled hot-path primitives (Cython over C kernels in ext/).

Each submodule is a compiled extension with a ``.pxd`` that other Cython code
(including yours) can ``cimport``.  There is no pure-Python fallback: a missing
extension raises ImportError here.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .book import Gap, L2Book
    from .frame import (
        OP_BINARY,
        OP_CLOSE,
        OP_CONT,
        OP_PING,
        OP_PONG,
        OP_TEXT,
        Deflater,
        Frame,
        Inflater,
        MessageAssembler,
        apply_mask,
        decode,
        encode,
        mask_kernel,
    )
    from .jsonrpc import Correlator, ScanResult, encode_request, scan, scan_id, scan_kernel
    from .latency import LatencyBuffer, LatencySummary
    from .listener import FastListener, Message, MessageKind, MessageQueue
    from .ratelimit import Limiter, TokenBucket

# name -> compiled submodule.  Resolved on first use (PEP 562) so that `import zenws` stays
# cheap; a missing extension raises ImportError at that moment, never a fallback.
_WHERE: dict[str, str] = {
    **dict.fromkeys(
        (
            "OP_BINARY",
            "OP_CLOSE",
            "OP_CONT",
            "OP_PING",
            "OP_PONG",
            "OP_TEXT",
            "Deflater",
            "Frame",
            "Inflater",
            "MessageAssembler",
            "apply_mask",
            "decode",
            "encode",
            "mask_kernel",
        ),
        "frame",
    ),
    **dict.fromkeys(
        ("Correlator", "ScanResult", "encode_request", "scan", "scan_id", "scan_kernel"),
        "jsonrpc",
    ),
    **dict.fromkeys(("Gap", "L2Book"), "book"),
    **dict.fromkeys(("LatencyBuffer", "LatencySummary"), "latency"),
    **dict.fromkeys(("FastListener", "Message", "MessageKind", "MessageQueue"), "listener"),
    **dict.fromkeys(("Limiter", "TokenBucket"), "ratelimit"),
}

__all__ = [
    "OP_BINARY",
    "OP_CLOSE",
    "OP_CONT",
    "OP_PING",
    "OP_PONG",
    "OP_TEXT",
    "Correlator",
    "Deflater",
    "FastListener",
    "Frame",
    "Gap",
    "Inflater",
    "L2Book",
    "LatencyBuffer",
    "LatencySummary",
    "Limiter",
    "Message",
    "MessageAssembler",
    "MessageKind",
    "MessageQueue",
    "ScanResult",
    "TokenBucket",
    "apply_mask",
    "decode",
    "encode",
    "encode_request",
    "mask_kernel",
    "scan",
    "scan_id",
    "scan_kernel",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'zenws.fast' has no attribute {name!r}")
    try:
        value = getattr(importlib.import_module(f"zenws.fast.{module}"), name)
    except ModuleNotFoundError as exc:
        if not (exc.name or "").startswith("zenws.fast."):
            raise
        from .._missing import missing_extension

        raise missing_extension(exc.name or f"zenws.fast.{module}") from exc
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_WHERE})
