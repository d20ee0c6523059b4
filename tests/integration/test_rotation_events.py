"""The rotation's telemetry events are what docs/telemetry.md says they are."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from test_rotation import CHANNEL, Count, flowing, sim

import zenws
from zenws import telemetry
from zenws.rotation import RotationFailed

DOCS = Path(__file__).resolve().parents[2] / "docs" / "telemetry.md"


def documented() -> dict[str, tuple[set[str], set[str]]]:
    """``event -> (measurement keys, metadata keys)`` of the "Rotation events" table."""
    text = DOCS.read_text(encoding="utf-8").split("## Rotation events", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, tuple[set[str], set[str]]] = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 4 or not cells[0].startswith("`rotation."):
            continue

        def keys(cell: str) -> set[str]:
            # `key` (what it is, maybe with `values`), `key`, ...
            return set(re.findall(r"`([a-z_]+)`", re.sub(r"\([^)]*\)", "", cell)))

        rows[cells[0].strip("`")] = (keys(cells[1]), keys(cells[2]))
    return rows


def test_every_rotation_event_is_documented_and_in_the_catalogue() -> None:
    docs = documented()
    assert set(docs) == {"rotation.start", "rotation.done", "rotation.failed", "rotation.gap"}
    assert set(docs) <= telemetry.EVENTS
    assert {e for e in telemetry.EVENTS if e.startswith("rotation.")} == set(docs)


async def test_emitted_rotation_events_match_the_documentation(events: list[Any]) -> None:
    docs = documented()
    async with sim().serve() as s:
        count = Count()
        client = await zenws.connect(s.url, dialect="deribit")
        failing = {"on": False}

        async def hook(conn: Any) -> None:
            if failing["on"] and getattr(conn, "rotating", False):
                raise ValueError("refused by the test")

        client.add_reconnect_hook(hook)
        try:
            await client.subscribe([CHANNEL], handler=count)
            await flowing(count)
            await client.rotate()
            failing["on"] = True
            with pytest.raises(RotationFailed):
                await client.rotate()
        finally:
            await client.close()
    seen = [(name, set(m), set(md)) for _, name, m, md in events if name.startswith("rotation.")]
    assert {name for name, _, _ in seen} >= {"rotation.start", "rotation.done", "rotation.failed"}
    for name, measurements, metadata in seen:
        assert name in docs, name
        assert (measurements, metadata) == docs[name], name
    failed = [md for _, name, _, md in events if name == "rotation.failed"]
    assert failed[0]["step"] == "hooks" and "refused by the test" in failed[0]["error"]
    assert all(md["url"] == s.url for _, n, _, md in events if n.startswith("rotation."))
