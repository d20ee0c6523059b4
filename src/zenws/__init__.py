"""zenws: a low-latency WebSocket client for trading, with a Cython/C hot path over picows."""

from __future__ import annotations

from ._build import build_info

__version__ = "0.1.0"

__all__ = ["__version__", "build_info"]
