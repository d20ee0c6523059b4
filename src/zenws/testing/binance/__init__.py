"""Binance Spot simulator for tests and demos: WebSocket API and market streams.

Modules: :mod:`.knobs` (every number, :class:`ApiError`), :mod:`.auth` (keys, signatures,
``recvWindow``, sessions), :mod:`.market` (books, trades, stream broadcast), :mod:`.orders`
(account, orders, user-data events), :mod:`.api` (the WebSocket API methods),
:mod:`.streams` (market-stream connections), :mod:`.simulator` (routing, rate limits,
heartbeats, lifetimes).  The wire facts come from :mod:`zenws.exchanges.binance`.
"""

from __future__ import annotations

from .knobs import ApiError, BinanceKnobs
from .simulator import BinanceSimulator

__all__ = ["ApiError", "BinanceKnobs", "BinanceSimulator"]
