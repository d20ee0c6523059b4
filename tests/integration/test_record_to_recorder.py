"""record_to= given a Recorder the caller opened: the client writes to it, never closes it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import zenws
from zenws.errors import ConfigError
from zenws.recorder import Recorder, read_recording
from zenws.testing import MockServer


def echo(conn: Any, msg: Any) -> None:
    req = json.loads(msg.data)
    conn.send(json.dumps({"jsonrpc": "2.0", "id": req["id"], "result": req.get("params")}))


async def test_client_writes_to_the_callers_recorder_and_leaves_it_open(tmp_path: Path) -> None:
    path = tmp_path / "own.jsonl"
    rec = Recorder(path, url="ws://127.0.0.1/x")
    async with MockServer(echo) as srv:
        client = await zenws.connect(srv.url, record_to=rec)
        assert client.config.record_to is rec
        assert await client.request("echo", {"n": 1}) == {"n": 1}
        await client.close()
    assert not rec.closed  # the caller owns it
    rec.write("out", "text", '{"after":"close"}', epoch=99)
    await rec.aclose()
    frames, errors = read_recording(path)
    assert errors == []
    docs = [json.loads(f.data) for f in frames if f.type == "text"]
    assert [d.get("method") for d in docs if "method" in d] == ["echo"]
    assert [d["result"] for d in docs if "result" in d] == [{"n": 1}]
    assert docs[-1] == {"after": "close"}
    assert [f.type for f in frames].count("close") >= 1  # the closing handshake is recorded


def test_record_to_rejects_other_objects() -> None:
    with pytest.raises(ConfigError, match="record_to"):
        zenws.Config.new("ws://127.0.0.1:1/", record_to=object())
