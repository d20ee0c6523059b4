"""Tracked subscriptions of :class:`zenws.Client`: subscribe, unsubscribe, restore."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from . import errors as _errors
from . import subscriptions as _subs
from . import telemetry as _tm
from ._client_base import ClientBase, Handler, ReconnectHook
from .errors import ConnectionLost, ProtocolError, RateLimited, RequestTimeout, RpcError


def _channel_list(channels: str | Iterable[str]) -> list[str]:
    return [channels] if isinstance(channels, str) else list(dict.fromkeys(channels))


class SubscriptionsMixin(ClientBase):
    """Subscriptions that survive reconnects (registry + dialect from zenws.subscriptions)."""

    # ------------------------------------------------------------------ subscriptions

    def _chunk_size(self) -> int:
        return max(1, min(self.config.subscribe_chunk, int(self._dialect.max_per_request)))

    async def subscribe(
        self, channels: str | Iterable[str], handler: Handler | None = None
    ) -> list[str]:
        """Subscribe, track the channels and restore them after every reconnect.

        Args:
            channels: one channel or several.
            handler: called with each notification of these channels (else ``on_message``
                / the ``async for`` queue receives them).

        Returns:
            The channels the server confirmed.

        Raises:
            RpcError: the server refused the request: a fatal refusal forgets the channels;
                a recoverable one (``zenws.errors.categorize``, e.g. Deribit 10028/13028)
                keeps them pending, restored after the next reconnect.
            ConnectionLost: the connection dropped (channels stay pending; restored later).
            asyncio.CancelledError: cancelled (channels stay pending; restored later).
        """
        chs = _channel_list(channels)
        new = self._subs.add_pending(chs, handler)
        confirmed = [c for c in chs if c not in new]
        # claim(): a subscribe racing the post-reconnect restore never doubles a request
        to_send = self._subs.claim(new, self.epoch)
        size = self._chunk_size()
        for i in range(0, len(to_send), size):
            confirmed += await self._subscribe_chunk(to_send[i : i + size])
        if _tm.active:
            _tm.emit("subscription.add", {"count": len(confirmed)}, {"epoch": self.epoch})
        return confirmed

    async def _subscribe_chunk(self, chunk: list[str], *, restoring: bool = False) -> list[str]:
        ok_all: list[str] = []
        for method, params in self._dialect.subscribe_requests(chunk):
            # a dialect may split a chunk (Deribit: public/private): check each request
            # against its own channels
            requested = _subs.channels_in(params, chunk)
            epoch = self.epoch  # the claim's epoch: unclaim only that one
            try:
                result = await self.request(method, params)
            except (ConnectionLost, asyncio.CancelledError):
                # Not a refusal: the channels stay pending and are restored on the next
                # connection (a new subscribe on this one may claim them again).
                self._subs.unclaim(requested, epoch)
                raise
            except (RequestTimeout, RateLimited) as exc:
                # Not a refusal: the channels stay pending and are sent again on the next
                # connection.  A restore goes on with the other chunks.
                self._subs.unclaim(requested, epoch)
                if not restoring:
                    raise
                self._log.warning("restoring %d channel(s) failed: %s", len(requested), exc)
                continue
            except (RpcError, ProtocolError) as exc:  # a refusal, or a malformed answer
                if _errors.categorize(exc) is _errors.Category.RECOVERABLE:
                    # e.g. Deribit 10028 (too many requests), 13028 (temporarily
                    # unavailable): retried, never forgotten.
                    self._subs.unclaim(requested, epoch)
                else:
                    self._subs.reject(requested)  # refused: never restored
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
                    self._subs.reject(requested)
                else:
                    self._subs.unclaim(requested, epoch)
                raise
            ok, rejected = self._dialect.confirmed(requested, result)
            self._subs.confirm(ok)
            if rejected:
                self._subs.reject(rejected)
                self._log.warning("server rejected subscriptions: %s", rejected[:10])
            ok_all += ok
        return ok_all

    async def unsubscribe(self, channels: str | Iterable[str]) -> None:
        """Unsubscribe and stop tracking the channels.

        Raises:
            RpcError: the server refused (the channels stay subscribed and tracked).
        """
        chs = self._subs.begin_unsubscribe(_channel_list(channels))
        size = self._chunk_size()
        for i in range(0, len(chs), size):
            chunk = chs[i : i + size]
            try:
                for method, params in self._dialect.unsubscribe_requests(chunk):
                    await self.request(method, params)
            except ConnectionLost:
                pass  # the server forgot them with the connection; do not restore
            except BaseException:
                self._subs.cancel_unsubscribe(chunk)
                raise
            self._subs.remove(chunk)
        if _tm.active:
            _tm.emit("subscription.remove", {"count": len(chs)}, {"epoch": self.epoch})

    @property
    def subscriptions(self) -> list[str]:
        """Tracked channels (pending and confirmed), in subscription order."""
        return self._subs.to_restore()

    def add_reconnect_hook(self, hook: ReconnectHook) -> None:
        """Run ``await hook(client)`` after each reconnect, before subscriptions are restored.

        Hooks run in the order added (e.g. an adapter's re-authentication).
        """
        self._hooks.append(hook)

    async def _restore(self) -> None:
        chs = self._subs.claim(self._subs.to_restore(), self.epoch)
        size = self._chunk_size()
        n = 0
        for i in range(0, len(chs), size):
            n += len(await self._subscribe_chunk(chs[i : i + size], restoring=True))
        if chs and _tm.active:
            _tm.emit("subscription.restore", {"count": n}, {"epoch": self.epoch})
