"""Report what this installation of zenws was built with."""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import platform
import sys
from typing import Any

#: Every compiled module zenws ships; each must import or zenws is broken.
FAST_MODULES = ("frame", "jsonrpc", "latency", "ratelimit", "listener", "jsonl", "guard", "book")


def build_info() -> dict[str, Any]:
    """Describe the compiled extensions and kernels in use.

    Returns:
        A dict with ``version``, ``python``, ``platform``, ``picows``, ``aiofastnet``
        (the two packages whose Cython classes zenws is compiled against) and
        ``extensions`` (module name -> path of the loaded shared object) and
        ``simd`` (the masking kernel chosen at run time for this CPU) and ``kernels``
        (every run-time chosen SIMD kernel: ``mask``, ``scan``, ``json``).

    Raises:
        ImportError: if a compiled extension is missing (there is no fallback).
    """
    from ._version import __version__

    extensions = {}
    for name in FAST_MODULES:
        module = importlib.import_module(f"zenws.fast.{name}")
        extensions[name] = getattr(module, "__file__", "")
    frame = importlib.import_module("zenws.fast.frame")
    jsonrpc = importlib.import_module("zenws.fast.jsonrpc")
    return {
        "version": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "picows": importlib.metadata.version("picows"),
        "aiofastnet": importlib.metadata.version("aiofastnet"),
        "extensions": extensions,
        "simd": frame.mask_kernel(),
        "kernels": {
            "mask": frame.mask_kernel(),
            "scan": jsonrpc.scan_kernel(),
            "json": jsonrpc.loads_kernel(),
        },
    }


def get_include() -> str:
    """Directory of the C headers that the ``zenws.fast`` ``.pxd`` files name.

    A Cython module that cimports from ``zenws.fast`` compiles with this directory on
    its include path, like ``numpy.get_include()``::

        Extension("strategy", ["strategy.pyx"], include_dirs=[zenws.get_include()])

    Only the inline helpers of ``zenws_compat.h`` (``zenws.fast.common``) and the
    Cython-level API (cdef classes, ``scan_c``, ``encode_request_c``...) can be called
    from user code; the C kernels themselves are linked into zenws' own extensions.

    Returns:
        The absolute path of ``zenws/include`` inside the installed package.
    """
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "include")
