"""Rotation of the Deribit adapter (session, books, cancel-on-disconnect) and of Pool members,
against the Deribit simulator on loopback."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

import zenws
from waits import wait_until
from zenws.adapters.deribit import DeribitClient
from zenws.fast.book import ASK, BID
from zenws.rotation import RotationFailed, RotationReport
from zenws.testing.deribit import DeribitSimulator

ID, SECRET = "sim_client", "sim_secret"
CHANNEL = "book.BTC-PERPETUAL.100ms"


def fast_sim(**kw: Any) -> DeribitSimulator:
    return DeribitSimulator(
        seed=5,
        market_steps_per_second=2000,
        interval_rates={"100ms": 2000.0},
        max_connections=None,
        **kw,
    )


def published(sim: DeribitSimulator) -> tuple[int, list[Any], list[Any]]:
    stream = sim.market.streams[CHANNEL]
    price = stream.inst.price
    bids = [(price(p), stream.bids[p]) for p in sorted(stream.bids, reverse=True)]
    asks = [(price(p), stream.asks[p]) for p in sorted(stream.asks)]
    return stream.change_id, bids, asks


def local(book: Any) -> tuple[int | None, list[Any], list[Any]]:
    bids = [tuple(r) for r in book.l2.top(BID, 10**6).tolist()]
    asks = [tuple(r) for r in book.l2.top(ASK, 10**6).tolist()]
    return book.change_id, bids, asks


async def test_deribit_rotation_keeps_session_books_and_orders() -> None:
    async with fast_sim().serve() as sim:
        dc = await DeribitClient.connect(
            sim.url,
            client_id=ID,
            client_secret=SECRET,
            heartbeat=None,
            cancel_on_disconnect=True,  # connection scope: closing a connection cancels
            rate_limit=None,
        )
        try:
            ids: list[int] = []
            book = await dc.on_book("BTC-PERPETUAL", lambda b: ids.append(b.change_id or 0))
            await wait_until(lambda: len(ids) > 200, what="book flowing")
            placed = await dc.buy("BTC-PERPETUAL", 10, type="limit", price=1000.0, label="rest")
            order_id = placed["order"]["order_id"]
            for i in range(5):
                report = await dc.rotate()
                assert report.in_sync and report.gaps == 0, report
                assert dc.epoch == i + 2 and dc.authenticated  # the new session authenticated
                n = len(ids)
                await wait_until(lambda n=n: len(ids) > n + 100, what="book after rotation")
            # the application's book saw every change once, in order, and never resynced
            assert ids == list(range(ids[0], ids[0] + len(ids)))
            assert dc.gaps == 0 and dc.resyncs == 0
            await wait_until(lambda: book.change_id == sim.market.streams[CHANNEL].change_id)
            assert local(book) == published(sim)
            # the old connections logged out: cancel-on-disconnect did not cancel the order
            assert [o["order_id"] for o in await dc.get_open_orders()] == [order_id]
            conns = sim.connections()
            assert len(conns) == 1 and sim.session(conns[0]).cod_enabled
            assert dc.client.metrics().reconnects == 0
        finally:
            await dc.close()


async def test_pool_members_rotate_one_after_the_other_and_stay_open() -> None:
    async with fast_sim(rate_limits=False).serve() as sim:
        went_down: list[Any] = []
        pool = zenws.Pool(
            [sim.url, sim.url],
            dialect="deribit",
            on_disconnect=went_down.append,
            health_interval=0.02,
        )
        async with pool:
            seen: list[list[int]] = [[], []]
            for i, client in enumerate(pool.clients):
                handler = (
                    lambda box: lambda m: box.append(m.json()["params"]["data"]["change_id"])
                )(seen[i])
                await client.subscribe([CHANNEL], handler=handler)
            await wait_until(lambda: all(len(s) > 100 for s in seen))
            reports = await pool.rotate()
            assert sorted(reports) == pool.members
            assert all(isinstance(r, RotationReport) for r in reports.values())
            assert [c.epoch for c in pool.clients] == [2, 2]
            one = await pool.rotate(1)
            assert list(one) == [pool.members[1]] and pool.clients[1].epoch == 3
            n = [len(s) for s in seen]
            await wait_until(lambda: all(len(s) > k + 100 for s, k in zip(seen, n, strict=True)))
            for s in seen:  # each member's application stream: every change once
                assert s == list(range(s[0], s[0] + len(s)))
            assert went_down == []
            assert all(c.state is zenws.State.OPEN for c in pool.clients)
            assert await pool.request_balanced("public/test") == {"version": sim.knobs.version}


async def test_deribit_rotation_that_fails_after_authenticating_keeps_the_session() -> None:
    # Short-lived tokens: the current one must keep being refreshed after the failure.
    async with fast_sim(access_token_ttl=1.5).serve() as sim:
        dc = await DeribitClient.connect(
            sim.url, client_id=ID, client_secret=SECRET, heartbeat=None, rate_limit=None
        )
        try:
            await dc.on_book("BTC-PERPETUAL")
            sim.fail_next("public/subscribe", code=11051, message="system_maintenance")
            with pytest.raises(RotationFailed) as caught:
                await dc.rotate()
            assert caught.value.step == "subscribe" and dc.auths == 2
            assert dc.epoch == 1 and dc.authenticated
            await wait_until(lambda: dc.refreshes >= 2, what="two refreshes of the token")
            assert isinstance(await dc.get_open_orders(), list)  # still authorized
            report = await dc.rotate()  # and a rotation after that one works
            assert report.epoch == 2 and dc.authenticated
            await wait_until(lambda: dc.refreshes >= 3, what="the new token refreshed")
            assert isinstance(await dc.get_open_orders(), list)
        finally:
            await dc.close()


async def test_binance_streams_rotate_before_the_shortened_24_hour_close() -> None:
    """Binance ends every connection after 24 h (shortened here to 2.5 s): the client rotates
    1.5 s before, and the diff-depth stream stays continuous by its update ids."""
    from zenws.testing import BinanceSimulator

    async with BinanceSimulator(stream_rate=1000.0, connection_lifetime=2.5).serve() as sim:
        events: list[dict[str, Any]] = []
        url = sim.stream_url().replace("/ws", "/stream")  # combined-stream envelopes
        client = await zenws.connect(
            url, dialect="binance", max_connection_age=2.5, rotate_before=1.5
        )
        try:
            await client.subscribe(
                ["btcusdt@depth@100ms"], handler=lambda m: events.append(m.json()["data"])
            )
            await wait_until(lambda: client.epoch >= 4, timeout=30, what="three rotations")
            n = len(events)
            await wait_until(lambda: len(events) > n + 100)
            ids = [(e["U"], e["u"]) for e in events]
            lost = sum(1 for a, b in itertools.pairwise(ids) if b[0] > a[1] + 1)
            duplicated = sum(1 for a, b in itertools.pairwise(ids) if b[1] <= a[1])
            assert (lost, duplicated) == (0, 0)
            assert client.metrics().reconnects == 0  # the venue never closed it first
        finally:
            await client.close()


async def test_binance_adapter_rotates_both_connections_and_keeps_its_books() -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from zenws.adapters.binance import BinanceClient
    from zenws.testing import BinanceSimulator

    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    sim = BinanceSimulator(stream_rate=200.0, connection_lifetime=2.5)
    sim.add_ed25519_key("ed-key", key.public_key())
    async with sim.serve():
        base = sim.url.rsplit("/ws-api", 1)[0]
        bc = await BinanceClient.connect(
            base + "/ws-api/v3",
            api_key="ed-key",
            private_key=pem,
            stream_url=base + "/stream",
            time_sync_interval=0,
            lifetime=2.5,  # Binance: 24 h, shortened
            rotate_before=1.5,
            stream_options={"rotate_before": 1.5},
        )
        try:
            book = await bc.on_book("BTCUSDT")
            await wait_until(lambda: not book.stale, what="book synced")
            assert bc.streams is not None
            streams = bc.streams
            await wait_until(
                lambda: bc.client.epoch >= 3 and streams.epoch >= 3,
                timeout=30,
                what="two rotations of each connection",
            )
            entry = bc.book_entry("BTCUSDT")
            assert entry is not None and entry.snapshots == 1  # never resynced
            assert bc.metrics().gaps == 0 and not book.stale
            assert bc.client.metrics().reconnects == 0 and streams.metrics().reconnects == 0
            assert bc.logged_on  # the new API connections logged on before taking over
            status = await bc.account_status()
            assert "balances" in status
        finally:
            await bc.close()
