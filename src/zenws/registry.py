"""Connection registry: look clients up by name from anywhere in a process.

Entries hold only weak references, so the registry never keeps a client alive: an entry
disappears when its client is garbage collected (``weakref.finalize``), when the client calls
:func:`unregister` on close, and, as a safety net, whenever a lookup finds the client in the
``CLOSED`` state (any object with a ``state`` attribute whose value or ``.name`` is
``"CLOSED"`` counts as closed).

Example::

    import zenws.registry as registry

    registry.register("deribit-main", client)
    registry.get("deribit-main").send({"jsonrpc": "2.0", "method": "public/test"})
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator
from typing import Any

__all__ = [
    "Registry",
    "clear",
    "default",
    "get",
    "lookup",
    "names",
    "register",
    "unregister",
]


def _is_closed(obj: Any) -> bool:
    state = getattr(obj, "state", None)
    return getattr(state, "name", state) == "CLOSED"


class _Entry:
    __slots__ = ("finalizer", "ref")

    def __init__(self, ref: weakref.ref[Any], finalizer: weakref.finalize[Any, Any]) -> None:
        self.ref = ref
        self.finalizer = finalizer


class Registry:
    """A name -> client map holding weak references only.

    Thread-safe; finalizers may run from garbage collection on any thread.
    """

    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.RLock()  # re-entrant: a GC finalizer may fire while held

    def register(self, name: str, client: Any, *, replace: bool = False) -> None:
        """Register ``client`` under ``name``.

        Args:
            name: a non-empty string.
            client: any weak-referenceable object (normally a :class:`zenws.Client`).
            replace: replace a live entry with the same name instead of raising.

        Raises:
            ValueError: empty name, or the name belongs to another live, open client.
            TypeError: the client cannot be weakly referenced.
        """
        if not isinstance(name, str) or not name:
            raise ValueError("registry name must be a non-empty string")
        with self._lock:
            current = self._live(name)
            if current is client:
                return
            if current is not None and not replace:
                raise ValueError(f"registry name {name!r} is already taken by {current!r}")
            self._drop(name)
            ref = weakref.ref(client)
            fin = weakref.finalize(client, self._collected, name, ref)
            fin.atexit = False
            self._entries[name] = _Entry(ref, fin)

    def unregister(self, name: str, client: Any = None) -> bool:
        """Remove an entry.

        Args:
            name: the registered name.
            client: when given, remove only if the entry still refers to this client (so a
                closing client never removes a newer client registered under its name).

        Returns:
            True if an entry was removed.
        """
        with self._lock:
            entry = self._entries.get(name)
            if entry is None:
                return False
            if client is not None and entry.ref() is not client:
                return False
            self._drop(name)
            return True

    def lookup(self, name: str) -> Any | None:
        """Return the client registered as ``name``, or None (also for a closed client)."""
        with self._lock:
            return self._live(name)

    def get(self, name: str) -> Any:
        """Return the client registered as ``name``.

        Raises:
            KeyError: no live, open client has that name.
        """
        client = self.lookup(name)
        if client is None:
            raise KeyError(f"no open client registered as {name!r}")
        return client

    def names(self) -> list[str]:
        """Names of the live, open clients, sorted."""
        with self._lock:
            return sorted(n for n in list(self._entries) if self._live(n) is not None)

    def items(self) -> list[tuple[str, Any]]:
        """``(name, client)`` pairs of the live, open clients, sorted by name."""
        with self._lock:
            pairs = ((n, self._live(n)) for n in list(self._entries))
            return sorted(((n, c) for n, c in pairs if c is not None), key=lambda p: p[0])

    def clear(self) -> None:
        """Remove every entry."""
        with self._lock:
            for name in list(self._entries):
                self._drop(name)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.lookup(name) is not None

    def __len__(self) -> int:
        return len(self.names())

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __repr__(self) -> str:
        return f"<Registry {self.names()!r}>"

    # -- internals (lock held) ------------------------------------------------------------------

    def _live(self, name: str) -> Any | None:
        entry = self._entries.get(name)
        if entry is None:
            return None
        client = entry.ref()
        if client is None or _is_closed(client):
            self._drop(name)
            return None
        return client

    def _drop(self, name: str) -> None:
        entry = self._entries.pop(name, None)
        if entry is not None:
            entry.finalizer.detach()

    def _collected(self, name: str, ref: weakref.ref[Any]) -> None:
        with self._lock:
            entry = self._entries.get(name)
            if entry is not None and entry.ref is ref:
                del self._entries[name]


#: The process-wide registry used by the module-level functions.
default = Registry()

register = default.register
unregister = default.unregister
lookup = default.lookup
get = default.get
names = default.names
clear = default.clear
