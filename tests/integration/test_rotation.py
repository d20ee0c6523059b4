"""Client.rotate(): make-before-break against the Deribit simulator on loopback.

Every stream here is a book channel whose change ids are consecutive (the simulator numbers
each change once and sends the same bytes to every connection), so a consumer can count
exactly what it lost and what it got twice.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import pytest

import zenws
from waits import wait_until
from zenws.rotation import RotationFailed, RotationReport
from zenws.testing import DeribitSimulator

CHANNEL = "book.BTC-PERPETUAL.100ms"
TICKER = "ticker.ETH-PERPETUAL.100ms"


@dataclass
class Count:
    """Change ids as the application receives them: lost = ids skipped, duplicated = seen."""

    last: int | None = None
    received: int = 0
    lost: int = 0
    duplicated: int = 0

    def __call__(self, msg: Any) -> None:
        data = msg.json()["params"]["data"]
        cid, prev = data["change_id"], data.get("prev_change_id")
        self.received += 1
        if self.last is None:
            self.last = cid
        elif cid <= self.last:
            if prev is not None or cid < self.last:
                self.duplicated += 1
        else:
            # a change after a jump, or a snapshot standing in for the changes it replaced
            self.lost += cid - self.last - (1 if prev is not None else 0)
            self.last = cid


def sim(rate: float = 10_000.0, **kw: Any) -> DeribitSimulator:
    return DeribitSimulator(
        market_steps_per_second=rate,
        interval_rates={"100ms": rate},
        rate_limits=False,
        max_connections=None,
        **kw,
    )


async def flowing(count: Count, n: int = 200) -> None:
    target = count.received + n
    await wait_until(lambda: count.received >= target, what=f"{n} more notifications")


async def test_rotation_under_load_loses_and_duplicates_nothing() -> None:
    async with sim().serve() as s:
        count = Count()
        client = await zenws.connect(s.url, dialect="deribit")
        try:
            await client.subscribe([CHANNEL], handler=count)
            await flowing(count)
            reports: list[RotationReport] = []
            for _ in range(20):
                reports.append(await client.rotate())
                await flowing(count, 100)
            await flowing(count)
            assert (count.lost, count.duplicated) == (0, 0)
            assert count.received >= 200 + 20 * 100 + 200  # what the waits above saw
            assert [r.epoch for r in reports] == list(range(2, 22))
            assert client.epoch == 21 and client.state is zenws.State.OPEN
            assert all(r.in_sync and r.gaps == 0 and r.drained for r in reports)
            assert sum(r.dropped for r in reports) >= 20  # every new connection's snapshot
            assert client.metrics().reconnects == 0
            await wait_until(lambda: len(s.connections()) == 1, what="old connections closed")
        finally:
            await client.close()


async def test_plain_reconnect_on_the_same_stream_loses_messages() -> None:
    """The comparison: a reconnect drops what was sent while it was away (reported, not
    timed)."""
    async with sim().serve() as s:
        count = Count()
        client = await zenws.connect(s.url, dialect="deribit")
        try:
            await client.subscribe([CHANNEL], handler=count)
            await flowing(count)
            for _ in range(3):
                await client.reconnect()
                await flowing(count, 100)
            print(f"3 plain reconnects: lost {count.lost}, duplicated {count.duplicated}")
            assert count.lost > 0
        finally:
            await client.close()


async def test_automatic_rotation_before_the_venue_closes_the_connection(
    events: list[Any],
) -> None:
    # The venue ends every connection after 2.5 s (Binance: 24 h, shortened); the client
    # knows it and rotates 1.5 s before.
    async with sim(rate=2000.0, connection_lifetime=2.5).serve() as s:
        count = Count()
        client = await zenws.connect(
            s.url, dialect="deribit", max_connection_age=2.5, rotate_before=1.5
        )
        try:
            await client.subscribe([CHANNEL], handler=count)
            await wait_until(lambda: client.epoch >= 4, timeout=30, what="three rotations")
            await flowing(count)
            assert (count.lost, count.duplicated) == (0, 0)
            assert client.metrics().reconnects == 0  # never closed by the venue
            done = [e for e in events if e[1] == "rotation.done"]
            assert len(done) >= 3 and all(e[3]["scheduled"] for e in done)
        finally:
            await client.close()


async def test_requests_in_flight_finish_and_new_ones_follow_the_switch() -> None:
    async with sim(rate=1000.0).serve() as s:
        s.register("public/whoami", lambda sim, conn, session, params: conn.id)
        client = await zenws.connect(s.url, dialect="deribit")
        seen: dict[str, Any] = {}

        async def hook(conn: Any) -> None:
            if getattr(conn, "rotating", False):
                # during the rotation, before the switch: the client still uses the old one
                seen["client"] = await client.request("public/whoami")
                seen["prepared"] = await conn.request("public/whoami")

        client.add_reconnect_hook(hook)
        try:
            count = Count()
            await client.subscribe([CHANNEL], handler=count)
            old_id = await client.request("public/whoami")
            (old_conn,) = s.connections()
            old_conn.delay_replies(0.5)  # the old connection's answers now take 0.5 s
            slow = asyncio.ensure_future(client.request("public/get_time"))
            await asyncio.sleep(0)  # written before the rotation starts
            report = await client.rotate()
            assert report.drained  # rotate() waited for it on the old connection
            assert slow.done() and isinstance(slow.result(), int)
            assert seen["client"] == old_id and seen["prepared"] != old_id
            assert await client.request("public/whoami") == seen["prepared"]
            await flowing(count)
            assert (count.lost, count.duplicated) == (0, 0)
        finally:
            await client.close()


@pytest.mark.parametrize("step", ["open", "hooks", "subscribe", "timeout"])
async def test_failure_of_the_new_connection_keeps_the_old_one(
    step: str, events: list[Any]
) -> None:
    async with sim(rate=2000.0).serve() as s:
        assert s.server is not None
        count = Count()
        client = await zenws.connect(s.url, dialect="deribit")
        try:
            await client.subscribe([CHANNEL], handler=count)
            await flowing(count)
            timeout = None
            if step == "open":
                s.server.max_connections = 1  # the second upgrade gets HTTP 429
            elif step == "hooks":

                async def refuse(conn: Any) -> None:
                    await conn.request("public/auth", {"grant_type": "client_credentials"})

                client.add_reconnect_hook(refuse)
            elif step == "subscribe":
                s.fail_next("public/subscribe", code=11051, message="system_maintenance")
            else:

                async def stall(conn: Any) -> None:
                    await asyncio.sleep(5)

                client.add_reconnect_hook(stall)
                timeout = 0.3
            with pytest.raises(RotationFailed) as caught:
                await client.rotate(timeout=timeout)
            assert caught.value.step == ("hooks" if step == "timeout" else step)
            assert client.epoch == 1 and client.state is zenws.State.OPEN
            await wait_until(lambda: len(s.connections()) == 1, what="prepared one closed")
            await flowing(count)  # the old connection still delivers to the application
            assert (count.lost, count.duplicated) == (0, 0)
            assert await client.request("public/test") == {"version": s.knobs.version}
            failed = [e for e in events if e[1] == "rotation.failed"]
            assert len(failed) == 1 and failed[0][3]["step"] == caught.value.step
        finally:
            await client.close()


async def test_channels_without_a_sequence_are_deduplicated_by_content() -> None:
    async with sim(rate=2000.0).serve() as s:
        s.knobs.interval_rates["100ms"] = 2000.0
        seen: list[bytes] = []
        client = await zenws.connect(s.url, dialect="deribit", sequence_key=lambda doc: None)
        try:
            await client.subscribe([TICKER], handler=lambda m: seen.append(m.raw))
            await wait_until(lambda: len(seen) > 100)
            for _ in range(5):
                report = await client.rotate()
                assert report.in_sync
                n = len(seen)
                await wait_until(lambda n=n: len(seen) > n + 50)
            assert len(seen) == len(set(seen))  # each ticker (timestamp + content) once
        finally:
            await client.close()


async def test_rotate_needs_an_open_client() -> None:
    async with sim(rate=100.0).serve() as s:
        client = await zenws.connect(s.url, dialect="deribit")
        await client.close()
        with pytest.raises(zenws.ZenwsError, match="OPEN"):
            await client.rotate()


async def test_old_connection_lost_during_the_rotation_fails_it_and_reconnects() -> None:
    async with sim(rate=2000.0).serve() as s:
        count = Count()
        client = await zenws.connect(s.url, dialect="deribit", retry_delay=0.01)
        (old,) = s.connections()

        async def drop_old(conn: Any) -> None:
            if getattr(conn, "rotating", False):
                await s.drop_connection(old)

        try:
            await client.subscribe([CHANNEL], handler=count)
            await flowing(count)
            client.add_reconnect_hook(drop_old)
            with pytest.raises(RotationFailed) as caught:
                await client.rotate(timeout=20)
            assert caught.value.step in ("hooks", "subscribe", "sync")
            await wait_until(lambda: client.state is zenws.State.OPEN and client.epoch >= 2)
            await flowing(count)  # the plain reconnect restored the subscription
            assert count.duplicated == 0
            await wait_until(lambda: len(s.connections()) == 1, what="prepared one closed")
        finally:
            await client.close()


async def test_channels_subscribed_or_dropped_during_the_rotation_follow_it() -> None:
    # A slow book (20/s) keeps the rotation waiting for an overlap long enough to subscribe
    # and unsubscribe on the old connection after the new one has subscribed.
    async with sim(rate=20.0).serve() as s:
        s.knobs.interval_rates["raw"] = 20.0
        tickers: list[int] = []
        client = await zenws.connect(s.url, dialect="deribit")
        try:
            await client.subscribe([CHANNEL], handler=Count())
            await client.subscribe([TICKER], handler=lambda m: None)
            rotation = asyncio.ensure_future(client.rotate())

            def new_one_subscribed() -> bool:
                conns = s.connections()
                return len(conns) == 2 and CHANNEL in s.session(conns[1]).subscriptions

            await wait_until(new_one_subscribed, what="the new connection subscribed")
            assert not rotation.done()  # waiting for the book to overlap
            await client.subscribe(
                ["ticker.BTC-PERPETUAL.100ms"], handler=lambda m: tickers.append(m.epoch)
            )
            await client.unsubscribe([TICKER])
            report = await rotation
            assert report.epoch == 2
            n = len(tickers)
            await wait_until(lambda: len(tickers) > n + 3, what="tickers after the switch")
            assert tickers[-1] == 2  # delivered by the new connection
            (conn,) = s.connections()
            assert s.session(conn).subscriptions == {CHANNEL, "ticker.BTC-PERPETUAL.100ms"}
        finally:
            await client.close()
