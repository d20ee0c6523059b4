"""The Deribit reference wire messages vendored under ``tests/data/deribit/``.

Every test, fuzzer and benchmark that wants real Deribit traffic reads it from here; a
missing file is an error, never a silent fallback to fewer messages.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

DERIBIT_JSONL = Path(__file__).resolve().parent / "data" / "deribit" / "messages.jsonl"


def deribit_lines() -> list[str]:
    """The corpus as its JSONL lines, as stored (one record each)."""
    if not DERIBIT_JSONL.exists():
        raise FileNotFoundError(f"the Deribit test corpus is missing: {DERIBIT_JSONL}")
    return [line for line in DERIBIT_JSONL.read_text().splitlines() if line.strip()]


def deribit_records() -> list[dict[str, Any]]:
    """Every record of the corpus: ``{"name": ..., "msg": {...}}``."""
    return [json.loads(line) for line in deribit_lines()]


def deribit_messages() -> dict[str, bytes]:
    """Each record's wire message, re-encoded compactly, by record name."""
    return {rec["name"]: json.dumps(rec["msg"]).encode() for rec in deribit_records()}
