"""zenws.fast.jsonrpc.Correlator: request id -> waiter, RTT, deadlines."""

from __future__ import annotations

import asyncio
import gc
import random
import time
import weakref
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zenws.fast.jsonrpc import Correlator

FAR = 2**62  # a deadline that never passes in these tests


class Recorder:
    """A callable waiter that remembers what it received."""

    def __init__(self) -> None:
        self.calls: list[Any] = []

    def __call__(self, value: Any) -> None:
        self.calls.append(value)


# --------------------------------------------------------------- futures (both loops)


async def test_resolve_future_returns_rtt() -> None:
    loop = asyncio.get_running_loop()
    c = Correlator()
    fut = loop.create_future()
    c.track(7, fut, FAR, sent_ns=1_000)
    assert c.pending == 1 and 7 in c
    assert c.resolve(7, b'{"id":7}', 5_500) == 4_500
    assert fut.done() and fut.result() == b'{"id":7}'
    assert c.pending == 0 and 7 not in c
    assert c.resolve(7, b"again", 6_000) == -1  # gone after the first answer


async def test_resolve_cancelled_or_done_future_does_not_raise() -> None:
    loop = asyncio.get_running_loop()
    c = Correlator()
    cancelled, done = loop.create_future(), loop.create_future()
    cancelled.cancel()
    done.set_result("first")
    c.track(1, cancelled, FAR, sent_ns=10)
    c.track("s", done, FAR, sent_ns=10)
    assert c.resolve(1, "late", 30) == 20
    assert c.resolve("s", "late", 40) == 30
    assert cancelled.cancelled()
    assert done.result() == "first"
    assert c.pending == 0


async def test_await_resolved_future() -> None:
    loop = asyncio.get_running_loop()
    c = Correlator()
    fut = loop.create_future()
    c.track(1, fut, FAR)
    loop.call_soon(c.resolve, 1, {"result": 1}, time.monotonic_ns())
    assert await asyncio.wait_for(fut, 2) == {"result": 1}


async def test_fail_all_sets_exception_on_futures() -> None:
    loop = asyncio.get_running_loop()
    c = Correlator()
    futs = [loop.create_future() for _ in range(5)]
    for i, f in enumerate(futs[:4]):
        c.track(i, f, FAR)
    c.track("str-id", futs[4], FAR)
    futs[1].cancel()
    rec = Recorder()
    c.track(99, rec, FAR)
    exc = ConnectionError("lost")
    assert c.fail_all(exc) == 6
    assert c.pending == 0 and c.next_deadline() is None
    assert futs[1].cancelled()
    for f in (futs[0], futs[2], futs[3], futs[4]):
        assert f.exception() is exc
    assert rec.calls == [exc]
    with pytest.raises(ConnectionError):
        await futs[0]


async def test_uvloop_and_asyncio_futures_are_futures() -> None:
    c = Correlator()
    fut = asyncio.get_running_loop().create_future()
    c.track(1, fut, FAR)  # accepted as a future (not as a callable)
    c.resolve(1, "x", 0)
    assert fut.result() == "x"


# --------------------------------------------------------------- callables and ids


def test_callable_waiter_and_rtt_from_clock() -> None:
    c = Correlator()
    rec = Recorder()
    t0 = time.monotonic_ns()
    c.track(3, rec, FAR)  # sent_ns=None reads the same monotonic clock
    t1 = time.monotonic_ns()
    rtt = c.resolve(3, "payload", t1)
    assert 0 <= rtt <= t1 - t0
    assert rec.calls == ["payload"]


def test_rtt_is_recv_minus_sent_exactly() -> None:
    c = Correlator()
    for i, (sent, recv) in enumerate([(0, 0), (5, 1_000_000_007), (2**40, 2**41), (100, 50)]):
        c.track(i, Recorder(), FAR, sent_ns=sent)
        assert c.resolve(i, None, recv) == recv - sent


def test_unknown_ids() -> None:
    c = Correlator()
    assert c.resolve(1, "x", 0) == -1
    assert c.resolve("1", "x", 0) == -1
    assert c.resolve(2**70, "x", 0) == -1
    assert c.resolve(True, "x", 0) == -1
    assert c.resolve(None, "x", 0) == -1
    assert c.resolve(1.0, "x", 0) == -1
    assert not c.discard(1) and not c.discard("1") and not c.discard(2**70)
    assert c.pending == 0


def test_int_and_str_ids_are_distinct() -> None:
    c = Correlator()
    a, b = Recorder(), Recorder()
    c.track(5, a, FAR, sent_ns=0)
    c.track("5", b, FAR, sent_ns=0)
    assert len(c) == 2
    assert c.resolve("5", "s", 1) == 1
    assert b.calls == ["s"] and a.calls == []
    assert c.resolve(5, "i", 2) == 2
    assert a.calls == ["i"]


def test_duplicate_id_is_rejected_and_keeps_the_first() -> None:
    c = Correlator()
    first, second = Recorder(), Recorder()
    c.track(1, first, FAR, sent_ns=0)
    c.track("x", first, FAR, sent_ns=0)
    with pytest.raises(ValueError):
        c.track(1, second, FAR)
    with pytest.raises(ValueError):
        c.track("x", second, FAR)
    assert c.pending == 2
    c.resolve(1, "a", 1)
    c.resolve("x", "b", 1)
    assert first.calls == ["a", "b"] and second.calls == []


def test_bad_arguments() -> None:
    c = Correlator()
    with pytest.raises(TypeError):
        c.track(1, object(), FAR)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        c.track("s", 42, FAR)  # type: ignore[arg-type]
    for bad_id in (1.5, None, b"1", True):
        with pytest.raises(TypeError):
            c.track(bad_id, Recorder(), FAR)  # type: ignore[arg-type]
    with pytest.raises(OverflowError):
        c.track(2**63, Recorder(), FAR)
    assert c.pending == 0


def test_int64_extremes() -> None:
    c = Correlator()
    for i in (-(2**63), 2**63 - 1, 0, -1):
        c.track(i, Recorder(), FAR, sent_ns=0)
    for i in (-(2**63), 2**63 - 1, 0, -1):
        assert c.resolve(i, None, 9) == 9
    assert c.pending == 0


def test_discard() -> None:
    c = Correlator()
    rec = Recorder()
    c.track(1, rec, 100)
    c.track("a", rec, 50)
    assert c.next_deadline() == 50
    assert c.discard("a") is True
    assert c.next_deadline() == 100
    assert c.discard(1) is True
    assert c.discard(1) is False
    assert c.next_deadline() is None
    assert c.resolve(1, "x", 0) == -1
    assert rec.calls == []


def test_callable_raising_in_resolve_propagates_and_entry_is_gone() -> None:
    c = Correlator()

    def boom(_: Any) -> None:
        raise RuntimeError("user callback")

    c.track(1, boom, FAR)
    with pytest.raises(RuntimeError):
        c.resolve(1, "x", 0)
    assert c.pending == 0


def test_reentrant_waiter_can_track_same_id() -> None:
    c = Correlator()
    seen: list[Any] = []

    def again(value: Any) -> None:
        seen.append(value)
        if value == "first":
            c.track(1, again, FAR, sent_ns=0)  # the id is free again at delivery

    c.track(1, again, FAR, sent_ns=0)
    c.resolve(1, "first", 1)
    assert c.pending == 1
    c.resolve(1, "second", 1)
    assert seen == ["first", "second"] and c.pending == 0


def test_fail_all_reaches_every_waiter_even_if_one_raises() -> None:
    c = Correlator()
    recs = [Recorder() for _ in range(3)]

    def boom(_: Any) -> None:
        raise RuntimeError("first")

    c.track(0, recs[0], FAR)
    c.track(1, boom, FAR)
    c.track(2, recs[1], FAR)
    c.track("3", recs[2], FAR)
    with pytest.raises(RuntimeError):
        c.fail_all(KeyError("x"))
    assert all(len(r.calls) == 1 for r in recs)
    assert c.pending == 0
    assert c.fail_all(KeyError("y")) == 0


# --------------------------------------------------------------- deadlines


def test_expire_and_next_deadline() -> None:
    c = Correlator()
    assert c.next_deadline() is None
    assert c.expire(10**18) == []
    waiters = {i: Recorder() for i in range(10)}
    for i, w in waiters.items():
        c.track(i, w, 1000 + 100 * i)
    c.track("late", waiters[0], 5000)
    c.track("early", waiters[1], 900)
    assert c.next_deadline() == 900
    assert c.expire(899) == []
    assert c.pending == 12
    due = c.expire(1250)  # deadline <= now is due
    assert sorted(map(str, (i for i, _ in due))) == ["0", "1", "2", "early"]
    assert all(w is (waiters[i] if isinstance(i, int) else waiters[1]) for i, w in due)
    assert c.pending == 8
    assert c.next_deadline() == 1300
    c.discard(3)
    assert c.next_deadline() == 1400
    assert sorted(map(str, (i for i, _ in c.expire(10**9)))) == [
        "4",
        "5",
        "6",
        "7",
        "8",
        "9",
        "late",
    ]
    assert c.pending == 0 and c.next_deadline() is None
    assert all(w.calls == [] for w in waiters.values())  # expire never delivers


def test_expire_with_nothing_due_keeps_everything() -> None:
    c = Correlator()
    for i in range(1000):
        c.track(i, Recorder(), 10_000 + i)
    for now in range(0, 10_000, 97):
        assert c.expire(now) == []
    assert c.pending == 1000
    assert c.next_deadline() == 10_000


# --------------------------------------------------------------- table model check


def test_random_operations_match_a_dict_model() -> None:
    for seed in range(5):
        rng = random.Random(seed)
        c, model = Correlator(), {}
        id_space = [rng.randrange(-(2**63), 2**63) for _ in range(50)] + list(range(3000))
        for step in range(20_000):
            op = rng.random()
            rid = rng.choice(id_space)
            if op < 0.5:
                if rid in model:
                    with pytest.raises(ValueError):
                        c.track(rid, Recorder(), FAR)
                else:
                    c.track(rid, Recorder(), rng.randrange(1, 10**6), sent_ns=step)
                    model[rid] = step
            elif op < 0.85:
                want = (7_000_000 - model.pop(rid)) if rid in model else -1
                assert c.resolve(rid, None, 7_000_000) == want
            elif op < 0.99:
                assert c.discard(rid) == (model.pop(rid, None) is not None)
            else:
                due = c.expire(rng.randrange(10**6))
                for i, _ in due:
                    assert isinstance(i, int)
                    del model[i]
            assert c.pending == len(model)
        assert all(i in c for i in model)
        assert c.fail_all(RuntimeError()) == len(model)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("tdr"), st.integers(-8, 300)), max_size=300))
def test_dense_ids_against_model(ops: list[tuple[str, int]]) -> None:
    c, model = Correlator(), set()
    for op, rid in ops:
        if op == "t" and rid not in model:
            c.track(rid, Recorder(), FAR, sent_ns=0)
            model.add(rid)
        elif op == "d":
            assert c.discard(rid) == (rid in model)
            model.discard(rid)
        elif op == "r":
            assert c.resolve(rid, None, 1) == (1 if rid in model else -1)
            model.discard(rid)
    assert c.pending == len(model)
    assert all(i in c for i in model)


def test_waiter_cycles_are_collected() -> None:
    class Owner:
        def __init__(self) -> None:
            self.corr = Correlator()

        def on_reply(self, value: Any) -> None:
            pass

    owner = Owner()
    owner.corr.track(1, owner.on_reply, FAR)  # owner -> corr -> bound method -> owner
    ref = weakref.ref(owner)
    del owner
    gc.collect()
    assert ref() is None


def test_repr() -> None:
    c = Correlator()
    c.track(1, Recorder(), FAR)
    assert "pending=1" in repr(c)
