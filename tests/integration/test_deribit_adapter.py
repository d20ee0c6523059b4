"""DeribitClient against the DeribitSimulator on loopback (both event loops)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from waits import wait_until
from zenws import telemetry
from zenws.adapters.deribit import DeribitClient
from zenws.errors import Category, RpcError, categorize, explain
from zenws.testing.deribit import DeribitSimulator

ID, SECRET = "sim_client", "sim_secret"


@pytest.fixture
async def sim() -> AsyncIterator[DeribitSimulator]:
    s = DeribitSimulator(min_heartbeat_interval=0.05, seed=1)
    async with s.serve():
        yield s


def sent(sim: DeribitSimulator, method: str | None = None) -> list[dict[str, Any]]:
    """Requests the simulator received (in order), optionally of one method."""
    assert sim.server is not None
    out = []
    for r in sim.server.received:
        doc = r.json(None)
        if (
            isinstance(doc, dict)
            and "method" in doc
            and (method is None or doc["method"] == method)
        ):
            doc["_conn"] = r.connection_id
            out.append(doc)
    return out


async def connect(sim: DeribitSimulator, **kw: Any) -> DeribitClient:
    kw.setdefault("client_id", ID)
    kw.setdefault("client_secret", SECRET)
    kw.setdefault("heartbeat", None)
    kw.setdefault("retry_delay", 0.01)
    kw.setdefault("max_backoff", 0.05)
    return await DeribitClient.connect(sim.url, **kw)


# -- authentication ---------------------------------------------------------------------------


async def test_client_credentials_authenticate_on_connect(sim: DeribitSimulator) -> None:
    dc = await connect(sim)
    try:
        assert dc.authenticated and dc.auths == 1
        conn = sim.server.connections[0]  # type: ignore[union-attr]
        assert sim.session(conn).client_id == ID
        assert await dc.get_open_orders() == []
        assert 0 < (dc.token_expires_in or 0) <= sim.knobs.access_token_ttl
        assert SECRET not in repr(dc)
    finally:
        await dc.close()


async def test_client_signature_never_sends_the_secret(sim: DeribitSimulator) -> None:
    dc = await connect(sim, grant="client_signature")
    try:
        assert dc.authenticated
        auth = sent(sim, "public/auth")[0]["params"]
        assert auth["grant_type"] == "client_signature" and "client_secret" not in auth
        assert len(auth["signature"]) == 64
        assert isinstance(await dc.get_open_orders(), list)
    finally:
        await dc.close()


async def test_credentials_from_environment(
    sim: DeribitSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DERIBIT_CLIENT_ID", ID)
    monkeypatch.setenv("DERIBIT_CLIENT_SECRET", SECRET)
    dc = await DeribitClient.connect(sim.url, heartbeat=None)
    try:
        assert dc.authenticated
    finally:
        await dc.close()


async def test_without_credentials_public_only(
    sim: DeribitSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DERIBIT_CLIENT_ID", raising=False)
    monkeypatch.delenv("DERIBIT_CLIENT_SECRET", raising=False)
    dc = await DeribitClient.connect(sim.url, heartbeat=None)
    try:
        assert not dc.authenticated and sent(sim, "public/auth") == []
        assert (await dc.test())["version"] == sim.knobs.version
        with pytest.raises(RpcError) as ei:
            await dc.get_open_orders()
        assert ei.value.code in (10000, 13009)
    finally:
        await dc.close()


async def test_bad_credentials_are_fatal_and_explained(sim: DeribitSimulator) -> None:
    with pytest.raises(RpcError) as ei:
        await connect(sim, client_secret="wrong-secret-value")
    exc = ei.value
    assert exc.code == 13004 and exc.method == "public/auth"
    assert categorize(exc) is Category.FATAL
    why = explain(exc)
    assert why.docs.endswith("#rpc-13004") and "client_secret" in why.suggestion
    assert "wrong-secret-value" not in str(exc) + why.message
    await wait_until(lambda: not sim.server.connections, what="client closed")  # type: ignore[union-attr]


async def test_token_refresh_before_expiry(sim: DeribitSimulator) -> None:
    sim.knobs.access_token_ttl = 1.0  # expires_in is whole seconds on the wire
    dc = await connect(sim, refresh_at=0.3)
    try:
        await wait_until(lambda: dc.refreshes >= 2, what="two refreshes")
        grants = [m["params"]["grant_type"] for m in sent(sim, "public/auth")]
        assert grants[0] == "client_credentials" and grants.count("refresh_token") >= 2
        await wait_until(lambda: dc.refreshes >= 4, what="past the first token's lifetime")
        assert isinstance(await dc.get_open_orders(), list)
        assert dc.auths == 1 and dc.epoch == 1
    finally:
        await dc.close()


# -- heartbeat --------------------------------------------------------------------------------


async def test_heartbeat_set_and_test_requests_answered(sim: DeribitSimulator) -> None:
    dc = await connect(sim, heartbeat=0.1, min_heartbeat=0.05)
    try:
        await asyncio.sleep(0.8)  # a window of several test_request cycles: no reconnect
        await wait_until(lambda: len(sent(sim, "public/test")) >= 3)
        conn = sim.server.connections[0]  # type: ignore[union-attr]
        assert sim.session(conn).heartbeat_interval == pytest.approx(0.1)
        assert sent(sim, "public/set_heartbeat")[0]["params"] == {"interval": 0.1}
        assert len(sent(sim, "public/test")) >= 3  # answers from the hot path
        assert dc.epoch == 1 and dc.client.metrics().reconnects == 0
        assert dc.heartbeat_health().healthy
    finally:
        await dc.close()


def test_heartbeat_below_deribit_minimum_rejected() -> None:
    from zenws.errors import ConfigError

    with pytest.raises(ConfigError) as ei:
        asyncio.run(DeribitClient.connect("ws://127.0.0.1:1/", heartbeat=5))
    assert ei.value.field == "heartbeat" and ">= 10" in str(ei.value)


async def test_missed_server_heartbeat_reconnects_and_reauthenticates(
    sim: DeribitSimulator,
) -> None:
    dc = await connect(sim, heartbeat=0.1, min_heartbeat=0.05)
    try:
        await wait_until(lambda: dc.heartbeat_health().last_seen is not None)
        sim.stall()  # half-open: no heartbeats, no replies
        await wait_until(lambda: dc.epoch >= 2 and dc.authenticated, what="reconnect + auth")
        assert dc.auths >= 2
        assert isinstance(await dc.get_open_orders(), list)
    finally:
        await dc.close()


# -- reconnect: auth -> cancel-on-disconnect -> restore ---------------------------------------


async def test_reconnect_reauth_then_cod_then_restore(sim: DeribitSimulator) -> None:
    dc = await connect(sim, cancel_on_disconnect=True)
    try:
        got: list[Any] = []
        await dc.subscribe(["ticker.BTC-PERPETUAL.100ms", "user.orders.any.any.raw"], got.append)
        first = sim.server.connections[0].id  # type: ignore[union-attr]
        await sim.drop_connection()
        await wait_until(
            lambda: any(m["_conn"] != first for m in sent(sim, "private/subscribe")),
            what="restored private subscription",
        )
        second = [m for m in sent(sim) if m["_conn"] != first]
        order = [m["method"] for m in second if m["method"] != "public/test"]
        assert order[:2] == ["public/auth", "private/enable_cancel_on_disconnect"]
        assert set(order[2:4]) == {"public/subscribe", "private/subscribe"}
        conn = sim.server.connections[0]  # type: ignore[union-attr]
        session = sim.session(conn)
        assert session.cod_enabled and session.client_id == ID
        assert {"ticker.BTC-PERPETUAL.100ms", "user.orders.any.any.raw"} <= session.subscriptions
        n = len(got)
        await wait_until(lambda: len(got) > n, what="ticker after restore")
    finally:
        await dc.close()


async def test_cancel_on_disconnect_enable_get_disable(sim: DeribitSimulator) -> None:
    dc = await connect(sim)
    try:
        await dc.enable_cancel_on_disconnect("connection")
        assert await dc.get_cancel_on_disconnect() == {"scope": "connection", "enabled": True}
        placed = await dc.buy("BTC-PERPETUAL", 10, type="limit", price=1000.0, label="rest")
        assert placed["order"]["order_state"] == "open"
        await sim.drop_connection()  # the server cancels this connection's orders
        await wait_until(lambda: dc.epoch >= 2 and dc.authenticated, what="reconnect")
        await wait_until(lambda: dc.metrics().cancel_on_disconnect == "connection")
        assert await dc.get_open_orders() == []
        assert (await dc.get_cancel_on_disconnect())["enabled"] is True  # re-enabled
        await dc.disable_cancel_on_disconnect()
        assert (await dc.get_cancel_on_disconnect())["enabled"] is False
        epoch = dc.epoch
        await sim.drop_connection()
        await wait_until(lambda: dc.epoch > epoch and dc.authenticated, what="reconnect 2")
        assert (await dc.get_cancel_on_disconnect())["enabled"] is False  # not re-enabled
    finally:
        await dc.close()


async def test_reauth_failure_on_reconnect_is_fatal(sim: DeribitSimulator) -> None:
    dc = await connect(sim)
    try:
        sim.knobs.credentials = {ID: "rotated-secret"}
        await sim.drop_connection()
        await wait_until(lambda: dc.fatal_error is not None, what="fatal auth error")
        assert isinstance(dc.fatal_error, RpcError) and dc.fatal_error.code == 13004
        await wait_until(lambda: dc.state.name == "CLOSED", what="client closed")
    finally:
        await dc.close()


async def test_transient_reauth_failure_retries_on_a_fresh_connection(
    sim: DeribitSimulator,
) -> None:
    dc = await connect(sim)
    try:
        await dc.subscribe("user.orders.any.any.raw")
        sim.fail_next("public/auth", 10040, "retry")
        await sim.drop_connection()
        await wait_until(lambda: dc.epoch >= 3 and dc.authenticated, what="second reconnect")
        assert dc.fatal_error is None and dc.state.name == "OPEN"
        conn = sim.server.connections[0]  # type: ignore[union-attr]
        await wait_until(lambda: "user.orders.any.any.raw" in sim.session(conn).subscriptions)
    finally:
        await dc.close()


# -- helpers over the wire -------------------------------------------------------------------


async def test_typed_helpers(sim: DeribitSimulator) -> None:
    calls: list[tuple[str, dict[str, Any]]] = []

    def recorder(name: str, result: Any) -> Any:
        def fn(sim_: Any, conn: Any, session: Any, params: dict[str, Any]) -> Any:
            calls.append((name, params))
            return result

        return fn

    sim.register("private/edit", recorder("edit", {"order": {"order_id": "x"}}))
    sim.register("private/get_positions", recorder("positions", []))
    sim.register("private/get_account_summary", recorder("summary", {"equity": 1.0}))
    sim.register("public/get_order_book", recorder("book", {"bids": [], "asks": []}))
    dc = await connect(sim)
    try:
        assert isinstance(await dc.get_time(), int)
        assert (await dc.test())["version"] == sim.knobs.version
        instruments = await dc.get_instruments("BTC")
        assert any(i["instrument_name"] == "BTC-PERPETUAL" for i in instruments)
        assert (await dc.ticker("BTC-PERPETUAL"))["instrument_name"] == "BTC-PERPETUAL"
        buy = await dc.buy("BTC-PERPETUAL", 10, type="limit", price=1000.0)
        sell = await dc.sell("BTC-PERPETUAL", 10, type="limit", price=10**6)
        assert len(await dc.get_open_orders()) == 2
        await dc.cancel(buy["order"]["order_id"])
        assert [o["order_id"] for o in await dc.get_open_orders()] == [sell["order"]["order_id"]]
        assert await dc.cancel_all() == 1
        await dc.edit("x", 5, price=2.0)
        await dc.get_positions("BTC", kind="future")
        await dc.get_account_summary("BTC")
        await dc.get_order_book("BTC-PERPETUAL", depth=5)
        assert calls == [
            ("edit", {"order_id": "x", "amount": 5, "price": 2.0}),
            ("positions", {"currency": "BTC", "kind": "future"}),
            ("summary", {"currency": "BTC"}),
            ("book", {"instrument_name": "BTC-PERPETUAL", "depth": 5}),
        ]
    finally:
        await dc.close()


# -- subscriptions, books and gaps ----------------------------------------------------------


async def test_private_channel_routing_and_notifications(sim: DeribitSimulator) -> None:
    dc = await connect(sim)
    try:
        updates: list[Any] = []
        await dc.subscribe("user.orders.any.any.raw", lambda m: updates.append(m.json()))
        assert sent(sim, "private/subscribe")[0]["params"]["channels"] == [
            "user.orders.any.any.raw"
        ]
        await dc.buy("BTC-PERPETUAL", 10, type="limit", price=1000.0, label="mine")
        await wait_until(lambda: updates, what="order update")
        assert updates[0]["params"]["data"]["label"] == "mine"
    finally:
        await dc.close()


async def test_subscribe_chunks_at_250(sim: DeribitSimulator) -> None:
    channels = [f"custom.{i}" for i in range(300)]
    sim.extra_channels.update(channels)
    dc = await connect(sim)
    try:
        confirmed = await dc.subscribe(channels)
        assert sorted(confirmed) == sorted(channels)
        sizes = [len(m["params"]["channels"]) for m in sent(sim, "public/subscribe")]
        assert sizes == [250, 50]
    finally:
        await dc.close()


async def test_book_gap_resubscribes_that_channel_only(sim: DeribitSimulator) -> None:
    events: list[tuple[str, dict[str, Any]]] = []
    handle = telemetry.attach("deribit.gap", lambda e, m, md: events.append((e, md)))
    dc = await connect(sim, resync_interval=0.05)
    try:
        gaps: list[Any] = []
        dc.on_gap = gaps.append
        await dc.subscribe("ticker.BTC-PERPETUAL.100ms")
        updates: list[int] = []
        book = await dc.on_book("BTC-PERPETUAL", lambda b: updates.append(b.change_id or 0))
        channel = "book.BTC-PERPETUAL.100ms"
        await wait_until(lambda: not book.stale and len(updates) >= 2, what="book live")
        assert book.best_bid() is not None and book.best_ask() is not None
        assert book.best_bid()[0] < book.best_ask()[0]  # type: ignore[index]
        sim.inject_gap(channel)
        await wait_until(lambda: dc.metrics().gaps == 1, what="gap detected")
        await wait_until(lambda: dc.resyncs == 1 and not book.stale, what="resync")
        assert gaps and gaps[0].channel == channel
        assert events and events[0][1]["channel"] == channel
        unsubs = [m["params"]["channels"] for m in sent(sim, "public/unsubscribe")]
        assert unsubs == [[channel]]
        subs = [m["params"]["channels"] for m in sent(sim, "public/subscribe")]
        assert subs.count([channel]) == 2 and subs.count(["ticker.BTC-PERPETUAL.100ms"]) == 1
        n = len(updates)
        await wait_until(lambda: len(updates) > n + 1, what="updates after resync")
        assert dc.metrics().gaps == 1
    finally:
        telemetry.detach(handle)
        await dc.close()


async def test_books_are_rebuilt_after_reconnect(sim: DeribitSimulator) -> None:
    dc = await connect(sim)
    try:
        book = await dc.on_book("ETH-PERPETUAL")
        await wait_until(lambda: not book.stale, what="snapshot")
        await sim.drop_connection()
        await wait_until(lambda: dc.epoch >= 2, what="reconnect")
        await wait_until(lambda: not book.stale and book.bids, what="snapshot after reconnect")
        assert dc.metrics().gaps == 0  # a fresh snapshot is not a gap
    finally:
        await dc.close()


# -- rate limits ------------------------------------------------------------------------------


async def test_limiter_paces_before_sending(sim: DeribitSimulator) -> None:
    dc = await connect(sim)  # rate_limit="deribit": 100-request burst, 20/s
    try:
        results = await asyncio.gather(*(dc.test() for _ in range(110)), return_exceptions=True)
        assert all(isinstance(r, dict) for r in results), [
            r for r in results if not isinstance(r, dict)
        ][:1]
        assert dc.epoch == 1
    finally:
        await dc.close()


async def test_10028_pauses_then_reconnects_cleanly(sim: DeribitSimulator) -> None:
    dc = await connect(sim, rate_limit_pause=0.3)
    try:
        sim.fail_next("public/get_time", 10028, "too_many_requests")
        with pytest.raises(RpcError) as ei:
            await dc.get_time()
        assert ei.value.code == 10028 and categorize(ei.value) is Category.RECOVERABLE
        assert dc.metrics().rate_limit_pauses == 1
        t0 = time.monotonic()
        result = await dc.test()  # waits for the pause, then runs on the new session
        assert time.monotonic() - t0 >= 0.2
        assert result["version"] == sim.knobs.version
        assert dc.epoch >= 2 and dc.authenticated
    finally:
        await dc.close()


async def test_10028_on_subscribe_also_pauses(sim: DeribitSimulator) -> None:
    dc = await connect(sim, rate_limit_pause=0.2)
    try:
        sim.fail_next("public/subscribe", 10028, "too_many_requests")
        with pytest.raises(RpcError) as ei:
            await dc.subscribe("ticker.BTC-PERPETUAL.100ms")
        assert ei.value.code == 10028 and dc.metrics().rate_limit_pauses == 1
        await wait_until(lambda: dc.epoch >= 2 and dc.authenticated, what="clean session")
        assert await dc.subscribe("ticker.BTC-PERPETUAL.100ms") == ["ticker.BTC-PERPETUAL.100ms"]
    finally:
        await dc.close()


# -- secrets ----------------------------------------------------------------------------------


async def test_recording_has_no_secrets(sim: DeribitSimulator, tmp_path: Any) -> None:
    path = tmp_path / "deribit.jsonl"
    dc = await connect(sim, record_to=str(path))
    try:
        await dc.get_open_orders()
        token = dc._token.access_token  # type: ignore[union-attr]
    finally:
        await dc.close()
    text = path.read_text()
    assert "public/auth" in text
    assert SECRET not in text and token not in text
