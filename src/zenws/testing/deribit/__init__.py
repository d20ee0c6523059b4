"""Deribit JSON-RPC simulator for tests and demos (``python -m zenws.testing.deribit``).

Modules: :mod:`.knobs` (every number), :mod:`.auth` (grants, tokens, sessions),
:mod:`.market` (seeded prices and channel streams), :mod:`.orders` (order book),
:mod:`.methods` (the JSON-RPC methods), :mod:`.simulator` (dispatch, heartbeats, rate limits,
chaos hooks).
"""

from __future__ import annotations

from .auth import Session, sign
from .knobs import DeribitKnobs, RpcFault
from .simulator import DeribitSimulator

__all__ = ["DeribitKnobs", "DeribitSimulator", "RpcFault", "Session", "sign"]
