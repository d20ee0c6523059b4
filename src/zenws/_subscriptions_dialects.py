"""Subscription dialects: how an exchange spells subscribe/unsubscribe and confirms them.

Re-exported by :mod:`zenws.subscriptions` (import them from there).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Final, Protocol, runtime_checkable

from . import errors
from .exchanges import deribit

__all__ = [
    "BINANCE_MAX_PER_REQUEST",
    "DERIBIT_MAX_PER_REQUEST",
    "BinanceDialect",
    "DeribitDialect",
    "Dialect",
    "JsonRpcDialect",
    "channels_in",
    "dialect",
    "dialect_from_config",
]

#: Deribit answers an oversized subscribe with an id-less ``-32600 request entity too large``;
#: 250 channels per request stays below it (zenws.exchanges.deribit).
DERIBIT_MAX_PER_REQUEST: Final = deribit.MAX_CHANNELS_PER_SUBSCRIBE
#: Binance caps streams per connection (1024) and messages per second, not per request;
#: 200 keeps each frame small.
BINANCE_MAX_PER_REQUEST: Final = 200


def _chunks(items: Sequence[str], size: int) -> list[list[str]]:
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


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
    #: Requests are ``{id, method, params}``: no ``"jsonrpc"`` member (Binance's API docs).
    jsonrpc_member: ClassVar[bool] = False

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


def jsonrpc_member(spec: str | Dialect) -> bool:
    """Whether requests of this dialect carry ``"jsonrpc": "2.0"`` (a dialect's
    ``jsonrpc_member`` attribute; default True, ``binance`` False)."""
    obj: Any = _DIALECTS.get(spec) if isinstance(spec, str) else spec
    return bool(getattr(obj, "jsonrpc_member", True))


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
