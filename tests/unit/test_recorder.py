"""Recorder: JSONL layout, background writing, drops, exit safety, rotation, redaction, reading."""

from __future__ import annotations

import base64
import gc
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

import zenws
from zenws.recorder import (
    RecordedFrame,
    Recorder,
    RecordingDropWarning,
    RecordingError,
    metadata,
    read_recording,
    record,
    replay,
    replay_sync,
)

SECRET = "Zq9-distinctive-S3CR3T-value-7781"
TS_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def lines(path: Path) -> list[dict]:
    return [orjson.loads(x) for x in path.read_bytes().splitlines()]


def wait_for(pred, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.01)
    return pred()


def test_every_kind_round_trips(tmp_path: Path) -> None:
    p = tmp_path / "s.jsonl"
    with record(p, url="wss://example.test/ws", metadata={"strategy": "mm1"}) as rec:
        rec.write("out", "text", '{"jsonrpc":"2.0","id":1,"method":"public/test"}', 1)
        rec.write("in", "text", b'{"jsonrpc":"2.0","id":1,"result":{}}', 1)
        rec.write("in", "binary", b"\x00\xffbin", 1)
        rec.write("out", "ping", b"hb", 1)
        rec.write("in", "pong", b"hb", 1)
        rec.write("in", "close", None, 1, code=1001, reason="going away")
        rec.write("out", "text", "h\u00e9llo \U0001f600", 2)
    recs = lines(p)
    head, *frames, foot = recs
    assert head["type"] == "header" and head["zenws"] == zenws.__version__
    assert head["url"] == "wss://example.test/ws" and head["metadata"] == {"strategy": "mm1"}
    assert TS_RE.match(head["start"])
    assert foot == {**foot, "type": "footer", "frames": 7, "dropped": 0}
    assert [(f["dir"], f["type"], f["epoch"]) for f in frames] == [
        ("out", "text", 1),
        ("in", "text", 1),
        ("in", "binary", 1),
        ("out", "ping", 1),
        ("in", "pong", 1),
        ("in", "close", 1),
        ("out", "text", 2),
    ]
    assert all(TS_RE.match(f["ts"]) for f in frames)
    monos = [f["mono_ns"] for f in frames]
    assert monos == sorted(monos) and monos[0] >= 0
    assert frames[1]["data"] == '{"jsonrpc":"2.0","id":1,"result":{}}'
    assert base64.b64decode(frames[2]["data"]) == b"\x00\xffbin"
    assert frames[5]["code"] == 1001 and frames[5]["reason"] == "going away"
    got, errors = read_recording(p)
    assert errors == []
    assert got[2].data == b"\x00\xffbin" and got[3].data == b"hb"
    assert got[6].data == "h\u00e9llo \U0001f600" and got[5].data is None


def test_mutable_payload_is_copied_and_invalid_utf8_kept(tmp_path: Path) -> None:
    p = tmp_path / "s.jsonl"
    buf = bytearray(b"abc")
    with Recorder(p, flush_interval=10) as rec:
        rec.write("in", "binary", buf, 1)
        rec.write("in", "binary", memoryview(buf)[1:], 1)
        buf[:] = b"XYZ"
        rec.write("in", "text", b"\xff\xfe not utf-8", 1)
    frames, errors = read_recording(p)
    assert errors == []
    assert [f.data for f in frames] == [b"abc", b"bc", b"\xff\xfe not utf-8"]


def test_bad_arguments_are_rejected(tmp_path: Path) -> None:
    with Recorder(tmp_path / "s.jsonl") as rec:
        with pytest.raises(ValueError, match="direction/kind"):
            rec.write("sideways", "text", "x", 1)
        with pytest.raises(ValueError, match="direction/kind"):
            rec.write("in", "continuation", "x", 1)
    with pytest.raises(ValueError):
        Recorder(tmp_path / "t.jsonl", buffer_size=0)
    with pytest.raises(ValueError):
        Recorder(tmp_path / "t.jsonl", rotate_bytes=10)


def test_write_after_close_is_ignored(tmp_path: Path) -> None:
    p = tmp_path / "s.jsonl"
    rec = Recorder(p)
    rec.write("in", "text", "a", 1)
    rec.close()
    rec.close()  # idempotent
    rec.write("in", "text", "b", 1)
    assert rec.closed and rec.dropped == 0
    assert metadata(p).frames == 1


def test_flush_on_entry_count(tmp_path: Path) -> None:
    p = tmp_path / "s.jsonl"
    rec = Recorder(p, flush_interval=60, flush_entries=10)
    try:
        for i in range(10):
            rec.write("in", "text", str(i), 1)
        assert wait_for(lambda: len(p.read_bytes().splitlines()) == 11)
    finally:
        rec.close()


def test_flush_on_interval(tmp_path: Path) -> None:
    p = tmp_path / "s.jsonl"
    rec = Recorder(p, flush_interval=0.05, flush_entries=1000)
    try:
        rec.write("in", "text", "one", 1)
        assert wait_for(lambda: b'"one"' in p.read_bytes())
        assert rec.written == 1
    finally:
        rec.close()


def test_full_buffer_drops_counts_and_reports(tmp_path: Path) -> None:
    p = tmp_path / "s.jsonl"
    rec = Recorder(p, flush_interval=60, flush_entries=10_000, buffer_size=5)
    for i in range(12):
        rec.write("out", "text", str(i), 1)
    assert rec.dropped == 7
    with pytest.warns(RecordingDropWarning, match="7 frame"):
        rec.close()
    recs = lines(p)
    assert [r["data"] for r in recs if "dir" in r] == ["0", "1", "2", "3", "4"]
    assert {"type": "dropped", "count": 7, "total": 7}.items() <= recs[-2].items()
    assert recs[-1]["type"] == "footer" and recs[-1]["dropped"] == 7
    assert metadata(p).dropped == 7


def test_garbage_collected_recorder_is_flushed(tmp_path: Path) -> None:
    p = tmp_path / "s.jsonl"
    rec = Recorder(p, flush_interval=60)
    rec.write("in", "text", "kept", 1)
    del rec
    gc.collect()
    assert wait_for(lambda: p.read_bytes().endswith(b"\n") and lines(p)[-1]["type"] == "footer")
    assert metadata(p).frames == 1


CHILD = """
import sys, time
from zenws.recorder import Recorder
rec = Recorder(sys.argv[1], flush_interval=60, flush_entries=10**9)
for i in range(5000):
    rec.write("in" if i % 2 else "out", "text", '{"n":%d}' % i, 1)
if sys.argv[2] == "close-then-wait":
    rec.close()
    print("closed", flush=True)
    time.sleep(60)
"""


def test_normal_exit_without_close_writes_everything(tmp_path: Path) -> None:
    p = tmp_path / "s.jsonl"
    subprocess.run([sys.executable, "-c", CHILD, str(p), "exit"], check=True, timeout=60)
    meta = metadata(p)
    assert meta.errors == [] and meta.complete
    assert meta.frames == 5000
    assert meta.counts["out"]["text"] == 2500 and meta.counts["in"]["text"] == 2500


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_sigkill_after_close_leaves_complete_file(tmp_path: Path) -> None:
    p = tmp_path / "s.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(p), "close-then-wait"], stdout=subprocess.PIPE
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == b"closed"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    meta = metadata(p)
    assert meta.errors == [] and meta.complete and meta.frames == 5000
    frames, _ = read_recording(p)
    assert [orjson.loads(f.data)["n"] for f in frames] == list(range(5000))


def test_sessions_append_and_epochs(tmp_path: Path) -> None:
    p = tmp_path / "s.jsonl"
    with Recorder(p, url="wss://a.test/") as rec:
        rec.write("out", "text", "a", 1)
        rec.write("out", "text", "b", 2)  # same recorder across a reconnect
    with Recorder(p, url="wss://a.test/") as rec:
        rec.write("out", "text", "c", 1)
    meta = metadata(p)
    assert len(meta.sessions) == 2 and meta.complete and meta.frames == 3
    assert meta.epochs == [1, 2]
    frames, _ = read_recording(p)
    assert [(f.session, f.epoch, f.data) for f in frames] == [(0, 1, "a"), (0, 2, "b"), (1, 1, "c")]


def test_size_rotation(tmp_path: Path) -> None:
    p = tmp_path / "s.jsonl"
    with Recorder(p, rotate_bytes=4096, flush_entries=50) as rec:
        for i in range(400):
            rec.write("in", "text", f'{{"seq":{i},"pad":"{"x" * 40}"}}', 1)
    parts = sorted(tmp_path.iterdir())
    assert len(parts) >= 4
    order = [Path(f"{p}.{n}") for n in range(len(parts) - 1, 0, -1)] + [p]
    seqs = []
    for part in order:
        assert part.stat().st_size <= 4096
        recs = lines(part)
        assert recs[0]["type"] == "header" and recs[-1]["type"] == "footer"
        frames, errors = read_recording(part)
        assert errors == []
        seqs += [orjson.loads(f.data)["seq"] for f in frames]
    assert seqs == list(range(400))


def test_rotation_keeps_at_most_n_parts(tmp_path: Path) -> None:
    p = tmp_path / "s.jsonl"
    with Recorder(p, rotate_bytes=2048, rotate_keep=2, flush_entries=20) as rec:
        for i in range(300):
            rec.write("in", "text", f'{{"seq":{i},"pad":"{"y" * 30}"}}', 1)
    assert sorted(x.name for x in tmp_path.iterdir()) == ["s.jsonl", "s.jsonl.1", "s.jsonl.2"]
    frames, _ = read_recording(p)
    assert orjson.loads(frames[-1].data)["seq"] == 299


def test_secrets_never_reach_the_file(tmp_path: Path) -> None:
    p = tmp_path / "s.jsonl"
    auth = {
        "jsonrpc": "2.0",
        "id": 9,
        "method": "public/auth",
        "params": {
            "grant_type": "client_signature",
            "client_id": "cid",
            "client_secret": SECRET,
            "signature": SECRET,
            "nonce": "n1",
        },
    }
    result = {
        "jsonrpc": "2.0",
        "id": 9,
        "result": {"access_token": SECRET, "refresh_token": SECRET, "expires_in": 900},
    }
    nested = {"jsonrpc": "2.0", "method": "x", "params": {"a": [{"password": SECRET}]}}
    ticker = '{"jsonrpc":"2.0","method":"subscription","params":{"channel":"ticker.BTC","data":1}}'
    with Recorder(
        p,
        url=f"wss://user:{SECRET}@h.test/ws?access_token={SECRET}&depth=10",
        metadata={"headers": [("Authorization", f"Bearer {SECRET}")], "api_key": SECRET},
    ) as rec:
        rec.write("out", "text", orjson.dumps(auth), 1)
        rec.write("in", "text", orjson.dumps(result).decode(), 1)
        rec.write("out", "text", orjson.dumps(nested), 1)
        rec.write("out", "text", f'not json "token": "{SECRET}", tail', 1)
        rec.write("in", "text", ticker, 1)
    raw = p.read_bytes()
    assert SECRET.encode() not in raw
    frames, errors = read_recording(p)
    assert errors == []
    sent = frames[0].json()
    assert sent["params"]["client_secret"] == "***" and sent["params"]["client_id"] == "cid"
    assert sent["params"]["nonce"] == "n1" and sent["method"] == "public/auth"
    assert frames[1].json()["result"] == {
        "access_token": "***",
        "refresh_token": "***",
        "expires_in": 900,
    }
    assert frames[2].json()["params"]["a"][0]["password"] == "***"
    assert frames[3].data == 'not json "token": "***", tail'
    assert frames[4].data == ticker  # untouched byte for byte
    head = lines(p)[0]
    assert "depth=10" in head["url"] and head["metadata"]["headers"][0] == ["Authorization", "***"]


def test_redaction_can_be_disabled(tmp_path: Path) -> None:
    p = tmp_path / "s.jsonl"
    with Recorder(p, redact=False) as rec:
        rec.write("out", "text", '{"token":"visible"}', 1)
    assert read_recording(p)[0][0].data == '{"token":"visible"}'


def write_timed(p: Path, gaps_ms: list[int]) -> None:
    """Frames at known monotonic offsets: out/in pairs with the given RTTs."""
    t = time.monotonic_ns()
    with Recorder(p) as rec:
        for i, rtt in enumerate(gaps_ms):
            start = t + i * 10_000_000
            rec.write("out", "text", f'{{"jsonrpc":"2.0","id":{i},"method":"m"}}', 1, start)
            rec.write(
                "in",
                "text",
                f'{{"jsonrpc":"2.0","id":{i},"result":{i}}}',
                1,
                start + rtt * 1_000_000,
            )
        rec.write("out", "text", '{"jsonrpc":"2.0","id":99,"method":"never"}', 1, t + 50_000_000)


def test_metadata_counts_timing_and_latency(tmp_path: Path) -> None:
    p = tmp_path / "s.jsonl"
    write_timed(p, [1, 2, 3, 4])
    meta = metadata(p)
    assert meta.frames == 9 and meta.errors == [] and meta.complete
    assert meta.counts["out"]["text"] == 5 and meta.counts["in"]["text"] == 4
    assert meta.bytes["in"] == sum(
        len(f'{{"jsonrpc":"2.0","id":{i},"result":{i}}}') for i in range(4)
    )
    assert meta.latency["count"] == 4
    assert meta.latency["min"] == 1_000_000 and meta.latency["max"] == 4_000_000
    assert meta.latency["p50"] == 2_000_000 and meta.latency["p99"] == 4_000_000
    assert meta.unanswered == 1
    assert meta.duration_s == pytest.approx(0.050, abs=1e-6)
    assert meta.rate == pytest.approx(9 / 0.050, rel=1e-3)
    assert meta.first_ts is not None and meta.last_ts is not None and meta.first_ts < meta.last_ts


def corrupt(p: Path) -> None:
    with Recorder(p) as rec:
        for i in range(3):
            rec.write("in", "text", str(i), 1)
    with open(p, "ab") as f:
        f.write(b"{not json\n")
        f.write(b'{"ts":"x","mono_ns":1,"epoch":1,"dir":"in","type":"binary","data":"!!"}\n')
        f.write(b"[1,2]\n")
        f.write(b'{"ts":"x","mono_ns":1,"epoch":1,"dir":"in","type":"text","data":"ok"}\n')
        f.write(b'{"ts":"x","mono_ns":2,"epoch":1,"dir":"in","type":"te')  # torn last line


def test_corrupt_lines_are_reported_with_line_numbers(tmp_path: Path) -> None:
    p = tmp_path / "s.jsonl"
    corrupt(p)
    meta = metadata(p)
    assert [n for n, _ in meta.errors] == [6, 7, 8, 10]
    assert "invalid JSON" in meta.errors[0][1] and "base64" in meta.errors[1][1]
    assert "truncated" in meta.errors[3][1]
    assert meta.frames == 4
    seen: list[RecordedFrame] = []
    with pytest.raises(RecordingError) as ei:
        replay_sync(p, seen.append)
    assert [n for n, _ in ei.value.errors] == [6, 7, 8, 10]
    assert "line 6" in str(ei.value) and "line 10" in str(ei.value)
    assert [f.data for f in seen] == ["0", "1", "2"]  # stopped at the first bad line
    seen.clear()
    with pytest.warns(RuntimeWarning, match="4 corrupt line"):
        res = replay_sync(p, seen.append, strict=False)
    assert [f.data for f in seen] == ["0", "1", "2", "ok"] and len(res.errors) == 4


async def test_async_replay_order_filter_and_async_handler(tmp_path: Path) -> None:
    p = tmp_path / "s.jsonl"
    write_timed(p, [1, 1])
    got: list[tuple[str, str]] = []

    async def handler(f: RecordedFrame) -> None:
        got.append((f.dir, f.json()["id"]))

    res = await replay(p, handler)
    assert res.frames == 5 and res.sessions == 1
    assert got == [("out", 0), ("in", 0), ("out", 1), ("in", 1), ("out", 99)]
    inbound: list[RecordedFrame] = []
    res = await replay(p, inbound.append, directions=("in",))
    assert res.frames == 2 and all(f.dir == "in" for f in inbound)


async def test_replay_follows_recorded_timing(tmp_path: Path) -> None:
    p = tmp_path / "s.jsonl"
    t = time.monotonic_ns()
    with Recorder(p) as rec:
        for i in range(3):
            rec.write("in", "text", str(i), 1, t + i * 150_000_000)
    stamps: list[float] = []
    start = time.monotonic()
    await replay(p, lambda f: stamps.append(time.monotonic() - start), speed=1.0)
    assert stamps[2] >= 0.29  # 300 ms recorded span (lower bound only: machines may be slow)
    assert stamps[1] >= 0.14
    stamps.clear()
    start = time.monotonic()
    await replay(p, lambda f: stamps.append(time.monotonic() - start), speed=3.0)
    assert stamps[2] >= 0.09
    with pytest.raises(ValueError):
        await replay(p, print, speed=0)


def test_replay_sync_timing_lower_bound(tmp_path: Path) -> None:
    p = tmp_path / "s.jsonl"
    t = time.monotonic_ns()
    with Recorder(p) as rec:
        rec.write("in", "text", "a", 1, t)
        rec.write("in", "text", "b", 1, t + 200_000_000)
    start = time.monotonic()
    res = replay_sync(p, lambda f: None, speed=2.0)
    assert res.frames == 2 and time.monotonic() - start >= 0.09


def test_repr_hides_nothing_secret(tmp_path: Path) -> None:
    rec = Recorder(tmp_path / "s.jsonl", url=f"wss://h/?token={SECRET}")
    try:
        assert SECRET not in repr(rec) and "open" in repr(rec)
    finally:
        rec.close()
    assert "closed" in repr(rec)
    assert os.path.exists(tmp_path / "s.jsonl")


# -- the compiled encoder and ring (zenws.fast.jsonl) -------------------------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from zenws._redact import is_sensitive  # noqa: E402
from zenws.fast import jsonl  # noqa: E402
from zenws.recording.writer import _encode_entry  # noqa: E402

T0 = 1_000_000_000
WALL0 = 1_795_654_369_279_273_236

entries = st.one_of(
    st.tuples(
        st.integers(T0 - 10**6, T0 + 10**15),
        st.sampled_from(["in", "out"]),
        st.just("text"),
        st.one_of(st.text(), st.binary()),
        st.integers(0, 2**40),
        st.none(),
        st.just(""),
    ),
    st.tuples(
        st.integers(T0, T0 + 10**12),
        st.sampled_from(["in", "out"]),
        st.sampled_from(["binary", "ping", "pong"]),
        st.binary(),
        st.integers(0, 99),
        st.none(),
        st.just(""),
    ),
    st.tuples(
        st.integers(T0, T0 + 10**12),
        st.sampled_from(["in", "out"]),
        st.just("close"),
        st.none(),
        st.integers(0, 99),
        st.one_of(st.none(), st.integers(1000, 4999)),
        st.text(max_size=40),
    ),
    st.tuples(
        st.integers(T0, T0 + 10**9),
        st.just("out"),
        st.just("text"),
        st.builds(
            lambda k, v: orjson.dumps({"params": {k: v, "x": [1, '\\"']}}),
            st.sampled_from(["access_token", "apiKey", "amount", "Signature", "id"]),
            st.text(max_size=20),
        ),
        st.just(1),
        st.none(),
        st.just(""),
    ),
)


def test_compiled_encoder_is_loaded() -> None:
    assert jsonl.__file__.endswith((".so", ".pyd"))


@settings(max_examples=400, deadline=None)
@given(st.lists(entries, max_size=12), st.booleans())
def test_c_encoder_matches_python_reference(batch: list[tuple], redact: bool) -> None:
    def ref(e: tuple) -> bytes:
        return _encode_entry(e, T0, WALL0, redact)

    assert jsonl.encode_batch(batch, T0, WALL0, redact, ref) == b"".join(map(ref, batch))
    for e in batch:
        one = jsonl.encode_frame(
            e[0] - T0, WALL0 + e[0] - T0, e[4], e[1], e[2], e[3], e[5], e[6], redact
        )
        assert one is None or one == ref(e)


@given(st.text(min_size=1, max_size=30))
def test_secret_key_scan_covers_is_sensitive(key: str) -> None:
    doc = orjson.dumps({key: 1, "other": "token"})
    if is_sensitive(key):
        assert jsonl.has_secret_key(doc)
    assert not jsonl.has_secret_key(b'{"a":"token","b":["secret"],"c":"\\"key\\":"}')


def test_frame_queue_ring() -> None:
    woken: list[int] = []
    q = jsonl.FrameQueue(4, 3, lambda: woken.append(1))
    for i in range(3):
        q.push("in", "text", str(i), 1, i)
    assert woken == [1] and len(q) == 3
    assert [e[3] for e in q.pop_batch(2)] == ["0", "1"]
    for i in range(3, 7):
        q.push("out", "binary", bytearray(b"b%d" % i), 2, i)
    assert q.dropped == 1 and len(q) == 4  # 2, 3, 4, 5 held; 6 dropped
    got = q.pop_batch(10)
    assert [e[3] for e in got] == ["2", b"b3", b"b4", b"b5"] and len(q) == 0
    assert got[1] == (3, "out", "binary", b"b3", 2, None, "")
    with pytest.raises(ValueError):
        q.push("up", "text", "x", 1)
    q.close()
    q.push("in", "text", "late", 1)
    assert len(q) == 0 and q.dropped == 1
    with pytest.raises(ValueError):
        jsonl.FrameQueue(0, 1, print)


async def test_aclose_off_the_loop(tmp_path: Path) -> None:
    p = tmp_path / "s.jsonl"
    rec = Recorder(p, fsync=True)
    rec.write("in", "text", "x", 1)
    await rec.aclose()
    await rec.aclose()
    assert rec.closed and metadata(p).complete and metadata(p).frames == 1


def test_harmless_lookalike_keys_stay_byte_exact(tmp_path: Path) -> None:
    p = tmp_path / "s.jsonl"
    frame = '{"jsonrpc": "2.0", "method": "x", "params": {"signal": 1, "design": ["a"]}}'
    with Recorder(p) as rec:
        rec.write("in", "text", frame, 1)
    assert read_recording(p)[0][0].data == frame  # spaces kept: not re-serialized


@given(st.integers(0, 2**63 - 1))
def test_c_timestamps_match_python(wall_ns: int) -> None:
    from zenws.recording.writer import format_ts

    line = jsonl.encode_frame(0, wall_ns, 1, "in", "ping", b"", None, "", False)
    assert line is not None and orjson.loads(line)["ts"] == format_ts(wall_ns)


# -- the C arena and the GIL-free writer ---------------------------------------------------------

import errno  # noqa: E402
import random  # noqa: E402
import threading  # noqa: E402

ARENA = 65536  # the smallest arena


def _payload(rng: random.Random, i: int) -> tuple[str, object]:
    kind = rng.choice(["text", "text", "binary", "ping", "pong", "close"])
    size = rng.choice([0, 1, 7, 15, 16, 17, 100, 1000, 3000])
    if kind == "text":
        body = f'{{"seq":{i},"pad":"' + 'é"\\\n'[rng.randrange(4)] * size + '"}'
        return kind, body if rng.random() < 0.5 else body.encode()
    if kind == "close":
        return kind, None
    return kind, rng.randbytes(size)


def test_arena_wraps_around_and_keeps_every_frame_in_order() -> None:
    rng = random.Random(7)
    q = jsonl.FrameQueue(10**6, 10**9, None, ARENA)
    assert q.arena_bytes == ARENA
    pushed: list[tuple] = []
    popped: list[tuple] = []
    for i in range(3000):
        kind, payload = _payload(rng, i)
        code = rng.choice([None, 1000, 4001]) if kind == "close" else None
        reason = "bye é" * rng.randrange(3) if kind == "close" else ""
        before = q.dropped
        q.push("out" if i % 2 else "in", kind, payload, i % 5, i, code, reason)
        if q.dropped != before:  # the arena was full: this frame is counted, never half-kept
            continue
        if kind == "close":
            pushed.append((i, "out" if i % 2 else "in", kind, b"", i % 5, code, reason))
        else:
            pushed.append((i, "out" if i % 2 else "in", kind, payload, i % 5, None, ""))
        if rng.random() < 0.3:
            popped += q.pop_batch(rng.randrange(1, 20))
    popped += q.pop_batch(10**6)
    assert len(q) == 0 and len(pushed) > 2500 and len(pushed) + q.dropped == 3000
    assert popped == pushed  # every byte, kind, direction, epoch, code and reason, in order


def test_arena_drain_to_a_file_matches_the_python_encoder(tmp_path: Path) -> None:
    rng = random.Random(11)
    q = jsonl.FrameQueue(10**6, 10**9, None, ARENA)
    fd = os.open(tmp_path / "d.jsonl", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    want: list[bytes] = []
    size = 0
    try:
        for i in range(2000):
            kind, payload = _payload(rng, i)
            before = q.dropped
            if kind == "close":
                q.push("in", kind, None, 1, T0 + i, 1000, "x")
                entry = (T0 + i, "in", kind, None, 1, 1000, "x")
            else:
                q.push("in", kind, payload, 1, T0 + i)
                entry = (T0 + i, "in", kind, payload, 1, None, "")
            if q.dropped == before:
                want.append(_encode_entry(entry, T0, WALL0, False))
            if rng.random() < 0.3:
                status, _, size = q.drain(fd, T0, WALL0, False, size, -1, False, 10**6)
                assert status == jsonl.DRAIN_DONE
        status, _, size = q.drain(fd, T0, WALL0, False, size, -1, False, 10**6)
        assert status == jsonl.DRAIN_DONE and q.written == len(want) > 1500
    finally:
        os.close(fd)
    assert (tmp_path / "d.jsonl").read_bytes() == b"".join(want)


def test_full_arena_drops_are_counted_and_reported(tmp_path: Path) -> None:
    q = jsonl.FrameQueue(10**6, 10**9, None, ARENA)
    for i in range(200):
        q.push("in", "binary", bytes([i]) * 1000, 1, i)
    held = len(q)
    assert 0 < held < 200 and q.dropped == 200 - held
    got = q.pop_batch(1000)
    assert [e[3] for e in got] == [bytes([i]) * 1000 for i in range(held)]  # the oldest kept
    q.push("in", "binary", b"after", 1, 0)  # room again
    assert q.pop_batch(1)[0][3] == b"after" and q.dropped == 200 - held


def _record_into_a_stalled_pipe(tmp_path: Path, n: int = 1000) -> tuple[Path, int]:
    """Record ``n`` ~1 KB frames into a pipe nobody reads until the frames are queued.

    Once the pipe's buffer is full the writer thread blocks in write(2), the arena fills
    up and further frames are dropped, however fast or slow this machine is.  Returns the
    recording (copied into a file) and the number of dropped frames.
    """
    fifo = tmp_path / "pipe.jsonl"
    os.mkfifo(fifo)
    rfd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # lets the recorder open it for writing
    rec = Recorder(fifo, flush_interval=0.01, flush_entries=1, buffer_bytes=ARENA)
    pad = "z" * 990
    chunks: list[bytes] = []
    reader = threading.Thread(
        target=lambda: chunks.extend(iter(lambda: os.read(rfd, 1 << 16), b""))
    )
    for i in range(n):  # ~1 MB: far more than the pipe (64 KiB) and the arena (64 KiB)
        rec.write("in", "text", f'{{"n":{i},"pad":"{pad}"}}', 1)
        if i % 100 == 99:
            time.sleep(0.01)  # let the writer fill the pipe and block
    dropped = rec.dropped
    os.set_blocking(rfd, True)
    reader.start()
    rec.close()
    reader.join(10)
    os.close(rfd)
    assert rec.error is None
    p = tmp_path / "s.jsonl"
    p.write_bytes(b"".join(chunks))
    return p, dropped


def _check_dropped_recording(p: Path, n: int, dropped: int) -> None:
    frames, errors = read_recording(p)
    assert dropped > 0 and errors == [] and len(frames) == n - dropped
    kept = [orjson.loads(f.data)["n"] for f in frames]
    assert kept == sorted(set(kept)) and kept[0] == 0  # in order, no duplicates
    assert metadata(p).dropped == dropped


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_drops_are_reported_in_the_file_and_warned(tmp_path: Path) -> None:
    with pytest.warns(RecordingDropWarning):  # from the writer thread, whenever it reports
        p, dropped = _record_into_a_stalled_pipe(tmp_path)
    _check_dropped_recording(p, 1000, dropped)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_warnings_as_errors_do_not_stop_the_recording(tmp_path: Path) -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # python -W error: warn() raises, in every thread
        p, dropped = _record_into_a_stalled_pipe(tmp_path)
    _check_dropped_recording(p, 1000, dropped)  # the footer is there: the writer went on
    assert orjson.loads(p.read_bytes().splitlines()[-1])["type"] == "footer"


def test_frames_larger_than_the_arena_are_kept_whole(tmp_path: Path) -> None:
    p = tmp_path / "s.jsonl"
    big_text = '{"blob":"' + "q" * 300_000 + '"}'
    big_bin = bytearray(os.urandom(200_000))
    original = bytes(big_bin)
    with Recorder(p, buffer_bytes=ARENA) as rec:
        rec.write("out", "text", "before", 1)
        rec.write("in", "text", big_text, 1)
        rec.write("in", "binary", big_bin, 1)
        big_bin[:4] = b"XXXX"  # a mutable buffer is copied at write()
        rec.write("in", "text", big_text.encode(), 1)
        rec.write("out", "text", "after", 1)
        assert rec.dropped == 0
    frames, errors = read_recording(p)
    assert errors == []
    assert [f.data for f in frames[:2]] == ["before", big_text]
    assert frames[2].data == original
    assert [f.data for f in frames[3:]] == [big_text, "after"]


def test_a_frame_of_a_quarter_arena_or_more_is_held_not_dropped() -> None:
    q = jsonl.FrameQueue(100, 10**9, None, ARENA)
    big = [bytes([i]) * n for i, n in enumerate((ARENA // 4, ARENA - 100, ARENA, 3 * ARENA))]
    for b in big:
        q.push("in", "binary", bytearray(b), 1, 0)  # copied to bytes, then held by reference
    q.push("in", "text", "small", 1, 0)
    assert q.dropped == 0
    assert [e[3] for e in q.pop_batch(10)] == [*big, "small"]


def test_redaction_in_the_middle_of_a_batch_keeps_the_order(tmp_path: Path) -> None:
    p = tmp_path / "s.jsonl"
    sent = []
    with Recorder(p, flush_interval=60, flush_entries=10**6) as rec:
        for i in range(300):
            if i in (100, 101, 250):
                text = orjson.dumps({"id": i, "params": {"client_secret": SECRET}}).decode()
            elif i == 200:
                text = '{"id":200,"p":{"\\u0074oken":"' + SECRET + '"}}'  # escaped key
            else:
                text = f'{{"id":{i},"params":{{"signal":"{"w" * (i % 50)}"}}}}'
            sent.append(text)
            rec.write("out", "text", text, 1)
    assert SECRET.encode() not in p.read_bytes()
    frames, errors = read_recording(p)
    assert errors == []
    assert [orjson.loads(f.data)["id"] for f in frames] == list(range(300))
    for i, f in enumerate(frames):
        if i not in (100, 101, 200, 250):
            assert f.data == sent[i]  # byte for byte


def test_rotation_in_the_middle_of_a_batch(tmp_path: Path) -> None:
    p = tmp_path / "s.jsonl"
    rec = Recorder(p, rotate_bytes=4096, flush_interval=60, flush_entries=10**6)
    for i in range(500):
        rec.write("in", "text", f'{{"seq":{i},"pad":"{"r" * (i % 97)}"}}', 1)
    rec.write("in", "text", orjson.dumps({"seq": 500, "password": SECRET}).decode(), 1)
    rec.close()  # one drain: rotations happen inside it
    parts = [Path(f"{p}.{n}") for n in range(len(list(tmp_path.iterdir())) - 1, 0, -1)] + [p]
    assert len(parts) > 10
    seqs = []
    for part in parts:
        assert part.stat().st_size <= 4096
        frames, errors = read_recording(part)
        assert errors == [] and lines(part)[-1]["type"] == "footer"
        seqs += [orjson.loads(f.data)["seq"] for f in frames]
    assert seqs == list(range(501))
    assert SECRET.encode() not in b"".join(x.read_bytes() for x in parts)


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")
def test_write_error_stops_the_writer_without_a_hang(tmp_path: Path) -> None:
    p = tmp_path / "s.jsonl"
    rec = Recorder(p, flush_interval=0.05, flush_entries=10)
    full = os.open("/dev/full", os.O_WRONLY)
    try:
        os.dup2(full, rec._writer.fd)  # every further write(2) fails with ENOSPC
    finally:
        os.close(full)
    for i in range(50):
        rec.write("in", "text", f"frame {i}", 1)
    assert wait_for(lambda: rec.error is not None)
    assert isinstance(rec.error, OSError) and rec.error.errno == errno.ENOSPC
    for _ in range(50):
        rec.write("in", "text", "still accepted, never blocks", 1)
    t = time.monotonic()
    rec.close()
    assert time.monotonic() - t < 5 and rec.closed


def test_write_fd_reports_errors() -> None:
    r, w = os.pipe()
    os.close(r)
    try:
        with pytest.raises(OSError):
            jsonl.write_fd(w, b"x" * 10)  # EPIPE (SIGPIPE is ignored by Python)
    finally:
        os.close(w)
    with pytest.raises(OSError):
        jsonl.write_fd(987654, b"x")  # EBADF


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity"), reason="Linux CPU affinity")
def test_writer_cpu_pins_the_writer_thread(tmp_path: Path) -> None:
    cpu = max(os.sched_getaffinity(0))
    with Recorder(tmp_path / "s.jsonl", writer_cpu=cpu) as rec:
        native = rec._writer.thread.native_id
        assert native is not None and os.sched_getaffinity(native) == {cpu}
        assert os.sched_getaffinity(0) != {cpu} or len(os.sched_getaffinity(0)) == 1
        rec.write("in", "text", "pinned", 1)
    assert read_recording(tmp_path / "s.jsonl")[0][0].data == "pinned"


def test_writer_cpu_out_of_range_is_rejected(tmp_path: Path) -> None:
    for bad in (-1, (os.cpu_count() or 1), 10_000, "0"):
        with pytest.raises(ValueError, match="writer_cpu"):
            Recorder(tmp_path / "s.jsonl", writer_cpu=bad)  # type: ignore[arg-type]
    assert not (tmp_path / "s.jsonl").exists()


def test_concurrent_push_while_the_writer_drains(tmp_path: Path) -> None:
    p = tmp_path / "s.jsonl"
    rng = random.Random(3)
    sent: list[tuple[str, object]] = []
    with Recorder(p, flush_entries=16, flush_interval=0.001, buffer_bytes=32 << 20) as rec:
        for i in range(20_000):
            kind = rng.choice(["text", "binary"])
            n = rng.choice([1, 30, 300, 3000])
            data: object = f'{{"i":{i},"s":"{"k" * n}"}}' if kind == "text" else rng.randbytes(n)
            rec.write("out", kind, data, 1 + i // 5000)
            sent.append((kind, data))
            if i % 1000 == 0:
                time.sleep(0.001)  # let the writer catch up mid-stream, then race it again
        assert rec.dropped == 0
    frames, errors = read_recording(p)
    assert errors == [] and metadata(p).complete
    assert [(f.type, f.data) for f in frames] == sent
    assert [f.epoch for f in frames] == [1 + i // 5000 for i in range(20_000)]


def test_a_concurrent_producer_thread_and_flush(tmp_path: Path) -> None:
    p = tmp_path / "s.jsonl"
    rec = Recorder(p, flush_entries=10**6, flush_interval=60)

    def produce() -> None:
        for i in range(5000):
            rec.write("in", "text", f'{{"t":{i}}}', 7)

    t = threading.Thread(target=produce)
    t.start()
    t.join()
    rec.flush()  # wakes the sleeping writer at once
    assert wait_for(lambda: rec.written == 5000)
    rec.close()
    frames, _ = read_recording(p)
    assert [orjson.loads(f.data)["t"] for f in frames] == list(range(5000))


PIECES = '" \\ : { } , a token Key SIG é \u212a x auth pass \n cookie secretive credential'
texts = st.lists(st.sampled_from([*PIECES.split(" "), " "]), max_size=40).map("".join)


@settings(max_examples=500, deadline=None)
@given(texts)
def test_fused_key_scan_agrees_with_has_secret_key(text: str) -> None:
    line = jsonl.encode_frame(0, WALL0, 1, "in", "text", text, None, "", True)
    assert (line is None) == jsonl.has_secret_key(text)
    plain = jsonl.encode_frame(0, WALL0, 1, "in", "text", text, None, "", False)
    assert plain is not None and orjson.loads(plain)["data"] == text
    if line is not None:
        assert line == plain


@given(st.text(min_size=1, max_size=12), st.sampled_from(["", " ", "\t\n "]))
def test_escaped_and_unicode_folded_keys_are_suspicious(key: str, ws: str) -> None:
    raw = orjson.dumps({key: 1}).decode()
    docs = [raw, "{" + orjson.dumps(key).decode() + ws + ":1}"]
    c = key[0]
    if c not in '"\\' and 0x20 <= ord(c) < 0xD800:  # the same key, first letter escaped
        docs.append('{"' + f"\\u{ord(c):04x}" + raw[3:])
    for doc in docs:
        assert orjson.loads(doc) == {key: 1}
        if is_sensitive(key):
            assert jsonl.has_secret_key(doc), doc
    assert jsonl.has_secret_key('{"\\u0074oken":1}') and jsonl.has_secret_key('{"\u212aey":1}')
    assert is_sensitive("\u212aey")


keyed_docs = st.lists(
    st.dictionaries(
        st.one_of(
            st.sampled_from(["id", "jsonrpc", "token", "Key", "apiKEY", "sig", "x"]),
            st.text(max_size=20),
        ),
        st.integers(0, 9),
        max_size=4,
    ).map(lambda d: orjson.dumps(d).decode()),
    min_size=1,
    max_size=60,
)


@settings(max_examples=150, deadline=None)
@given(keyed_docs)
def test_the_writers_key_cache_never_hides_a_secret_key(docs: list[str]) -> None:
    q = jsonl.FrameQueue(10**6, 10**9, None)
    for i, doc in enumerate(docs * 2):  # twice: the second pass hits the cache
        q.push("in", "text", doc, 1, i)
    sent_to_python = []
    with open(os.devnull, "wb") as f:
        while len(q):
            status, _, _ = q.drain(f.fileno(), 0, WALL0, True, 0, -1, False, 10**6)
            if status == jsonl.DRAIN_PYTHON:
                sent_to_python.append(q.pop_batch(1)[0][0])
    assert sent_to_python == [i for i, d in enumerate(docs * 2) if jsonl.has_secret_key(d)]
