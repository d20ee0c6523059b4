"""Deribit adapter: authentication, token refresh, heartbeat, cancel-on-disconnect, books.

Built on :class:`zenws.Client` with the ``deribit`` dialect, heartbeat and credit-based rate
limiter.  After every reconnect, before subscriptions are restored (a client reconnect
hook), the adapter re-authenticates and re-enables cancel-on-disconnect; local order books
are marked stale and rebuilt from the snapshot the server sends on resubscribe.

Example::

    from zenws.adapters.deribit import DeribitClient

    async with await DeribitClient.connect(client_id=..., client_secret=...) as dc:
        print(await dc.get_time())
        book = await dc.on_book("BTC-PERPETUAL", lambda b: print(b.best_bid(), b.best_ask()))
        await dc.buy("BTC-PERPETUAL", 10, type="limit", price=30000, label="demo")

Wire facts: https://docs.deribit.com/ (kept in :mod:`zenws.exchanges.deribit`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from ..errors import Category, ConfigError, ConnectionLost, RpcError, categorize
from ..heartbeat import Deribit as DeribitHeartbeat
from ._deribit_auth import Credentials, Token
from ._deribit_book import BookGap, OrderBook, books_from_recording
from ._deribit_methods import METHODS
from ._deribit_policy import DeribitMetrics, cod_scope, deribit_limiter
from ._deribit_sync import BookSync
from ._venue import VenueClient

__all__ = [
    "MAINNET",
    "TESTNET",
    "BookGap",
    "DeribitClient",
    "DeribitMetrics",
    "OrderBook",
    "books_from_recording",
]

TESTNET = "wss://test.deribit.com/ws/api/v2"
MAINNET = "wss://www.deribit.com/ws/api/v2"
TOO_MANY_REQUESTS = 10028

_log = logging.getLogger("zenws.deribit")
GapHandler = Callable[[BookGap], Any]


class DeribitClient(VenueClient):
    """A Deribit JSON-RPC session over one :class:`zenws.Client` (use :meth:`connect`).

    Typed helpers (``test``, ``get_time``, ``get_instruments``, ``ticker``,
    ``get_order_book``, ``buy``, ``sell``, ``edit``, ``cancel``, ``cancel_all``,
    ``get_open_orders``, ``get_positions``, ``get_account_summary``) are generated from the
    method table in :mod:`zenws.adapters._deribit_methods`; anything else goes through
    :meth:`request`.

    Attributes:
        client: the underlying :class:`zenws.Client`.
    """

    test = METHODS["test"]
    get_time = METHODS["get_time"]
    get_instruments = METHODS["get_instruments"]
    ticker = METHODS["ticker"]
    get_order_book = METHODS["get_order_book"]
    buy = METHODS["buy"]
    sell = METHODS["sell"]
    edit = METHODS["edit"]
    cancel = METHODS["cancel"]
    cancel_all = METHODS["cancel_all"]
    get_open_orders = METHODS["get_open_orders"]
    get_positions = METHODS["get_positions"]
    get_account_summary = METHODS["get_account_summary"]

    def __init__(
        self,
        client: Any,
        credentials: Credentials | None = None,
        *,
        cancel_on_disconnect: bool | str = False,
        refresh_at: float = 0.8,
        rate_limit_pause: float = 5.0,
        resync_interval: float = 1.0,
    ) -> None:
        if not 0 < refresh_at < 1:
            raise ConfigError("refresh_at: must be between 0 and 1", field="refresh_at")
        super().__init__()
        self.client = client
        self._creds = credentials
        self._cod = cod_scope(cancel_on_disconnect)
        self._refresh_at = refresh_at
        self._pause_s = rate_limit_pause
        self._token: Token | None = None
        # the token of a connection a rotation prepares: it takes over at the switch
        self._standby: Token | None = None
        self._refresh_task: asyncio.Task[None] | None = None
        self._paused: asyncio.Event | None = None
        self._sync = BookSync(
            self.request, self._spawn, lambda: int(self.client.epoch), resync_interval
        )
        self._fatal: BaseException | None = None
        self.auths = self.refreshes = self.rate_limit_pauses = 0

    # ------------------------------------------------------------------ lifecycle

    @classmethod
    async def connect(
        cls,
        url: str = TESTNET,
        *,
        client_id: str | None = None,
        client_secret: str | None = None,
        grant: str = "client_credentials",
        heartbeat: float | None = 10,
        cancel_on_disconnect: bool | str = False,
        rate_limit: Any = "deribit",
        min_heartbeat: float = 10.0,
        refresh_at: float = 0.8,
        rate_limit_pause: float = 5.0,
        rate_limit_margin: float = 0.9,
        resync_interval: float = 1.0,
        **client_options: Any,
    ) -> DeribitClient:
        """Connect, authenticate (when credentials are known) and set up the session.

        Args:
            url: the endpoint (default: testnet).
            client_id: API key id (default ``$DERIBIT_CLIENT_ID``).
            client_secret: API secret (default ``$DERIBIT_CLIENT_SECRET``).
            grant: ``"client_credentials"`` or ``"client_signature"`` (the secret never
                leaves the process; HMAC-SHA256 over timestamp + nonce).
            heartbeat: ``public/set_heartbeat`` interval in seconds (>= 10), ``None`` = off.
            cancel_on_disconnect: ``True``/``"connection"``/``"account"`` to enable it on
                every connection.
            rate_limit: ``"deribit"`` credit model, another preset, a limiter or ``None``.
            rate_limit_margin: with ``"deribit"``, the fraction of each credit pool used
                (the rest absorbs network jitter; 1.0 = the exact documented pools).
            min_heartbeat: lowest accepted heartbeat (lower it only for simulators).
            refresh_at: fraction of ``expires_in`` after which the token is refreshed.
            rate_limit_pause: seconds to stop sending after a 10028 before reconnecting.
            resync_interval: minimum seconds between two resyncs of the same book.
            **client_options: any :class:`zenws.Config` option.

        Returns:
            The connected adapter.

        Raises:
            ConfigError: bad options.
            ConnectError: the connection could not be opened.
            RpcError: authentication failed (13004 invalid_credentials is fatal).
        """
        from ..client import connect as zconnect

        creds = Credentials.resolve(client_id, client_secret, grant)
        self_ = cls(
            None,
            creds,
            cancel_on_disconnect=cancel_on_disconnect,
            refresh_at=refresh_at,
            rate_limit_pause=rate_limit_pause,
            resync_interval=resync_interval,
        )
        if rate_limit == "deribit":
            rate_limit = deribit_limiter(rate_limit_margin)
        options: dict[str, Any] = {"dialect": "deribit", "rate_limit": rate_limit}
        if heartbeat:
            if isinstance(heartbeat, bool) or not isinstance(heartbeat, (int, float)):
                raise ConfigError("heartbeat: must be seconds or None", field="heartbeat")
            if heartbeat < min_heartbeat:
                raise ConfigError(
                    f"heartbeat: Deribit requires an interval >= {min_heartbeat:g} s, "
                    f"got {heartbeat!r}",
                    field="heartbeat",
                )
            options["heartbeat"] = DeribitHeartbeat(float(heartbeat), min_interval=min_heartbeat)
            options["heartbeat_interval"] = float(heartbeat)
        options.update(client_options)
        client = await zconnect(url, **options)
        self_.client = client
        client.add_reconnect_hook(self_._on_reconnect)
        client.add_retire_hook(self_._on_retire)
        try:
            await self_._setup_session()
        except BaseException:
            await self_.close()
            raise
        return self_

    async def _setup_session(self, conn: Any = None) -> None:
        """Authenticate and enable cancel-on-disconnect on ``conn`` (default: the client)."""
        conn = self.client if conn is None else conn
        if self._creds is not None:
            await self._authenticate(conn)
        if self._cod is not None:
            await conn.request("private/enable_cancel_on_disconnect", {"scope": self._cod})
            self._emit("deribit.cancel_on_disconnect", {}, {"scope": self._cod, "enabled": True})

    async def _on_reconnect(self, conn: Any) -> None:
        """Client hook: runs on a new connection before its subscriptions are restored.

        ``conn`` is what to send through: the client after a reconnect, the connection
        being prepared during a rotation (``conn.rotating``).  A rotation keeps the books:
        the delivered stream stays continuous, so nothing is resynchronised.
        """
        rotating = bool(getattr(conn, "rotating", False))
        if not rotating:
            self._token = self._standby = None
            self._cancel_refresh()
            self._sync.invalidate_all()  # the resubscribe delivers fresh snapshots
        try:
            await self._setup_session(conn)
        except ConnectionLost:
            raise
        except Exception as exc:
            if rotating:
                raise  # the rotation fails; the old connection keeps its session
            if categorize(exc) is Category.FATAL:
                self._fatal = exc
                _log.error("re-authentication failed, closing: %s", exc)
                self._spawn(self.client.close(1000, "authentication failed"))
                # Raising ConnectionLost stops the client from restoring subscriptions.
                raise ConnectionLost("authentication failed", epoch=conn.epoch) from exc
            # Transient (timeout, 10040, maintenance...): restoring private channels without a
            # session would fail, so start over on a fresh connection (with backoff).
            _log.warning("session setup after reconnect failed (%s); reconnecting", exc)
            self.client.force_reconnect(f"deribit session setup failed: {type(exc).__name__}")
            raise ConnectionLost("session setup failed", epoch=conn.epoch) from exc

    async def _on_retire(self, conn: Any) -> None:
        """Client hook: a rotation is about to close ``conn``, the connection it replaced.

        With cancel-on-disconnect on, closing it would cancel the orders (``connection``
        scope: those sent on it; ``account`` scope: all of them).  ``private/logout``
        ends it without that (https://docs.deribit.com/#private-logout); the new
        connection holds its own session and its own cancel-on-disconnect.
        """
        standby, self._standby = self._standby, None
        if standby is not None and standby.epoch == self.client.epoch:
            self._set_token(standby)  # the new connection's session is the current one
        if self._cod is not None and self._creds is not None:
            # already gone (ConnectionLost): cancel-on-disconnect fired on the server side
            with contextlib.suppress(ConnectionLost):
                await conn.request("private/logout", {"invalidate_token": False})

    async def rotate(self, *, timeout: float | None = None) -> Any:
        """Replace the connection make-before-break (:meth:`zenws.Client.rotate`).

        The new connection is authenticated (and its cancel-on-disconnect enabled) before it
        takes over; books stay in sync without a new snapshot (duplicates are dropped by
        ``change_id``); the old connection logs out when cancel-on-disconnect is on.

        Returns:
            The :class:`zenws.rotation.RotationReport`.

        Raises:
            RotationFailed: the new connection failed; the old one keeps running.
        """
        return await self.client.rotate(timeout=timeout)

    async def close(self) -> None:
        """Stop background tasks and close the connection."""
        self._cancel_refresh()
        await super().close()
        if self.client is not None:
            await self.client.close()

    # ------------------------------------------------------------------ auth

    async def _authenticate(self, conn: Any = None) -> None:
        assert self._creds is not None
        conn = self.client if conn is None else conn
        epoch = conn.epoch
        result = await conn.request("public/auth", self._creds.auth_params())
        token = Token.from_result(result, epoch)
        if getattr(conn, "rotating", False):
            # A rotation's new connection: the old one's token (and its refresh) stays
            # current until the switch; a rotation that fails leaves it untouched.
            self._standby = token
        else:
            self._set_token(token)
        self.auths += 1
        self._emit(
            "deribit.auth",
            {"expires_in": token.expires_in},
            {"grant": self._creds.grant, "epoch": epoch},
        )

    def _set_token(self, token: Token) -> None:
        self._token = token
        self._cancel_refresh()
        delay = token.refresh_delay(self._refresh_at)
        if delay is not None:
            self._refresh_task = self._spawn(self._refresh_after(delay, token.epoch))

    def _cancel_refresh(self) -> None:
        task, self._refresh_task = self._refresh_task, None
        if task is not None and task is not asyncio.current_task() and not task.done():
            task.cancel()

    async def _refresh_after(self, delay: float, epoch: int) -> None:
        await asyncio.sleep(delay)
        token = self._token
        if token is None or self.client.epoch != epoch:
            return  # reconnected meanwhile: the hook authenticated again
        self._refresh_task = None
        params = {"grant_type": "refresh_token", "refresh_token": token.refresh_token}
        try:
            result = await self.client.request("public/auth", params)
        except ConnectionLost:
            return
        except Exception as exc:
            _log.warning("token refresh failed (%s); authenticating with credentials", exc)
            try:
                await self._authenticate()
            except Exception as exc2:
                _log.error("re-authentication failed: %s", exc2)
            return
        self._set_token(Token.from_result(result, epoch))
        self.refreshes += 1
        self._emit("deribit.refresh", {"expires_in": token.expires_in}, {"epoch": epoch})

    @property
    def authenticated(self) -> bool:
        """The current connection holds an access token."""
        epoch = self.client.epoch
        return any(t is not None and t.epoch == epoch for t in (self._token, self._standby))

    @property
    def token_expires_in(self) -> float | None:
        """Seconds until the access token expires (``None`` when not authenticated)."""
        tok = self._token
        if tok is None:
            return None
        return tok.expires_in - (time.monotonic() - tok.issued_at)

    # ------------------------------------------------------------------ requests

    async def request(
        self, method: str, params: Any = None, *, timeout: float | None = None
    ) -> Any:
        """Send a Deribit JSON-RPC request (paced; paused after a 10028).

        Args:
            method: e.g. ``"public/get_index_price"``.
            params: named params.
            timeout: request deadline in seconds.

        Returns:
            The ``result`` member.

        Raises:
            RpcError, RequestTimeout, ConnectionLost, RateLimited: see :meth:`zenws.Client.request`.
        """
        paused = self._paused
        if paused is not None:
            await paused.wait()
        try:
            return await self.client.request(method, params, timeout=timeout)
        except RpcError as exc:
            if exc.code == TOO_MANY_REQUESTS:
                self._pause_for_credits()
            raise

    def _pause_for_credits(self) -> None:
        if self._paused is not None:
            return
        self._paused = asyncio.Event()
        self.rate_limit_pauses += 1
        self._emit("deribit.rate_limit", {"pause_s": self._pause_s}, {"epoch": self.client.epoch})
        _log.warning("10028 too_many_requests: pausing %.3g s, then reconnecting", self._pause_s)
        self._spawn(self._resume_after_pause(self.client.epoch))

    async def _resume_after_pause(self, epoch: int) -> None:
        try:
            await asyncio.sleep(self._pause_s)
            # Deribit terminates the session after 10028; if the client has not noticed yet,
            # start a clean one ourselves (re-auth and restore run in the reconnect hook).
            if self.client.epoch == epoch:
                try:
                    await self.client.reconnect()
                except Exception as exc:
                    _log.error("reconnect after 10028 failed: %s", exc)
        finally:
            event, self._paused = self._paused, None
            if event is not None:
                event.set()

    # ------------------------------------------------------------------ cancel on disconnect

    async def enable_cancel_on_disconnect(self, scope: str = "connection") -> None:
        """Enable cancel-on-disconnect; it is enabled again after every reconnect.

        Args:
            scope: ``"connection"`` (orders of this connection) or ``"account"``.
        """
        scope_ = cod_scope(scope)
        await self.request("private/enable_cancel_on_disconnect", {"scope": scope_})
        self._cod = scope_
        self._emit("deribit.cancel_on_disconnect", {}, {"scope": scope_, "enabled": True})

    async def disable_cancel_on_disconnect(self, scope: str | None = None) -> None:
        """Disable cancel-on-disconnect (and stop re-enabling it after reconnects)."""
        scope_ = cod_scope(scope or self._cod or "connection")
        await self.request("private/disable_cancel_on_disconnect", {"scope": scope_})
        self._cod = None
        self._emit("deribit.cancel_on_disconnect", {}, {"scope": scope_, "enabled": False})

    async def get_cancel_on_disconnect(self, scope: str = "connection") -> Any:
        """The server's cancel-on-disconnect state (``{"scope": ..., "enabled": ...}``)."""
        return await self.request("private/get_cancel_on_disconnect", {"scope": cod_scope(scope)})

    # ------------------------------------------------------------------ subscriptions

    async def subscribe(
        self, channels: str | Iterable[str], handler: Callable[[Any], Any] | None = None
    ) -> list[str]:
        """Subscribe to public and/or ``user.*`` channels (chunked at 250, paced, restored).

        Args:
            channels: channel names.
            handler: called with each :class:`zenws.Message` of these channels.

        Returns:
            The confirmed channels.
        """
        paused = self._paused
        if paused is not None:
            await paused.wait()
        try:
            result: list[str] = await self.client.subscribe(channels, handler)
        except RpcError as exc:
            if exc.code == TOO_MANY_REQUESTS:
                self._pause_for_credits()
            raise
        return result

    async def unsubscribe(self, channels: str | Iterable[str]) -> None:
        """Unsubscribe and forget the channels (and their local books)."""
        chs = [channels] if isinstance(channels, str) else list(channels)
        await self.client.unsubscribe(chs)
        for ch in chs:
            self._sync.forget(ch)

    async def on_book(
        self,
        instrument: str,
        handler: Callable[..., Any] | None = None,
        *,
        interval: str = "100ms",
        depth: int | None = None,
        group: str = "none",
        changes: bool = False,
    ) -> OrderBook:
        """Maintain a local order book of ``instrument``; ``handler(book)`` after each update.

        Each notification's raw bytes are parsed and applied in C (no JSON decode, no
        Python object per level).  Sequence gaps (``prev_change_id`` != last
        ``change_id``) clear the book, count in ``metrics().gaps``, emit ``deribit.gap``
        (and call :attr:`on_gap`) and resubscribe that channel only, at most once per
        ``resync_interval``.  A malformed book message is handled the same way (logged,
        ``protocol.error`` event) without counting as a gap.

        Args:
            instrument: e.g. ``"BTC-PERPETUAL"``.
            handler: called with the book after each applied snapshot/change.
            interval: ``"100ms"``, ``"agg2"`` or ``"raw"`` (raw needs authentication).
            depth: with a depth (1, 10 or 20), follow the grouped channel
                ``book.{instrument}.{group}.{depth}.{interval}`` (whole top-of-book
                messages) instead of the incremental one.
            group: price grouping of the grouped channel (``"none"``, ``"1"``, ...).
            changes: call ``handler(book, change)`` where ``change`` is the applied levels
                as a ``(k, 3)`` float64 array (side 0 bid / 1 ask, price, amount; 0 =
                deleted).

        Returns:
            The live :class:`OrderBook` (stale until the first snapshot).
        """
        if depth is None:
            channel = f"book.{instrument}.{interval}"
        else:
            channel = f"book.{instrument}.{group}.{depth}.{interval}"
        book = self._sync.book(channel, instrument)
        await self.subscribe([book.channel], self._sync.handler(book, handler, changes=changes))
        return book

    @property
    def books(self) -> dict[str, OrderBook]:
        """Local books by channel."""
        return dict(self._sync.books)

    @property
    def on_gap(self) -> GapHandler | None:
        """Optional callback receiving each :class:`BookGap`."""
        return self._sync.on_gap

    @on_gap.setter
    def on_gap(self, callback: GapHandler | None) -> None:
        self._sync.on_gap = callback

    @property
    def gaps(self) -> int:
        """Book sequence gaps detected."""
        return self._sync.gaps

    @property
    def resyncs(self) -> int:
        """Book channels resubscribed after a gap."""
        return self._sync.resyncs

    # ------------------------------------------------------------------ observability

    def metrics(self) -> DeribitMetrics:
        """Adapter counters (gaps, resyncs, auths, refreshes) plus client metrics."""
        return DeribitMetrics(
            gaps=self.gaps,
            resyncs=self.resyncs,
            malformed=self._sync.malformed,
            auths=self.auths,
            refreshes=self.refreshes,
            rate_limit_pauses=self.rate_limit_pauses,
            authenticated=self.authenticated,
            cancel_on_disconnect=self._cod,
            client=self.client.metrics(),
        )

    def latency_stats(self) -> Any:
        """Request round-trip percentiles of the client (ns)."""
        return self.client.latency_stats()

    def heartbeat_health(self) -> Any:
        """The client's heartbeat health."""
        return self.client.heartbeat_health()

    @property
    def state(self) -> Any:
        """The client's state."""
        return self.client.state

    @property
    def epoch(self) -> int:
        """The client's connection epoch."""
        return int(self.client.epoch)

    @property
    def fatal_error(self) -> BaseException | None:
        """The error that closed the session for good (failed re-authentication), if any."""
        return self._fatal

    def __repr__(self) -> str:
        who = self._creds.client_id if self._creds else "anonymous"
        return f"<DeribitClient {who} {self.client!r} authenticated={self.authenticated}>"
