"""zenws: a low-latency WebSocket client for trading, with a Cython/C hot path over picows."""

from __future__ import annotations

from . import errors, telemetry
from ._build import build_info
from .client import Client, connect, run
from .config import Config
from .errors import (
    ConfigError,
    ConnectError,
    ConnectionLost,
    ProtocolError,
    RateLimited,
    RequestTimeout,
    RpcError,
    ZenwsError,
)
from .message import Message, MessageKind
from .metrics import HeartbeatHealth, StateMetrics
from .pool import Pool
from .recorder import metadata, record, replay
from .state import State

__version__ = "0.1.0"

__all__ = [
    "Client",
    "Config",
    "ConfigError",
    "ConnectError",
    "ConnectionLost",
    "HeartbeatHealth",
    "Message",
    "MessageKind",
    "Pool",
    "ProtocolError",
    "RateLimited",
    "RequestTimeout",
    "RpcError",
    "State",
    "StateMetrics",
    "ZenwsError",
    "__version__",
    "build_info",
    "connect",
    "errors",
    "metadata",
    "record",
    "replay",
    "run",
    "telemetry",
]
