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


#: SIMD level of every kernel name the dispatchers report, narrowest first; the
#: portable kernels ("scalar", "scalar64", "swar") use none.
SIMD_LEVELS = ("sse2", "neon", "avx2", "avx512")


#: Names of the detector's feature bits (zenws_cpu.h ZENWS_CPU_*), in bit order.
CPU_FEATURES = (
    (0x01, "sse2"),
    (0x02, "sse4.2"),
    (0x04, "avx2"),
    (0x08, "avx512"),
    (0x10, "pclmulqdq"),
    (0x20, "neon"),
)

_LEVEL_RANK = {"none": 0, "sse2": 1, "neon": 1, "avx2": 2, "avx512": 3}


def _simd_level(kernel: str) -> str:
    return kernel if kernel in SIMD_LEVELS else "none"


def _overrides(
    kernels: dict[str, str], available: dict[str, tuple[str, ...]], env: dict[str, str]
) -> dict[str, str]:
    """Per dispatcher, the environment variable that decided its kernel, when one did.

    A per-kernel variable (either spelling) decides when the kernel it names is the one
    running; else ``ZENWS_CPU`` decides when it names a level below the widest kernel
    this CPU runs for that dispatcher.  An unknown or unsupported value decides nothing.
    """
    out = {}
    cap = _LEVEL_RANK.get(env.get("ZENWS_CPU", ""), -1)
    for name, chosen in kernels.items():
        upper = name.upper()
        for var in (f"ZENWS_KERNEL_{upper}", f"ZENWS_{upper}_KERNEL"):
            if env.get(var) == chosen:
                out[name] = var
                break
        else:
            widest = max(_LEVEL_RANK[_simd_level(k)] for k in available[name])
            if 0 <= cap < widest:
                out[name] = "ZENWS_CPU"
    return out


def _scan_kernels(jsonrpc: Any) -> tuple[str, ...]:
    # the scan dispatcher has no "available" list: try each kernel, then restore the choice
    # (every kernel gives the same results, so a scan in between is unaffected)
    before = jsonrpc.scan_kernel()
    out = []
    try:
        for name in ("scalar", "sse2", "avx2", "avx512"):
            try:
                jsonrpc._set_scan_kernel(name)
            except ValueError:
                continue
            out.append(name)
    finally:
        jsonrpc._set_scan_kernel(before)
    return tuple(out)


def build_info() -> dict[str, Any]:
    """Describe the compiled extensions and the SIMD kernels in use.

    Returns:
        A dict with ``version``, ``python``, ``platform``, ``machine``, ``picows``,
        ``aiofastnet`` (the two packages whose Cython classes zenws is compiled against),
        ``extensions`` (module name -> path of the loaded shared object) and the CPU view,
        every part of which comes from the run-time dispatchers themselves:

        - ``kernels``: the kernel each dispatcher chose (``mask``, ``utf8``, ``scan``,
          ``json``);
        - ``kernels_available``: per dispatcher, every kernel this CPU and build can run;
        - ``cpu``: the SIMD levels this CPU offers to zenws (the union of the levels
          above, narrowest first, e.g. ``("sse2", "avx2", "avx512")``);
        - ``cpu_features``: what the one detector found (``"sse2"``, ``"sse4.2"``,
          ``"avx2"``, ``"avx512"``, ``"pclmulqdq"``, ``"neon"``; AVX counts only when
          the OS saves its registers);
        - ``cpu_env``: the ``ZENWS_CPU`` / ``ZENWS_KERNEL_<NAME>`` variables (or their
          older ``ZENWS_<NAME>_KERNEL`` spelling) the dispatcher read, with their values;
        - ``overrides``: per dispatcher whose choice the environment decided, the
          variable that did (a dispatcher left to pick on its own is absent);
        - ``simd``: the widest level a chosen kernel uses (``"none"`` for portable C).
          A kernel runs below it when it has no wider variant (masking has none past
          AVX2), when capped by ``ZENWS_CPU`` or when forced by ``ZENWS_KERNEL_<NAME>``
          (docs/packaging.md, "CPU features and kernel choice").

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
    kernels = {
        "mask": frame.mask_kernel(),
        "utf8": frame.utf8_kernel(),
        "scan": jsonrpc.scan_kernel(),
        "json": jsonrpc.loads_kernel(),
    }
    available = {
        "mask": tuple(frame.mask_kernels()),
        "utf8": tuple(frame._utf8_kernels()),
        "scan": _scan_kernels(jsonrpc),
        "json": tuple(jsonrpc._json_kernels()),
    }
    bits = frame._cpu_features()
    env = frame._cpu_env()
    levels = {_simd_level(k) for names in available.values() for k in names}
    used = {_simd_level(k) for k in kernels.values()}
    return {
        "version": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "picows": importlib.metadata.version("picows"),
        "aiofastnet": importlib.metadata.version("aiofastnet"),
        "extensions": extensions,
        "simd": next((lv for lv in reversed(SIMD_LEVELS) if lv in used), "none"),
        "cpu": tuple(lv for lv in SIMD_LEVELS if lv in levels),
        "cpu_features": tuple(name for bit, name in CPU_FEATURES if bits & bit),
        "cpu_env": env,
        "overrides": _overrides(kernels, available, env),
        "kernels": kernels,
        "kernels_available": available,
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
