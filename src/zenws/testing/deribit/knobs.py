"""Every number the Deribit simulator uses, in one mutable dataclass (change it any time)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ...exchanges import deribit

_CREDITS = deribit.CREDITS

__all__ = ["DeribitKnobs", "RpcFault"]


class RpcFault(Exception):
    """A JSON-RPC error the simulator answers with (``code``, ``message``, optional ``data``)."""

    def __init__(self, code: int, message: str, data: object = None) -> None:
        super().__init__(code, message)
        self.code = code
        self.message = message
        self.data = data

    def to_dict(self) -> dict[str, object]:
        """The ``error`` member of a JSON-RPC response."""
        out: dict[str, object] = {"code": self.code, "message": self.message}
        if self.data is not None:
            out["data"] = self.data
        return out


def _instruments() -> dict[str, tuple[float, float]]:
    return {"BTC-PERPETUAL": (37000.0, 0.5), "ETH-PERPETUAL": (2000.0, 0.05)}


def _rates() -> dict[str, float]:
    return {"raw": 20.0, "100ms": 10.0, "agg2": 1.0}


@dataclass
class DeribitKnobs:
    """Simulator settings; the defaults follow Deribit (:mod:`zenws.exchanges.deribit`).

    Attributes:
        seed: seeds every random choice (prices, amounts, tokens): same seed, same market.
        testnet: value of ``testnet`` in every response.
        version: ``public/test`` result version.
        path: WebSocket path served (``/ws/api/v2``).
        credentials: ``client_id -> client_secret`` accepted by ``public/auth``.
        access_token_ttl: seconds an access token lives (``expires_in``: an int when whole,
            else the fraction as is, for short-lived tokens in tests).
        refresh_token_ttl: seconds a refresh token lives.
        signature_window: seconds a ``client_signature`` timestamp may differ from now.
        min_heartbeat_interval: smallest ``public/set_heartbeat`` interval (Deribit: 10 s);
            lower it in tests for fast heartbeats.
        heartbeat_cycle: message types sent at each interval, cycled (``"test_request"``
            demands a ``public/test`` reply before the next interval; ``"heartbeat"`` does not).
        heartbeat_close_code: close code when a test_request went unanswered.
        idle_timeout: seconds without a client message before the connection is closed.
        max_connections: open connections allowed (the next upgrade gets HTTP 429).
        max_channels_per_subscribe: above this a subscribe gets ``-32600`` without ``id``.
        rate_limits: enforce the credit buckets below.
        credits_pool / credits_cost / credits_refill: non-matching-engine requests.
        subscribe_pool / subscribe_cost / subscribe_refill: subscribe/unsubscribe.
        matching_pool / matching_cost / matching_refill: the matching-engine methods
            (``zenws.exchanges.deribit.MATCHING_ENGINE_METHODS``).
        rate_limit_close_code: close code after a ``10028`` (the session is terminated).
        test_exception_code: error code of ``public/test`` with ``expected_result: exception``.
        instruments: ``name -> (start price, tick size)``.
        book_depth: price levels per side.
        interval_rates: notifications per second for each channel interval.
        market_steps_per_second: how often prices move.
        volatility_ticks: standard deviation of one mid-price step, in ticks.
        trade_probability: chance of a trade at each market step.
        gap_every: deliberately skip one ``change_id`` every N book changes (``None``: never).
        connection_lifetime: seconds after which the server closes each connection
            (``None``: never), as venues do on schedule (Binance: 24 h); read when a
            connection opens.
        lifetime_close_code: close code sent when a connection's lifetime ends.
    """

    seed: int = 0
    testnet: bool = True
    version: str = "1.2.26"
    path: str = "/ws/api/v2"
    credentials: dict[str, str] = field(
        default_factory=lambda: {"sim_client": "sim_secret"}, repr=False
    )
    access_token_ttl: float = 900.0
    refresh_token_ttl: float = 7 * 86400.0
    signature_window: float = 60.0
    min_heartbeat_interval: float = deribit.MIN_HEARTBEAT_INTERVAL
    heartbeat_cycle: tuple[str, ...] = ("test_request",)
    heartbeat_close_code: int = 1000
    idle_timeout: float | None = 600.0
    max_connections: int | None = 32
    max_channels_per_subscribe: int = deribit.MAX_CHANNELS_PER_SUBSCRIBE
    rate_limits: bool = True
    credits_pool: float = float(_CREDITS["credits_pool"])
    credits_cost: float = float(_CREDITS["request_cost"])
    credits_refill: float = float(_CREDITS["credits_refill"])
    subscribe_pool: float = float(_CREDITS["subscribe_pool"])
    subscribe_cost: float = float(_CREDITS["subscribe_cost"])
    subscribe_refill: float = float(_CREDITS["subscribe_refill"])
    matching_pool: float = float(_CREDITS["matching_engine_burst"])
    matching_cost: float = 1.0
    matching_refill: float = float(_CREDITS["matching_engine_rate"])
    rate_limit_close_code: int = deribit.RATE_LIMIT_CLOSE_CODE
    test_exception_code: int = 11094
    instruments: dict[str, tuple[float, float]] = field(default_factory=_instruments)
    book_depth: int = 10
    interval_rates: dict[str, float] = field(default_factory=_rates)
    market_steps_per_second: float = 20.0
    volatility_ticks: float = 1.5
    trade_probability: float = 0.3
    gap_every: int | None = None
    connection_lifetime: float | None = None
    lifetime_close_code: int = 1001
