"""What the exchange simulators share: knob overrides and running on one MockServer.

:class:`~zenws.testing.DeribitSimulator` and :class:`~zenws.testing.BinanceSimulator` both
derive from :class:`Simulator`.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import asynccontextmanager
from typing import Any

from .handler import Handler
from .server import MockServer

__all__ = ["Simulator", "apply_overrides"]


def apply_overrides(knobs: object, overrides: Mapping[str, Any], owner: str) -> None:
    """Set single knob fields in place, refusing names the knobs do not have.

    Args:
        knobs: the simulator's settings object.
        overrides: field name -> new value.
        owner: the simulator class name, for the error message.

    Raises:
        TypeError: an override names no field of ``knobs``.
    """
    for name, value in overrides.items():
        if not hasattr(knobs, name):
            raise TypeError(f"unknown {owner} knob {name!r}")
        setattr(knobs, name, value)


class Simulator(Handler):
    """A :class:`~zenws.testing.Handler` that runs on one :class:`MockServer` at a time.

    Subclasses set ``self.server = None`` in ``__init__`` and may add :class:`MockServer`
    defaults in :meth:`_server_defaults`.
    """

    server: MockServer | None

    def _server_defaults(self) -> dict[str, Any]:
        """:class:`MockServer` keyword arguments :meth:`serve` uses unless the caller sets them."""
        return {}

    @asynccontextmanager
    async def serve(self, **server_kw: Any) -> Any:
        """Run on a new :class:`MockServer` (``path`` = ``knobs.path``) for the block.

        Args:
            **server_kw: passed to :class:`MockServer` (``port``, ``ssl``, ``host``...).

        Yields:
            This simulator (``sim.url``, ``sim.server``).
        """
        for key, value in self._server_defaults().items():
            server_kw.setdefault(key, value)
        async with MockServer(self, **server_kw):
            yield self

    @property
    def url(self) -> str:
        """The WebSocket URL clients connect to."""
        if self.server is None:
            raise RuntimeError("the simulator is not running")
        return self.server.url

    async def on_start(self, server: MockServer) -> None:
        """Bind to ``server``."""
        self.server = server
