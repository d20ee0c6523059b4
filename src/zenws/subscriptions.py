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
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Protocol, runtime_checkable

from . import errors, telemetry

__all__ = [
    "DERIBIT_MAX_PER_REQUEST",
    "BinanceDialect",
    "DeribitDialect",
    "Dialect",
    "JsonRpcDialect",
    "SubState",
    "SubscriptionRegistry",
    "channels_in",
    "dialect",
    "dialect_from_config",
    "restore",
    "subscribe",
    "unsubscribe",
]

_log = logging.getLogger("zenws.subscriptions")

#: Deribit answers an oversized subscribe with an id-less ``-32600 request entity too large``;
#: 250 channels per request stays below it (shared/deribit/README.md).
DERIBIT_MAX_PER_REQUEST: Final = 250
#: Binance caps streams per connection (1024) and messages per second, not per request;
#: 200 keeps each frame small.
BINANCE_MAX_PER_REQUEST: Final = 200

# Deribit codes meaning "not now" rather than "no" (shared/deribit/README.md).
_TRANSIENT_RPC: Final = frozenset({10028, 10040, 10041, 10047, 11051, 13028, 13888})

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


def _chunks(items: Sequence[str], size: int) -> list[list[str]]:
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


# ---------------------------------------------------------------------------------------------
# dialects


@runtime_checkable
class Dialect(Protocol):
    """How an exchange spells subscribe/unsubscribe and reports the outcome."""

    name: str
    max_per_request: int

    def subscribe_requests(self, channels: Sequence[str]) -> list[tuple[str, Any]]: ...
    def unsubscribe_requests(self, channels: Sequence[str]) -> list[tuple[str, Any]]: ...
    def confirmed(self, requested: Sequence[str], result: Any) -> tuple[list[str], list[str]]: ...
    def channel_of(self, msg: Any) -> str | None: ...


def _split_by_list(requested: Sequence[str], result: Any) -> tuple[list[str], list[str]]:
    accepted = {c for c in result if isinstance(c, str)}
    ok = [c for c in requested if c in accepted]
    return ok, [c for c in requested if c not in accepted]


@dataclass
class DeribitDialect:
    """Deribit: ``public/subscribe`` or ``private/subscribe`` with ``{"channels": [...]}``.

    The result is the list of channels actually subscribed; anything requested but absent is
    rejected.  Channels starting with one of ``private_prefixes`` (``user.`` by default) need
    an authenticated session and go to ``private/subscribe``.
    """

    name: str = "deribit"
    max_per_request: int = DERIBIT_MAX_PER_REQUEST
    private_prefixes: tuple[str, ...] = ("user.",)

    def _is_private(self, channel: str) -> bool:
        return channel.startswith(self.private_prefixes)

    def _requests(self, verb: str, channels: Sequence[str]) -> list[tuple[str, Any]]:
        public = [c for c in channels if not self._is_private(c)]
        private = [c for c in channels if self._is_private(c)]
        out: list[tuple[str, Any]] = []
        for scope, group in (("public", public), ("private", private)):
            for chunk in _chunks(group, self.max_per_request):
                out.append((f"{scope}/{verb}", {"channels": chunk}))
        return out

    def subscribe_requests(self, channels: Sequence[str]) -> list[tuple[str, Any]]:
        """Chunks of at most ``max_per_request`` channels, public before private."""
        return self._requests("subscribe", channels)

    def unsubscribe_requests(self, channels: Sequence[str]) -> list[tuple[str, Any]]:
        """``public/unsubscribe`` / ``private/unsubscribe`` chunks."""
        return self._requests("unsubscribe", channels)

    def confirmed(self, requested: Sequence[str], result: Any) -> tuple[list[str], list[str]]:
        """Split ``requested`` by the result list; a non-list result rejects everything."""
        if isinstance(result, list):
            return _split_by_list(requested, result)
        return [], list(requested)

    def channel_of(self, msg: Any) -> str | None:
        """``params.channel`` of a ``subscription`` notification."""
        if isinstance(msg, Mapping):
            params = msg.get("params")
            if isinstance(params, Mapping):
                ch = params.get("channel")
                return ch if isinstance(ch, str) else None
        return None


@dataclass
class BinanceDialect:
    """Binance: ``{"method": "SUBSCRIBE", "params": [streams...], "id": n}``; ``null`` = ok.

    Notifications on a combined stream look like ``{"stream": "btcusdt@trade", "data": ...}``.
    """

    name: str = "binance"
    max_per_request: int = BINANCE_MAX_PER_REQUEST

    def subscribe_requests(self, channels: Sequence[str]) -> list[tuple[str, Any]]:
        """``SUBSCRIBE`` chunks with the stream names as the params list."""
        return [("SUBSCRIBE", chunk) for chunk in _chunks(channels, self.max_per_request)]

    def unsubscribe_requests(self, channels: Sequence[str]) -> list[tuple[str, Any]]:
        """``UNSUBSCRIBE`` chunks."""
        return [("UNSUBSCRIBE", chunk) for chunk in _chunks(channels, self.max_per_request)]

    def confirmed(self, requested: Sequence[str], result: Any) -> tuple[list[str], list[str]]:
        """``null`` accepts all; a list accepts its members; anything else rejects all."""
        if result is None:
            return list(requested), []
        if isinstance(result, list):
            return _split_by_list(requested, result)
        return [], list(requested)

    def channel_of(self, msg: Any) -> str | None:
        """The ``stream`` key of a combined-stream message."""
        if isinstance(msg, Mapping):
            stream = msg.get("stream")
            return stream if isinstance(stream, str) else None
        return None


@dataclass
class JsonRpcDialect:
    """Generic JSON-RPC: ``{"method": subscribe_method, "params": {params_key: [...]}}``.

    With ``params_key=None`` the params are the bare list.  The result may be a list of the
    accepted channels; any other non-error result (``true``, ``"ok"``, ``null``, an object)
    accepts the whole chunk.  Notifications carry the channel at ``params[channel_key]``
    (or top-level ``channel_key`` when there is no params object).
    """

    name: str = "jsonrpc"
    max_per_request: int = 100
    subscribe_method: str = "subscribe"
    unsubscribe_method: str = "unsubscribe"
    params_key: str | None = "channels"
    channel_key: str = "channel"

    def _requests(self, method: str, channels: Sequence[str]) -> list[tuple[str, Any]]:
        out: list[tuple[str, Any]] = []
        for chunk in _chunks(channels, self.max_per_request):
            out.append((method, chunk if self.params_key is None else {self.params_key: chunk}))
        return out

    def subscribe_requests(self, channels: Sequence[str]) -> list[tuple[str, Any]]:
        """Chunks of ``subscribe_method``."""
        return self._requests(self.subscribe_method, channels)

    def unsubscribe_requests(self, channels: Sequence[str]) -> list[tuple[str, Any]]:
        """Chunks of ``unsubscribe_method``."""
        return self._requests(self.unsubscribe_method, channels)

    def confirmed(self, requested: Sequence[str], result: Any) -> tuple[list[str], list[str]]:
        """A list result names the accepted channels; ``false`` rejects; else all accepted."""
        if isinstance(result, list):
            return _split_by_list(requested, result)
        if result is False:
            return [], list(requested)
        return list(requested), []

    def channel_of(self, msg: Any) -> str | None:
        """``params[channel_key]`` (or ``msg[channel_key]``)."""
        if not isinstance(msg, Mapping):
            return None
        params = msg.get("params")
        src = params if isinstance(params, Mapping) else msg
        ch = src.get(self.channel_key)
        return ch if isinstance(ch, str) else None


_DIALECTS: Final[dict[str, Callable[..., Dialect]]] = {
    "deribit": DeribitDialect,
    "binance": BinanceDialect,
    "jsonrpc": JsonRpcDialect,
}


def dialect(spec: str | Dialect, **kw: Any) -> Dialect:
    """Resolve ``Config.dialect`` to a Dialect object.

    Args:
        spec: ``"deribit"``, ``"binance"``, ``"jsonrpc"`` or an object implementing
            :class:`Dialect` (returned unchanged).
        **kw: dialect fields, e.g. ``max_per_request=100``,
            ``private_prefixes=("user.", "block_rfq.")``, ``subscribe_method="sub"``.

    Returns:
        The dialect.

    Raises:
        ConfigError: unknown name, bad options, or ``max_per_request < 1``.
    """
    if isinstance(spec, str):
        factory = _DIALECTS.get(spec)
        if factory is None:
            raise errors.ConfigError(
                f"dialect must be one of {', '.join(_DIALECTS)} or a Dialect object, got {spec!r}",
                field="dialect",
            )
        try:
            obj = factory(**kw)
        except TypeError as exc:
            raise errors.ConfigError(f"bad {spec} dialect option: {exc}", field="dialect") from exc
    elif isinstance(spec, Dialect):
        if kw:
            raise errors.ConfigError("options apply to dialect names only", field="dialect")
        obj = spec
    else:
        raise errors.ConfigError(
            f"dialect must be a name or Dialect, got {spec!r}", field="dialect"
        )
    mpr = obj.max_per_request
    if isinstance(mpr, bool) or not isinstance(mpr, int) or mpr < 1:
        raise errors.ConfigError(
            f"max_per_request must be an int >= 1, got {mpr!r}", field="dialect"
        )
    return obj


def dialect_from_config(config: Any) -> Dialect:
    """``dialect(config.dialect)`` with ``max_per_request = config.subscribe_chunk`` for names.

    Args:
        config: reads ``dialect`` (default ``"jsonrpc"``) and ``subscribe_chunk``.

    Returns:
        The dialect.
    """
    spec = getattr(config, "dialect", "jsonrpc")
    chunk = getattr(config, "subscribe_chunk", None)
    if isinstance(spec, str) and chunk is not None:
        return dialect(spec, max_per_request=chunk)
    return dialect(spec)


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
    _entries: dict[str, _Entry] = field(default_factory=dict, repr=False)

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

    def __iter__(self) -> Any:
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
        except errors.RpcError as exc:
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


def _transient(exc: errors.RpcError) -> bool:
    categorize = getattr(errors, "categorize", None)
    if categorize is None:
        return exc.code in _TRANSIENT_RPC
    return str(getattr(categorize(exc), "value", "")).lower() == "recoverable"


def channels_in(params: Any, default: Sequence[str] = ()) -> list[str]:
    """The channel list inside the params of one (un)subscribe request.

    A dialect may split a chunk into several requests (Deribit: public and private), so a
    result must be checked against the channels of *its* request:
    ``dia.confirmed(channels_in(params), result)``.

    Args:
        params: the params a dialect built: a list of channels, or a mapping holding one.
        default: returned when no channel list is found.

    Returns:
        The channels of that request.
    """
    if isinstance(params, list) and all(isinstance(v, str) for v in params):
        return list(params)
    if isinstance(params, Mapping):
        for value in params.values():
            if isinstance(value, list) and all(isinstance(v, str) for v in value):
                return list(value)
    return list(default)


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
