"""In-process telemetry bus: attach handlers to dot-separated event names.

Emitters pay nothing when no handler is attached: they check the module-level
:data:`active` flag before building the measurement dicts::

    from zenws import telemetry

    if telemetry.active:
        telemetry.emit("request.resolved", {"rtt_ns": rtt}, {"method": method})

Handlers are ``handler(event, measurements, metadata) -> None``; they run synchronously
on the emitting thread (the event-loop thread for client events).  A handler that raises is
isolated: the emitter never sees the exception, and it is logged once per handler and
exception type.  Prefixes match whole segments: ``"connection"`` matches
``"connection.open"`` but not ``"connections.x"``; ``""`` and ``"*"`` match everything.

:data:`EVENTS` is the catalogue of every event zenws emits (DESIGN §4).  Exporters
(``zenws.telemetry.prometheus``, ``zenws.telemetry.otel``) subscribe through :func:`attach`.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "EVENTS",
    "Handle",
    "Handler",
    "active",
    "attach",
    "attached",
    "detach",
    "emit",
    "register_events",
]

Handler = Callable[[str, dict[str, Any], dict[str, Any]], None]

log = logging.getLogger("zenws.telemetry")

#: The catalogue: every event name zenws emits.  Emitting a name outside it logs a
#: warning when debugging is on (``ZENWS_DEBUG=1`` or ``python -X dev``).
EVENTS: frozenset[str] = frozenset(
    {
        "connection.connecting",
        "connection.open",
        "connection.closed",
        "connection.reconnecting",
        "connection.reconnected",
        "connection.gave_up",
        "request.sent",
        "request.resolved",
        "request.timeout",
        "request.failed",
        "heartbeat.sent",
        "heartbeat.received",
        "heartbeat.missed",
        "subscription.add",
        "subscription.remove",
        "subscription.restore",
        "ratelimit.wait",
        "ratelimit.rejected",
        "ratelimit.pressure",
        "pool.route",
        "pool.failover",
        "message.dropped",
        "protocol.error",
        "handler.error",
        # make-before-break rotation (zenws.client._rotation)
        "rotation.start",
        "rotation.done",
        "rotation.failed",
        "rotation.gap",
        # Deribit adapter
        "deribit.auth",
        "deribit.refresh",
        "deribit.gap",
        "deribit.cancel_on_disconnect",
        "deribit.rate_limit",
    }
)

#: True while at least one handler is attached.  Read it before building event dicts.
active: bool = False

#: Warn about names missing from :data:`EVENTS`.
debug: bool = os.environ.get("ZENWS_DEBUG", "0") not in ("", "0") or sys.flags.dev_mode


@dataclass(eq=False)
class Handle:
    """Returned by :func:`attach`; pass it to :func:`detach`.

    Attributes:
        prefix: the normalized prefix (``""`` matches everything).
        handler: the callable.
        errors: how many times the handler raised.
    """

    prefix: str
    handler: Handler
    errors: int = 0
    _logged: set[type[BaseException]] = field(default_factory=set, repr=False)

    def matches(self, event: str) -> bool:
        """True when this handle's prefix covers ``event`` (whole segments)."""
        p = self.prefix
        return not p or event == p or (event.startswith(p) and event[len(p)] == ".")

    def detach(self) -> bool:
        """Detach this handle (same as ``detach(handle)``)."""
        return detach(self)


_lock = threading.Lock()
_handles: tuple[Handle, ...] = ()
# event name -> matching handles; rebuilt lazily, replaced wholesale on attach/detach.
_routes: dict[str, tuple[Handle, ...]] = {}
_warned: set[str] = set()


def _normalize(prefix: str) -> str:
    if not isinstance(prefix, str):
        raise TypeError(f"event prefix must be a str, got {type(prefix).__name__}")
    prefix = prefix.strip()
    if prefix in ("", "*"):
        return ""
    if prefix.endswith(".*"):
        prefix = prefix[:-2]
    return prefix.rstrip(".")


def _publish(handles: tuple[Handle, ...]) -> None:
    global _handles, _routes, active
    _handles = handles
    _routes = {}
    active = bool(handles)


def attach(event_prefix: str, handler: Handler) -> Handle:
    """Call ``handler`` for every event whose name starts with ``event_prefix``.

    Args:
        event_prefix: ``"connection"``, ``"request.resolved"``, ``"connection.*"``,
            or ``""``/``"*"`` for every event.
        handler: ``handler(event, measurements, metadata)``.

    Returns:
        A :class:`Handle` for :func:`detach`.

    Raises:
        TypeError: the handler is not callable or the prefix is not a str.
    """
    if not callable(handler):
        raise TypeError(f"telemetry handler must be callable, got {type(handler).__name__}")
    handle = Handle(_normalize(event_prefix), handler)
    with _lock:
        _publish((*_handles, handle))
    return handle


def detach(handle: Handle | str, handler: Handler | None = None) -> bool:
    """Remove a handler: ``detach(handle)`` or ``detach(prefix, handler)``.

    Args:
        handle: the :class:`Handle` from :func:`attach`, or the prefix it was attached with.
        handler: with a prefix, the handler to remove (every attachment of it on that prefix).

    Returns:
        True when something was removed.
    """
    with _lock:
        if isinstance(handle, Handle):
            keep = tuple(h for h in _handles if h is not handle)
        else:
            prefix = _normalize(handle)
            keep = tuple(h for h in _handles if not (h.prefix == prefix and h.handler == handler))
        removed = len(keep) != len(_handles)
        if removed:
            _publish(keep)
    return removed


def attached() -> tuple[Handle, ...]:
    """The handles currently attached (a snapshot)."""
    return _handles


def register_events(*names: str) -> None:
    """Add event names to the :data:`EVENTS` catalogue (for extensions emitting their own).

    Args:
        *names: dot-separated event names.
    """
    global EVENTS
    with _lock:
        EVENTS = EVENTS | frozenset(names)


def emit(
    event: str,
    measurements: Mapping[str, Any] | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> None:
    """Deliver an event to every matching handler; never raises because of a handler.

    Args:
        event: dot-separated event name from :data:`EVENTS`.
        measurements: numbers (``rtt_ns``, ``count``...).
        metadata: context (``url``, ``method``, ``epoch``...).
    """
    routes = _routes
    targets = routes.get(event)
    if targets is None:
        if debug and event not in EVENTS and event not in _warned:
            _warned.add(event)
            log.warning("telemetry event %r is not in zenws.telemetry.EVENTS", event)
        targets = tuple(h for h in _handles if h.matches(event))
        routes[event] = targets
    if not targets:
        return
    m = measurements if isinstance(measurements, dict) else dict(measurements or {})
    md = metadata if isinstance(metadata, dict) else dict(metadata or {})
    for h in targets:
        try:
            h.handler(event, m, md)
        except Exception as exc:  # isolate: a broken handler must not break the emitter
            h.errors += 1
            kind = type(exc)
            if kind not in h._logged:
                h._logged.add(kind)
                log.error(
                    "telemetry handler %r for %r raised %s (further %s from it are not logged)",
                    h.handler,
                    h.prefix or "*",
                    kind.__name__,
                    kind.__name__,
                    exc_info=exc,
                )
