"""The JSON-RPC methods of the Deribit simulator, one function each.

Each takes ``(sim, conn, session, params)`` and returns the ``result`` value or raises
:class:`~zenws.testing.deribit.knobs.RpcFault`.  Private methods receive an authenticated
session (the dispatcher checks it first).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ...exchanges import deribit
from .auth import Session
from .knobs import RpcFault
from .market import now_ms

if TYPE_CHECKING:
    from ..connection import Connection
    from .simulator import DeribitSimulator

__all__ = ["MATCHING", "METHODS", "SUBSCRIBE"]

Method = Callable[["DeribitSimulator", "Connection", Session, dict[str, Any]], Any]


def _invalid(param: str, reason: str) -> RpcFault:
    return RpcFault(-32602, "Invalid params", {"reason": reason, "param": param})


# ------------------------------------------------------------------ public
def test(sim: DeribitSimulator, conn: Connection, s: Session, p: dict[str, Any]) -> Any:
    """``public/test`` (with an id it also answers a heartbeat test_request: see simulator)."""
    if p.get("expected_result") == "exception":
        raise RpcFault(sim.knobs.test_exception_code, "internal_server_error")
    return {"version": sim.knobs.version}


def get_time(sim: DeribitSimulator, conn: Connection, s: Session, p: dict[str, Any]) -> Any:
    """``public/get_time``: milliseconds since the epoch."""
    return now_ms()


def set_heartbeat(sim: DeribitSimulator, conn: Connection, s: Session, p: dict[str, Any]) -> Any:
    """``public/set_heartbeat {interval}`` (seconds, >= ``min_heartbeat_interval``)."""
    interval = p.get("interval")
    if not isinstance(interval, (int, float)) or isinstance(interval, bool):
        raise _invalid("interval", "must be a number")
    if interval < sim.knobs.min_heartbeat_interval:
        raise _invalid("interval", f"must be >= {sim.knobs.min_heartbeat_interval:g}")
    sim.start_heartbeat(conn, s, float(interval))
    return "ok"


def disable_heartbeat(
    sim: DeribitSimulator, conn: Connection, s: Session, p: dict[str, Any]
) -> Any:
    """``public/disable_heartbeat``."""
    sim.stop_heartbeat(s)
    return "ok"


def auth(sim: DeribitSimulator, conn: Connection, s: Session, p: dict[str, Any]) -> Any:
    """``public/auth``: authenticates this connection's session."""
    client_id, result = sim.tokens.grant(p)
    s.client_id, s.access_token = client_id, result["access_token"]
    return result


def subscribe(sim: DeribitSimulator, conn: Connection, s: Session, p: dict[str, Any]) -> Any:
    """``public/subscribe`` and ``private/subscribe``: returns the channels now subscribed."""
    channels = _channels(p)
    private = s.client_id is not None
    if not private and any(c.endswith(".raw") and not c.startswith("user.") for c in channels):
        raise RpcFault(13778, "raw_subscriptions_not_available_for_unauthorized")
    accepted: list[str] = []
    for channel in channels:
        if channel.startswith("user."):
            if not private:
                continue
        elif (
            channel not in s.subscriptions
            and not sim.market.subscribe(channel, conn)
            and not sim.accepts_channel(channel)
        ):
            continue  # unknown channels are left out of the result
        s.subscriptions.add(channel)
        accepted.append(channel)
    return accepted


def unsubscribe(sim: DeribitSimulator, conn: Connection, s: Session, p: dict[str, Any]) -> Any:
    """``public/unsubscribe`` and ``private/unsubscribe``."""
    removed = [c for c in _channels(p) if c in s.subscriptions]
    for channel in removed:
        s.subscriptions.discard(channel)
        sim.market.unsubscribe(channel, conn)
    return removed


def unsubscribe_all(sim: DeribitSimulator, conn: Connection, s: Session, p: dict[str, Any]) -> Any:
    """``public/unsubscribe_all``."""
    for channel in list(s.subscriptions):
        sim.market.unsubscribe(channel, conn)
    s.subscriptions.clear()
    return "ok"


def _channels(p: dict[str, Any]) -> list[str]:
    channels = p.get("channels")
    if not isinstance(channels, list) or not all(isinstance(c, str) for c in channels):
        raise _invalid("channels", "must be a list of strings")
    return channels


def hello(sim: DeribitSimulator, conn: Connection, s: Session, p: dict[str, Any]) -> Any:
    """``public/hello {client_name, client_version}``."""
    return {"version": sim.knobs.version}


def get_order_book(sim: DeribitSimulator, conn: Connection, s: Session, p: dict[str, Any]) -> Any:
    """``public/get_order_book {instrument_name, depth?}``: the current simulated book."""
    inst = sim.market.instruments.get(p.get("instrument_name", ""))
    if inst is None:
        raise _invalid("instrument_name", "unknown instrument")
    inst.catch_up()
    depth = int(p.get("depth", sim.knobs.book_depth))
    bids = [[inst.price(t), inst.bids[t]] for t in sorted(inst.bids, reverse=True)][:depth]
    asks = [[inst.price(t), inst.asks[t]] for t in sorted(inst.asks)][:depth]
    return dict(inst.ticker(), bids=bids, asks=asks)


def get_index_price(sim: DeribitSimulator, conn: Connection, s: Session, p: dict[str, Any]) -> Any:
    """``public/get_index_price {index_name}`` (``btc_usd`` follows BTC-PERPETUAL)."""
    name = str(p.get("index_name", ""))
    for inst in sim.market.instruments.values():
        if f"{inst.name.split('-')[0].lower()}_usd" == name:
            inst.catch_up()
            return {
                "index_price": inst.price(inst.mid_ticks - 1),
                "estimated_delivery_price": inst.price(inst.mid_ticks - 1),
            }
    raise _invalid("index_name", "unknown index")


def get_instruments(sim: DeribitSimulator, conn: Connection, s: Session, p: dict[str, Any]) -> Any:
    """``public/get_instruments``: the simulated perpetuals."""
    currency = p.get("currency")
    return [
        {
            "instrument_name": inst.name,
            "base_currency": inst.name.split("-")[0],
            "kind": "future",
            "settlement_period": "perpetual",
            "tick_size": inst.tick,
            "is_active": True,
        }
        for inst in sim.market.instruments.values()
        if currency in (None, "any", inst.name.split("-")[0])
    ]


def ticker(sim: DeribitSimulator, conn: Connection, s: Session, p: dict[str, Any]) -> Any:
    """``public/ticker``."""
    inst = sim.market.instruments.get(p.get("instrument_name", ""))
    if inst is None:
        raise _invalid("instrument_name", "unknown instrument")
    inst.catch_up()
    return inst.ticker()


# ------------------------------------------------------------------ private
def _order(direction: str) -> Method:
    def place(sim: DeribitSimulator, conn: Connection, s: Session, p: dict[str, Any]) -> Any:
        assert s.client_id is not None
        return sim.orders.place(s.client_id, conn.id, direction, p)

    place.__doc__ = f"``private/{direction}``."
    return place


def edit(sim: DeribitSimulator, conn: Connection, s: Session, p: dict[str, Any]) -> Any:
    """``private/edit {order_id, amount, price}``."""
    assert s.client_id is not None
    return sim.orders.edit(s.client_id, p)


def cancel_by_label(sim: DeribitSimulator, conn: Connection, s: Session, p: dict[str, Any]) -> Any:
    """``private/cancel_by_label {label}``: number of orders cancelled."""
    assert s.client_id is not None
    return sim.orders.cancel_where(s.client_id, "user_request", label=p.get("label"))


def cancel_all_by_currency(
    sim: DeribitSimulator, conn: Connection, s: Session, p: dict[str, Any]
) -> Any:
    """``private/cancel_all_by_currency {currency}``."""
    assert s.client_id is not None
    return sum(
        sim.orders.cancel_where(s.client_id, "user_request", instrument_name=name)
        for name in sim.market.instruments
        if name.startswith(f"{p.get('currency')}-")
    )


def get_positions(sim: DeribitSimulator, conn: Connection, s: Session, p: dict[str, Any]) -> Any:
    """``private/get_positions {currency?}``: net size and entry from simulated fills."""
    assert s.client_id is not None
    return sim.orders.position_list(s.client_id, p.get("currency"))


def get_account_summary(
    sim: DeribitSimulator, conn: Connection, s: Session, p: dict[str, Any]
) -> Any:
    """``private/get_account_summary {currency}``: a fixed simulated balance."""
    currency = p.get("currency", "BTC")
    return {
        "currency": currency,
        "balance": 10.0,
        "equity": 10.0,
        "available_funds": 10.0,
        "margin_balance": 10.0,
        "initial_margin": 0.0,
        "maintenance_margin": 0.0,
    }


def cancel(sim: DeribitSimulator, conn: Connection, s: Session, p: dict[str, Any]) -> Any:
    """``private/cancel {order_id}``."""
    assert s.client_id is not None
    return sim.orders.cancel(s.client_id, p.get("order_id"))


def cancel_all(sim: DeribitSimulator, conn: Connection, s: Session, p: dict[str, Any]) -> Any:
    """``private/cancel_all``: number of orders cancelled."""
    assert s.client_id is not None
    return sim.orders.cancel_where(s.client_id, "user_request")


def cancel_all_by_instrument(
    sim: DeribitSimulator, conn: Connection, s: Session, p: dict[str, Any]
) -> Any:
    """``private/cancel_all_by_instrument {instrument_name}``."""
    assert s.client_id is not None
    name = p.get("instrument_name")
    return sim.orders.cancel_where(s.client_id, "user_request", instrument_name=name)


def get_open_orders(sim: DeribitSimulator, conn: Connection, s: Session, p: dict[str, Any]) -> Any:
    """``private/get_open_orders`` (and the ``_by_instrument`` / ``_by_currency`` variants)."""
    assert s.client_id is not None
    orders = sim.orders.open_orders(s.client_id)
    if "instrument_name" in p:
        orders = [o for o in orders if o["instrument_name"] == p["instrument_name"]]
    if "currency" in p:
        orders = [o for o in orders if o["instrument_name"].startswith(f"{p['currency']}-")]
    return orders


def get_order_state(sim: DeribitSimulator, conn: Connection, s: Session, p: dict[str, Any]) -> Any:
    """``private/get_order_state {order_id}``."""
    assert s.client_id is not None
    return sim.orders.state(s.client_id, p.get("order_id"))


def enable_cod(sim: DeribitSimulator, conn: Connection, s: Session, p: dict[str, Any]) -> Any:
    """``private/enable_cancel_on_disconnect {scope}``."""
    scope = p.get("scope", "connection")
    if scope not in ("connection", "account"):
        raise _invalid("scope", "must be connection or account")
    s.cod_enabled, s.cod_scope = True, scope
    return "ok"


def disable_cod(sim: DeribitSimulator, conn: Connection, s: Session, p: dict[str, Any]) -> Any:
    """``private/disable_cancel_on_disconnect``."""
    s.cod_enabled = False
    return "ok"


def get_cod(sim: DeribitSimulator, conn: Connection, s: Session, p: dict[str, Any]) -> Any:
    """``private/get_cancel_on_disconnect``."""
    return {"scope": s.cod_scope, "enabled": s.cod_enabled}


def logout(sim: DeribitSimulator, conn: Connection, s: Session, p: dict[str, Any]) -> Any:
    """``private/logout``: closes the connection; cancel-on-disconnect does not fire."""
    s.logged_out = True
    sim.terminate(conn, 1000, "logout")  # the close runs after the "ok" is written
    return "ok"


METHODS: dict[str, Method] = {
    "public/test": test,
    "public/get_time": get_time,
    "public/set_heartbeat": set_heartbeat,
    "public/disable_heartbeat": disable_heartbeat,
    "public/auth": auth,
    "public/subscribe": subscribe,
    "public/unsubscribe": unsubscribe,
    "public/unsubscribe_all": unsubscribe_all,
    "public/hello": hello,
    "public/get_instruments": get_instruments,
    "public/get_order_book": get_order_book,
    "public/get_index_price": get_index_price,
    "public/ticker": ticker,
    "private/subscribe": subscribe,
    "private/unsubscribe": unsubscribe,
    "private/unsubscribe_all": unsubscribe_all,
    "private/buy": _order("buy"),
    "private/sell": _order("sell"),
    "private/edit": edit,
    "private/cancel": cancel,
    "private/cancel_by_label": cancel_by_label,
    "private/cancel_all_by_currency": cancel_all_by_currency,
    "private/get_positions": get_positions,
    "private/get_account_summary": get_account_summary,
    "private/cancel_all": cancel_all,
    "private/cancel_all_by_instrument": cancel_all_by_instrument,
    "private/get_open_orders": get_open_orders,
    "private/get_open_orders_by_instrument": get_open_orders,
    "private/get_open_orders_by_currency": get_open_orders,
    "private/get_order_state": get_order_state,
    "private/enable_cancel_on_disconnect": enable_cod,
    "private/disable_cancel_on_disconnect": disable_cod,
    "private/get_cancel_on_disconnect": get_cod,
    "private/logout": logout,
}

# Credit classes: one source for the client's rate-limit preset and this simulator.
SUBSCRIBE = frozenset(deribit.SUBSCRIBE_METHODS)
MATCHING = frozenset(deribit.MATCHING_ENGINE_METHODS)
