"""Rate-limit presets: :func:`zenws.ratelimit.preset` builds a venue's buckets and cost table.

Public names are re-exported by :mod:`zenws.ratelimit`; import them from there.  Every number
comes from :mod:`zenws.exchanges` (where the venue's documentation is cited) and can be
overridden per call, because limits differ by account tier.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from zenws.errors import ConfigError
from zenws.exchanges import binance, deribit
from zenws.fast.ratelimit import Limiter, TokenBucket

__all__ = [
    "BINANCE_ORDER_METHODS",
    "BINANCE_WEIGHTS",
    "DERIBIT_MATCHING_ENGINE_METHODS",
    "DERIBIT_SUBSCRIBE_METHODS",
    "preset",
]

# The venues' numbers and method tables live in zenws.exchanges (one source, also read by the
# simulators); the presets below turn them into buckets.  See there for the documentation.

#: Requests executed by the matching engine (orders, edits, cancels), limited separately.
DERIBIT_MATCHING_ENGINE_METHODS: tuple[str, ...] = deribit.MATCHING_ENGINE_METHODS

#: Subscription management draws from its own, more expensive pool.
DERIBIT_SUBSCRIBE_METHODS: tuple[str, ...] = deribit.SUBSCRIBE_METHODS

_DERIBIT_DEFAULTS: dict[str, float] = dict(deribit.CREDITS)

#: Weight of common Binance Spot WebSocket API methods (unlisted methods: 1).
BINANCE_WEIGHTS: dict[str, float] = binance.WEIGHTS  # type: ignore[assignment]

_BINANCE_DEFAULTS: dict[str, float] = {
    "weight_per_minute": binance.WEIGHT_PER_MINUTE,
    # Binance counts per calendar minute, a bucket over any 60 s: with
    # burst + 60 * refill == weight_per_minute no minute can exceed the limit.
    "burst": 1200,
    "default_weight": 1,
    # ORDERS: counted per fixed 10 s window; with orders_burst + 10 * refill ==
    # orders_per_10s no 10 s (hence no window) can exceed the limit.
    "orders_per_10s": binance.ORDERS_PER_10S,
    "orders_burst": binance.ORDERS_PER_10S // 2,
}

#: Methods that count toward Binance's ORDERS limits (the ``orders`` bucket).
BINANCE_ORDER_METHODS: tuple[str, ...] = tuple(n for n, m in binance.METHODS.items() if m.orders)

_SIMPLE_DEFAULTS: dict[str, float] = {"rate": 10.0, "burst": 10.0}


def _number(preset_name: str, key: str, value: object, *, positive: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(
            f"rate_limit preset {preset_name!r}: {key} must be a finite number, got {value!r}",
            field="rate_limit",
        )
    if value < 0 or (positive and value == 0):
        bound = "> 0" if positive else ">= 0"
        raise ConfigError(
            f"rate_limit preset {preset_name!r}: {key} must be {bound}, got {value!r}",
            field="rate_limit",
        )
    return float(value)


def _split(
    name: str, defaults: Mapping[str, float], overrides: dict[str, Any], extra: Iterable[str]
) -> dict[str, float]:
    allowed = {*defaults, *extra}
    unknown = sorted(set(overrides) - allowed)
    if unknown:
        raise ConfigError(
            f"rate_limit preset {name!r} has no option(s) {', '.join(unknown)}; "
            f"options: {', '.join(sorted(allowed))}",
            field="rate_limit",
        )
    values = {}
    for key, default in defaults.items():
        value = overrides.get(key, default)
        values[key] = _number(name, key, value, positive=key != "default_weight")
    return values


def _costs(name: str, value: object) -> dict[str, tuple[str, float]]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(
            f"rate_limit preset {name!r}: costs must map method -> (bucket, cost)",
            field="rate_limit",
        )
    return dict(value)


def _methods(name: str, key: str, value: object, default: tuple[str, ...]) -> tuple[str, ...]:
    if value is None:
        return default
    methods = tuple(value) if isinstance(value, Iterable) and not isinstance(value, str) else None
    if methods is None or not all(isinstance(m, str) for m in methods):
        raise ConfigError(
            f"rate_limit preset {name!r}: {key} must be an iterable of method names",
            field="rate_limit",
        )
    return methods


def _deribit(clock: Callable[[], int] | None, overrides: dict[str, Any]) -> Limiter:
    extra = ("costs", "matching_engine_methods", "subscribe_methods")
    v = _split("deribit", _DERIBIT_DEFAULTS, overrides, extra)
    buckets = {
        "non_matching": TokenBucket(v["credits_pool"], v["credits_refill"], clock=clock),
        "subscribe": TokenBucket(v["subscribe_pool"], v["subscribe_refill"], clock=clock),
        "matching_engine": TokenBucket(
            v["matching_engine_burst"], v["matching_engine_rate"], clock=clock
        ),
    }
    costs: dict[str, tuple[str, float]] = {}
    me = _methods(
        "deribit",
        "matching_engine_methods",
        overrides.get("matching_engine_methods"),
        DERIBIT_MATCHING_ENGINE_METHODS,
    )
    subs = _methods(
        "deribit",
        "subscribe_methods",
        overrides.get("subscribe_methods"),
        DERIBIT_SUBSCRIBE_METHODS,
    )
    costs.update((m, ("matching_engine", 1.0)) for m in me)
    costs.update((m, ("subscribe", v["subscribe_cost"])) for m in subs)
    costs.update(_costs("deribit", overrides.get("costs")))
    return Limiter(buckets, costs, ("non_matching", v["request_cost"]))


def _binance(clock: Callable[[], int] | None, overrides: dict[str, Any]) -> Limiter:
    v = _split("binance", _BINANCE_DEFAULTS, overrides, ("costs",))
    per_minute, burst = v["weight_per_minute"], v["burst"]
    if burst > per_minute:
        raise ConfigError(
            f"rate_limit preset 'binance': burst ({burst:g}) cannot exceed "
            f"weight_per_minute ({per_minute:g})",
            field="rate_limit",
        )
    per_10s, orders_burst = v["orders_per_10s"], v["orders_burst"]
    if not 1 <= orders_burst <= per_10s:
        raise ConfigError(
            f"rate_limit preset 'binance': orders_burst ({orders_burst:g}) must be >= 1 and "
            f"<= orders_per_10s ({per_10s:g})",
            field="rate_limit",
        )
    bucket = TokenBucket(burst, (per_minute - burst) / 60.0, clock=clock)
    orders = TokenBucket(orders_burst, (per_10s - orders_burst) / 10.0, clock=clock)
    costs = {m: ("weight", float(w)) for m, w in BINANCE_WEIGHTS.items()}
    # One bucket per method: order placement draws from ORDERS (its weight, 1, is left to
    # the server's REQUEST_WEIGHT counts, which correct the weight bucket).
    costs.update((m, ("orders", 1.0)) for m in BINANCE_ORDER_METHODS)
    costs.update(_costs("binance", overrides.get("costs")))
    return Limiter({"weight": bucket, "orders": orders}, costs, ("weight", v["default_weight"]))


def _simple(clock: Callable[[], int] | None, overrides: dict[str, Any]) -> Limiter:
    defaults = dict(_SIMPLE_DEFAULTS)
    if "rate" in overrides and "burst" not in overrides:
        rate = _number("simple", "rate", overrides["rate"], positive=True)
        defaults["burst"] = max(1.0, rate)  # burst follows the rate
    v = _split("simple", defaults, overrides, ("costs",))
    if v["burst"] < 1:
        raise ConfigError(
            f"rate_limit preset 'simple': burst must be >= 1 (one request), got {v['burst']:g}",
            field="rate_limit",
        )
    bucket = TokenBucket(v["burst"], v["rate"], clock=clock)
    return Limiter({"default": bucket}, _costs("simple", overrides.get("costs")), ("default", 1.0))


_PRESETS = {"deribit": _deribit, "binance": _binance, "simple": _simple}


def preset(name: str, *, clock: Callable[[], int] | None = None, **overrides: Any) -> Limiter:
    """Build the :class:`Limiter` of a named exchange preset.

    Presets and their options (every number can be overridden):

    * ``"deribit"`` (buckets ``non_matching``, ``subscribe``, ``matching_engine``):
      ``request_cost=500``, ``credits_pool=50_000``, ``credits_refill=10_000`` (per s);
      ``subscribe_cost=3_000``, ``subscribe_pool=30_000``, ``subscribe_refill=10_000``;
      ``matching_engine_rate=5`` (requests/s), ``matching_engine_burst=20``;
      ``matching_engine_methods`` and ``subscribe_methods`` replace the method lists.
    * ``"binance"`` (buckets ``weight`` and ``orders``): ``weight_per_minute=6000``,
      ``burst=1200`` (refill is ``(weight_per_minute - burst) / 60`` per s, so no calendar
      minute exceeds the limit), ``default_weight=1``; method weights from
      :data:`BINANCE_WEIGHTS`.  Order placement (:data:`BINANCE_ORDER_METHODS`) costs one
      token of ``orders`` instead of its weight (one bucket per method):
      ``orders_per_10s=50``, ``orders_burst=25`` (refill ``(orders_per_10s - orders_burst)
      / 10`` per s, so no 10 s window exceeds the limit).
    * ``"simple"`` (bucket ``default``): one token per request, ``rate=10`` per s,
      ``burst`` (default ``max(1, rate)``).

    Every preset also takes ``costs={method: (bucket, cost)}`` to add or replace
    table entries, and ``clock`` (a callable returning int ns; tests use it).

    Args:
        name: ``"deribit"``, ``"binance"`` or ``"simple"``.
        clock: the buckets' clock (default the C monotonic clock).
        **overrides: the preset's options above.

    Returns:
        A new :class:`Limiter` (buckets start full).

    Raises:
        ConfigError: an unknown preset or option, or a bad value (``field="rate_limit"``).
    """
    build = _PRESETS.get(name) if isinstance(name, str) else None
    if build is None:
        raise ConfigError(
            f"unknown rate_limit preset {name!r}; choose one of {', '.join(sorted(_PRESETS))}",
            field="rate_limit",
        )
    return build(clock, overrides)
