"""Registry: name lookups, weak references, removal on close/GC/unregister."""

from __future__ import annotations

import enum
import gc
import threading

import pytest

import zenws.registry as registry_mod
from zenws.registry import Registry


class State(enum.Enum):
    OPEN = 1
    CLOSED = 2


class FakeClient:
    """Any object with a ``state`` attribute is accepted by the registry."""

    def __init__(self) -> None:
        self.state = State.OPEN


def test_register_lookup_get() -> None:
    reg = Registry()
    a, b = FakeClient(), FakeClient()
    reg.register("a", a)
    reg.register("b", b)
    assert reg.lookup("a") is a and reg.get("b") is b
    assert reg.names() == ["a", "b"] and len(reg) == 2 and "a" in reg
    assert reg.items() == [("a", a), ("b", b)]
    assert reg.lookup("missing") is None
    with pytest.raises(KeyError, match="missing"):
        reg.get("missing")


def test_name_conflicts() -> None:
    reg = Registry()
    a, b = FakeClient(), FakeClient()
    reg.register("x", a)
    reg.register("x", a)  # same client again: no-op
    with pytest.raises(ValueError, match="already taken"):
        reg.register("x", b)
    reg.register("x", b, replace=True)
    assert reg.get("x") is b
    with pytest.raises(ValueError):
        reg.register("", a)


def test_removed_when_garbage_collected() -> None:
    reg = Registry()
    c = FakeClient()
    reg.register("gone", c)
    del c
    gc.collect()
    assert reg.lookup("gone") is None
    assert reg._entries == {}  # the finalizer removed it, not only the lookup


def test_removed_when_closed() -> None:
    reg = Registry()
    c = FakeClient()
    reg.register("c", c)
    c.state = State.CLOSED
    assert reg.lookup("c") is None and reg.names() == []
    assert "c" not in reg._entries


def test_closed_as_string_state() -> None:
    reg = Registry()
    c = FakeClient()
    reg.register("c", c)
    c.state = "CLOSED"  # type: ignore[assignment]
    assert reg.lookup("c") is None


def test_unregister_only_own_entry() -> None:
    reg = Registry()
    old, new = FakeClient(), FakeClient()
    reg.register("n", old)
    reg.register("n", new, replace=True)
    assert reg.unregister("n", old) is False  # the old client closing must not remove new
    assert reg.get("n") is new
    assert reg.unregister("n", new) is True
    assert reg.unregister("n") is False
    # the replaced client's finalizer was detached: collecting it changes nothing
    reg.register("n", new)
    del old
    gc.collect()
    assert reg.get("n") is new


def test_registry_holds_no_strong_reference() -> None:
    reg = Registry()
    c = FakeClient()
    reg.register("c", c)
    assert gc.get_referrers(c) == [globals()] or all(
        not isinstance(r, Registry) for r in gc.get_referrers(c)
    )


def test_clear_and_module_level_default() -> None:
    c = FakeClient()
    registry_mod.register("module-level", c)
    try:
        assert registry_mod.lookup("module-level") is c
        assert "module-level" in registry_mod.names()
    finally:
        registry_mod.clear()
    assert registry_mod.lookup("module-level") is None


def test_concurrent_register_and_collect() -> None:
    reg = Registry()
    errors: list[BaseException] = []

    def worker(k: int) -> None:
        try:
            for i in range(300):
                c = FakeClient()
                reg.register(f"{k}-{i}", c)
                assert reg.lookup(f"{k}-{i}") is c
                del c
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    gc.collect()
    assert errors == [] and reg.names() == []


async def test_real_client_removed_on_close() -> None:
    from zenws.client import connect
    from zenws.testing import MockServer

    reg = Registry()
    async with MockServer() as server:
        a = await connect(server.url)
        b = await connect(server.url)
        reg.register("a", a)
        reg.register("b", b)
        assert reg.names() == ["a", "b"]
        await a.close()
        assert reg.lookup("a") is None and reg.names() == ["b"]
        await b.close()
        reg.register("b2", b)  # a closed client may be registered; lookups hide it
        assert reg.lookup("b2") is None
        assert reg.names() == [] and reg._entries == {}  # closed entries pruned on read
