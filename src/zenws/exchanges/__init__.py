"""Facts about the venues zenws speaks to, stated once: :mod:`.deribit`, :mod:`.binance`.

Each module holds one venue's wire facts as plain data -- method tables, credit and weight
classes, error codes, heartbeat rules, channel limits -- each with the documentation it comes
from.  The rate-limit presets (:func:`zenws.ratelimit.preset`), the subscription dialects, the
heartbeat strategies, the error categories, the adapters and the simulators in
:mod:`zenws.testing` all read them from here, so a fact that changes is changed in one place.

These modules import nothing from zenws: they sit at the bottom of the layers.
"""

from __future__ import annotations

__all__ = ["binance", "deribit"]
