"""Order book: a Deribit change applied from the wire, then best bid and ask.

``taskset -c 0 python -m bench.book [--messages 2000] [--reps 7] [--markdown]``

Every contender gets the same wire bytes: Deribit ``book.BTC-PERPETUAL.100ms``
``change`` notifications of 20 level updates (changes, new levels and deletes, mostly
near the top) on a 2,000-level book (1,000 a side), in sequence.  Per message each one
goes from the raw bytes to the best bid and ask:

- ``zenws.fast.book``   ``L2Book.apply_deribit(raw)`` (parse + sequence check + apply in
  C), ``best_bid()``, ``best_ask()``;
- ``dict book``         the adapter's book before ``zenws.fast.book`` (Python dicts of
  float -> float, max()/min() for the best levels; copied below as ``DictBook``),
  decoded by ``Message.json()`` with the default decoder (simdjson);
- ``order-book``        the PyPI ``order-book`` package (C, used by cryptofeed) fed from
  ``orjson.loads``; best levels by ``bids.index(0)`` / ``asks.index(0)``;
- ``SortedDict``        ``sortedcontainers.SortedDict`` per side fed from ``orjson.loads``.

Also: ``top(10)`` into a preallocated array and as a new array, memory per level (RSS
growth building 40 books of 2,000 levels, per level, each contender in a fresh
interpreter; for zenws it includes the scratch that keeps the last message's levels), the
storage check (the same changes applied near the best and near the worst price), and
fan-in: notifications per second through the adapter's subscription handler to a Python
``on_book`` callback per update (zenws.Message objects made in advance, as the client's hot
path hands them over), today's handler vs the pre-``fast.book`` one (``msg.json()`` +
``DictBook.apply``).

Bench-only dependencies: ``pip install order-book sortedcontainers``.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
import orjson

CHANNEL = "book.BTC-PERPETUAL.100ms"
TICK = 0.5
MID = 37000.0
SIDE_LEVELS = 1000
UPDATES = 20


class DictBook:
    """The Deribit adapter's book before zenws.fast.book (dicts; O(n) best levels)."""

    def __init__(self) -> None:
        self.bids: dict[float, float] = {}
        self.asks: dict[float, float] = {}
        self.change_id: int | None = None
        self.stale = True

    def apply(self, data: Mapping[str, Any]) -> bool:
        kind = data.get("type")
        if kind == "snapshot":
            self.bids.clear()
            self.asks.clear()
            self._levels(self.bids, data.get("bids", ()))
            self._levels(self.asks, data.get("asks", ()))
            self.change_id, self.stale = data.get("change_id"), False
            return True
        if self.stale:
            return False
        prev = data.get("prev_change_id")
        if not isinstance(prev, int) or prev != self.change_id:
            self.bids.clear()
            self.asks.clear()
            self.stale = True
            return False
        self._levels(self.bids, data.get("bids", ()))
        self._levels(self.asks, data.get("asks", ()))
        self.change_id = data.get("change_id")
        return True

    @staticmethod
    def _levels(side: dict[float, float], levels: Iterable[Any]) -> None:
        for level in levels:
            if not isinstance(level, (list, tuple)) or len(level) != 3:
                continue
            action, price, amount = level
            if action == "delete" or not amount:
                side.pop(float(price), None)
            else:
                side[float(price)] = float(amount)

    def best_bid(self) -> tuple[float, float] | None:
        return max(self.bids.items()) if self.bids else None

    def best_ask(self) -> tuple[float, float] | None:
        return min(self.asks.items()) if self.asks else None


# ------------------------------------------------------------------ the stream


def note(data: dict[str, Any]) -> bytes:
    doc = {"jsonrpc": "2.0", "method": "subscription",
           "params": {"channel": CHANNEL, "data": data}}  # fmt: skip
    return json.dumps(doc, separators=(",", ":")).encode()


def stream(n: int, seed: int = 7, from_worst: bool = False) -> tuple[bytes, list[bytes]]:
    """(snapshot, n changes): a random walk of a 2,000-level book, 20 updates a change.

    Updates fall mostly near the best price (depth ~ exponential, mean 6 levels) as on a
    real feed; with ``from_worst`` the same pattern is measured from the worst price
    instead (the storage measurement: what near-top updates would cost if the best level
    were at the front of the arrays).
    """
    rng = random.Random(seed)
    bids = {MID - TICK * (i + 1): float(rng.randint(1, 500) * 10) for i in range(SIDE_LEVELS)}
    asks = {MID + TICK * i: float(rng.randint(1, 500) * 10) for i in range(SIDE_LEVELS)}
    snap = note({"type": "snapshot", "timestamp": 1, "instrument_name": "BTC-PERPETUAL",
                 "change_id": 1, "bids": [["new", p, a] for p, a in sorted(bids.items())[::-1]],
                 "asks": [["new", p, a] for p, a in sorted(asks.items())]})  # fmt: skip
    changes = []
    cid = 1
    for _ in range(n):
        out: dict[str, list[list[Any]]] = {"bids": [], "asks": []}
        for _ in range(UPDATES):
            is_bid = rng.random() < 0.5
            side, name = (bids, "bids") if is_bid else (asks, "asks")
            best = max(side) if is_bid else min(side)
            if from_worst:  # mirror: anchor at the worst level, walk towards the best
                is_bid = not is_bid
                best = min(side) if not is_bid else max(side)
            depth = min(int(rng.expovariate(1 / 6)), SIDE_LEVELS - 1)
            price = best - depth * TICK if is_bid else best + depth * TICK
            r = rng.random()
            if r < 0.6 and price in side:
                side[price] = float(rng.randint(1, 500) * 10)
                out[name].append(["change", price, side[price]])
            elif r < 0.8 and price in side and len(side) > SIDE_LEVELS - 50:
                del side[price]
                out[name].append(["delete", price, 0.0])
            else:  # a new level just outside the best or in a hole
                p = price if price not in side else (best + TICK if is_bid else best - TICK)
                if from_worst:
                    is_bid = not is_bid
                other = asks if is_bid else bids
                if p in side or (other and (p >= min(other) if is_bid else p <= max(other))):
                    continue
                if len(side) >= SIDE_LEVELS + 50:
                    continue
                side[p] = float(rng.randint(1, 500) * 10)
                out[name].append(["new", p, side[p]])
        changes.append(note({"type": "change", "timestamp": 1 + cid, "prev_change_id": cid,
                             "change_id": cid + 1, "instrument_name": "BTC-PERPETUAL",
                             **out}))  # fmt: skip
        cid += 1
    return snap, changes


# ------------------------------------------------------------------ contenders


Run = Callable[[], tuple[int, float, float]]  # -> (elapsed ns, final best bid, best ask)


def run_zenws(snap: bytes, changes: list[bytes]) -> Run:
    from zenws.fast.book import L2Book

    def go() -> tuple[int, float, float]:
        book = L2Book(CHANNEL)
        apply, best_bid, best_ask = book.apply_deribit, book.best_bid, book.best_ask
        apply(snap)
        t0 = time.perf_counter_ns()
        for raw in changes:
            apply(raw)
            best_bid()
            best_ask()
        elapsed = time.perf_counter_ns() - t0
        return elapsed, best_bid()[0], best_ask()[0]  # type: ignore[index]

    return go


def run_dict(snap: bytes, changes: list[bytes]) -> Run:
    from zenws.fast.listener import MessageKind, _make_message

    def go() -> tuple[int, float, float]:
        book = DictBook()
        book.apply(_make_message(MessageKind.NOTIFICATION, snap, CHANNEL).json()["params"]["data"])
        # Message.json() decodes with the default decoder (simdjson), once per message
        msgs = [_make_message(MessageKind.NOTIFICATION, raw, CHANNEL) for raw in changes]
        t0 = time.perf_counter_ns()
        for msg in msgs:
            book.apply(msg.json()["params"]["data"])
            book.best_bid()
            book.best_ask()
        elapsed = time.perf_counter_ns() - t0
        return elapsed, book.best_bid()[0], book.best_ask()[0]  # type: ignore[index]

    return go


def _feed_order_book(book: Any, data: dict[str, Any]) -> None:
    for name in ("bids", "asks"):
        side = getattr(book, name)
        for action, price, amount in data[name]:
            if action == "delete" or not amount:
                try:  # noqa: SIM105  (cheaper than contextlib.suppress per level)
                    del side[price]
                except KeyError:
                    pass
            else:
                side[price] = amount


def run_order_book(snap: bytes, changes: list[bytes]) -> Run:
    from order_book import OrderBook

    def go() -> tuple[int, float, float]:
        book = OrderBook()
        _feed_order_book(book, orjson.loads(snap)["params"]["data"])
        loads = orjson.loads
        t0 = time.perf_counter_ns()
        for raw in changes:
            _feed_order_book(book, loads(raw)["params"]["data"])
            book.bids.index(0)
            book.asks.index(0)
        elapsed = time.perf_counter_ns() - t0
        return elapsed, book.bids.index(0)[0], book.asks.index(0)[0]

    return go


def _feed_sorted(bids: Any, asks: Any, data: dict[str, Any]) -> None:
    for side, levels in ((bids, data["bids"]), (asks, data["asks"])):
        for action, price, amount in levels:
            if action == "delete" or not amount:
                side.pop(price, None)
            else:
                side[price] = amount


def run_sorted(snap: bytes, changes: list[bytes]) -> Run:
    from sortedcontainers import SortedDict

    def go() -> tuple[int, float, float]:
        bids, asks = SortedDict(), SortedDict()
        _feed_sorted(bids, asks, orjson.loads(snap)["params"]["data"])
        loads = orjson.loads
        t0 = time.perf_counter_ns()
        for raw in changes:
            _feed_sorted(bids, asks, loads(raw)["params"]["data"])
            bids.peekitem(-1)
            asks.peekitem(0)
        elapsed = time.perf_counter_ns() - t0
        return elapsed, bids.peekitem(-1)[0], asks.peekitem(0)[0]

    return go


CONTENDERS: dict[str, Callable[[bytes, list[bytes]], Run]] = {
    "zenws.fast.book": run_zenws,
    "dict book (pre-fast.book adapter)": run_dict,
    "order-book 0.6 (C) + orjson": run_order_book,
    "SortedDict + orjson": run_sorted,
}


def per_message_ns(go: Run, n: int, reps: int) -> tuple[float, tuple[float, float]]:
    times = []
    final = (0.0, 0.0)
    for _ in range(reps):
        gc.collect()
        elapsed, bid, ask = go()
        times.append(elapsed / n)
        final = (bid, ask)
    return min(times), final


# ------------------------------------------------------------------ top, memory, fan-in


def top_ns(reps: int) -> tuple[float, float]:
    from zenws.fast.book import BID, L2Book

    book = L2Book(policy="none")
    book.apply_snapshot([(MID - i, 1.0) for i in range(SIDE_LEVELS)],
                        [(MID + 1 + i, 1.0) for i in range(SIDE_LEVELS)])  # fmt: skip
    out = np.empty((10, 2))
    into, top = book.top_into, book.top
    res_into, res_top = [], []
    for _ in range(reps):
        t0 = time.perf_counter_ns()
        for _ in range(100_000):
            into(BID, out)
        res_into.append((time.perf_counter_ns() - t0) / 100_000)
        t0 = time.perf_counter_ns()
        for _ in range(100_000):
            top(BID, 10)
        res_top.append((time.perf_counter_ns() - t0) / 100_000)
    return min(res_into), min(res_top)


def storage_ns(n: int, reps: int) -> tuple[float, float]:
    """us per change applied (no reads) near the best vs the same pattern near the worst."""
    from zenws.fast.book import L2Book

    out = []
    for from_worst in (False, True):
        snap, changes = stream(n, seed=11, from_worst=from_worst)
        times = []
        for _ in range(reps):
            book = L2Book(CHANNEL)
            book.apply_deribit(snap)
            apply = book.apply_deribit
            gc.collect()
            t0 = time.perf_counter_ns()
            for raw in changes:
                apply(raw)
            times.append((time.perf_counter_ns() - t0) / n)
            assert not book.stale
        out.append(min(times) / 1000)
    return out[0], out[1]


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _memory_of(name: str, snap: bytes) -> float:
    """RSS growth building 40 books of the snapshot with one contender, per level (bytes)."""
    from order_book import OrderBook
    from sortedcontainers import SortedDict

    from zenws.fast.book import L2Book

    def zen() -> Any:
        b = L2Book()
        b.apply_deribit(snap)
        return b

    def dic() -> Any:
        b = DictBook()
        b.apply(orjson.loads(snap)["params"]["data"])
        return b

    def ob() -> Any:
        b = OrderBook()
        _feed_order_book(b, orjson.loads(snap)["params"]["data"])
        return b

    def sd() -> Any:
        b = (SortedDict(), SortedDict())
        _feed_sorted(b[0], b[1], orjson.loads(snap)["params"]["data"])
        return b

    make = dict(zip(CONTENDERS, (zen, dic, ob, sd), strict=True))[name]
    data = orjson.loads(snap)["params"]["data"]
    levels = len(data["bids"]) + len(data["asks"])
    make()  # warm-up: imports, caches, the decoder's buffers
    gc.collect()
    before = _rss()
    keep = [make() for _ in range(40)]
    grown = _rss() - before
    del keep
    return grown / (40 * levels)


def memory_per_level() -> dict[str, float]:
    """Each contender measured in a fresh interpreter (RSS is not given back reliably)."""
    out = {}
    for name in CONTENDERS:
        proc = subprocess.run(
            [sys.executable, "-m", "bench.book", "--memory-of", name],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        out[name] = float(proc.stdout.strip())
    return out


def fanin(snap: bytes, changes: list[bytes], reps: int) -> tuple[float, float]:
    """Notifications/s through the adapter's book handler to a Python callback."""
    from zenws.adapters._deribit_sync import BookSync
    from zenws.fast.listener import MessageKind, _make_message

    async def request(method: str, params: Any) -> Any:
        raise AssertionError("no gap expected")

    seen = [0]

    def on_book(book: Any) -> None:
        seen[0] += 1
        book.best_bid()

    def new_handler() -> Callable[[Any], None]:
        sync = BookSync(request, lambda c: c.close(), lambda: 1)
        return sync.handler(sync.book(CHANNEL, "BTC-PERPETUAL"), on_book)

    def old_handler() -> Callable[[Any], None]:
        book = DictBook()

        def on_message(msg: Any) -> None:  # the pre-fast.book BookSync handler
            doc = msg.json()
            params = doc.get("params") if isinstance(doc, dict) else None
            data = params.get("data") if isinstance(params, dict) else None
            if not isinstance(data, dict):
                return
            if book.apply(data) and not book.stale:
                on_book(book)

        return on_message

    rates: dict[str, list[float]] = {"new": [], "old": []}
    for _ in range(reps):
        for name, make in (("new", new_handler), ("old", old_handler)):
            handler = make()
            msgs = [_make_message(MessageKind.NOTIFICATION, r, CHANNEL) for r in [snap, *changes]]
            seen[0] = 0
            gc.collect()
            t0 = time.perf_counter_ns()
            for msg in msgs:
                handler(msg)
            elapsed = time.perf_counter_ns() - t0
            assert seen[0] == len(msgs), (name, seen[0])
            rates[name].append(len(msgs) / (elapsed / 1e9))
    return max(rates["new"]), max(rates["old"])


# ------------------------------------------------------------------ main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=2000)
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--markdown", action="store_true", help="print the RESULTS.md section")
    ap.add_argument("--memory-of", help=argparse.SUPPRESS)
    args = ap.parse_args()
    snap, changes = stream(args.messages)
    if args.memory_of:
        print(_memory_of(args.memory_of, snap))
        return
    sizes = [len(c) for c in changes]
    results = {name: per_message_ns(make(snap, changes), args.messages, args.reps)
               for name, make in CONTENDERS.items()}  # fmt: skip
    finals = {final for _, final in results.values()}
    assert len(finals) == 1, f"contenders disagree on the final best prices: {results}"
    ns = {name: v for name, (v, _) in results.items()}
    into, top = top_ns(args.reps)
    near_best, near_worst = storage_ns(args.messages, args.reps)
    mem = memory_per_level()
    fan_new, fan_old = fanin(snap, changes, args.reps)
    base = ns["zenws.fast.book"]
    lines = [
        "| contender | wire -> best bid/ask (us/msg) | zenws speed-up | memory/level (B) |",
        "|---|---:|---:|---:|",
    ]
    for name, v in ns.items():
        lines.append(f"| {name} | {v / 1000:.2f} | {v / base:.1f}x | {mem[name]:.0f} |")
    lines += [
        "",
        f"- `top_into(BID, out)` with a preallocated (10, 2) array: {into:.0f} ns; "
        f"`top(BID, 10)` (new array): {top:.0f} ns.",
        f"- Storage (sorted arrays, best level at the end): a change applied near the best "
        f"{near_best:.2f} us, the same updates near the worst {near_worst:.2f} us (what they "
        f"would cost with the best level at the front).",
        f"- Fan-in through the adapter's book handler to a Python `on_book` per update: "
        f"{fan_new / 1000:.0f}k notifications/s (compiled book) vs {fan_old / 1000:.1f}k/s "
        f"(pre-fast.book handler: `msg.json()` + dict book), {fan_new / fan_old:.1f}x.",
        f"- Stream: {args.messages} `change` notifications of {UPDATES} level updates "
        f"({statistics.mean(sizes):.0f} B each on average) on a {2 * SIDE_LEVELS}-level book; "
        f"best of {args.reps} runs (timeit practice: the machine is shared).",
    ]
    table = "\n".join(lines)
    if args.markdown:
        when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        print(f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
              f"Python {platform.python_version()}; {when}.\n")  # fmt: skip
    print(table)


if __name__ == "__main__":
    main()
