"""The rotation switch (zenws.rotation.Handover) and the venues' sequence keys."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zenws.exchanges.sequences import binance_channel, binance_key, deribit_key, key_for
from zenws.rotation import Handover, Verdict

# ---- a stream as a venue sends it: one list of messages, the same bytes to every subscriber


def note(channel: str, data: Any) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "method": "subscription",
        "params": {"channel": channel, "data": data},
    }


def book(channel: str, change_id: int, prev: int | None) -> dict[str, Any]:
    data: dict[str, Any] = {"type": "change" if prev else "snapshot", "change_id": change_id}
    if prev is not None:
        data["prev_change_id"] = prev
    return {
        "jsonrpc": "2.0",
        "method": "subscription",
        "params": {"channel": channel, "data": data},
    }


def ticker(channel: str, ts: int, price: float) -> dict[str, Any]:
    data = {"timestamp": ts, "last_price": price}
    return {
        "jsonrpc": "2.0",
        "method": "subscription",
        "params": {"channel": channel, "data": data},
    }


def stream(n: int, channels: int = 2) -> list[tuple[str, dict[str, Any], bytes]]:
    """n messages: books with consecutive change ids and tickers without any sequence."""
    out = []
    change = {f"book.I{c}.raw": 1000 * (c + 1) for c in range(channels)}
    for i in range(n):
        c = i % (channels + 1)
        if c < channels:
            ch = f"book.I{c}.raw"
            change[ch] += 1
            doc = book(ch, change[ch], change[ch] - 1)
        else:
            ch = "ticker.I0.100ms"
            doc = ticker(ch, 1_700_000_000_000 + i // 3, 100.0 + (i % 7))
        out.append((ch, doc, orjson.dumps(doc)))
    return out


def rotate(msgs: list[Any], start: int, switch_old: int, switch_new: int) -> list[Any]:
    """Old delivers msgs[:switch_old]; new holds msgs[start:switch_new]; then switch, then
    new delivers msgs[switch_new:] through after().  Returns what the application got."""
    h: Handover[int] = Handover(deribit_key, window=64)
    got: list[Any] = []
    for i in range(switch_old):
        ch, doc, raw = msgs[i]
        got.append(i)
        # the rotation starts when the new connection opens: the old one is watched from
        # a little before the first message the new one holds
        if i >= start - 5:
            h.delivered(ch, doc, raw)
    for i in range(start, switch_new):
        ch, doc, raw = msgs[i]
        h.received(i, ch, doc, raw)
    got += [i for i, v in h.switch() if v is not Verdict.DROP]
    for i in range(switch_new, len(msgs)):
        ch, doc, raw = msgs[i]
        if h.after(ch, doc, raw) is not Verdict.DROP:
            got.append(i)
    return got


def test_overlap_gives_every_message_once() -> None:
    msgs = stream(300)
    assert rotate(msgs, start=100, switch_old=150, switch_new=170) == list(range(300))


def test_new_connection_behind_the_old_one_still_gives_every_message_once() -> None:
    msgs = stream(300)
    # new holds 100..119 while old already delivered up to 149: the switch drops them all
    # and after() keeps dropping until new passes 149
    assert rotate(msgs, start=100, switch_old=150, switch_new=120) == list(range(300))


@settings(max_examples=300, deadline=None)
@given(
    n=st.integers(60, 200),
    channels=st.integers(1, 3),
    start=st.integers(10, 50),
    lead=st.integers(0, 40),
    new_extra=st.integers(-30, 40),
)
def test_any_overlapping_switch_loses_and_duplicates_nothing(
    n: int, channels: int, start: int, lead: int, new_extra: int
) -> None:
    msgs = stream(n, channels)
    switch_old = min(n, start + lead)
    switch_new = max(start, min(n, switch_old + new_extra))
    got = rotate(msgs, start, switch_old, switch_new)
    assert sorted(got) == list(range(n))  # nothing lost, nothing twice
    assert len(got) == len(set(got))


def test_in_sync_waits_for_an_overlap_on_every_channel() -> None:
    msgs = stream(60)
    h2: Handover[int] = Handover(deribit_key)
    for i in range(30):
        h2.delivered(*msgs[i])
    for i in range(35, 40):  # new starts after a hole: 30..34 not delivered by anyone
        h2.received(i, *msgs[i])
    assert not h2.in_sync()
    assert set(h2.lagging()) == {"book.I0.raw", "book.I1.raw", "ticker.I0.100ms"}
    for i in range(30, 40):  # the old one catches up past the new one's first message
        h2.delivered(*msgs[i])
    assert h2.in_sync()


def test_in_sync_is_false_until_the_new_connection_speaks_on_a_busy_channel() -> None:
    msgs = stream(30)
    h: Handover[int] = Handover(deribit_key)
    for i in range(20):
        h.delivered(*msgs[i])
    assert not h.in_sync()
    assert h.lagging() == ["book.I0.raw", "book.I1.raw", "ticker.I0.100ms"]


def test_a_gap_between_the_connections_is_flagged() -> None:
    h: Handover[str] = Handover(deribit_key)
    h.delivered("book.A.raw", book("book.A.raw", 10, 9), b"10")
    # the new connection never saw 11: its first change follows 11
    doc = book("book.A.raw", 12, 11)
    h.received("m12", "book.A.raw", doc, b"12")
    assert not h.in_sync()
    assert h.switch() == [("m12", Verdict.GAP)]
    assert h.stats.gaps == 1 and h.settled


def test_contiguous_without_overlap_is_in_sync() -> None:
    h: Handover[str] = Handover(deribit_key)
    h.delivered("book.A.raw", book("book.A.raw", 10, 9), b"10")
    h.received("m11", "book.A.raw", book("book.A.raw", 11, 10), b"11")
    assert h.in_sync()
    assert h.switch() == [("m11", Verdict.PASS)]


def test_snapshot_on_the_new_connection_is_dropped_when_the_old_one_is_past_it() -> None:
    h: Handover[str] = Handover(deribit_key)
    for cid in range(100, 106):
        h.delivered("book.A.raw", book("book.A.raw", cid, cid - 1), b"%d" % cid)
    h.received("snap", "book.A.raw", book("book.A.raw", 104, None), b"s104")
    h.received("c105", "book.A.raw", book("book.A.raw", 105, 104), b"105")
    h.received("c106", "book.A.raw", book("book.A.raw", 106, 105), b"106")
    assert h.in_sync()
    assert h.switch() == [("snap", Verdict.DROP), ("c105", Verdict.DROP), ("c106", Verdict.PASS)]
    assert (h.stats.dropped, h.stats.passed, h.stats.gaps) == (2, 1, 0)


def test_content_window_is_bounded_and_matches_by_bytes() -> None:
    h: Handover[int] = Handover(None, window=8)
    for i in range(1000):
        h.delivered("t", None, b"tick %d" % i)
    ch = h._channels["t"]
    assert len(ch.prints) == 8 and len(ch.counts) == 8  # memory stays at the window
    h.received(998, "t", None, b"tick 998")
    assert not h.in_sync()  # the newest delivered (999) is not held yet
    h.received(999, "t", None, b"tick 999")
    h.received(1000, "t", None, b"tick 1000")
    assert h.in_sync()
    assert [v for _, v in h.switch()] == [Verdict.DROP, Verdict.DROP, Verdict.PASS]


def test_identical_bytes_twice_in_the_window_are_both_remembered() -> None:
    h: Handover[int] = Handover(None, window=2)
    h.delivered("t", None, b"same")
    h.delivered("t", None, b"same")
    h.delivered("t", None, b"other")  # evicts one "same", the other stays
    h.switch()
    assert h.after("t", None, b"same") is Verdict.DROP
    assert h.after("t", None, b"new") is Verdict.PASS
    assert h.settled


def test_quiet_channels_settle_at_once_and_unknown_channels_pass() -> None:
    h: Handover[int] = Handover(deribit_key)
    assert h.in_sync()
    assert h.switch() == []
    assert h.settled
    assert h.after("x", None, b"x") is Verdict.PASS


def test_misuse_raises() -> None:
    h: Handover[int] = Handover(deribit_key)
    with pytest.raises(RuntimeError):
        h.after("x", None, b"")
    h.switch()
    with pytest.raises(RuntimeError):
        h.switch()
    with pytest.raises(RuntimeError):
        h.delivered("x", None, b"")
    with pytest.raises(RuntimeError):
        h.received(1, "x", None, b"")
    with pytest.raises(ValueError):
        Handover(None, window=0)


def test_a_raising_key_function_falls_back_to_content() -> None:
    def bad(doc: Any) -> Any:
        raise KeyError("boom")

    h: Handover[int] = Handover(bad)
    h.delivered("c", {}, b"a")
    h.received(1, "c", {}, b"a")
    assert h.in_sync()
    assert h.switch() == [(1, Verdict.DROP)]


# ---- the venues' keys


def test_deribit_keys() -> None:
    assert deribit_key(book("book.BTC-PERPETUAL.raw", 5, 4)) == ("book.BTC-PERPETUAL.raw", 5, 4)
    assert deribit_key(book("book.BTC-PERPETUAL.raw", 5, None)) == (
        "book.BTC-PERPETUAL.raw",
        5,
        None,
    )
    trades = {
        "method": "subscription",
        "params": {
            "channel": "trades.BTC-PERPETUAL.raw",
            "data": [{"trade_seq": 41, "trade_id": "x"}, {"trade_seq": 42, "trade_id": "y"}],
        },
    }
    assert deribit_key(trades) == ("trades.BTC-PERPETUAL.raw", 42, 40)
    trades["params"]["channel"] = "trades.future.BTC.raw"  # type: ignore[index]
    assert deribit_key(trades) is None  # several instruments: no common sequence
    assert deribit_key(ticker("ticker.BTC-PERPETUAL.raw", 1, 2.0)) is None
    for bad in (None, [], {"method": "heartbeat"}, {"method": "subscription", "params": 3}):
        assert deribit_key(bad) is None
    flagged = book("book.X.raw", 1, 0)
    flagged["params"]["data"]["change_id"] = True
    assert deribit_key(flagged) is None  # a JSON true is no number


def test_binance_keys_combined_and_raw() -> None:
    depth = {"e": "depthUpdate", "E": 1, "s": "BNBBTC", "U": 157, "u": 160, "b": [], "a": []}
    assert binance_key(depth) == ("bnbbtc@depth", 160, 156)
    combined = {"stream": "bnbbtc@depth@100ms", "data": depth}
    assert binance_key(combined) == ("bnbbtc@depth@100ms", 160, 156)
    trade = {"e": "trade", "E": 1, "s": "BNBBTC", "t": 12345, "p": "0.001"}
    assert binance_key(trade) == ("bnbbtc@trade", 12345, None)
    agg = {"e": "aggTrade", "s": "BNBBTC", "a": 26129, "f": 100, "l": 105}
    assert binance_key(agg) == ("bnbbtc@aggTrade", 26129, None)
    bt = {"u": 400900217, "s": "BNBUSDT", "b": "25.3", "B": "31", "a": "25.36", "A": "40"}
    assert binance_key(bt) == ("bnbusdt@bookTicker", 400900217, None)
    kline = {"e": "kline", "s": "BNBBTC", "k": {}}
    assert binance_key(kline) is None and binance_channel(kline) is None
    assert binance_key({"stream": "x@kline_1m", "data": kline}) is None
    assert binance_channel({"stream": "x@kline_1m", "data": kline}) == "x@kline_1m"
    assert binance_key([]) is None
    assert key_for("deribit") is deribit_key and key_for("binance") is binance_key
    assert key_for("kraken") is None


def test_binance_depth_rotation_drops_overlap_by_update_ids() -> None:
    def ev(first: int, last: int) -> dict[str, Any]:
        return {
            "stream": "btcusdt@depth",
            "data": {"e": "depthUpdate", "s": "BTCUSDT", "U": first, "u": last},
        }

    h: Handover[str] = Handover(binance_key)
    for a in range(100, 130, 3):  # events 100-102, 103-105, ... 127-129
        h.delivered("btcusdt@depth", ev(a, a + 2), b"")
    h.received("121", "btcusdt@depth", ev(121, 123), b"")
    h.received("124", "btcusdt@depth", ev(124, 126), b"")
    h.received("127", "btcusdt@depth", ev(127, 129), b"")
    h.received("130", "btcusdt@depth", ev(130, 132), b"")
    assert h.in_sync()
    assert [v for _, v in h.switch()] == [Verdict.DROP] * 3 + [Verdict.PASS]
    assert h.after("btcusdt@depth", ev(134, 140), b"") is Verdict.PASS  # settled: no filter


def test_forget_drops_a_channel_and_its_held_messages() -> None:
    h: Handover[str] = Handover(deribit_key)
    h.delivered("t", None, b"old")  # a channel only the old connection spoke on
    h.delivered("book.A.raw", book("book.A.raw", 10, 9), b"10")
    h.received("b11", "book.A.raw", book("book.A.raw", 11, 10), b"11")
    h.received("t-new", "t", None, b"new")
    assert not h.in_sync() and h.lagging() == ["t"]
    h.forget("t")  # unsubscribed meanwhile: nothing to wait for, nothing to hand over
    h.forget("never-seen")
    assert h.in_sync()
    assert h.switch() == [("b11", Verdict.PASS)]


def test_binance_dedupe_key_and_rotation_key_agree() -> None:
    # One rule set: the adapter's public dedupe_key is the rotation key without its prev.
    from zenws.adapters.binance import dedupe_key

    events = [
        ("bnbbtc@depth@100ms", {"e": "depthUpdate", "s": "BNBBTC", "U": 157, "u": 160}),
        ("bnbbtc@trade", {"e": "trade", "s": "BNBBTC", "t": 12345, "u": 1}),
        ("bnbbtc@aggTrade", {"e": "aggTrade", "s": "BNBBTC", "a": 26129}),
        ("bnbusdt@bookTicker", {"u": 400900217, "s": "BNBUSDT", "b": "1", "a": "2"}),
        ("bnbusdt@bookTicker", {"u": 7, "s": "BNBUSDT"}),  # named by its stream alone
        ("bnbbtc@kline_1m", {"e": "kline", "s": "BNBBTC", "u": 3}),
        ("bnbbtc@depth", {"e": "depthUpdate", "s": "BNBBTC", "U": 5}),  # no final id
        ("bnbbtc@trade", {"e": "trade", "t": True}),  # a JSON true is no sequence
    ]
    for stream, event in events:
        key = binance_key({"stream": stream, "data": event})
        expected = (stream, key[1]) if key is not None else None
        assert dedupe_key(stream, event) == expected, (stream, event)
    assert [dedupe_key(s, e) is not None for s, e in events] == [True] * 5 + [False] * 3
