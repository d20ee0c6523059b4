"""Test utilities shipped with zenws: a real mock server, exchange simulators, pytest fixtures.

- :class:`MockServer`: a picows WebSocket server on loopback with capture and fault injection.
- :class:`Scenario`: scripted server behaviour (``server.scenario()``).
- :class:`DeribitSimulator`: Deribit JSON-RPC (auth, heartbeats, subscriptions, orders, limits).
- :class:`FaultProxy`: a TCP proxy with network faults (latency, bandwidth, slicing, blackhole,
  reset, half-close) in front of any server.
- :class:`BinanceSimulator`: Binance's Spot WebSocket API (signatures, rate limits, orders) and
  market streams (depth snapshots consistent with diff streams).
- The pytest plugin (:mod:`zenws.testing.plugin`): fixtures ``zenws_server`` and ``deribit_sim``.

Names are imported lazily so that loading the pytest plugin stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .binance import BinanceKnobs, BinanceSimulator
    from .connection import Connection
    from .deribit import DeribitKnobs, DeribitSimulator
    from .faults import FaultProxy, Faults, ProxyConnection, ProxyStats
    from .handler import EchoHandler, Handler, Received, Refusal, UpgradeRequest
    from .scenario import Scenario
    from .server import MockServer

__all__ = [
    "BinanceKnobs",
    "BinanceSimulator",
    "Connection",
    "DeribitKnobs",
    "DeribitSimulator",
    "EchoHandler",
    "FaultProxy",
    "Faults",
    "Handler",
    "MockServer",
    "ProxyConnection",
    "ProxyStats",
    "Received",
    "Refusal",
    "Scenario",
    "UpgradeRequest",
]

_WHERE = {
    "BinanceKnobs": ".binance",
    "BinanceSimulator": ".binance",
    "Connection": ".connection",
    "DeribitKnobs": ".deribit",
    "DeribitSimulator": ".deribit",
    "EchoHandler": ".handler",
    "FaultProxy": ".faults",
    "Faults": ".faults",
    "Handler": ".handler",
    "MockServer": ".server",
    "ProxyConnection": ".faults",
    "ProxyStats": ".faults",
    "Received": ".handler",
    "Refusal": ".handler",
    "Scenario": ".scenario",
    "UpgradeRequest": ".handler",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'zenws.testing' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
