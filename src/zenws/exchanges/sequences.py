"""Where a venue's notifications carry a sequence number, and which one.

A *sequence key* answers, for one parsed notification, ``(channel, seq, prev)``:

* ``channel``: the subscription the message belongs to;
* ``seq``: an integer that grows along the channel (the message's own position);
* ``prev``: the ``seq`` of the message it follows when the venue says so (Deribit's
  ``prev_change_id``, Binance's first update id ``U`` minus one), else ``None``.

A key function returns ``None`` for a message without such a number (tickers, user
channels, grouped streams across instruments): a consumer then falls back to the message's
content and timestamp.  Connection rotation (:mod:`zenws.rotation`) uses these keys to drop
what two connections both delivered and to see a gap between them.

Like every module of this package it imports nothing from zenws and works on plain parsed
JSON (``dict``/``list``), so the adapters, the simulators and the rotation engine read the
same facts.

Sources: https://docs.deribit.com/#book-instrument_name-interval (``change_id``,
``prev_change_id``), https://docs.deribit.com/#trades-instrument_name-interval
(``trade_seq``: per instrument, consecutive);
https://developers.binance.com/docs/binance-spot-api-docs/web-socket-streams (diff depth
``U``/``u``, trade ``t``, aggregate trade ``a``, book ticker ``u``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

__all__ = [
    "BINANCE_SEQUENCE_FIELDS",
    "KEYS",
    "Position",
    "SequenceKey",
    "binance_channel",
    "binance_key",
    "binance_sequence",
    "deribit_key",
    "key_for",
]

#: ``(channel, seq, prev)``; see the module docstring.
Position = tuple[str, int, int | None]
SequenceKey = Callable[[Any], Position | None]


def _int(value: Any) -> int | None:
    # bool is an int in Python; a JSON true is no sequence number
    return value if type(value) is int else None


# ---- Deribit ----------------------------------------------------------------------------------


def deribit_key(msg: Any) -> Position | None:
    """The sequence key of a Deribit ``subscription`` notification.

    * ``book.*`` (changes and snapshots): ``change_id``, after ``prev_change_id`` (a snapshot
      and a grouped book have none);
    * ``trades.<instrument>.<interval>``: the last trade's ``trade_seq``, after the first
      one's predecessor (``trade_seq`` counts one instrument's trades; ``trades.<kind>.
      <currency>.<interval>`` mixes instruments and has no key);
    * anything else: ``None``.
    """
    if type(msg) is not dict or msg.get("method") != "subscription":
        return None
    params = msg.get("params")
    if type(params) is not dict:
        return None
    channel, data = params.get("channel"), params.get("data")
    if type(channel) is not str:
        return None
    if channel.startswith("book.") and type(data) is dict:
        seq = _int(data.get("change_id"))
        if seq is None:
            return None
        return channel, seq, _int(data.get("prev_change_id"))
    if channel.startswith("trades.") and channel.count(".") == 2 and type(data) is list and data:
        first, last = data[0], data[-1]
        if type(first) is not dict or type(last) is not dict:
            return None
        lo, hi = _int(first.get("trade_seq")), _int(last.get("trade_seq"))
        if lo is None or hi is None:
            return None
        return channel, max(lo, hi), min(lo, hi) - 1
    return None


# ---- Binance ----------------------------------------------------------------------------------

#: Event type (``e``) -> (stream suffix, field of ``seq``, field of the first id or None).
#: The book ticker has no ``e``; it is recognised by its ``u``/``b``/``a`` fields.
BINANCE_SEQUENCE_FIELDS: Final[dict[str, tuple[str, str, str | None]]] = {
    "depthUpdate": ("depth", "u", "U"),
    "trade": ("trade", "t", None),
    "aggTrade": ("aggTrade", "a", None),
}


def binance_channel(msg: Any) -> str | None:
    """The stream a Binance market message belongs to.

    A combined-stream message names it (``{"stream": "btcusdt@depth@100ms", "data": ...}``);
    a raw one is named from its event and symbol (``btcusdt@depth``, ``btcusdt@trade``,
    ``btcusdt@aggTrade``, ``btcusdt@bookTicker``).
    """
    if type(msg) is not dict:
        return None
    stream = msg.get("stream")
    if type(stream) is str:
        return stream
    symbol = msg.get("s")
    if type(symbol) is not str:
        return None
    event = msg.get("e")
    if event is None and "u" in msg and "b" in msg and "a" in msg:
        return f"{symbol.lower()}@bookTicker"
    fields = BINANCE_SEQUENCE_FIELDS.get(event) if type(event) is str else None
    return f"{symbol.lower()}@{fields[0]}" if fields else None


def binance_sequence(stream: str, event: Any) -> tuple[int, int | None] | None:
    """``(seq, prev)`` of one Binance market event on ``stream``, or ``None``.

    * diff depth (``depthUpdate``): final update id ``u``, after ``U - 1``;
    * trade: trade id ``t``; aggregate trade: aggregate id ``a`` (no predecessor stated);
    * book ticker (no ``e``; named by the stream or recognised by its ``b``/``a`` fields):
      order book update id ``u`` (no predecessor: updates are sampled);
    * anything else (klines, tickers, user data): ``None``.

    Args:
        stream: the stream name (``"btcusdt@depth@100ms"``), as :func:`binance_channel` gives.
        event: the decoded event (the ``data`` member of a combined-stream message).
    """
    if type(event) is not dict:
        return None
    kind = event.get("e")
    if kind is None:
        if stream.partition("@")[2] == "bookTicker" or ("b" in event and "a" in event):
            seq = _int(event.get("u"))
            return (seq, None) if seq is not None else None
        return None
    fields = BINANCE_SEQUENCE_FIELDS.get(kind) if type(kind) is str else None
    if fields is None:
        return None
    seq = _int(event.get(fields[1]))
    if seq is None:
        return None
    first = _int(event.get(fields[2])) if fields[2] is not None else None
    return seq, (first - 1 if first is not None else None)


def binance_key(msg: Any) -> Position | None:
    """The sequence key of a Binance market-stream message (combined or raw).

    The stream comes from :func:`binance_channel`, the numbers from
    :func:`binance_sequence`.
    """
    channel = binance_channel(msg)
    if channel is None:
        return None
    found = binance_sequence(channel, msg.get("data") if "stream" in msg else msg)
    return (channel, *found) if found is not None else None


#: Venue name -> its key function (the names ``Config.dialect`` uses).
KEYS: Final[dict[str, SequenceKey]] = {"deribit": deribit_key, "binance": binance_key}


def key_for(venue: str) -> SequenceKey | None:
    """The key function of ``venue`` (``"deribit"``, ``"binance"``), or None if unknown."""
    return KEYS.get(venue)
