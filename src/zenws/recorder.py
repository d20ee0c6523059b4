"""Session recording to JSONL, replay and summary statistics (the documented import path).

The code lives in :mod:`zenws.recording`; this module re-exports its public names (its
``__all__``), so ``from zenws.recorder import Recorder, record, replay, metadata`` keeps
working.
"""

from __future__ import annotations

from .recording import *  # noqa: F403  (the names of zenws.recording.__all__)
from .recording import __all__ as __all__
