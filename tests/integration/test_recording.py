"""record_to= end to end: a real client, a real server, a reconnect, replay, redaction, fixtures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from waits import wait_until
from zenws.client import connect
from zenws.recorder import RecordedFrame, metadata, read_recording, replay
from zenws.testing import MockServer
from zenws.testing.connection import Connection
from zenws.testing.handler import Handler, Received
from zenws.testing.replay import ReplayHandler, from_recording

SECRET = "Qv7-distinctive-recording-secret-0931"


class Exchange(Handler):
    """A small JSON-RPC exchange: subscribe (then 3 notifications per channel), test, auth,
    echo for anything else. Logs everything it sends, per connection id."""

    def __init__(self) -> None:
        self.sent: dict[int, list[str | bytes]] = {}
        self.seq = 0

    def _send(self, conn: Connection, data: str | bytes) -> None:
        self.sent.setdefault(conn.id, []).append(data)
        conn.send(data)

    def on_message(self, conn: Connection, msg: Received) -> None:
        doc = msg.json(None) if msg.is_text else None
        if not isinstance(doc, dict) or "method" not in doc:
            self._send(conn, msg.data)
            return
        rid, method, params = doc.get("id"), doc["method"], doc.get("params") or {}
        if method == "public/subscribe":
            self._send(conn, _dumps({"jsonrpc": "2.0", "id": rid, "result": params["channels"]}))
            for ch in params["channels"]:
                for _ in range(3):
                    note = {"channel": ch, "data": {"seq": self.seq}}
                    self.seq += 1
                    self._send(
                        conn, _dumps({"jsonrpc": "2.0", "method": "subscription", "params": note})
                    )
        elif method == "public/auth":
            result = {"access_token": SECRET, "refresh_token": SECRET, "expires_in": 900}
            self._send(conn, _dumps({"jsonrpc": "2.0", "id": rid, "result": result}))
        else:
            self._send(conn, _dumps({"jsonrpc": "2.0", "id": rid, "result": {"m": method}}))


def _dumps(obj: Any) -> str:
    return orjson.dumps(obj).decode()


async def record_session(p: Path, *, heartbeat: bool) -> tuple[Exchange, MockServer, list[Any]]:
    """Subscribe, request, echo text and binary, server restart, restore, close."""
    ex = Exchange()
    notes: list[Any] = []
    opts: dict[str, Any] = {"dialect": "deribit"}
    if heartbeat:
        opts.update(heartbeat="ping_pong", heartbeat_interval=0.05)
    async with MockServer(ex) as server:
        client = await connect(server.url, record_to=str(p), **opts)
        await client.subscribe(["ticker.A"], handler=lambda m: notes.append(m.json()))
        assert (await client.request("public/test")) == {"m": "public/test"}
        client.send("plain text")
        client.send(b"\x00\x01binary")
        await wait_until(lambda: len(notes) == 3 and len(ex.sent.get(1, [])) == 7)
        if heartbeat:
            await wait_until(lambda: client.heartbeat_health().rtt is not None)
        await server.restart()
        await wait_until(lambda: client.epoch == 2 and len(notes) == 6)
        assert (await client.request("public/get_time")) == {"m": "public/get_time"}
        await client.close()
    return ex, server, notes


def by_epoch(frames: list[RecordedFrame], direction: str, epoch: int) -> list[str | bytes]:
    return [
        f.data for f in frames
        if f.dir == direction and f.epoch == epoch and f.type in ("text", "binary")
        and f.data is not None
    ]  # fmt: skip


async def test_record_reconnect_then_replay_every_frame(tmp_path: Path) -> None:
    p = tmp_path / "session.jsonl"
    ex, server, notes = await record_session(p, heartbeat=True)
    frames, errors = read_recording(p)
    assert errors == []
    conns = server.all_connections
    assert len(conns) == 2
    for epoch, conn in enumerate(conns, 1):
        # every data frame in both directions, exactly and in order
        assert by_epoch(frames, "out", epoch) == [m.data for m in conn.received]
        assert by_epoch(frames, "in", epoch) == ex.sent[conn.id]
    # the restore after the reconnect is recorded like any other request
    restored = [orjson.loads(d) for d in by_epoch(frames, "out", 2)]
    assert restored[0]["method"] == "public/subscribe"
    assert restored[0]["params"] == {"channels": ["ticker.A"]}
    # heartbeats and closes too
    kinds = {(f.epoch, f.dir, f.type) for f in frames}
    assert {(1, "out", "ping"), (1, "in", "pong")} <= kinds
    closes = [(f.epoch, f.dir, f.code) for f in frames if f.type == "close"]
    assert (1, "in", 1012) in closes and (2, "out", 1000) in closes
    assert [n["params"]["data"]["seq"] for n in notes] == list(range(6))

    meta = metadata(p)
    assert meta.complete and meta.errors == [] and meta.dropped == 0
    assert meta.epochs == [1, 2] and len(meta.sessions) == 1
    assert meta.frames == len(frames)
    assert meta.counts["out"]["binary"] == 1 and meta.counts["in"]["binary"] == 1
    assert meta.latency["count"] == 4  # subscribe, test, restore, get_time
    assert meta.unanswered == 0
    assert meta.sessions[0]["url"] == server.url

    replayed: list[RecordedFrame] = []
    res = await replay(p, replayed.append)
    assert res.frames == len(frames) and replayed == frames
    for epoch in (1, 2):
        monos = [f.mono_ns for f in frames if f.epoch == epoch]
        assert monos == sorted(monos)


async def test_secrets_are_redacted_in_a_real_session(tmp_path: Path) -> None:
    p = tmp_path / "auth.jsonl"
    async with MockServer(Exchange()) as server:
        url = f"{server.url}?access_token={SECRET}"
        client = await connect(
            url, record_to=str(p), headers=[("Authorization", f"Bearer {SECRET}")]
        )
        params = {"grant_type": "client_credentials", "client_id": "abc", "client_secret": SECRET}
        result = await client.request("public/auth", params)
        assert result["access_token"] == SECRET  # the client itself sees the real token
        client.send({"jsonrpc": "2.0", "method": "x", "params": {"signature": SECRET}})
        await server.assert_received({"method": "x"})
        await client.close()
    raw = p.read_bytes()
    assert SECRET.encode() not in raw
    frames, errors = read_recording(p)
    assert errors == []
    sent = orjson.loads(frames[0].data)  # type: ignore[arg-type]
    assert sent["params"] == {
        "grant_type": "client_credentials",
        "client_id": "abc",
        "client_secret": "***",
    }
    answer = orjson.loads(frames[1].data)  # type: ignore[arg-type]
    assert answer["result"] == {"access_token": "***", "refresh_token": "***", "expires_in": 900}


async def test_recording_becomes_a_fixture(tmp_path: Path) -> None:
    p = tmp_path / "fixture.jsonl"
    _, _, recorded_notes = await record_session(p, heartbeat=False)

    server = from_recording(p)
    notes: list[Any] = []
    async with server:
        client = await connect(server.url, dialect="deribit")
        # a different request order and fresh ids: answers are matched by method
        assert (await client.request("public/test")) == {"m": "public/test"}
        assert (await client.subscribe("ticker.A", handler=lambda m: notes.append(m.json()))) == [
            "ticker.A"
        ]
        await wait_until(lambda: len(notes) == 3)
        # the recorded server restart (close 1012) replays; the client reconnects into the
        # second recorded connection and restores its subscription there
        await wait_until(lambda: client.epoch == 2 and len(notes) == 6)
        assert (await client.request("public/get_time")) == {"m": "public/get_time"}
        await client.close()
    assert notes == recorded_notes
    handler = server.handler
    assert isinstance(handler, ReplayHandler)
    assert handler.unmatched == [] and handler.answered == 4
    texts = [m.data for m in server.all_connections[0].received if isinstance(m.data, str)]
    assert orjson.loads(texts[0])["method"] == "public/test"
