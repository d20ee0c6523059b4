"""zenws.fast.book.L2Book against a naive reference book (a dict per side, sorted on read).

Property tests drive both with random streams of snapshots, changes, deletes, zero
amounts, crossing prices and out-of-order sequence ids, for every sequence policy, through
``apply_snapshot``/``apply_delta`` and through the Deribit wire parser.  Malformed wire
messages must raise ProtocolError and leave the book exactly as it was.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import zenws.fast
from corpus import deribit_messages
from zenws.errors import ProtocolError
from zenws.fast import book as fb
from zenws.fast.book import APPLIED, ASK, BID, GAP, SKIPPED, STALE, L2Book

CHANNEL = "book.BTC-PERPETUAL.100ms"
Level = tuple[float, float]


# ------------------------------------------------------------------ the reference


@dataclass
class RefBook:
    """Sequence policies as the venues document them, levels in plain dicts."""

    policy: str
    bids: dict[float, float] = field(default_factory=dict)
    asks: dict[float, float] = field(default_factory=dict)
    stale: bool = True
    last: int | None = None
    synced: bool = False
    gaps: int = 0
    gap: tuple[int | None, int | None, int] | None = None

    def _set(self, side: dict[float, float], levels: list[Level]) -> None:
        for price, amount in levels:
            if amount == 0:
                side.pop(price, None)
            else:
                side[price] = amount

    def snapshot(self, bids: list[Level], asks: list[Level], seq: int | None) -> int:
        self.bids, self.asks = {}, {}
        self._set(self.bids, bids)
        self._set(self.asks, asks)
        self.stale, self.last, self.synced = False, seq, False
        return APPLIED

    def _gap(self, expected: int | None, got: int | None, seq: int) -> int:
        self.bids, self.asks = {}, {}
        self.stale, self.synced = True, False
        self.gaps += 1
        self.gap = (expected, got, seq)
        return GAP

    def _verdict(self, seq: int | None, prev: int | None, first: int | None) -> int:
        last, s = self.last, seq if seq is not None else 0
        if self.policy == "deribit":
            if prev is None or last is None or prev != last:
                return self._gap(last, prev, s)
            return APPLIED
        if self.policy == "binance_spot":
            if seq is None or first is None or last is None:
                return self._gap(None if last is None else last + 1, first, s)
            if not self.synced:
                if seq <= last:
                    return SKIPPED
                if first <= last + 1:
                    return APPLIED
            elif first == last + 1:
                return APPLIED
            return self._gap(last + 1, first, s)
        if self.policy == "binance_futures":
            if seq is None or last is None:
                return self._gap(last, prev, s)
            if not self.synced:
                if seq < last:
                    return SKIPPED
                if first is not None and first <= last:
                    return APPLIED
                return self._gap(last, first, s)
            if prev is not None and prev == last:
                return APPLIED
            return self._gap(last, prev, s)
        if self.policy == "seq":
            if seq is None or last is None or seq != last + 1:
                return self._gap(None if last is None else last + 1, seq, s)
            return APPLIED
        return APPLIED

    def delta(
        self, bids: list[Level], asks: list[Level], seq: int | None, prev: int | None,
        first: int | None,
    ) -> int:  # fmt: skip
        if self.stale:
            return STALE
        verdict = self._verdict(seq, prev, first)
        if verdict == APPLIED:
            self._set(self.bids, bids)
            self._set(self.asks, asks)
            if seq is not None:
                self.last = seq
            self.synced = True
        return verdict

    def sorted_bids(self) -> list[Level]:
        return sorted(self.bids.items(), reverse=True)

    def sorted_asks(self) -> list[Level]:
        return sorted(self.asks.items())


def state(book: L2Book) -> tuple[Any, ...]:
    """Everything observable about a book (for before/after comparisons)."""
    return (
        book.top(BID, 10**6).tobytes(),
        book.top(ASK, 10**6).tobytes(),
        book.stale,
        book.seq,
        book.timestamp,
        book.updates,
        book.gaps,
        book.last_gap,
    )


def check_same(book: L2Book, ref: RefBook) -> None:
    bids, asks = ref.sorted_bids(), ref.sorted_asks()
    assert [tuple(r) for r in book.top(BID, 10**6).tolist()] == bids
    assert [tuple(r) for r in book.top(ASK, 10**6).tolist()] == asks
    assert book.stale == ref.stale
    assert len(book) == len(bids) + len(asks)
    assert book.levels(BID) == len(bids) and book.levels(ASK) == len(asks)
    assert book.best_bid() == (bids[0] if bids else None)
    assert book.best_ask() == (asks[0] if asks else None)
    assert book.crossed == bool(bids and asks and bids[0][0] >= asks[0][0])
    assert book.gaps == ref.gaps
    if ref.gap is not None:
        gap = book.last_gap
        assert gap is not None and (gap.expected, gap.got, gap.seq) == ref.gap
    if bids and asks:
        assert book.spread() == asks[0][0] - bids[0][0]
        assert book.mid() == (asks[0][0] + bids[0][0]) * 0.5
    else:
        assert book.spread() is None and book.mid() is None
    assert dict(book.side_view(BID)) == ref.bids and dict(book.side_view(ASK)) == ref.asks


# ------------------------------------------------------------------ strategies

# A small price grid so that levels collide, sides cross and deletes hit.
prices = st.integers(0, 40).map(lambda i: 100.0 + i * 0.5)
amounts = st.sampled_from([0.0, 0.0, 1.0, 2.5, 10.0, 0.1, 1234.5])
levels = st.lists(st.tuples(prices, amounts), max_size=12)
some_levels = st.lists(st.tuples(prices, amounts), min_size=1, max_size=6)
POLICY_NAMES = sorted(fb.POLICIES)


def in_order(data: st.DataObject, ref: RefBook) -> tuple[int | None, int | None, int | None]:
    """(seq, prev, first) of a delta the policy accepts in the reference's state."""
    last = ref.last if ref.last is not None else 0
    if ref.policy == "deribit":
        return last + data.draw(st.integers(1, 3)), last, None
    if ref.policy == "binance_spot":
        first = last + 1 - (0 if ref.synced else data.draw(st.integers(0, 2)))
        return first + data.draw(st.integers(0, 3)) + 2, None, first
    if ref.policy == "binance_futures":
        first = (last + 1 if ref.synced else last) - data.draw(st.integers(0, 2))
        return last + data.draw(st.integers(0, 3)), last, first
    return last + 1, None, None


def seq_fields(data: st.DataObject, ref: RefBook) -> tuple[int | None, int | None, int | None]:
    """(seq, prev, first) for the next delta: usually in order, else one field off by a
    little (or missing), so every boundary of every rule is reached."""
    fields = list(in_order(data, ref))
    if data.draw(st.integers(0, 9), label="in order?") < 7:
        return fields[0], fields[1], fields[2]
    which = data.draw(st.integers(0, 2), label="field")
    shift = data.draw(st.one_of(st.none(), st.integers(-3, 3)), label="shift")
    base = fields[which] if fields[which] is not None else (ref.last or 0)
    fields[which] = None if shift is None else base + shift
    return fields[0], fields[1], fields[2]


# ------------------------------------------------------------------ properties


@pytest.mark.parametrize("policy", POLICY_NAMES)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_matches_reference_for_every_policy(policy: str, data: st.DataObject) -> None:
    book, ref = L2Book("x", policy=policy), RefBook(policy)
    for _ in range(data.draw(st.integers(1, 25), label="steps")):
        bids, asks = data.draw(levels, label="bids"), data.draw(levels, label="asks")
        if data.draw(st.integers(0, 9), label="snapshot?") == 0 or ref.last is None:
            seq = data.draw(st.integers(0, 100), label="snapshot seq")
            book.apply_snapshot(bids, asks, seq)
            ref.snapshot(bids, asks, seq)
        else:
            seq, prev, first = seq_fields(data, ref)
            got = book.apply_delta(bids, asks, seq, prev=prev, first=first)
            assert got == ref.delta(bids, asks, seq, prev, first)
        check_same(book, ref)


def deribit_wire(kind: str, data: dict[str, Any], channel: str = CHANNEL) -> bytes:
    doc = {"jsonrpc": "2.0", "method": "subscription",
           "params": {"channel": channel, "data": {"type": kind, **data}}}  # fmt: skip
    return json.dumps(doc).encode()


def wire_levels(side: list[Level], data: st.DataObject) -> tuple[list[list[Any]], list[Level]]:
    """Deribit levels for side, and what they mean ("delete" removes whatever the amount)."""
    wire: list[list[Any]] = []
    meant: list[Level] = []
    for price, amount in side:
        action = data.draw(st.sampled_from(["new", "change", "delete"]), label="action")
        wire.append([action, price, amount])
        meant.append((price, 0.0 if action == "delete" else amount))
    return wire, meant


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_deribit_wire_matches_reference(data: st.DataObject) -> None:
    book, ref = L2Book(CHANNEL), RefBook("deribit")
    for _ in range(data.draw(st.integers(1, 20), label="steps")):
        (wb, bids), (wa, asks) = (
            wire_levels(data.draw(levels), data),
            wire_levels(data.draw(levels), data),
        )
        body: dict[str, Any] = {"timestamp": 7, "bids": wb, "asks": wa}
        if data.draw(st.integers(0, 9)) == 0 or ref.last is None:
            body["change_id"] = data.draw(st.integers(0, 10**12))
            assert book.apply_deribit(deribit_wire("snapshot", body)) == APPLIED
            ref.snapshot(bids, asks, body["change_id"])
        else:
            seq, prev, _ = seq_fields(data, ref)
            body["change_id"] = seq if seq is not None else 0
            if prev is not None:
                body["prev_change_id"] = prev
            got = book.apply_deribit(deribit_wire("change", body))
            assert got == ref.delta(bids, asks, body["change_id"], prev, None)
        check_same(book, ref)


# Edits that break a message somewhere (ProtocolError, book untouched).
BREAKERS = [
    lambda s: s[:-1],
    lambda s: s + "x",
    lambda s: s.replace('"bids":[', '"bids":{', 1),
    lambda s: s.replace('"change"', '"chang"', 1),
    lambda s: s.replace('"new"', '"modify"', 1),
    lambda s: s.replace("]]", "],]", 1),
    lambda s: s.replace("]]", ", 3]]", 1),
    lambda s: s.replace('"change_id": ', '"change_id": 1.5 + ', 1).replace("+ ", "", 1),
    lambda s: s.replace('"type": "', '"type": "x', 1),
    lambda s: s.replace('"channel": "', '"channel": "other', 1),
    lambda s: s.replace('"asks": [', '"asks": [["new", 1e999, 1], ', 1),
    lambda s: s.replace('"asks": [', '"asks": [["new", 1, -1], ', 1),
    lambda s: s.replace('"asks": [', '"asks": [["new", "1", 1], ', 1),
    lambda s: s.replace('"asks": [', '"asks": [[1, 2], ', 1),
    lambda s: s.replace('"timestamp": ', '"timestamp": "', 1),
    lambda s: s.replace('"data": {', '"data": {"x": [' * 70 + "]" * 70 + ", ", 1),
    lambda s: s.replace('"data": {', '"data": {"x": "\\q", ', 1),
    lambda s: s.replace('"data": {', '"data": {"x": "\x01", ', 1),
    lambda s: s.replace('"data": {', '"data": {"bids": [], ', 1),
]


@settings(max_examples=150, deadline=None)
@given(data=st.data(), breaker=st.sampled_from(range(len(BREAKERS))))
def test_malformed_leaves_book_unchanged(data: st.DataObject, breaker: int) -> None:
    book = L2Book(CHANNEL)
    snap = {"timestamp": 1, "change_id": 10, "bids": [["new", 100.0, 1.0]],
            "asks": [["new", 101.0, 1.0]]}  # fmt: skip
    book.apply_deribit(deribit_wire("snapshot", snap))
    body = {"timestamp": 2, "prev_change_id": 10, "change_id": 11,
            "bids": wire_levels(data.draw(some_levels), data)[0],
            "asks": wire_levels(data.draw(levels), data)[0]}  # fmt: skip
    text = deribit_wire("change", body).decode()
    broken = BREAKERS[breaker](text)
    assume(broken != text)  # e.g. no "new" level to edit
    before = state(book)
    with pytest.raises(ProtocolError):
        book.apply_deribit(broken.encode())
    assert state(book) == before
    assert book.apply_deribit(text.encode()) == APPLIED  # the good one still applies


# ------------------------------------------------------------------ examples


def test_corpus_snapshot_and_change() -> None:
    msgs = deribit_messages()
    book = L2Book(CHANNEL)
    assert book.stale and book.stale_reason == "no snapshot yet" and book.seq is None
    assert book.apply_deribit(msgs["notification_book_snapshot"]) == APPLIED
    assert book.best_bid() == (37010.5, 12000.0) and book.best_ask() == (37011.0, 3400.0)
    assert book.seq == 1000 and book.timestamp == 1700000000200
    assert book.apply_deribit(msgs["notification_book_change"]) == APPLIED
    assert book.best_bid() == (37010.5, 11000.0) and book.best_ask() == (37011.5, 800.0)
    assert book.last_change().tolist() == [[BID, 37010.5, 11000.0], [ASK, 37011.0, 0.0]]
    # the same change again: prev_change_id 1000 != 1001
    assert book.apply_deribit(msgs["notification_book_change"]) == GAP
    assert book.stale and book.stale_reason == "sequence gap" and len(book) == 0
    assert book.last_gap == fb.Gap(CHANNEL, 1001, 1000, 1001)
    assert book.apply_deribit(msgs["notification_book_change"]) == STALE
    assert book.apply_deribit(msgs["notification_book_snapshot"]) == APPLIED
    assert not book.stale and book.gaps == 1


def test_other_messages_of_the_corpus_are_rejected() -> None:
    book = L2Book(CHANNEL)
    for name, raw in deribit_messages().items():
        if name.startswith("notification_book"):
            continue
        with pytest.raises(ProtocolError):
            book.apply_deribit(raw)
    assert book.stale and len(book) == 0


def test_missing_prev_change_id_is_a_gap() -> None:
    book = L2Book("")
    book.apply_deribit(deribit_wire("snapshot", {"change_id": 5, "bids": [], "asks": []}))
    assert book.apply_deribit(deribit_wire("change", {"change_id": 6})) == GAP
    assert book.last_gap == fb.Gap("", 5, None, 6)


def test_grouped_format_replaces_the_book() -> None:
    book = L2Book("book.ETH-PERPETUAL.none.20.100ms")
    msg = {"jsonrpc": "2.0", "method": "subscription", "params": {
        "channel": "book.ETH-PERPETUAL.none.20.100ms",
        "data": {"timestamp": 3, "instrument_name": "ETH-PERPETUAL", "change_id": 9,
                 "bids": [[2000.5, 3.0], [2000.0, 1.0]], "asks": [[2001.0, 2.0]]}}}  # fmt: skip
    assert book.apply_deribit(json.dumps(msg).encode()) == APPLIED
    assert book.best_bid() == (2000.5, 3.0) and len(book) == 3
    msg["params"]["data"]["bids"] = [[1999.0, 4.0]]  # type: ignore[index]
    msg["params"]["data"]["change_id"] = 12  # type: ignore[index]
    assert book.apply_deribit(json.dumps(msg).encode()) == APPLIED
    assert book.top(BID).tolist() == [[1999.0, 4.0]] and book.seq == 12


@pytest.mark.parametrize(
    "text",
    ["100", "100.0", "1e2", "1.00E+2", "100.000000000000000000001", "0.1", "-0.0", "0",
     "123456789.123456789", "1e-30", "4.9406564584124654e-324", "9007199254740993",
     "1.7976931348623157e308", "0.30000000000000004", "2.5e-3", "12345678901234567890123"],
)  # fmt: skip
def test_prices_parse_exactly(text: str) -> None:
    book = L2Book()
    level = f'["new",{text},{text}]'
    raw = '{"params":{"data":{"type":"snapshot","change_id":1,"bids":[' + level + "]}}}"
    book.apply_deribit(raw.encode())
    want = float(text)
    if want == 0:
        assert len(book) == 0  # a zero amount is no level
    else:
        assert book.best_bid() == (want, want)


@given(st.floats(allow_nan=False, allow_infinity=False, min_value=1e-300, max_value=1e300))
def test_any_float_round_trips(x: float) -> None:
    book = L2Book()
    level = f'["new",{x!r},{x!r}]'
    raw = '{"params":{"data":{"type":"snapshot","change_id":1,"bids":[' + level + "]}}}"
    book.apply_deribit(raw.encode())
    assert book.best_bid() == (x, x)


def test_snapshot_in_any_order_with_duplicates_and_zeros() -> None:
    book = L2Book(policy="none")
    book.apply_snapshot([(3, 1), (1, 1), (2, 1), (1, 5), (4, 0)], [(9, 1), (8, 2), (8, 0)])
    assert book.top(BID).tolist() == [[3, 1], [2, 1], [1, 5]]
    assert book.top(ASK).tolist() == [[9, 1]]
    book.apply_snapshot(np.array([[1.0, 1.0], [2.0, 2.0]]), [], None)
    assert book.top(BID).tolist() == [[2, 2], [1, 1]] and book.seq is None


def test_reading_helpers() -> None:
    book = L2Book(policy="none")
    book.apply_snapshot([(100 - i, 1.0 + i) for i in range(50)],
                        [(101 + i, 2.0) for i in range(50)])  # fmt: skip
    out = np.zeros((10, 2))
    assert book.top_into(BID, out) == 10
    assert out[0].tolist() == [100, 1] and out[9].tolist() == [91, 10]
    small = np.full((3, 2), -1.0)
    book.set_level("ask", 500.0, 0)  # not there: nothing happens
    assert book.top_into(ASK, small) == 3 and small[:, 0].tolist() == [101, 102, 103]
    assert book.vwap(ASK, 3.0) == (101 * 2 + 102 * 1) / 3
    assert book.vwap(BID, 1.0) == 100.0
    assert math.isnan(book.vwap(ASK, 1e9)) and math.isnan(book.vwap(ASK, 0))
    assert book.depth_at(95) == 6.0 and book.depth_at(101) == 2.0 and book.depth_at(40) == 0
    assert book.depth_at(101, BID) == 0.0
    arr = book.to_numpy(60)
    assert arr.shape == (60, 4) and arr[0].tolist() == [100, 1, 101, 2]
    assert np.isnan(arr[50:]).all()
    book.set_level(BID, 101.0, 7.0)
    assert book.crossed and book.best_bid() == (101.0, 7.0)
    view = book.side_view(BID)
    assert 101.0 in view and view[101.0] == 7.0 and view.get(0.5) is None
    assert list(view)[:2] == [101.0, 100.0] and len(view) == 51
    with pytest.raises(KeyError):
        view[0.5]
    book.set_level(BID, 101.0, 0.0)
    assert not book.crossed and 101.0 not in view


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="policy"):
        L2Book(policy="nasdaq")
    book = L2Book(policy="none")
    with pytest.raises(ValueError):
        book.set_level(2, 1.0, 1.0)
    with pytest.raises(ValueError):
        book.set_level(BID, math.nan, 1.0)
    with pytest.raises(ValueError):
        book.set_level(BID, 1.0, -1.0)
    with pytest.raises(ValueError):
        book.apply_snapshot([(1.0, 1.0, 1.0)], [])
    with pytest.raises(ValueError):
        book.apply_delta([(math.inf, 1.0)], [])
    with pytest.raises(ValueError):
        book.top_into(BID, np.zeros((3, 3)))
    with pytest.raises(ValueError):
        book.to_numpy(-1)
    with pytest.raises(ValueError):
        fb.SideView(book, 2)


def test_invalidate_and_buffers() -> None:
    book = L2Book(CHANNEL)
    msgs = deribit_messages()
    book.apply_deribit(bytearray(msgs["notification_book_snapshot"]))
    book.apply_deribit(memoryview(msgs["notification_book_change"]))
    assert book.seq == 1001
    book.invalidate("reconnected")
    assert book.stale and book.stale_reason == "reconnected" and len(book) == 0
    with pytest.raises(ProtocolError):
        book.apply_deribit(b"")


def test_exported_from_zenws_fast() -> None:
    assert zenws.fast.L2Book is L2Book and zenws.fast.Gap is fb.Gap
