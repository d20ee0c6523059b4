"""Subscription registry and exchange dialects.

The :class:`SubscriptionRegistry` is the client's memory of what it asked for: each channel
is ``PENDING`` (requested or waiting to be restored), ``CONFIRMED`` (the server said yes) or
``PENDING_UNSUBSCRIBE``.  Rejected channels are dropped and never restored; on disconnect
every confirmed channel goes back to pending and :meth:`~SubscriptionRegistry.to_restore`
lists what must be re-subscribed, in the order it was first asked for.

A :class:`Dialect` turns channel lists into wire requests (chunked to the exchange's limit)
and reads the confirmation: ``deribit`` (``public/subscribe`` / ``private/subscribe``),
``binance`` (``SUBSCRIBE`` / ``UNSUBSCRIBE``) and a generic ``jsonrpc``.

:func:`subscribe`, :func:`unsubscribe` and :func:`restore` glue the two over any
``request(method, params)`` coroutine (the client's, which is paced by its rate limiter) and
guarantee at most one subscribe per channel per connection epoch.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from . import errors, telemetry
from ._subscriptions_dialects import (
    BINANCE_MAX_PER_REQUEST,
    DERIBIT_MAX_PER_REQUEST,
    BinanceDialect,
    DeribitDialect,
    Dialect,
    JsonRpcDialect,
    channels_in,
    dialect,
    dialect_from_config,
)

__all__ = [
    "BINANCE_MAX_PER_REQUEST",
    "DERIBIT_MAX_PER_REQUEST",
    "BinanceDialect",
    "DeribitDialect",
    "Dialect",
    "JsonRpcDialect",
    "Outcome",
    "SubState",
    "SubscriptionRegistry",
    "channels_in",
    "dialect",
    "dialect_from_config",
    "restore",
    "subscribe",
    "unsubscribe",
]

Handler = Callable[..., Any]
RequestFn = Callable[[str, Any], Awaitable[Any]]


def _emit(event: str, measurements: dict[str, Any], metadata: dict[str, Any]) -> None:
    if telemetry.active:
        telemetry.emit(event, measurements, metadata)


def _channels(channels: str | Iterable[str]) -> list[str]:
    """Normalise to a list of unique channel names, keeping order.

    Raises:
        ConfigError: a channel that is not a non-empty ``str``.
    """
    items = [channels] if isinstance(channels, str) else list(channels)
    out: dict[str, None] = {}
    for ch in items:
        if not isinstance(ch, str) or not ch:
            raise errors.ConfigError(f"channel names must be non-empty str, got {ch!r}")
        out[ch] = None
    return list(out)


# ---------------------------------------------------------------------------------------------
# dialects


# ---------------------------------------------------------------------------------------------
# registry


class SubState(enum.Enum):
    """Lifecycle of one tracked channel."""

    PENDING = "pending"
    CONFIRMED = "confirmed"
    PENDING_UNSUBSCRIBE = "pending_unsubscribe"


@dataclass(slots=True)
class _Entry:
    state: SubState
    handler: Handler | None = None
    sent_epoch: int = -1


@dataclass
class SubscriptionRegistry:
    """Tracked channels, their state and handler, in insertion order.

    ``handlers`` is a plain dict (channel -> handler) the hot path reads directly; it holds
    every tracked channel that has a handler.  All methods ignore channels they do not track.
    """

    handlers: dict[str, Handler] = field(default_factory=dict)
    _entries: dict[str, _Entry] = field(default_factory=dict, init=False, repr=False)

    def add_pending(
        self, channels: str | Iterable[str], handler: Handler | None = None
    ) -> list[str]:
        """Track channels as ``PENDING``.

        A channel already tracked keeps its state (a new ``handler`` replaces the old one);
        a channel waiting for its unsubscribe goes back to ``PENDING`` and is returned, since
        it needs a new subscribe after the unsubscribe lands.

        Returns:
            The channels that were not subscribed or pending yet (those to send).
        """
        new: list[str] = []
        for ch in _channels(channels):
            entry = self._entries.get(ch)
            if entry is None:
                self._entries[ch] = _Entry(SubState.PENDING, handler)
                new.append(ch)
            elif entry.state is SubState.PENDING_UNSUBSCRIBE:
                entry.state = SubState.PENDING
                entry.sent_epoch = -1
                new.append(ch)
            if handler is not None:
                self._entries[ch].handler = handler
                self.handlers[ch] = handler
        return new

    def confirm(self, channels: str | Iterable[str]) -> None:
        """``PENDING`` -> ``CONFIRMED`` (others untouched)."""
        for ch in _channels(channels):
            entry = self._entries.get(ch)
            if entry is not None and entry.state is SubState.PENDING:
                entry.state = SubState.CONFIRMED

    def reject(self, channels: str | Iterable[str]) -> None:
        """Forget ``PENDING`` channels the server refused: they are never restored."""
        for ch in _channels(channels):
            entry = self._entries.get(ch)
            if entry is not None and entry.state is SubState.PENDING:
                self._drop(ch)

    def begin_unsubscribe(self, channels: str | Iterable[str]) -> list[str]:
        """Mark tracked channels ``PENDING_UNSUBSCRIBE`` (excluded from restore).

        Returns:
            The channels that were tracked (those to send an unsubscribe for).
        """
        out: list[str] = []
        for ch in _channels(channels):
            entry = self._entries.get(ch)
            if entry is not None and entry.state is not SubState.PENDING_UNSUBSCRIBE:
                entry.state = SubState.PENDING_UNSUBSCRIBE
                out.append(ch)
        return out

    def cancel_unsubscribe(self, channels: str | Iterable[str]) -> None:
        """The unsubscribe failed while connected: ``PENDING_UNSUBSCRIBE`` -> ``CONFIRMED``."""
        for ch in _channels(channels):
            entry = self._entries.get(ch)
            if entry is not None and entry.state is SubState.PENDING_UNSUBSCRIBE:
                entry.state = SubState.CONFIRMED

    def remove(self, channels: str | Iterable[str]) -> None:
        """Forget channels whose unsubscribe completed.

        A channel re-subscribed while its unsubscribe was in flight (``PENDING`` again) is
        kept: the server processes the unsubscribe before the new subscribe.
        """
        for ch in _channels(channels):
            entry = self._entries.get(ch)
            if entry is not None and entry.state is not SubState.PENDING:
                self._drop(ch)

    def discard(self, channels: str | Iterable[str]) -> None:
        """Forget channels whatever their state."""
        for ch in _channels(channels):
            if ch in self._entries:
                self._drop(ch)

    def _drop(self, ch: str) -> None:
        del self._entries[ch]
        self.handlers.pop(ch, None)

    def handler_for(self, channel: str) -> Handler | None:
        """The handler registered for ``channel``, or ``None``."""
        return self.handlers.get(channel)

    def state_of(self, channel: str) -> SubState | None:
        """State of ``channel``, ``None`` when not tracked."""
        entry = self._entries.get(channel)
        return None if entry is None else entry.state

    def to_restore(self) -> list[str]:
        """``CONFIRMED`` and ``PENDING`` channels, in insertion order."""
        return [
            ch for ch, e in self._entries.items() if e.state is not SubState.PENDING_UNSUBSCRIBE
        ]

    def channels(self, state: SubState | None = None) -> list[str]:
        """Tracked channels, optionally only those in ``state``."""
        return [ch for ch, e in self._entries.items() if state is None or e.state is state]

    def mark_all_pending(self) -> None:
        """On disconnect: ``CONFIRMED`` -> ``PENDING``.

        ``PENDING_UNSUBSCRIBE`` channels are dropped: the new connection starts without
        subscriptions, so their unsubscribe is complete.
        """
        for ch in [c for c, e in self._entries.items() if e.state is SubState.PENDING_UNSUBSCRIBE]:
            self._drop(ch)
        for entry in self._entries.values():
            entry.state = SubState.PENDING

    def claim(self, channels: str | Iterable[str], epoch: int) -> list[str]:
        """Reserve the right to send a subscribe for ``channels`` on connection ``epoch``.

        Returns:
            The ``PENDING`` channels not yet sent on this epoch (now marked as sent): a
            user subscribe racing the post-reconnect restore never doubles a request.
        """
        out: list[str] = []
        for ch in _channels(channels):
            entry = self._entries.get(ch)
            if entry is not None and entry.state is SubState.PENDING and entry.sent_epoch != epoch:
                entry.sent_epoch = epoch
                out.append(ch)
        return out

    def unclaim(self, channels: str | Iterable[str], epoch: int) -> None:
        """Undo :meth:`claim` for channels whose request was never sent (e.g. rate limited)."""
        for ch in _channels(channels):
            entry = self._entries.get(ch)
            if entry is not None and entry.sent_epoch == epoch:
                entry.sent_epoch = -1

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, channel: object) -> bool:
        return channel in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._entries))


# ---------------------------------------------------------------------------------------------
# request flows (policy over the client's request coroutine)


@dataclass
class Outcome:
    """Result of a subscribe/unsubscribe/restore flow.

    Attributes:
        ok: channels the server accepted.
        rejected: channels the server refused (dropped from the registry).
        failed: channels whose request raised (still tracked; see ``errors``).
        errors: the exceptions raised, one per failed chunk.
    """

    ok: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)


async def _send_chunks(
    registry: SubscriptionRegistry,
    dia: Dialect,
    request: RequestFn,
    channels: list[str],
    epoch: int,
) -> Outcome:
    out = Outcome()
    for method, params in dia.subscribe_requests(channels):
        chunk = channels_in(params, channels)
        try:
            result = await request(method, params)
        except (errors.RpcError, errors.ProtocolError) as exc:  # refused, or malformed
            if _transient(exc):
                # e.g. Deribit 10028/13028: try again on the next connection.
                registry.unclaim(chunk, epoch)
                out.failed.extend(chunk)
            else:
                # The server refused the whole chunk (e.g. an invalid channel name).
                registry.reject(chunk)
                out.rejected.extend(chunk)
            out.errors.append(exc)
            continue
        except errors.RateLimited as exc:
            registry.unclaim(chunk, epoch)
            out.failed.extend(chunk)
            out.errors.append(exc)
            continue
        except (errors.ConnectionLost, errors.RequestTimeout) as exc:
            # Still PENDING: restored on the next connection.
            out.failed.extend(chunk)
            out.errors.append(exc)
            continue
        ok, rejected = dia.confirmed(chunk, result)
        registry.confirm(ok)
        registry.reject(rejected)
        out.ok.extend(ok)
        out.rejected.extend(rejected)
    return out


def _transient(exc: errors.ZenwsError) -> bool:
    # "Not now" (Deribit 10028 too_many_requests, 13028 temporarily_unavailable...) rather
    # than "no": errors.categorize decides.
    return errors.categorize(exc) is errors.Category.RECOVERABLE


async def subscribe(
    registry: SubscriptionRegistry,
    dia: Dialect,
    request: RequestFn,
    channels: str | Iterable[str],
    handler: Handler | None = None,
    *,
    epoch: int,
) -> Outcome:
    """Track ``channels`` and send the subscribe requests still needed on ``epoch``.

    Channels already confirmed, or already sent on this epoch, cost no request.

    Args:
        registry: the client's registry.
        dia: the dialect.
        request: ``await request(method, params) -> result`` (raises RpcError etc.).
        channels: channel name(s).
        handler: optional per-channel callback.
        epoch: the current connection epoch.

    Returns:
        The outcome (``ok`` includes channels that were confirmed before).
    """
    names = _channels(channels)
    registry.add_pending(names, handler)
    to_send = registry.claim(names, epoch)
    out = await _send_chunks(registry, dia, request, to_send, epoch) if to_send else Outcome()
    already = [c for c in names if c not in to_send and registry.state_of(c) is SubState.CONFIRMED]
    out.ok = already + out.ok
    if out.ok:
        _emit("subscription.add", {"count": len(out.ok)}, {"channels": out.ok, "epoch": epoch})
    return out


async def unsubscribe(
    registry: SubscriptionRegistry,
    dia: Dialect,
    request: RequestFn,
    channels: str | Iterable[str],
    *,
    epoch: int,
) -> Outcome:
    """Unsubscribe tracked channels; they leave the restore set immediately.

    On a ConnectionLost the channels are dropped anyway (a new connection has no
    subscriptions); on an RpcError/timeout while connected they go back to ``CONFIRMED``.
    """
    names = registry.begin_unsubscribe(channels)
    out = Outcome()
    for method, params in dia.unsubscribe_requests(names):
        chunk = channels_in(params, names)
        try:
            await request(method, params)
        except errors.ConnectionLost as exc:
            registry.remove(chunk)
            out.ok.extend(chunk)
            out.errors.append(exc)
            continue
        except Exception as exc:
            registry.cancel_unsubscribe(chunk)
            out.failed.extend(chunk)
            out.errors.append(exc)
            continue
        registry.remove(chunk)
        out.ok.extend(chunk)
    if out.ok:
        _emit("subscription.remove", {"count": len(out.ok)}, {"channels": out.ok, "epoch": epoch})
    return out


async def restore(
    registry: SubscriptionRegistry, dia: Dialect, request: RequestFn, *, epoch: int
) -> Outcome:
    """Re-subscribe everything :meth:`~SubscriptionRegistry.to_restore` lists on ``epoch``.

    Call after (re)connect and re-authentication, before emitting the reconnected event.
    Requests go out chunk by chunk through ``request`` (so the client's rate limiter paces
    them); channels already sent on this epoch are skipped.

    Returns:
        The outcome; ``subscription.restore`` is emitted with the count restored.
    """
    to_send = registry.claim(registry.to_restore(), epoch)
    out = await _send_chunks(registry, dia, request, to_send, epoch) if to_send else Outcome()
    _emit(
        "subscription.restore",
        {"count": len(out.ok)},
        {"epoch": epoch, "rejected": len(out.rejected), "failed": len(out.failed)},
    )
    return out
