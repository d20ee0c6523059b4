"""Tracked subscriptions of :class:`zenws.Client`: subscribe, unsubscribe, restore."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Iterable
from typing import Any, Protocol

from .. import errors as _errors
from .. import subscriptions as _subs
from .. import telemetry as _tm
from ..config import Config
from ..errors import ConnectionLost, ProtocolError, RateLimited, RequestTimeout, RpcError
from ._connection import Handler


def _channel_list(channels: str | Iterable[str]) -> list[str]:
    return [channels] if isinstance(channels, str) else list(dict.fromkeys(channels))


class _Host(Protocol):
    """What the subscriptions part needs from its client."""

    @property
    def epoch(self) -> int: ...

    def request(
        self, method: str, params: Any = None, *, timeout: float | None = None
    ) -> Coroutine[Any, Any, Any]: ...


class Subscriptions:
    """Subscriptions that survive reconnects (registry + dialect from zenws.subscriptions).

    Owns the :class:`~zenws.subscriptions.SubscriptionRegistry` (``registry``) and the
    dialect; sends through the client's ``request`` and stamps claims with its epoch.
    """

    __slots__ = ("_host", "_log", "config", "dialect", "registry")

    def __init__(self, config: Config, host: _Host, log: logging.Logger) -> None:
        self.config = config
        self.dialect = _subs.dialect_from_config(config)
        self.registry = _subs.SubscriptionRegistry()
        self._host = host
        self._log = log

    @property
    def epoch(self) -> int:
        return self._host.epoch

    def _chunk_size(self) -> int:
        return max(1, min(self.config.subscribe_chunk, int(self.dialect.max_per_request)))

    async def subscribe(
        self, channels: str | Iterable[str], handler: Handler | None = None
    ) -> list[str]:
        """:meth:`zenws.Client.subscribe`."""
        chs = _channel_list(channels)
        new = self.registry.add_pending(chs, handler)
        confirmed = [c for c in chs if c not in new]
        # claim(): a subscribe racing the post-reconnect restore never doubles a request
        to_send = self.registry.claim(new, self.epoch)
        size = self._chunk_size()
        for i in range(0, len(to_send), size):
            confirmed += await self._subscribe_chunk(to_send[i : i + size])
        if _tm.active:
            _tm.emit("subscription.add", {"count": len(confirmed)}, {"epoch": self.epoch})
        return confirmed

    async def _subscribe_chunk(self, chunk: list[str], *, restoring: bool = False) -> list[str]:
        ok_all: list[str] = []
        for method, params in self.dialect.subscribe_requests(chunk):
            # a dialect may split a chunk (Deribit: public/private): check each request
            # against its own channels
            requested = _subs.channels_in(params, chunk)
            epoch = self.epoch  # the claim's epoch: unclaim only that one
            try:
                result = await self._host.request(method, params)
            except (ConnectionLost, asyncio.CancelledError):
                # Not a refusal: the channels stay pending and are restored on the next
                # connection (a new subscribe on this one may claim them again).
                self.registry.unclaim(requested, epoch)
                raise
            except (RequestTimeout, RateLimited) as exc:
                # Not a refusal: the channels stay pending and are sent again on the next
                # connection.  A restore goes on with the other chunks.
                self.registry.unclaim(requested, epoch)
                if not restoring:
                    raise
                self._log.warning("restoring %d channel(s) failed: %s", len(requested), exc)
                continue
            except (RpcError, ProtocolError) as exc:  # a refusal, or a malformed answer
                if _errors.categorize(exc) is _errors.Category.RECOVERABLE:
                    # e.g. Deribit 10028 (too many requests), 13028 (temporarily
                    # unavailable): retried, never forgotten.
                    self.registry.unclaim(requested, epoch)
                else:
                    self.registry.reject(requested)  # refused: never restored
                if not restoring:
                    raise
                self._log.warning("server refused restoring %s: %s", requested[:10], exc)
                continue
            except BaseException as exc:
                # Anything else: keep the channels only when retrying can help (an OSError
                # ...); a fatal error (params that do not encode, a bug) would fail every
                # restore, so those channels are forgotten.
                if isinstance(exc, Exception) and (
                    _errors.categorize(exc) is not _errors.Category.RECOVERABLE
                ):
                    self.registry.reject(requested)
                else:
                    self.registry.unclaim(requested, epoch)
                raise
            ok, rejected = self.dialect.confirmed(requested, result)
            self.registry.confirm(ok)
            if rejected:
                self.registry.reject(rejected)
                self._log.warning("server rejected subscriptions: %s", rejected[:10])
            ok_all += ok
        return ok_all

    async def unsubscribe(self, channels: str | Iterable[str]) -> None:
        """:meth:`zenws.Client.unsubscribe`."""
        chs = self.registry.begin_unsubscribe(_channel_list(channels))
        size = self._chunk_size()
        for i in range(0, len(chs), size):
            chunk = chs[i : i + size]
            try:
                for method, params in self.dialect.unsubscribe_requests(chunk):
                    await self._host.request(method, params)
            except ConnectionLost:
                pass  # the server forgot them with the connection; do not restore
            except BaseException:
                self.registry.cancel_unsubscribe(chunk)
                raise
            self.registry.remove(chunk)
        if _tm.active:
            _tm.emit("subscription.remove", {"count": len(chs)}, {"epoch": self.epoch})

    async def restore(self) -> None:
        """Re-subscribe every tracked channel on the new connection (after a reconnect)."""
        chs = self.registry.claim(self.registry.to_restore(), self.epoch)
        size = self._chunk_size()
        n = 0
        for i in range(0, len(chs), size):
            n += len(await self._subscribe_chunk(chs[i : i + size], restoring=True))
        if chs and _tm.active:
            _tm.emit("subscription.restore", {"count": n}, {"epoch": self.epoch})
