"""The switch of a make-before-break rotation, without sockets: :class:`Handover`.

While a client rotates, two connections receive the same channels: the *old* one keeps
delivering to the application, the *new* one (authenticated, subscribed) is held back.
A :class:`Handover` is told what the old one delivered (:meth:`Handover.delivered`) and
what the new one received (:meth:`Handover.received`), channel by channel, and answers:

* :meth:`~Handover.in_sync`: every channel of the new connection overlaps what the old one
  delivered, so the switch loses nothing;
* :meth:`~Handover.switch`: which held messages of the new connection to drop (the old one
  delivered them), to pass, or to pass flagged as following a gap;
* :meth:`~Handover.after`: the same verdict for the new connection's messages that come
  after the switch, until each channel has passed its first fresh message
  (:attr:`~Handover.settled`); from then on the new connection delivers unfiltered.

Two ways to tell a message already delivered:

* by sequence number, where the venue has one: a key function
  (:mod:`zenws.exchanges.sequences`) maps a parsed message to ``(channel, seq, prev)``; a
  message with ``seq`` at or below the last one the old connection delivered is a
  duplicate, one whose ``prev`` lies beyond it follows a gap;
* by content and timestamp otherwise (tickers, user channels): the raw bytes of the last
  ``window`` messages the old connection delivered on the channel are remembered (as a
  hash and a length, bounded memory); the new connection's messages up to the last one
  found there are duplicates.

Both connections must see one stream in one order, as venues send it: the same message
content to every subscriber.  A channel neither connection heard from during the rotation
has nothing to reconcile; its first message on the new connection is delivered.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from .errors import RotationFailed
from .exchanges.sequences import Position

__all__ = ["Handover", "HandoverStats", "RotationFailed", "RotationReport", "Verdict"]

T = TypeVar("T")
KeyFunction = Callable[[Any], Position | None]


class Verdict(enum.IntEnum):
    """What to do with one of the new connection's messages."""

    PASS = 0  #: deliver it: the old connection did not
    DROP = 1  #: drop it: the old connection delivered it
    GAP = 2  #: deliver it, but messages between it and the last delivered one are missing


@dataclass
class HandoverStats:
    """Counts of one handover (reported by ``Client.rotate()`` and telemetry)."""

    delivered_old: int = 0  #: notifications the old connection delivered meanwhile
    received_new: int = 0  #: notifications of the new connection held or filtered
    dropped: int = 0  #: duplicates dropped
    passed: int = 0  #: messages of the new connection delivered while filtering
    gaps: int = 0  #: messages delivered after a gap
    channels: int = 0  #: channels seen during the rotation


@dataclass
class RotationReport:
    """What one ``Client.rotate()`` did (also the ``rotation.done`` telemetry event)."""

    old_epoch: int  #: epoch of the connection replaced
    epoch: int  #: epoch of the connection now active
    started_at: float = 0.0  #: wall clock (``time.time()``) at the start
    duration_s: float = 0.0  #: start to the old connection closed
    sync_s: float = 0.0  #: start to the switch
    switch_ns: int = 0  #: the switch itself (held messages handed over, requests moved)
    dropped: int = 0  #: duplicates the new connection brought, dropped
    passed: int = 0  #: held (or filtered) messages of the new connection delivered
    gaps: int = 0  #: messages delivered after a gap (0 when in sync)
    channels: int = 0  #: channels reconciled
    in_sync: bool = False  #: every channel overlapped at the switch
    drained: bool = False  #: every request in flight on the old connection finished
    lagging: list[str] = field(default_factory=list)  #: channels not in sync (a failure)


@dataclass
class _Channel(Generic[T]):
    """What one channel saw on both connections."""

    last: int | None = None  # last seq the old connection delivered
    prints: deque[tuple[int, int]] = field(default_factory=deque)  # old, newest last
    counts: dict[tuple[int, int], int] = field(default_factory=dict)  # print -> how many
    held: list[tuple[T, Position | None, tuple[int, int]]] = field(default_factory=list)
    first: Position | None = None  # first keyed message held
    top: int | None = None  # highest seq held
    held_prints: set[tuple[int, int]] = field(default_factory=set)
    cursor: int | None = None  # seq of the last message passed (keyed channels)
    settled: bool = False  # a fresh message of the new connection passed

    def remember(self, fp: tuple[int, int], window: int) -> None:
        self.prints.append(fp)
        self.counts[fp] = self.counts.get(fp, 0) + 1
        if len(self.prints) > window:
            old = self.prints.popleft()
            left = self.counts[old] - 1
            if left:
                self.counts[old] = left
            else:
                del self.counts[old]

    @property
    def quiet(self) -> bool:
        """The old connection delivered nothing here during the rotation."""
        return self.last is None and not self.prints


def _fingerprint(raw: bytes) -> tuple[int, int]:
    return hash(raw), len(raw)


class Handover(Generic[T]):
    """Decides, per channel, what a new connection adds to what an old one delivered.

    Args:
        key: maps a parsed message to ``(channel, seq, prev)`` or None
            (:func:`zenws.exchanges.sequences.key_for`); None: content only.
        window: messages per channel remembered for the content comparison.

    Messages are fed with their channel (None when the listener knew none), their parsed
    JSON and their raw bytes; ``item`` is whatever the caller wants back from
    :meth:`switch` (the Message itself).
    """

    def __init__(self, key: KeyFunction | None = None, *, window: int = 4096) -> None:
        if window < 1:
            raise ValueError("window must be >= 1")
        self._key = key
        self._window = window
        self._channels: dict[str, _Channel[T]] = {}
        self._order: list[tuple[str, T, Position | None, tuple[int, int]]] = []
        self.switched = False
        self.stats = HandoverStats()

    # ------------------------------------------------------------------ feeding

    def _position(self, channel: str | None, doc: Any) -> tuple[str, Position | None]:
        pos: Position | None = None
        if self._key is not None:
            try:
                pos = self._key(doc)
            except Exception:  # a malformed message has no key; it is compared by content
                pos = None
        if pos is not None:
            return pos[0], pos
        return channel or "", None

    def _channel(self, name: str) -> _Channel[T]:
        ch = self._channels.get(name)
        if ch is None:
            ch = self._channels[name] = _Channel()
            self.stats.channels += 1
        return ch

    def delivered(self, channel: str | None, doc: Any, raw: bytes) -> None:
        """The old connection delivered this notification to the application."""
        if self.switched:
            raise RuntimeError("the old connection delivers nothing after the switch")
        name, pos = self._position(channel, doc)
        ch = self._channel(name)
        self.stats.delivered_old += 1
        if pos is not None:
            ch.last = pos[1] if ch.last is None else max(ch.last, pos[1])
        else:
            ch.remember(_fingerprint(raw), self._window)

    def received(self, item: T, channel: str | None, doc: Any, raw: bytes) -> None:
        """The new connection received this notification before the switch: hold it."""
        if self.switched:
            raise RuntimeError("after the switch, ask after() instead")
        name, pos = self._position(channel, doc)
        fp = _fingerprint(raw)
        ch = self._channel(name)
        ch.held.append((item, pos, fp))
        if pos is not None:
            if ch.first is None:
                ch.first = pos
            ch.top = pos[1] if ch.top is None else max(ch.top, pos[1])
        else:
            ch.held_prints.add(fp)
        self._order.append((name, item, pos, fp))
        self.stats.received_new += 1

    # ------------------------------------------------------------------ deciding

    def in_sync(self) -> bool:
        """True when every channel of the new connection overlaps the old one's.

        A channel with a sequence: the new connection holds a message at or below the last
        seq delivered (or the one right after it, by ``prev``) and one at or beyond it.
        Without: it holds the last message the old connection delivered.  A channel no
        connection heard from is in sync; one only the old (or only the new) heard from is
        not yet.
        """
        return all(self._channel_in_sync(ch) for ch in self._channels.values())

    def lagging(self) -> list[str]:
        """The channels not in sync yet (for the error of a rotation that timed out)."""
        return [name for name, ch in self._channels.items() if not self._channel_in_sync(ch)]

    @staticmethod
    def _channel_in_sync(ch: _Channel[T]) -> bool:
        if not ch.held:
            return ch.quiet
        if ch.quiet:
            return False
        if ch.last is not None:
            first, top = ch.first, ch.top
            if first is None or top is None:
                return False
            return top >= ch.last and (first[1] <= ch.last or first[2] == ch.last)
        return ch.prints[-1] in ch.held_prints

    def switch(self) -> list[tuple[T, Verdict]]:
        """Make the new connection the delivering one.

        Returns:
            The held messages in the order the new connection received them, each with its
            verdict (:attr:`Verdict.DROP` ones are for counting only).
        """
        if self.switched:
            raise RuntimeError("switch() was already called")
        self.switched = True
        drop_upto: dict[str, int] = {}
        for name, ch in self._channels.items():
            if ch.quiet:
                ch.settled = True
            elif ch.last is None:  # content only: up to the newest held message seen
                hits = [i for i, (_, _, fp) in enumerate(ch.held) if fp in ch.counts]
                drop_upto[name] = hits[-1] if hits else -1
            ch.cursor = ch.last
        seen: dict[str, int] = {}
        out: list[tuple[T, Verdict]] = []
        for name, item, pos, fp in self._order:
            ch = self._channels[name]
            index = seen.get(name, 0)
            seen[name] = index + 1
            if name in drop_upto and index <= drop_upto[name]:
                verdict = Verdict.DROP
                self.stats.dropped += 1
            else:
                verdict = self._judge(ch, pos, fp)
            out.append((item, verdict))
        for ch in self._channels.values():
            ch.held.clear()
            ch.held_prints.clear()
        self._order.clear()
        return out

    def after(self, channel: str | None, doc: Any, raw: bytes) -> Verdict:
        """Verdict on a message of the new connection that came after the switch."""
        if not self.switched:
            raise RuntimeError("before the switch, hold messages with received()")
        name, pos = self._position(channel, doc)
        ch = self._channels.get(name)
        if ch is None or ch.settled:
            self.stats.passed += 1
            return Verdict.PASS
        return self._judge(ch, pos, _fingerprint(raw))

    def _judge(self, ch: _Channel[T], pos: Position | None, fp: tuple[int, int]) -> Verdict:
        if ch.settled:
            verdict = Verdict.PASS
            if pos is not None and pos[2] is not None and ch.cursor is not None:
                verdict = Verdict.GAP if pos[2] > ch.cursor else Verdict.PASS
        elif pos is not None and ch.last is not None:
            if pos[1] <= ch.last:
                self.stats.dropped += 1
                return Verdict.DROP
            gap = pos[2] is not None and ch.cursor is not None and pos[2] > ch.cursor
            verdict = Verdict.GAP if gap else Verdict.PASS
            ch.settled = True
        elif fp in ch.counts:
            self.stats.dropped += 1
            return Verdict.DROP
        else:
            verdict = Verdict.PASS
            ch.settled = True
        if pos is not None:
            ch.cursor = pos[1] if ch.cursor is None else max(ch.cursor, pos[1])
        self.stats.passed += 1
        if verdict is Verdict.GAP:
            self.stats.gaps += 1
        return verdict

    @property
    def settled(self) -> bool:
        """After the switch: every channel passed a fresh message (or had nothing to
        reconcile), so the new connection's messages need no more filtering."""
        return self.switched and all(ch.settled for ch in self._channels.values())

    def forget(self, channel: str) -> None:
        """Stop reconciling ``channel`` (unsubscribed meanwhile): its held messages go."""
        if self._channels.pop(channel, None) is not None:
            self._order = [entry for entry in self._order if entry[0] != channel]

    def channels(self) -> Iterable[str]:
        """Channels seen during the rotation."""
        return list(self._channels)
