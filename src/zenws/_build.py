"""Report what this installation of zenws was built with."""

from __future__ import annotations

import importlib
import platform
import sys
from typing import Any

#: Every compiled module zenws ships; each must import or zenws is broken.
FAST_MODULES = ("frame", "jsonrpc", "latency", "ratelimit", "listener", "jsonl")


def build_info() -> dict[str, Any]:
    """Describe the compiled extensions and kernels in use.

    Returns:
        A dict with ``version``, ``python``, ``platform``, ``picows`` and
        ``extensions`` (module name -> path of the loaded shared object) and
        ``simd`` (the masking kernel chosen at run time for this CPU).

    Raises:
        ImportError: if a compiled extension is missing (there is no fallback).
    """
    import picows

    from . import __version__

    extensions = {}
    for name in FAST_MODULES:
        module = importlib.import_module(f"zenws.fast.{name}")
        extensions[name] = getattr(module, "__file__", "")
    frame = importlib.import_module("zenws.fast.frame")
    return {
        "version": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "picows": picows.__version__,
        "extensions": extensions,
        "simd": frame.mask_kernel(),
    }
