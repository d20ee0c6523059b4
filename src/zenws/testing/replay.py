"""Turn a zenws recording into a deterministic mock server: :func:`from_recording`.

The handler that plays the recorded scripts is :class:`ReplayHandler`
(``zenws.testing.replay_handler``, which documents the rules); this module puts it behind a
:class:`~zenws.testing.MockServer`.  ``MockServer.from_recording(path)`` does the same.

Example::

    server = from_recording("session.jsonl")      # or MockServer.from_recording(...)
    async with server:
        client = await zenws.connect(server.url)
"""

from __future__ import annotations

import os
from typing import Any

from .replay_handler import ReplayHandler, Script, load_scripts
from .server import MockServer

__all__ = ["ReplayHandler", "Script", "from_recording", "load_scripts"]


def from_recording(
    path: str | os.PathLike[str], *, speed: float | None = None, **kwargs: Any
) -> MockServer:
    """Build a :class:`~zenws.testing.MockServer` that replays a recording to its clients.

    Args:
        path: the JSONL recording (e.g. taken against a real exchange with ``record_to=``).
        speed: pace of the streamed frames (None = as fast as possible, 1.0 = as recorded).
        **kwargs: any other :class:`~zenws.testing.MockServer` argument (``port``, ``path``...).

    Returns:
        The server (not started: ``async with from_recording(p) as server: ...``).

    Raises:
        RecordingError: the recording has corrupt lines.
    """
    return MockServer(ReplayHandler(path, speed=speed), **kwargs)
