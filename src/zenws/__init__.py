"""zenws: a low-latency WebSocket client for trading, with a Cython/C hot path over picows.

The public names are imported on first use (PEP 562), so ``import zenws`` -- and the pytest
plugin that every test session of a zenws user loads -- stays cheap: the client, picows and
the compiled modules load when a name such as ``zenws.connect`` is first touched.  There is
no fallback: a missing compiled extension is an ``ImportError`` at that moment (and
``import zenws`` itself fails when a core extension is not installed at all).
"""

from __future__ import annotations

import importlib as _importlib
import importlib.util as _importlib_util
from typing import TYPE_CHECKING as _TYPE_CHECKING
from typing import Any as _Any

from ._version import __version__

if _TYPE_CHECKING:  # what mypy and IDEs see; at run time __getattr__ imports on demand
    from . import errors, registry, telemetry
    from ._build import build_info, get_include
    from .client import Client, connect, run
    from .config import Config, DeflateOptions
    from .errors import (
        Category,
        ConfigError,
        ConnectError,
        ConnectionLost,
        Explanation,
        ProtocolError,
        RateLimited,
        RequestTimeout,
        RotationFailed,
        RpcError,
        ZenwsError,
        categorize,
        explain,
    )
    from .message import Message, MessageKind
    from .metrics import HeartbeatHealth, StateMetrics
    from .pool import Pool
    from .recording import Recorder, RecordingError, metadata, record, replay, replay_sync
    from .state import State

# name -> module that defines it ("" = the name is a submodule)
_LAZY: dict[str, str] = {
    "errors": "",
    "registry": "",
    "telemetry": "",
    "build_info": "._build",
    "get_include": "._build",
    "Client": ".client",
    "connect": ".client",
    "run": ".client",
    "Config": ".config",
    "DeflateOptions": ".config",
    "Category": ".errors",
    "ConfigError": ".errors",
    "ConnectError": ".errors",
    "ConnectionLost": ".errors",
    "Explanation": ".errors",
    "ProtocolError": ".errors",
    "RateLimited": ".errors",
    "RequestTimeout": ".errors",
    "RotationFailed": ".errors",
    "RpcError": ".errors",
    "ZenwsError": ".errors",
    "categorize": ".errors",
    "explain": ".errors",
    "Message": ".message",
    "MessageKind": ".message",
    "HeartbeatHealth": ".metrics",
    "StateMetrics": ".metrics",
    "Pool": ".pool",
    "Recorder": ".recorder",
    "RecordingError": ".recorder",
    "metadata": ".recorder",
    "record": ".recorder",
    "replay": ".recorder",
    "replay_sync": ".recorder",
    "State": ".state",
}

__all__ = [
    "Category",
    "Client",
    "Config",
    "ConfigError",
    "ConnectError",
    "ConnectionLost",
    "DeflateOptions",
    "Explanation",
    "HeartbeatHealth",
    "Message",
    "MessageKind",
    "Pool",
    "ProtocolError",
    "RateLimited",
    "Recorder",
    "RecordingError",
    "RequestTimeout",
    "RotationFailed",
    "RpcError",
    "State",
    "StateMetrics",
    "ZenwsError",
    "__version__",
    "build_info",
    "categorize",
    "connect",
    "errors",
    "explain",
    "get_include",
    "metadata",
    "record",
    "registry",
    "replay",
    "replay_sync",
    "run",
    "telemetry",
]


def _located(module: str) -> bool:
    try:
        return _importlib_util.find_spec(module) is not None
    except ImportError:
        return False


# The client's hot path: fail at import, as before, when one is not installed at all.  Only
# located here (a file lookup, no loading); loading happens on first use.
for _name in ("frame", "jsonrpc", "latency", "listener"):
    if not _located(f"zenws.fast.{_name}"):
        from ._missing import missing_extension

        raise missing_extension(f"zenws.fast.{_name}")
del _name, _located


def __getattr__(name: str) -> _Any:
    """Import a public name on first use (PEP 562) and cache it in the module."""
    module = _LAZY.get(name)
    if module is None:
        # Any other submodule (zenws.fast, zenws.heartbeat, ...), as when the eager
        # imports of earlier versions happened to load it.
        if name.startswith("__") or _importlib_util.find_spec(f"{__name__}.{name}") is None:
            raise AttributeError(f"module 'zenws' has no attribute {name!r}")
        module = ""
    try:
        if module:
            value = getattr(_importlib.import_module(module, __name__), name)
        else:
            value = _importlib.import_module(f".{name}", __name__)
    except ModuleNotFoundError as exc:
        if not (exc.name or "").startswith("zenws.fast."):
            raise
        from ._missing import missing_extension

        raise missing_extension(exc.name or "zenws.fast") from exc
    globals()[name] = value
    return value


# What dir(zenws) shows: the public names and the module dunders a tool may look for; not the
# helpers of this file, nor whichever submodule an import happened to bind here.
_DUNDERS = ("__all__", "__doc__", "__file__", "__name__", "__package__", "__path__", "__spec__")


def __dir__() -> list[str]:
    return sorted({*__all__, *_DUNDERS})
