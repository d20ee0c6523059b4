"""Deribit's wire facts (JSON-RPC 2.0 over WebSocket, API v2).

Sources: https://docs.deribit.com/articles/rate-limits (credits, matching-engine requests),
https://docs.deribit.com/#public-set_heartbeat (heartbeats), https://docs.deribit.com/#errors
(error codes).  Numbers are the documented defaults of a default-tier sub-account; the presets
and simulators that read them let every number be overridden, because tiers differ.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "CREDITS",
    "MATCHING_ENGINE_METHODS",
    "MAX_CHANNELS_PER_SUBSCRIBE",
    "MIN_HEARTBEAT_INTERVAL",
    "RATE_LIMIT_CLOSE_CODE",
    "RETRYABLE_ERRORS",
    "SET_HEARTBEAT",
    "SUBSCRIBE_METHODS",
    "TEST",
    "TOO_MANY_REQUESTS",
]

# ---- methods and their credit classes -------------------------------------------------------

#: Requests executed by the matching engine: a pool of their own (default tier 5 requests/s,
#: burst 20), separate from the credits of every other request.  Deribit's list ("Matching
#: engine requests", rate-limits article) names buy, sell, edit, cancel, cancel_all,
#: cancel_all_by_instrument, cancel_all_by_currency, cancel_by_label, close_position,
#: verify_block_trade and execute_block_trade; the later variants that change a book the same
#: way (edit_by_label, cancel_all_by_currency_pair, cancel_all_by_kind_or_type,
#: move_positions) are in the same class.  Mass quotes (private/mass_quote,
#: private/cancel_quotes) follow their own limits and are not in this table.
MATCHING_ENGINE_METHODS: Final[tuple[str, ...]] = (
    "private/buy",
    "private/sell",
    "private/edit",
    "private/edit_by_label",
    "private/cancel",
    "private/cancel_by_label",
    "private/cancel_all",
    "private/cancel_all_by_instrument",
    "private/cancel_all_by_currency",
    "private/cancel_all_by_currency_pair",
    "private/cancel_all_by_kind_or_type",
    "private/close_position",
    "private/verify_block_trade",
    "private/execute_block_trade",
    "private/move_positions",
)

#: Subscription management draws from its own, more expensive credit pool.
SUBSCRIBE_METHODS: Final[tuple[str, ...]] = (
    "public/subscribe",
    "private/subscribe",
    "public/unsubscribe",
    "private/unsubscribe",
    "public/unsubscribe_all",
    "private/unsubscribe_all",
)

#: Credit system, default tier: every request costs credits from a pool that refills
#: continuously (a token bucket).  ``request_cost`` / ``credits_*``: any request that is
#: neither matching-engine nor subscription (500 credits of a 50,000 pool refilled at 10,000/s:
#: a burst of 100, 20 requests/s sustained); ``subscribe_*``: the subscription pool (a burst of
#: 10, ~3.3 calls/s); ``matching_engine_*``: requests/s and burst of the matching engine.
CREDITS: Final[dict[str, float]] = {
    "request_cost": 500,
    "credits_pool": 50_000,
    "credits_refill": 10_000,
    "subscribe_cost": 3_000,
    "subscribe_pool": 30_000,
    "subscribe_refill": 10_000,
    "matching_engine_rate": 5,
    "matching_engine_burst": 20,
}

#: An exhausted pool is answered with ``10028 too_many_requests`` and the session is ended;
#: the WebSocket close that follows carries 1008 (policy violation).
TOO_MANY_REQUESTS: Final = 10028
RATE_LIMIT_CLOSE_CODE: Final = 1008

# ---- channels ---------------------------------------------------------------------------------

#: An oversized subscribe is answered with an id-less ``-32600 request entity too large``;
#: 250 channels per request stays below it.
MAX_CHANNELS_PER_SUBSCRIBE: Final = 250

# ---- heartbeats -------------------------------------------------------------------------------

#: Turns on server heartbeats: ``{"interval": seconds}``; the server then sends
#: ``heartbeat`` notifications and ``test_request``s, each answered with :data:`TEST`.
SET_HEARTBEAT: Final = "public/set_heartbeat"
TEST: Final = "public/test"
#: ``public/set_heartbeat`` rejects intervals below 10 s.
MIN_HEARTBEAT_INTERVAL: Final = 10.0

# ---- error codes ------------------------------------------------------------------------------

#: Codes after which the same request may succeed later: too many requests, retry, settlement
#: in progress, matching engine queue full, maintenance, temporarily unavailable, timeout.
RETRYABLE_ERRORS: Final[frozenset[int]] = frozenset(
    {TOO_MANY_REQUESTS, 10040, 10041, 10047, 11051, 13028, 13888}
)
