"""Session recording to JSONL, replay and summary statistics (the documented import path).

The code lives in :mod:`zenws.recording`; this module re-exports its public names, so
``from zenws.recorder import Recorder, record, replay, metadata`` keeps working.
"""

from __future__ import annotations

from .recording import (
    RecordedFrame,
    Recorder,
    RecordingDropWarning,
    RecordingError,
    RecordingMetadata,
    ReplayResult,
    metadata,
    read_recording,
    record,
    replay,
    replay_sync,
)

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
