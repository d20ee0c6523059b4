"""Subscription registry, dialects and the subscribe/unsubscribe/restore flows."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from zenws import errors, telemetry
from zenws.subscriptions import (
    DERIBIT_MAX_PER_REQUEST,
    BinanceDialect,
    DeribitDialect,
    Dialect,
    JsonRpcDialect,
    SubscriptionRegistry,
    SubState,
    channels_in,
    dialect,
    dialect_from_config,
    restore,
    subscribe,
    unsubscribe,
)

# -- registry --------------------------------------------------------------------------------


def test_add_pending_returns_only_new_channels() -> None:
    reg = SubscriptionRegistry()
    assert reg.add_pending(["a", "b", "a"]) == ["a", "b"]
    assert reg.add_pending(["b", "c"]) == ["c"]
    assert reg.add_pending("c") == []
    assert len(reg) == 3
    assert reg.state_of("a") is SubState.PENDING
    assert reg.state_of("zzz") is None


def test_bad_channel_names_are_rejected_without_side_effects() -> None:
    reg = SubscriptionRegistry()
    for bad in ([""], [3], [None]):
        with pytest.raises(errors.ConfigError):
            reg.add_pending(bad)  # type: ignore[arg-type]
    assert len(reg) == 0


def test_lifecycle_and_restore_order() -> None:
    reg = SubscriptionRegistry()
    reg.add_pending(["t1", "t2", "t3", "t4"])
    reg.confirm(["t2", "t4"])
    reg.reject(["t3"])
    assert reg.to_restore() == ["t1", "t2", "t4"]
    assert reg.state_of("t3") is None
    reg.begin_unsubscribe(["t4"])
    assert reg.state_of("t4") is SubState.PENDING_UNSUBSCRIBE
    assert reg.to_restore() == ["t1", "t2"]
    reg.remove(["t4"])
    assert "t4" not in reg
    assert reg.channels(SubState.CONFIRMED) == ["t2"]
    assert reg.channels() == ["t1", "t2"]


def test_reject_only_drops_pending_channels() -> None:
    reg = SubscriptionRegistry()
    reg.add_pending(["a"])
    reg.confirm(["a"])
    reg.reject(["a"])  # a stale rejection must not drop a confirmed channel
    assert reg.state_of("a") is SubState.CONFIRMED


def test_rejected_channel_can_be_subscribed_again_later() -> None:
    reg = SubscriptionRegistry()
    reg.add_pending(["x"])
    reg.reject(["x"])
    reg.mark_all_pending()
    assert reg.to_restore() == []
    assert reg.add_pending(["x"]) == ["x"]


def test_handlers_dict_follows_tracking() -> None:
    reg = SubscriptionRegistry()

    def h1(msg: Any) -> None: ...
    def h2(msg: Any) -> None: ...

    reg.add_pending(["a", "b"], h1)
    reg.add_pending(["c"])
    assert reg.handlers == {"a": h1, "b": h1}
    assert reg.handler_for("a") is h1 and reg.handler_for("c") is None
    reg.add_pending(["a"], h2)  # replacing the handler of a tracked channel
    assert reg.handler_for("a") is h2
    reg.reject(["b"])
    assert "b" not in reg.handlers
    reg.confirm(["a"])
    reg.begin_unsubscribe(["a"])
    assert reg.handler_for("a") is h2  # messages in flight still reach it
    reg.remove(["a"])
    assert reg.handlers == {}


def test_mark_all_pending_on_disconnect() -> None:
    reg = SubscriptionRegistry()
    reg.add_pending(["a", "b", "c"])
    reg.confirm(["a", "b", "c"])
    reg.begin_unsubscribe(["b"])
    reg.mark_all_pending()
    assert [reg.state_of(c) for c in ("a", "b", "c")] == [SubState.PENDING, None, SubState.PENDING]
    assert reg.to_restore() == ["a", "c"]


def test_resubscribe_while_unsubscribe_in_flight() -> None:
    reg = SubscriptionRegistry()
    reg.add_pending(["a"])
    reg.confirm(["a"])
    assert reg.begin_unsubscribe(["a", "unknown"]) == ["a"]
    assert reg.add_pending(["a"]) == ["a"]  # needs a fresh subscribe
    reg.remove(["a"])  # the earlier unsubscribe completes: the new subscription survives
    assert reg.state_of("a") is SubState.PENDING
    reg.confirm(["a"])
    assert reg.to_restore() == ["a"]


def test_cancel_unsubscribe() -> None:
    reg = SubscriptionRegistry()
    reg.add_pending(["a"])
    reg.confirm(["a"])
    reg.begin_unsubscribe(["a"])
    reg.cancel_unsubscribe(["a"])
    assert reg.state_of("a") is SubState.CONFIRMED


def test_claim_once_per_epoch() -> None:
    reg = SubscriptionRegistry()
    reg.add_pending(["a", "b"])
    assert reg.claim(["a", "b"], epoch=1) == ["a", "b"]
    assert reg.claim(["a", "b"], epoch=1) == []
    reg.unclaim(["b"], epoch=1)
    assert reg.claim(["a", "b"], epoch=1) == ["b"]
    reg.confirm(["a"])
    assert reg.claim(["a"], epoch=1) == []  # confirmed: nothing to send
    reg.mark_all_pending()
    assert reg.claim(["a", "b"], epoch=2) == ["a", "b"]


def test_discard_and_iteration() -> None:
    reg = SubscriptionRegistry()
    reg.add_pending(["a", "b"], print)
    reg.discard(["a", "nope"])
    assert list(reg) == ["b"] and "a" not in reg.handlers


# -- dialects --------------------------------------------------------------------------------


def test_deribit_routes_private_channels_and_chunks_at_250() -> None:
    d = dialect("deribit")
    public = [f"ticker.I{i}.100ms" for i in range(600)]
    private = ["user.orders.any.any.raw", "user.trades.BTC-PERPETUAL.raw"]
    reqs = d.subscribe_requests(public[:300] + private + public[300:])
    methods = [m for m, _ in reqs]
    sizes = [len(p["channels"]) for _, p in reqs]
    assert methods == ["public/subscribe"] * 3 + ["private/subscribe"]
    assert sizes == [250, 250, 100, 2]
    assert max(sizes) <= DERIBIT_MAX_PER_REQUEST
    flat = [c for _, p in reqs for c in p["channels"]]
    assert sorted(flat) == sorted(public + private)
    assert reqs[0][1]["channels"][:2] == ["ticker.I0.100ms", "ticker.I1.100ms"]
    un = d.unsubscribe_requests(["book.X.100ms", "user.changes.any.any.raw"])
    assert un == [
        ("public/unsubscribe", {"channels": ["book.X.100ms"]}),
        ("private/unsubscribe", {"channels": ["user.changes.any.any.raw"]}),
    ]


def test_deribit_extra_private_prefixes_and_confirmation() -> None:
    d = dialect("deribit", private_prefixes=("user.", "block_rfq."))
    assert [m for m, _ in d.subscribe_requests(["block_rfq.taker.btc"])] == ["private/subscribe"]
    ok, rejected = d.confirmed(["a", "b", "c"], ["c", "a", "zzz"])
    assert (ok, rejected) == (["a", "c"], ["b"])
    assert d.confirmed(["a"], "ok") == ([], ["a"])
    notif = {"jsonrpc": "2.0", "method": "subscription", "params": {"channel": "x", "data": 1}}
    assert d.channel_of(notif) == "x"
    assert d.channel_of({"params": []}) is None and d.channel_of(b"junk") is None


def test_binance_dialect() -> None:
    d = dialect("binance", max_per_request=2)
    assert d.subscribe_requests(["a@trade", "b@trade", "c@trade"]) == [
        ("SUBSCRIBE", ["a@trade", "b@trade"]),
        ("SUBSCRIBE", ["c@trade"]),
    ]
    assert d.unsubscribe_requests(["a@trade"]) == [("UNSUBSCRIBE", ["a@trade"])]
    assert d.confirmed(["a", "b"], None) == (["a", "b"], [])
    assert d.confirmed(["a", "b"], ["b"]) == (["b"], ["a"])
    assert d.confirmed(["a"], {"weird": 1}) == ([], ["a"])
    assert d.channel_of({"stream": "btcusdt@trade", "data": {}}) == "btcusdt@trade"
    assert d.channel_of({"e": "trade"}) is None


def test_jsonrpc_dialect_options() -> None:
    d = dialect("jsonrpc", subscribe_method="sub", unsubscribe_method="unsub", params_key=None)
    assert d.subscribe_requests(["x"]) == [("sub", ["x"])]
    assert d.unsubscribe_requests(["x"]) == [("unsub", ["x"])]
    g = dialect("jsonrpc", max_per_request=1)
    assert g.subscribe_requests(["x", "y"]) == [
        ("subscribe", {"channels": ["x"]}),
        ("subscribe", {"channels": ["y"]}),
    ]
    assert g.confirmed(["x", "y"], True) == (["x", "y"], [])
    assert g.confirmed(["x", "y"], ["y"]) == (["y"], ["x"])
    assert g.confirmed(["x"], False) == ([], ["x"])
    assert g.channel_of({"method": "n", "params": {"channel": "x"}}) == "x"
    assert g.channel_of({"channel": "top"}) == "top"


def test_dialect_resolution_errors() -> None:
    with pytest.raises(errors.ConfigError) as info:
        dialect("kraken")
    assert info.value.field == "dialect"
    with pytest.raises(errors.ConfigError):
        dialect("deribit", bogus=1)
    with pytest.raises(errors.ConfigError):
        dialect("binance", max_per_request=0)
    with pytest.raises(errors.ConfigError):
        dialect(42)  # type: ignore[arg-type]
    custom = JsonRpcDialect(name="mine")
    assert dialect(custom) is custom
    assert isinstance(DeribitDialect(), Dialect) and isinstance(BinanceDialect(), Dialect)


def test_dialect_from_config_uses_subscribe_chunk() -> None:
    d = dialect_from_config(SimpleNamespace(dialect="deribit", subscribe_chunk=10))
    assert d.name == "deribit" and d.max_per_request == 10
    assert dialect_from_config(SimpleNamespace()).name == "jsonrpc"


# -- flows -----------------------------------------------------------------------------------


class Server:
    """Answers subscribe requests like an exchange would (in-process, no transport)."""

    def __init__(self, refuse: frozenset[str] = frozenset()) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.refuse = refuse
        self.fail_with: BaseException | None = None

    async def request(self, method: str, params: Any) -> Any:
        self.calls.append((method, params))
        if self.fail_with is not None:
            raise self.fail_with
        chans = params["channels"]
        if method.endswith("unsubscribe"):
            return chans
        return [c for c in chans if c not in self.refuse]


async def test_subscribe_flow_confirms_and_rejects() -> None:
    reg, srv, d = SubscriptionRegistry(), Server(refuse=frozenset({"bad"})), DeribitDialect()
    events: list[tuple[str, dict[str, Any]]] = []
    handle = telemetry.attach("subscription", lambda e, m, md: events.append((e, m)))
    try:
        out = await subscribe(reg, d, srv.request, ["a", "bad", "b"], epoch=1)
        assert out.ok == ["a", "b"] and out.rejected == ["bad"]
        assert reg.to_restore() == ["a", "b"]
        # Subscribing again on the same epoch costs no request and reports them as ok.
        again = await subscribe(reg, d, srv.request, ["a", "b"], epoch=1)
        assert again.ok == ["a", "b"] and len(srv.calls) == 1
        un = await unsubscribe(reg, d, srv.request, ["a"], epoch=1)
        assert un.ok == ["a"] and reg.to_restore() == ["b"]
    finally:
        telemetry.detach(handle)
    assert ("subscription.add", {"count": 2}) in events
    assert ("subscription.remove", {"count": 1}) in events


async def test_restore_sends_each_channel_once_per_epoch_in_chunks() -> None:
    reg, srv = SubscriptionRegistry(), Server(refuse=frozenset({"c7"}))
    d = DeribitDialect(max_per_request=3)
    chans = [f"c{i}" for i in range(8)]
    await subscribe(reg, d, srv.request, chans, epoch=1)
    assert reg.to_restore() == [c for c in chans if c != "c7"]
    reg.mark_all_pending()
    srv.calls.clear()
    restored: list[dict[str, Any]] = []
    handle = telemetry.attach("subscription.restore", lambda e, m, md: restored.append(m))
    try:
        out = await restore(reg, d, srv.request, epoch=2)
        again = await restore(reg, d, srv.request, epoch=2)
    finally:
        telemetry.detach(handle)
    sent = [c for _, p in srv.calls for c in p["channels"]]
    assert sent == [f"c{i}" for i in range(7)]  # c7 was rejected: never restored
    assert [len(p["channels"]) for _, p in srv.calls] == [3, 3, 1]
    assert out.ok == sent and again.ok == []
    assert restored[0] == {"count": 7}


async def test_rpc_error_rejects_chunk_but_transient_errors_keep_it_pending() -> None:
    reg, srv, d = SubscriptionRegistry(), Server(), DeribitDialect()
    srv.fail_with = errors.RpcError(-32602, "Invalid params")
    out = await subscribe(reg, d, srv.request, ["a", "b"], epoch=1)
    assert out.rejected == ["a", "b"] and len(reg) == 0
    srv.fail_with = errors.RpcError(10028, "too_many_requests")
    out = await subscribe(reg, d, srv.request, ["c"], epoch=1)
    assert out.failed == ["c"] and reg.state_of("c") is SubState.PENDING
    srv.fail_with = errors.ConnectionLost(epoch=1)
    out = await subscribe(reg, d, srv.request, ["e"], epoch=1)
    assert out.failed == ["e"] and reg.to_restore() == ["c", "e"]
    srv.fail_with = None
    out = await restore(reg, d, srv.request, epoch=2)
    assert out.ok == ["c", "e"]


async def test_malformed_answer_rejects_the_chunk_and_the_restore_goes_on() -> None:
    reg, srv, d = SubscriptionRegistry(), Server(), DeribitDialect(max_per_request=1)
    await subscribe(reg, d, srv.request, ["a", "b"], epoch=1)
    reg.mark_all_pending()
    malformed = errors.ProtocolError("malformed", None, reason="neither result nor error")
    answers: list[Any] = [malformed, None]

    async def request(method: str, params: Any) -> Any:
        if answers.pop(0) is not None:
            raise malformed
        return params["channels"]

    out = await restore(reg, d, request, epoch=2)
    assert out.rejected == ["a"] and out.ok == ["b"] and out.errors == [malformed]
    assert reg.to_restore() == ["b"]


async def test_restore_goes_on_after_a_timed_out_chunk() -> None:
    reg, d = SubscriptionRegistry(), DeribitDialect(max_per_request=1)
    calls: list[list[str]] = []

    async def request(method: str, params: Any) -> Any:
        calls.append(params["channels"])
        if params["channels"] == ["slow"]:
            raise errors.RequestTimeout("t", method=method, timeout=0.1)
        return params["channels"]

    reg.add_pending(["a", "slow", "b"])
    out = await restore(reg, d, request, epoch=2)
    assert calls == [["a"], ["slow"], ["b"]]
    assert out.ok == ["a", "b"] and out.failed == ["slow"] and out.rejected == []
    assert reg.state_of("slow") is SubState.PENDING  # retried after the next reconnect
    assert reg.claim(["slow"], epoch=2) == []  # but not twice on this connection
    assert reg.claim(["slow"], epoch=3) == ["slow"]


async def test_unsubscribe_failure_keeps_subscription() -> None:
    reg, srv, d = SubscriptionRegistry(), Server(), DeribitDialect()
    await subscribe(reg, d, srv.request, ["a", "b"], epoch=1)
    srv.fail_with = errors.RequestTimeout("t", method="public/unsubscribe", timeout=1.0)
    out = await unsubscribe(reg, d, srv.request, ["a"], epoch=1)
    assert out.failed == ["a"] and reg.state_of("a") is SubState.CONFIRMED
    srv.fail_with = errors.ConnectionLost(epoch=1)
    out = await unsubscribe(reg, d, srv.request, ["b"], epoch=1)
    assert out.ok == ["b"] and "b" not in reg


def test_channels_in_request_params() -> None:
    assert channels_in({"channels": ["a", "b"]}) == ["a", "b"]
    assert channels_in(["x"]) == ["x"]
    assert channels_in({"other": 1}, ["d"]) == ["d"]
    assert channels_in(None) == []


async def test_mixed_public_private_subscribe_confirms_each_request_separately() -> None:
    reg, srv, d = SubscriptionRegistry(), Server(refuse=frozenset({"user.bad"})), DeribitDialect()
    out = await subscribe(reg, d, srv.request, ["ticker.x", "user.orders.x", "user.bad"], epoch=1)
    assert [m for m, _ in srv.calls] == ["public/subscribe", "private/subscribe"]
    assert out.ok == ["ticker.x", "user.orders.x"] and out.rejected == ["user.bad"]
    assert reg.to_restore() == ["ticker.x", "user.orders.x"]


# -- model-based check of the registry ------------------------------------------------------

CHANNELS = ["a", "b", "c", "d"]


class RegistryModel(RuleBasedStateMachine):
    """Random operation sequences against a dict model of the documented semantics."""

    def __init__(self) -> None:
        super().__init__()
        self.reg = SubscriptionRegistry()
        self.model: dict[str, SubState] = {}  # insertion-ordered like the registry
        self.handled: set[str] = set()

    @rule(chs=st.lists(st.sampled_from(CHANNELS), max_size=3), with_handler=st.booleans())
    def add(self, chs: list[str], with_handler: bool) -> None:
        new = self.reg.add_pending(chs, print if with_handler else None)
        expect = []
        for ch in dict.fromkeys(chs):
            state = self.model.get(ch)
            if state is None or state is SubState.PENDING_UNSUBSCRIBE:
                expect.append(ch)
                self.model[ch] = SubState.PENDING
            if with_handler:
                self.handled.add(ch)
        assert new == expect

    @rule(chs=st.lists(st.sampled_from(CHANNELS), max_size=3))
    def confirm(self, chs: list[str]) -> None:
        self.reg.confirm(chs)
        for ch in chs:
            if self.model.get(ch) is SubState.PENDING:
                self.model[ch] = SubState.CONFIRMED

    @rule(chs=st.lists(st.sampled_from(CHANNELS), max_size=3))
    def reject(self, chs: list[str]) -> None:
        self.reg.reject(chs)
        for ch in chs:
            if self.model.get(ch) is SubState.PENDING:
                del self.model[ch]
                self.handled.discard(ch)

    @rule(chs=st.lists(st.sampled_from(CHANNELS), max_size=3))
    def begin_unsubscribe(self, chs: list[str]) -> None:
        self.reg.begin_unsubscribe(chs)
        for ch in chs:
            if ch in self.model:
                self.model[ch] = SubState.PENDING_UNSUBSCRIBE

    @rule(chs=st.lists(st.sampled_from(CHANNELS), max_size=3))
    def remove(self, chs: list[str]) -> None:
        self.reg.remove(chs)
        for ch in chs:
            if ch in self.model and self.model[ch] is not SubState.PENDING:
                del self.model[ch]
                self.handled.discard(ch)

    @rule()
    def disconnect(self) -> None:
        self.reg.mark_all_pending()
        for ch in [c for c, s in self.model.items() if s is SubState.PENDING_UNSUBSCRIBE]:
            del self.model[ch]
            self.handled.discard(ch)
        for ch in self.model:
            self.model[ch] = SubState.PENDING

    @invariant()
    def matches_model(self) -> None:
        assert {c: self.reg.state_of(c) for c in CHANNELS if c in self.reg} == self.model
        restore = [c for c, s in self.model.items() if s is not SubState.PENDING_UNSUBSCRIBE]
        assert self.reg.to_restore() == restore  # insertion order
        assert len(set(self.reg.to_restore())) == len(self.reg.to_restore())
        assert set(self.reg.handlers) == self.handled
        assert len(self.reg) == len(self.model)


TestRegistryModel = RegistryModel.TestCase
TestRegistryModel.settings = settings(max_examples=80, stateful_step_count=25, deadline=None)
