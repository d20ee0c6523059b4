"""Make-before-break rotation of :class:`zenws.Client`: ``rotate()`` and its schedule.

A rotation replaces the active connection without a gap and without a duplicate:

1. open a second connection (:meth:`Client._prepare`), its notifications held back;
2. run the reconnect hooks on it (authentication, session logon...): each hook gets a
   :class:`Prepared`, which sends through the new connection (``hook.rotating`` is True);
3. subscribe it to every tracked channel;
4. wait until every channel on it overlaps what the old one delivered
   (:class:`zenws.rotation.Handover`: by the venue's sequence numbers, else by content);
5. switch, in one callback: the held messages the old connection did not deliver go to the
   application, the new connection becomes the active one (requests, heartbeat, epoch), the
   old one's notifications are dropped from then on;
6. let the requests in flight on the old connection finish (or reach their deadline);
7. run the retire hooks on it (e.g. Deribit ``private/logout``, so cancel-on-disconnect
   does not fire) and close it.

If anything fails before the switch, the prepared connection is closed and the old one
keeps delivering as if nothing happened: :class:`~zenws.rotation.RotationFailed` and a
``rotation.failed`` event.  With ``Config.max_connection_age`` the client rotates on its own
``rotate_before`` seconds before a connection reaches that age (a venue's scheduled close).

What the two connections' messages do meanwhile (held, delivered, dropped, recorded) is
:class:`zenws.client._rotation_delivery.Intercept`, which :class:`_Run` extends with the steps.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any

from .. import telemetry as _tm
from .._redact import redact_text
from ..errors import ZenwsError
from ..exchanges.sequences import key_for
from ..rotation import RotationFailed, RotationReport, Verdict
from ..state import State
from ._connection import Connection
from ._rotation_delivery import Intercept, app_channel

if TYPE_CHECKING:
    from . import Client

RetireHook = Callable[[Any], Awaitable[Any]]

#: Poll period while the old connection's requests finish (seconds).
_DRAIN_POLL = 0.005
#: How often a rotation waiting for the overlap looks at the tracked channels (seconds).
_SYNC_POLL = 0.05


class Prepared:
    """What hooks send through during a rotation: the connection being prepared.

    It has what a hook uses of a client: ``request()``, ``epoch``, ``config`` -- and
    ``rotating`` (True), so a hook can tell a rotation from a reconnect (e.g. keep its
    books: the delivered stream stays continuous).
    """

    rotating = True

    def __init__(self, client: Client, conn: Connection) -> None:
        self._client = client
        self._conn = conn
        self.config = client.config

    @property
    def epoch(self) -> int:
        """The epoch the connection will have once active."""
        return self._conn.epoch

    @property
    def client(self) -> Client:
        """The client being rotated."""
        return self._client

    def request(
        self, method: str, params: Any = None, *, timeout: float | None = None
    ) -> Coroutine[Any, Any, Any]:
        """``client.request`` on this connection (same errors)."""
        return self._client._requests.request_on(self._conn, method, params, timeout=timeout)

    def force_reconnect(self, reason: str) -> None:
        """Drop this connection (a hook gave up on it): the rotation fails, the old one stays."""
        self._conn.close(1011, reason[:100])
        self._conn.abort()

    def __repr__(self) -> str:
        return f"<zenws rotation connection epoch={self.epoch}>"


class Rotation:
    """The rotation part of one client: :meth:`rotate` and the automatic schedule."""

    __slots__ = ("_client", "_key", "_lock", "_retire", "_timer", "rotations")

    def __init__(self, client: Client) -> None:
        self._client = client
        cfg = client.config
        key = cfg.sequence_key
        if key is None and isinstance(cfg.dialect, str):
            key = key_for(cfg.dialect)
        self._key = key
        self._lock: asyncio.Lock | None = None
        self._retire: list[RetireHook] = []
        self._timer: asyncio.Task[None] | None = None
        self.rotations = 0  #: rotations completed

    def add_retire_hook(self, hook: RetireHook) -> None:
        """Run ``await hook(conn)`` on a connection a rotation retires, before closing it."""
        self._retire.append(hook)

    # ------------------------------------------------------------------ the schedule

    def opened(self, conn: Connection) -> None:
        """A connection became active: rotate it before ``max_connection_age``."""
        cfg = self._client.config
        if cfg.max_connection_age is None:
            return
        self.stop()
        lead = cfg.rotate_before
        if lead is None:
            lead = min(0.1 * cfg.max_connection_age, 300.0)
        # a little jitter, so that clients opened together do not rotate together
        delay = max(0.0, cfg.max_connection_age - lead * random.uniform(1.0, 1.1))
        loop = asyncio.get_running_loop()
        self._timer = loop.create_task(self._rotate_at(conn, delay, lead))

    def stop(self) -> None:
        """Cancel the scheduled rotation (client closing, connection replaced)."""
        timer, self._timer = self._timer, None
        if timer is not None and timer is not asyncio.current_task():
            timer.cancel()

    async def _rotate_at(self, conn: Connection, delay: float, lead: float) -> None:
        await asyncio.sleep(delay)
        deadline = time.monotonic() + lead
        client = self._client
        while client._conn is conn and not client._supervisor.ending:
            try:
                # The switch calls opened(), which schedules the next rotation and cancels
                # the task in _timer: not this one, which still has to retire the old one.
                self._timer = None
                await self.rotate(scheduled=True)
                return
            except RotationFailed as exc:
                left = deadline - time.monotonic()
                client._log.warning("scheduled rotation failed (%s); %.1f s left", exc, left)
                if left <= 0:
                    return  # the venue closes it: the plain reconnect takes over
                await asyncio.sleep(min(left / 4, 5.0))
            except ZenwsError:
                return  # not OPEN (reconnecting, closing): nothing to rotate

    # ------------------------------------------------------------------ rotate

    async def rotate(
        self, *, timeout: float | None = None, scheduled: bool = False
    ) -> RotationReport:
        """:meth:`zenws.Client.rotate`."""
        client = self._client
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:  # one rotation at a time (a scheduled one and rotate())
            if client._supervisor.state is not State.OPEN or client._conn is None:
                raise ZenwsError(f"rotate() needs an OPEN client, not {client.state.name}")
            return await _Run(self, timeout, scheduled).run()

    async def retire(self, conn: Connection) -> None:
        """Run the retire hooks on ``conn`` (each error is reported, none stops the close)."""
        via = Prepared(self._client, conn)
        for hook in list(self._retire):
            try:
                await hook(via)
            except Exception as exc:
                self._client._on_callback_error(exc, None)


class _Run(Intercept):
    """One rotation: the steps of the module docstring, and what to undo if one fails
    (what each connection's messages do meanwhile: :class:`Intercept`)."""

    def __init__(self, part: Rotation, timeout: float | None, scheduled: bool) -> None:
        client = part._client
        super().__init__(client, part._key)
        self.part = part
        self.old: Connection = client._conn  # type: ignore[assignment]
        self.timeout = client.config.rotation_timeout if timeout is None else timeout
        self.scheduled = scheduled
        self.subscribed: set[str] = set()  # channels the new connection subscribed to
        self.more: asyncio.Future[None] | None = None  # set: subscribe the new one again
        self.step = "open"
        self.switched: asyncio.Future[None] | None = None
        self.report = RotationReport(old_epoch=self.old.epoch, epoch=self.old.epoch)

    # ---- the steps

    async def run(self) -> RotationReport:
        client = self.client
        t0 = time.monotonic()
        self.report.started_at = time.time()
        fut = self.switched = asyncio.get_running_loop().create_future()
        if _tm.active:
            _tm.emit(
                "rotation.start", {}, self.meta(epoch=self.old.epoch, scheduled=self.scheduled)
            )
        try:
            await asyncio.wait_for(self._prepare_and_switch(), self.timeout)
        except BaseException as exc:
            if fut.done() and not fut.cancelled() and fut.exception() is None:
                if isinstance(exc, asyncio.CancelledError):
                    raise  # switched already: the new connection is the active one
            else:
                if not fut.done():
                    self._undo()
                    fut.cancel()  # a late switch() does nothing
                if isinstance(exc, asyncio.CancelledError):
                    raise
                if isinstance(exc, (asyncio.TimeoutError, TimeoutError)) and self.step == "sync":
                    self.report.lagging = self.handover.lagging()
                failure = self._failed(self.step, exc)
                if failure is exc:
                    raise
                raise failure from exc
        self.report.sync_s = time.monotonic() - t0
        await self._retire_old()
        self.report.duration_s = time.monotonic() - t0
        self.part.rotations += 1
        if _tm.active:
            r = self.report
            _tm.emit(
                "rotation.done",
                {
                    "duration_s": r.duration_s,
                    "switch_ns": r.switch_ns,
                    "dropped": r.dropped,
                    "passed": r.passed,
                    "gaps": r.gaps,
                },
                self.meta(epoch=r.epoch, old_epoch=r.old_epoch, scheduled=self.scheduled),
            )
        client._log.info(
            "rotated epoch %d -> %d in %.3f s (%d duplicates dropped, %d gaps)",
            self.report.old_epoch,
            self.report.epoch,
            self.report.duration_s,
            self.report.dropped,
            self.report.gaps,
        )
        return self.report

    async def _prepare_and_switch(self) -> None:
        assert self.switched is not None
        self.step = "open"
        self.old.deliver_to(self.sink(self.on_old))
        self.new = await self.client._prepare(self.sink(self.on_new))
        self.report.epoch = self.new.epoch
        self.step = "hooks"
        await self._hooks()
        self.step = "subscribe"
        await self._subscribe()
        gone = self.old.disconnected
        while True:
            self.step = "sync"
            self.more = asyncio.get_running_loop().create_future()
            self.ready = True
            if self.handover.in_sync():
                self.switch()
            waits = [self.switched, self.more] + ([gone] if gone is not None else [])
            while not any(f.done() for f in waits):
                await asyncio.wait(waits, timeout=_SYNC_POLL, return_when=asyncio.FIRST_COMPLETED)
                self._forget_dropped()
            if self.switched.done():
                await self.switched  # raises what a failed switch set
                return
            if gone is not None and gone.done():
                raise RotationFailed(
                    "the old connection ended before the switch (the client reconnects)",
                    step="sync",
                )
            # channels subscribed on the old connection meanwhile: the new one too
            self.step = "subscribe"
            await self._subscribe()

    def _forget_dropped(self) -> None:
        """Channels unsubscribed meanwhile are not waited for; then check for the switch."""
        if self.switched is None or self.switched.done():
            return
        tracked = set(self.client._subscriptions.registry.to_restore())
        for channel in [c for c in self.handover.lagging() if c not in tracked]:
            self.handover.forget(channel)
        if self.ready and self.handover.in_sync():
            self.switch()

    async def _hooks(self) -> None:
        assert self.new is not None
        via = Prepared(self.client, self.new)
        for hook in list(self.client._supervisor.hooks):
            await hook(via)  # any error fails the rotation: the old connection keeps going

    async def _subscribe(self) -> None:
        """Subscribe the new connection to every tracked channel (until none is missing)."""
        assert self.new is not None
        client = self.client
        if not client.config.restore_subscriptions:
            return
        subs = client._subscriptions
        done = self.subscribed
        while True:
            missing = [c for c in subs.registry.to_restore() if c not in done]
            if not missing:
                return
            size = max(1, min(client.config.subscribe_chunk, int(subs.dialect.max_per_request)))
            for i in range(0, len(missing), size):
                chunk = missing[i : i + size]
                for method, params in subs.dialect.subscribe_requests(chunk):
                    result = await client._requests.request_on(self.new, method, params)
                    requested = [c for c in chunk if c in _channels_of(params, chunk)]
                    ok, refused = subs.dialect.confirmed(requested, result)
                    if refused:
                        raise RotationFailed(
                            f"the new connection refused {len(refused)} channel(s): {refused[:5]}",
                            step="subscribe",
                        )
                    done.update(ok)
            done.update(missing)

    def switch(self) -> None:
        """Make the new connection the active one (synchronous: nothing arrives meanwhile)."""
        fut = self.switched
        new = self.new
        if fut is None or fut.done() or new is None:
            return
        t0 = time.perf_counter_ns()
        client = self.client
        if client.config.restore_subscriptions and any(
            c not in self.subscribed for c in client._subscriptions.registry.to_restore()
        ):
            # subscribed on the old connection after the new one was: not yet
            self.ready = False
            if self.more is not None and not self.more.done():
                self.more.set_result(None)
            return
        if new.current is None or client._conn is not self.old:
            # the new connection ended, or the client reconnected meanwhile
            self._undo()
            fut.set_exception(
                RotationFailed("the new connection ended before the switch", step="sync")
            )
            return
        self.report.in_sync = self.handover.in_sync()
        verdicts = self.handover.switch()
        if self.rec is not None:
            self.rec.flush()  # what came before the switch, before what it delivers
        self.old.deliver_to(self.sink(self.on_old_retired))
        try:
            client._activate(new)
        except ZenwsError as exc:
            self._undo()
            fut.set_exception(RotationFailed(f"the switch failed: {exc}", step="switch"))
            return
        self.part.opened(new)
        if not self.handover.settled:
            new.deliver_to(self.sink(self.on_new_filtered))
        for msg, verdict in verdicts:
            if verdict is Verdict.DROP:
                continue
            channel = app_channel(self.app, msg)
            if verdict is Verdict.GAP and channel is not None:
                self.gap(channel)
            self.deliver(msg, channel)
        stats = self.handover.stats
        r = self.report
        r.dropped, r.passed, r.gaps, r.channels = (
            stats.dropped,
            stats.passed,
            stats.gaps,
            stats.channels,
        )
        r.switch_ns = time.perf_counter_ns() - t0
        fut.set_result(None)

    async def _retire_old(self) -> None:
        """Let the old connection's requests finish, run the retire hooks, close it."""
        old, client = self.old, self.client
        await self._unsubscribe_dropped()
        deadline = time.monotonic() + client.config.request_timeout
        while old.correlator.pending and old.current is not None and time.monotonic() < deadline:
            await asyncio.sleep(_DRAIN_POLL)
        self.report.drained = old.correlator.pending == 0
        if old.current is not None:
            await self.part.retire(old)
        fut = old.disconnected
        old.close(1000, "rotated")
        if fut is not None and not fut.done():
            try:
                await asyncio.wait_for(asyncio.shield(fut), client.config.close_timeout)
            except (asyncio.TimeoutError, TimeoutError):
                old.abort()
        new = self.new
        if new is not None and not self.handover.settled and client._conn is new:
            self.to_app(new)  # nothing left to compare with
        if self.rec is not None:
            self.rec.flush()

    async def _unsubscribe_dropped(self) -> None:
        """Channels unsubscribed during the rotation: the new connection drops them too."""
        client, new = self.client, self.new
        subs = client._subscriptions
        tracked = set(subs.registry.to_restore())
        dropped = [c for c in self.subscribed if c not in tracked]
        if not dropped or new is None or client._conn is not new:
            return
        try:
            for method, params in subs.dialect.unsubscribe_requests(dropped):
                await client._requests.request_on(new, method, params)
        except ZenwsError as exc:
            client._log.warning("rotation: unsubscribing %s failed: %s", dropped[:5], exc)

    def _undo(self) -> None:
        """Before the switch: close the prepared connection, the old one delivers as before."""
        new = self.new
        if self.client._conn is self.old:
            self.to_app(self.old)
        elif self.rec is not None:
            self.rec.flush()
        if new is not None:
            new.close(1000, "rotation failed")
            new.abort_later()

    def _failed(self, step: str, exc: BaseException | None) -> RotationFailed:
        if isinstance(exc, RotationFailed):
            failure = exc
        elif isinstance(exc, TimeoutError):
            lag = (
                f" (channels not in sync: {self.report.lagging[:5]})" if self.report.lagging else ""
            )
            failure = RotationFailed(
                f"rotation timed out after {self.timeout:g} s at step {step!r}{lag}", step=step
            )
        else:
            failure = RotationFailed(f"rotation failed at step {step!r}: {exc}", step=step)
        self.client._log.warning("%s; the connection of epoch %d stays", failure, self.old.epoch)
        if _tm.active:
            _tm.emit(
                "rotation.failed",
                {},
                self.meta(step=step, error=redact_text(str(failure))[:200], epoch=self.old.epoch),
            )
        return failure


def _channels_of(params: Any, chunk: list[str]) -> list[str]:
    from ..subscriptions import channels_in

    return list(channels_in(params, chunk))


__all__ = ["Prepared", "Rotation"]
