"""Backoff policy and retry decisions (zenws.reconnect)."""

from __future__ import annotations

import asyncio
import email.utils
import math
import random
import time
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zenws import errors
from zenws.reconnect import (
    DEFAULT_MAX_RETRY_AFTER,
    Backoff,
    parse_retry_after,
    retry_decision,
)


def test_no_jitter_doubles_up_to_the_cap() -> None:
    b = Backoff(0.5, 5.0, jitter="none")
    assert [b.next_delay() for _ in range(7)] == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0, 5.0]
    assert b.attempt == 7


def test_full_jitter_stays_inside_the_window_and_spreads() -> None:
    b = Backoff(0.1, 3.0, jitter="full", rng=random.Random(7))
    for n in range(12):
        d = b.next_delay()
        assert d is not None
        assert 0.0 <= d <= min(3.0, 0.1 * 2**n)
    # Spread: at a fixed window the samples are not all equal and cover most of it.
    samples = []
    for _ in range(500):
        b.attempt = 10
        d = b.next_delay()
        assert d is not None
        samples.append(d)
    assert min(samples) < 0.5 and max(samples) > 2.5
    assert len(set(samples)) > 400


def test_equal_jitter_is_between_half_and_full_window() -> None:
    b = Backoff(1.0, 8.0, jitter="equal", rng=random.Random(3))
    for n in range(8):
        w = min(8.0, 2.0**n)
        d = b.next_delay()
        assert d is not None and w / 2 <= d <= w


def test_seeded_rng_is_reproducible() -> None:
    a = Backoff(0.5, 30, rng=random.Random(42))
    b = Backoff(0.5, 30, rng=random.Random(42))
    assert [a.next_delay() for _ in range(10)] == [b.next_delay() for _ in range(10)]


def test_huge_attempt_counter_does_not_overflow() -> None:
    b = Backoff(0.5, 30.0, jitter="none")
    b.attempt = 100_000
    assert b.next_delay() == 30.0
    assert b.window(10**9) == 30.0


def test_retry_count_gives_up() -> None:
    b = Backoff(0.01, 1.0, retry_count=3)
    assert all(b.next_delay() is not None for _ in range(3))
    assert b.exhausted
    assert b.next_delay() is None
    assert b.next_delay() is None
    assert Backoff(0.01, 1.0, retry_count=0).next_delay() is None


def test_retry_after_is_a_floor_and_is_capped() -> None:
    b = Backoff(0.1, 1.0, jitter="full", rng=random.Random(1))
    d = b.next_delay(retry_after=4.0)
    assert d is not None and d >= 4.0
    # A delay longer than Retry-After is kept (Retry-After is a minimum, not a target).
    b2 = Backoff(10.0, 10.0, jitter="none")
    assert b2.next_delay(retry_after=1.0) == 10.0
    # An absurd header is capped.
    b3 = Backoff(0.1, 1.0, jitter="none")
    assert b3.next_delay(retry_after=86_400) == DEFAULT_MAX_RETRY_AFTER
    b4 = Backoff(0.1, 1.0, jitter="none", max_retry_after=7.0)
    assert b4.next_delay(retry_after=86_400) == 7.0
    # Garbage values are ignored.
    for bad in (-5.0, math.nan, math.inf, 0.0):
        b5 = Backoff(0.25, 1.0, jitter="none")
        assert b5.next_delay(retry_after=bad) == 0.25


def test_attempt_resets_only_after_stable_uptime() -> None:
    b = Backoff(0.1, 10.0, jitter="none", stable_after=10.0)
    for _ in range(4):
        b.next_delay()
    b.on_connected(100.0)
    b.on_disconnected(109.9)  # flapping: not stable
    assert b.attempt == 4
    assert b.next_delay() == pytest.approx(1.6)
    b.on_connected(200.0)
    b.on_disconnected(210.0)
    assert b.attempt == 0
    assert b.next_delay() == pytest.approx(0.1)
    # A disconnect without a connect (failed attempt) never resets.
    b.on_disconnected(10_000.0)
    assert b.attempt == 1


def test_retry_count_counts_attempts_since_last_stable_connection() -> None:
    b = Backoff(0.01, 0.1, retry_count=2, stable_after=1.0)
    b.next_delay()
    b.next_delay()
    assert b.next_delay() is None
    b.on_connected(0.0)
    b.on_disconnected(5.0)
    assert b.next_delay() is not None


def test_reset() -> None:
    b = Backoff(0.1, 1.0)
    b.next_delay()
    b.on_connected(1.0)
    b.reset()
    assert b.attempt == 0
    b.on_disconnected(1000.0)
    assert b.attempt == 0


def test_from_config_reads_design_fields() -> None:
    cfg = SimpleNamespace(
        retry_delay=0.2, max_backoff=3.0, backoff_jitter="equal", stable_after=1.5, retry_count=4
    )
    b = Backoff.from_config(cfg)
    assert (b.retry_delay, b.max_backoff, b.jitter, b.stable_after, b.retry_count) == (
        0.2,
        3.0,
        "equal",
        1.5,
        4,
    )
    d = Backoff.from_config(SimpleNamespace())
    assert (d.retry_delay, d.max_backoff, d.jitter, d.stable_after, d.retry_count) == (
        0.5,
        30.0,
        "full",
        10.0,
        None,
    )


def test_from_real_config() -> None:
    from zenws.config import Config

    cfg = Config.new("ws://127.0.0.1:1/", retry_delay=0.1, max_backoff=2.0, retry_count=3)
    b = Backoff.from_config(cfg)
    assert (b.retry_delay, b.max_backoff, b.retry_count) == (0.1, 2.0, 3)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"retry_delay": -1.0}, "retry_delay"),
        ({"max_backoff": math.nan}, "max_backoff"),
        ({"stable_after": -0.1}, "stable_after"),
        ({"jitter": "decorrelated"}, "backoff_jitter"),
        ({"retry_count": -1}, "retry_count"),
        ({"retry_count": 1.5}, "retry_count"),
        ({"retry_count": True}, "retry_count"),
        ({"max_retry_after": math.inf}, "max_retry_after"),
    ],
)
def test_bad_arguments_raise_config_error(kwargs: dict[str, object], field: str) -> None:
    args: dict[str, object] = {"retry_delay": 0.5, "max_backoff": 30.0, **kwargs}
    with pytest.raises(errors.ConfigError) as info:
        Backoff(**args)  # type: ignore[arg-type]
    assert info.value.field == field


@settings(max_examples=200, deadline=None)
@given(
    base=st.floats(0.0, 100.0),
    cap=st.floats(0.0, 1000.0),
    jitter=st.sampled_from(["full", "equal", "none"]),
    attempts=st.integers(1, 80),
    seed=st.integers(0, 2**32),
)
def test_delays_never_exceed_the_cap(
    base: float, cap: float, jitter: str, attempts: int, seed: int
) -> None:
    b = Backoff(base, cap, jitter=jitter, rng=random.Random(seed))
    for _ in range(attempts):
        d = b.next_delay()
        assert d is not None
        assert 0.0 <= d <= cap + 1e-9


# -- retry decisions -------------------------------------------------------------------------


@pytest.mark.parametrize("status", [401, 403, 404, 400])
def test_auth_and_client_errors_are_fatal(status: int) -> None:
    exc = errors.ConnectError("refused", url="ws://x/", status=status, retry_after=3.0)
    assert retry_decision(exc) == (False, None)


@pytest.mark.parametrize("status", [429, 503, 500, 502])
def test_overload_statuses_retry_and_carry_retry_after(status: int) -> None:
    exc = errors.ConnectError("refused", url="ws://x/", status=status, retry_after=2.5)
    assert retry_decision(exc) == (True, 2.5)
    no_header = errors.ConnectError("refused", url="ws://x/", status=status)
    assert retry_decision(no_header) == (True, None)


def test_network_failures_retry() -> None:
    assert retry_decision(ConnectionRefusedError(111, "refused")) == (True, None)
    assert retry_decision(errors.ConnectionLost(epoch=3, code=1006)) == (True, None)
    assert retry_decision(TimeoutError()) == (True, None)
    assert retry_decision(errors.ConnectError("tcp reset", url="ws://x/")) == (True, None)


def test_never_retry_cancellation_or_config_errors() -> None:
    assert retry_decision(asyncio.CancelledError()) == (False, None)
    assert retry_decision(KeyboardInterrupt()) == (False, None)
    assert retry_decision(errors.ConfigError("bad", field="url")) == (False, None)


def test_rate_limited_retry_after() -> None:
    assert retry_decision(errors.RateLimited("full", bucket="x", retry_after=1.25)) == (True, 1.25)


# -- Retry-After parsing ---------------------------------------------------------------------


def test_parse_retry_after_seconds_and_dates() -> None:
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(b" 3 ") == 3.0
    assert parse_retry_after("-4") == 0.0
    now = time.time()
    date = email.utils.formatdate(now + 30, usegmt=True)
    got = parse_retry_after(date, now=now)
    assert got is not None and 28.0 <= got <= 31.0
    assert parse_retry_after(email.utils.formatdate(now - 30, usegmt=True), now=now) == 0.0
    for bad in (None, "", "soon", "nan", "inf", "Wed, 99 Foo 2020 00:00:00 GMT"):
        assert parse_retry_after(bad) is None
