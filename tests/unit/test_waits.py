"""The suite's shared waits (tests/waits.py): they return once the condition holds, and fail
with a message naming it once the deadline passes."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from waits import wait_until, wait_until_sync


async def test_wait_until_returns_once_the_condition_holds() -> None:
    flag: list[int] = []
    asyncio.get_running_loop().call_later(0.05, flag.append, 1)
    await wait_until(lambda: flag)
    assert flag == [1]


async def test_wait_until_fails_after_the_deadline_naming_the_condition() -> None:
    t0 = time.monotonic()
    with pytest.raises(AssertionError, match=r"within 0\.1 s: the flag is set"):
        await wait_until(lambda: False, 0.1, what="the flag is set")
    assert time.monotonic() - t0 >= 0.1


async def test_wait_until_checks_the_condition_before_the_deadline() -> None:
    # The loop is held up past the deadline by a callback that also meets the condition.
    flag: list[int] = []

    def block_then_set() -> None:
        time.sleep(0.15)
        flag.append(1)

    asyncio.get_running_loop().call_soon(block_then_set)
    await wait_until(lambda: flag, 0.05)


def test_wait_until_sync_sees_another_thread() -> None:
    flag = threading.Event()
    threading.Timer(0.05, flag.set).start()
    wait_until_sync(flag.is_set)
    with pytest.raises(AssertionError, match="never"):
        wait_until_sync(lambda: False, 0.05, what="never")
