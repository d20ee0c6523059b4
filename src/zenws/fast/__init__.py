"""zenws.fast: the compiled hot-path primitives (Cython over C kernels in ext/).

Each submodule is a compiled extension with a ``.pxd`` that other Cython code
(including yours) can ``cimport``.  There is no pure-Python fallback: a missing
extension raises ImportError here.
"""

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
    "Inflater",
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
