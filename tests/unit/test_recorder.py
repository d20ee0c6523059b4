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

from zenws._recorder_writer import _encode_entry  # noqa: E402
from zenws._redact import is_sensitive  # noqa: E402
from zenws.fast import jsonl  # noqa: E402

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
    from zenws._recorder_writer import format_ts

    line = jsonl.encode_frame(0, wall_ns, 1, "in", "ping", b"", None, "", False)
    assert line is not None and orjson.loads(line)["ts"] == format_ts(wall_ns)
