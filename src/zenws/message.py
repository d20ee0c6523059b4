"""``zenws.Message`` and ``zenws.MessageKind``.

Both are defined in the compiled hot path (:mod:`zenws.fast.listener`): a Message is built
once per message delivered to user code, holds the raw payload and parses it lazily with
:meth:`Message.json` (parsed once, cached) with the decoder chosen by ``Config.decoder``:
zenws' C decoder by default, orjson, json, or the optional simdjson.
"""

from __future__ import annotations

from .fast.listener import Message, MessageKind

__all__ = ["Message", "MessageKind"]
