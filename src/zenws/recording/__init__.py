"""Session recording and replay: :class:`Recorder`, :func:`record`, :func:`replay`, metadata().

Two halves: the writer (``recording.writer``, a background thread draining a C queue into
JSONL, redacting secrets) behind :class:`Recorder` (``recording.recorder``), and the reader
(``recording.reader``: :func:`read_recording`, :func:`replay`, :func:`metadata`).  The file
format is described in ``recording.recorder`` and ``docs/recording.md``.  ``zenws.recorder``
is the documented import path and re-exports these names.
"""

from __future__ import annotations

from .reader import (
    RecordedFrame,
    RecordingError,
    RecordingMetadata,
    ReplayResult,
    metadata,
    read_recording,
    replay,
    replay_sync,
)
from .recorder import Recorder, record
from .writer import RecordingDropWarning

__all__ = [
    "RecordedFrame",
    "Recorder",
    "RecordingDropWarning",
    "RecordingError",
    "RecordingMetadata",
    "ReplayResult",
    "metadata",
    "read_recording",
    "record",
    "replay",
    "replay_sync",
]
