"""``zenws demo``: a Deribit session against the embedded simulator, with live stats.

Everything runs in this process on 127.0.0.1: the :class:`~zenws.testing.DeribitSimulator`
(seeded market, auth, heartbeats, credit limits) and a
:class:`~zenws.adapters.deribit.DeribitClient` that authenticates with an HMAC signature,
enables cancel-on-disconnect, subscribes to tickers, trades, a book and its own orders, and
places and cancels orders.  ``--chaos`` drops the connection, stalls it (a half-open socket
only the heartbeat can detect) and skips a book ``change_id``, so recovery is visible.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

from .base import EXIT_ERROR, EXIT_OK

__all__ = ["demo_command"]

INSTRUMENT = "BTC-PERPETUAL"
BOOK = f"book.{INSTRUMENT}.100ms"
CHANNELS = [
    f"ticker.{INSTRUMENT}.100ms",
    "ticker.ETH-PERPETUAL.100ms",
    f"trades.{INSTRUMENT}.100ms",
    "user.orders.any.any.raw",
]


@dataclass
class DemoState:
    """What the status line and the summary show."""

    started: float = field(default_factory=time.monotonic)
    notifications: dict[str, int] = field(default_factory=dict)
    placed: int = 0
    cancelled: int = 0
    order_updates: int = 0
    order_errors: int = 0
    events: list[str] = field(default_factory=list)
    last_messages: int = 0
    last_t: float = 0.0
    rate: float = 0.0

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def log(self, text: str) -> None:
        self.events.append(f"{self.elapsed():5.1f}s  {text}")


def _us(ns: float) -> str:
    return f"{ns / 1000:.0f}us" if ns else "-"


def status_line(dc: Any, st: DemoState) -> str:
    """One line: rate, RTT percentiles, heartbeat, reconnects, gaps, orders."""
    m = dc.metrics()
    now = st.elapsed()
    if now - st.last_t >= 0.5:
        st.rate = (m.client.messages_in - st.last_messages) / (now - st.last_t or 1.0)
        st.last_messages, st.last_t = m.client.messages_in, now
    lat = dc.latency_stats()
    hb = dc.heartbeat_health()
    return (
        f"t={now:4.1f}s  {st.rate:6.0f} msg/s  rtt p50 {_us(lat.p50)} p99 {_us(lat.p99)}  "
        f"hb {_us((hb.rtt or 0) * 1e9)}  reconnects {m.client.reconnects}  gaps {m.gaps}  "
        f"orders {st.placed}/{st.cancelled}  {m.client.state.name.lower()}"
    )


def summary_rows(dc: Any, st: DemoState) -> list[tuple[str, str]]:
    """The final table."""
    m = dc.metrics()
    lat = dc.latency_stats()
    hb = dc.heartbeat_health()
    book = dc.books.get(BOOK)
    top = "-"
    if book is not None and book.best_bid() and book.best_ask():
        top = f"{book.best_bid()[0]:.1f} / {book.best_ask()[0]:.1f}"
    secs = max(st.elapsed(), 1e-9)
    return [
        ("duration", f"{secs:.1f} s"),
        ("messages received", f"{m.client.messages_in} ({m.client.messages_in / secs:.0f}/s)"),
        ("notifications", ", ".join(f"{k} {v}" for k, v in sorted(st.notifications.items()))),
        ("requests (rtt samples)", str(lat.count)),
        ("rtt p50 / p90 / p99", f"{_us(lat.p50)} / {_us(lat.p90)} / {_us(lat.p99)}"),
        ("rtt max", _us(lat.max)),
        ("heartbeat rtt", _us((hb.rtt or 0) * 1e9)),
        ("connection epoch", str(dc.epoch)),
        ("reconnects", str(m.client.reconnects)),
        ("authentications", f"{m.auths} (+{m.refreshes} refreshes)"),
        ("cancel-on-disconnect", m.cancel_on_disconnect or "off"),
        ("book gaps / resyncs", f"{m.gaps} / {m.resyncs}"),
        (f"{INSTRUMENT} bid / ask", top),
        ("orders placed / cancelled", f"{st.placed} / {st.cancelled}"),
        ("order updates received", str(st.order_updates)),
        ("order errors", str(st.order_errors)),
        (
            "state",
            f"{m.client.state.name.lower()}, authenticated: {'yes' if m.authenticated else 'no'}",
        ),
    ]


def _counter(st: DemoState, key: str) -> Callable[[Any], None]:
    def on_message(msg: Any) -> None:
        st.notifications[key] = st.notifications.get(key, 0) + 1
        if key == "orders":
            st.order_updates += 1

    return on_message


async def _trade(dc: Any, st: DemoState, stop: asyncio.Event) -> None:
    """Every 0.5 s: rest a limit buy below the market, then cancel it."""
    from ..errors import ZenwsError

    n = 0
    while not stop.is_set():
        book = dc.books.get(BOOK)
        bid = book.best_bid() if book is not None else None
        if bid is not None and dc.authenticated:
            n += 1
            try:
                res = await dc.buy(
                    INSTRUMENT, 10, type="limit", price=bid[0] - 50, label=f"demo-{n}"
                )
                st.placed += 1
                await asyncio.sleep(0.2)
                await dc.cancel(res["order"]["order_id"])
                st.cancelled += 1
            except ZenwsError as exc:
                st.order_errors += 1
                st.log(f"order {n}: {type(exc).__name__} (expected during chaos)")
        with contextlib.suppress(asyncio.TimeoutError, TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.5)


async def _wait(pred: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


async def _chaos(sim: Any, dc: Any, st: DemoState, duration: float) -> None:
    """Drop, stall and gap in turn, each after the previous recovery."""

    async def at(fraction: float) -> None:
        await asyncio.sleep(max(0.0, st.started + duration * fraction - time.monotonic()))

    await at(0.2)
    epoch = dc.epoch
    st.log("chaos: server resets the TCP connection")
    await sim.drop_connection()
    if await _wait(lambda: dc.epoch > epoch and dc.authenticated, 10):
        st.log(f"recovered: epoch {dc.epoch}, re-authenticated, subscriptions restored")
    await at(0.4)
    epoch = dc.epoch
    st.log("chaos: server goes silent (half-open socket, no heartbeats)")
    sim.stall()
    if await _wait(lambda: dc.epoch > epoch and dc.authenticated, 15):
        st.log(f"recovered: heartbeat missed -> reconnected, epoch {dc.epoch}")
    await at(0.65)
    gaps = dc.metrics().gaps
    await _wait(lambda: not dc.books[BOOK].stale, 5)
    st.log(f"chaos: the next change on {BOOK} skips a change_id")
    with contextlib.suppress(LookupError):
        sim.inject_gap(BOOK)
    if await _wait(lambda: dc.metrics().gaps > gaps and not dc.books[BOOK].stale, 10):
        st.log("recovered: gap detected, book resubscribed, fresh snapshot applied")


class _Screen:
    """Live status: rich when available and wanted, else plain text."""

    def __init__(self, rich_ok: bool, out: TextIO) -> None:
        self.out = out
        self.live: Any = None
        self.tty = out.isatty()
        self.shown = 0
        self.last_plain = 0.0
        if rich_ok:
            from rich.console import Console
            from rich.live import Live

            self.console = Console(file=out)
            self.live = Live(console=self.console, refresh_per_second=4, transient=True)

    def __enter__(self) -> _Screen:
        if self.live is not None:
            self.live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.live is not None:
            self.live.__exit__(*exc)
        elif self.tty:
            print(file=self.out)

    def update(self, line: str, st: DemoState) -> None:
        if self.live is not None:
            from rich.console import Group
            from rich.text import Text

            self.live.update(Group(*(Text(e, style="dim") for e in st.events[-6:]), Text(line)))
            return
        for event in st.events[self.shown :]:
            print(("\r\033[K" if self.tty else "") + event, file=self.out)
        self.shown = len(st.events)
        if self.tty:
            print("\r\033[K" + line, end="", file=self.out, flush=True)
        elif time.monotonic() - self.last_plain >= 1.0:
            self.last_plain = time.monotonic()
            print(line, file=self.out, flush=True)

    def summary(self, rows: list[tuple[str, str]], ok: bool, st: DemoState) -> None:
        if self.live is not None:
            from rich.table import Table
            from rich.text import Text

            for event in st.events:  # the live view was transient: keep the story on screen
                self.console.print(Text(event, style="dim"))

            table = Table(title="zenws demo summary", show_header=False)
            for key, value in rows:
                table.add_row(key, value)
            self.console.print(table)
        else:
            width = max(len(k) for k, _ in rows)
            print("summary", file=self.out)
            for key, value in rows:
                print(f"  {key:<{width}}  {value}", file=self.out)
        print("result: " + ("OK" if ok else "FAILED"), file=self.out, flush=True)


async def demo_command(
    duration: float, chaos: bool, rich_ok: bool, out: TextIO, *, venue: str = "deribit"
) -> int:
    """Run ``zenws demo``; returns the exit code."""
    if venue == "binance":
        return await binance_demo(duration, chaos, out)
    from ..adapters.deribit import DeribitClient
    from ..testing.deribit import DeribitSimulator

    # Expected warnings (missed heartbeats during --chaos) are shown in the event log instead.
    logging.getLogger("zenws").addHandler(logging.NullHandler())
    sim = DeribitSimulator(min_heartbeat_interval=0.5, seed=7)
    creds = next(iter(sim.knobs.credentials.items()))
    st = DemoState()
    async with sim.serve():
        print(f"zenws demo: Deribit simulator on {sim.url} (loopback, no network)", file=out)
        dc = await DeribitClient.connect(
            sim.url,
            client_id=creds[0],
            client_secret=creds[1],
            grant="client_signature",
            heartbeat=1.0,
            min_heartbeat=0.5,
            cancel_on_disconnect=True,
            retry_delay=0.1,
            max_backoff=1.0,
            resync_interval=0.2,
        )
        try:
            st.log(f"connected (epoch {dc.epoch}), authenticated: {dc.authenticated}")
            await dc.subscribe(CHANNELS[:2], _counter(st, "ticker"))
            await dc.subscribe(CHANNELS[2], _counter(st, "trades"))
            await dc.subscribe(CHANNELS[3], _counter(st, "orders"))
            await dc.on_book(INSTRUMENT, _counter(st, "book"))
            st.log(f"subscribed: {', '.join([*CHANNELS, BOOK])}")
            ok = await _run(sim, dc, st, duration, chaos, _Screen(rich_ok, out))
        finally:
            await dc.close()
    return EXIT_OK if ok else EXIT_ERROR


async def _run(
    sim: Any, dc: Any, st: DemoState, duration: float, chaos: bool, screen: _Screen
) -> bool:
    stop = asyncio.Event()
    tasks = [asyncio.ensure_future(_trade(dc, st, stop))]
    chaos_task = asyncio.ensure_future(_chaos(sim, dc, st, duration)) if chaos else None
    with screen:
        end = st.started + duration
        while time.monotonic() < end or (chaos_task is not None and not chaos_task.done()):
            screen.update(status_line(dc, st), st)
            await asyncio.sleep(0.25)
            if time.monotonic() > end + 30:  # chaos never recovered: give up
                break
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        if chaos_task is not None and not chaos_task.done():
            chaos_task.cancel()
        screen.update(status_line(dc, st), st)
    m = dc.metrics()
    ok = m.authenticated and m.client.state.name == "OPEN" and st.placed > 0
    if chaos:
        ok = ok and m.client.reconnects >= 2 and m.gaps >= 1 and m.resyncs >= 1
    screen.summary(summary_rows(dc, st), ok, st)
    if not ok:
        print("zenws demo: the session did not recover as expected", file=sys.stderr)
    return bool(ok)


async def binance_demo(duration: float, chaos: bool, out: TextIO) -> int:
    """``zenws demo --venue binance``: a BinanceClient on the embedded BinanceSimulator.

    HMAC-signed orders placed and cancelled through the WebSocket API (server clock estimate,
    the server's ``rateLimits`` feeding the limiter), a diff-depth book synced from a
    ``depth`` snapshot, and combined market streams on a second connection.  ``--chaos``
    resets the stream connection and skips book updates, so restore and resync are visible.
    """
    from ..adapters.binance import BinanceClient
    from ..errors import ZenwsError
    from ..testing.binance import BinanceSimulator

    logging.getLogger("zenws").addHandler(logging.NullHandler())
    sim = BinanceSimulator(seed=7, stream_rate=20)
    sim.add_hmac_key("demo-api-key", "demo-secret-key")
    st = DemoState()
    requests = 0
    async with sim.serve():
        print(f"zenws demo: Binance simulator on {sim.url} (loopback, no network)", file=out)
        bc = await BinanceClient.connect(
            sim.url,
            stream_url=sim.stream_url().replace("/ws", "/stream"),
            api_key="demo-api-key",
            secret_key="demo-secret-key",
            retry_delay=0.1,
            stream_options={"retry_delay": 0.1},
        )
        try:
            st.log(f"connected, server clock offset {bc.clock.offset_ms:+.1f} ms")
            streams = ["btcusdt@trade", "ethusdt@trade", "btcusdt@bookTicker"]
            await bc.subscribe(streams, _counter(st, "streams"))
            book = await bc.on_book("BTCUSDT", _counter(st, "book"))
            st.log(f"subscribed: {', '.join(streams)} + the BTCUSDT diff-depth book")
            start = time.monotonic()
            end = start + duration
            steps = {"reset": not chaos, "gap": not chaos}
            while time.monotonic() < end:
                try:
                    await bc.ticker_price(symbol="BTCUSDT")
                    requests += 1
                    bid = book.best_bid()
                    if bid is not None and not book.stale:
                        placed = await bc.order_place(
                            "BTCUSDT", "BUY", "LIMIT", price=f"{bid[0] - 50:.2f}",
                            quantity="0.001", timeInForce="GTC",
                        )  # fmt: skip
                        st.placed += 1
                        await bc.order_cancel("BTCUSDT", orderId=placed["orderId"])
                        st.cancelled += 1
                except ZenwsError as exc:
                    st.order_errors += 1
                    st.log(f"request failed: {type(exc).__name__}")
                elapsed = (time.monotonic() - start) / duration
                if not steps["reset"] and elapsed > 0.3:
                    steps["reset"] = True
                    assert sim.server is not None
                    for conn in sim.server.connections:
                        if conn.request.path.startswith("/stream"):
                            sim.server.abort(connection=conn)
                    st.log("chaos: the stream connection is reset")
                restored = bc.streams is not None and bc.streams.epoch >= (2 if chaos else 1)
                if not steps["gap"] and elapsed > 0.6 and restored and not book.stale:
                    steps["gap"] = True
                    sim.inject_gap("BTCUSDT")
                    st.log("chaos: the BTCUSDT diff stream skips updates")
                await asyncio.sleep(0.1)
            if chaos:  # the last injected fault needs its recovery before the summary
                await _wait(lambda: bc.metrics().resyncs >= 1, 5)
            await _wait(lambda: not book.stale, 5)
            for line in st.events:
                print(line, file=out)
            lat = bc.latency_stats()
            m = bc.metrics()
            streams_epoch = bc.streams.epoch if bc.streams is not None else 0
            top = "-"
            if book.best_bid() and book.best_ask():
                top = f"{book.best_bid()[0]:.2f} / {book.best_ask()[0]:.2f}"
            rows = [
                ("requests", str(requests)),
                ("rtt p50 / p99", f"{_us(lat.p50)} / {_us(lat.p99)}"),
                ("request weight used (server)", str(m.used_weight)),
                ("orders placed / cancelled", f"{st.placed} / {st.cancelled}"),
                ("stream messages", str(st.notifications.get("streams", 0))),
                ("book updates", str(st.notifications.get("book", 0))),
                ("BTCUSDT bid / ask", top),
                ("book gaps / resyncs", f"{m.gaps} / {m.resyncs}"),
                ("stream connection epoch", str(streams_epoch)),
                ("clock offset", f"{m.clock_offset_ms:+.1f} ms"),
            ]
            width = max(len(k) for k, _ in rows)
            print("summary", file=out)
            for key, value in rows:
                print(f"  {key:<{width}}  {value}", file=out)
            ok = (
                requests > 0
                and st.placed > 0
                and st.notifications.get("streams", 0) > 0
                and not book.stale
            )
            if chaos:
                ok = ok and streams_epoch >= 2 and m.gaps >= 1 and m.resyncs >= 1
            print("result: " + ("OK" if ok else "FAILED"), file=out, flush=True)
        finally:
            await bc.close()
    return EXIT_OK if ok else EXIT_ERROR
