"""atheris harness for the recording parser (zenws.recorder.read_recording / metadata).

Run:  python tests/fuzz/fuzz_recorder.py -max_total_time=60 [corpus_dir]

Each input becomes a JSONL recording: arbitrary bytes, or well-formed lines (header,
text/binary/ping/pong/close frames, dropped, footer) of which some are mangled
(fuzzed bytes, wrong field types, bad base64, a torn last line).  Checked: neither
function raises; every line is a frame, a bookkeeping line or an error with its
line number; the well-formed frames come back with exactly the fields written
(text, base64 payloads, invalid UTF-8 flag, close code/reason); ``metadata``
agrees with ``read_recording`` on frames and errors.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import tempfile

import atheris
import orjson

with atheris.instrument_imports():
    from zenws.recorder import metadata, read_recording

_DIR = "/dev/shm" if os.path.isdir("/dev/shm") else tempfile.gettempdir()
PATH = os.path.join(_DIR, f"zenws-fuzz-recorder-{os.getpid()}.jsonl")
KINDS = ["text", "binary", "ping", "pong", "close"]


@atheris.instrument_func
def good_line(fdp: atheris.FuzzedDataProvider, i: int) -> tuple[bytes, dict[str, object]]:
    kind = fdp.PickValueInList(KINDS)
    rec: dict[str, object] = {
        "ts": "2026-11-26T01:26:28.276845Z",
        "mono_ns": fdp.ConsumeIntInRange(0, 1 << 62),
        "epoch": fdp.ConsumeIntInRange(0, 5),
        "dir": fdp.PickValueInList(["in", "out"]),
        "type": kind,
    }
    raw = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 40))
    want: dict[str, object] = {"type": kind, "dir": rec["dir"], "epoch": rec["epoch"]}
    if kind == "close":
        rec["code"] = fdp.PickValueInList([None, 1000, 1002, 4000])
        rec["reason"] = raw.decode("utf-8", "replace")
        want.update(code=rec["code"], reason=rec["reason"])
    elif kind == "text":
        try:
            rec["data"] = raw.decode("utf-8")
            want["payload"] = rec["data"]
        except UnicodeDecodeError:
            rec["data"], rec["invalid_utf8"] = base64.b64encode(raw).decode(), True
            want["payload"] = raw
    else:
        rec["data"] = base64.b64encode(raw).decode()
        want["payload"] = raw
    return orjson.dumps(rec), want


@atheris.instrument_func
def bad_line(fdp: atheris.FuzzedDataProvider) -> bytes:
    choice = fdp.ConsumeIntInRange(0, 4)
    if choice == 0:
        return fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 60)).replace(b"\n", b" ")
    base = {"ts": "x", "mono_ns": 1, "epoch": 1, "dir": "in", "type": "binary", "data": "AA=="}
    key = fdp.PickValueInList([*sorted(base), "code", "reason", "invalid_utf8"])
    vals = [None, 1.5, -1, "", "!!", "in", "text", "close", [], {}, True, 1 << 70, "AA="]
    base[key] = fdp.PickValueInList(vals)
    if choice == 1:
        base["type"] = "close"
    return json.dumps(base).encode()


@atheris.instrument_func
def TestOneInput(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    expected: dict[int, dict[str, object]] = {}
    if fdp.ConsumeIntInRange(0, 3) == 0:
        blob = fdp.ConsumeBytes(fdp.remaining_bytes())
    else:
        lines = [b'{"type":"header","format":1,"url":"ws://x","start_wall_ns":1,"metadata":{}}']
        for _ in range(fdp.ConsumeIntInRange(0, 12)):
            if fdp.ConsumeIntInRange(0, 3) == 0:
                lines.append(bad_line(fdp))
            elif fdp.ConsumeIntInRange(0, 9) == 0:
                lines.append(fdp.PickValueInList([b'{"type":"dropped","total":3}', b"[]", b""]))
            else:
                line, want = good_line(fdp, len(lines) + 1)
                expected[len(lines) + 1] = want
                lines.append(line)
        lines.append(b'{"type":"footer","frames":0,"dropped":0}')
        blob = b"\n".join(lines) + (b"\n" if fdp.ConsumeIntInRange(0, 7) else b"")
    with open(PATH, "wb") as f:
        f.write(blob)
    frames, errors = read_recording(PATH)
    nlines = blob.count(b"\n") + (0 if blob.endswith(b"\n") or not blob else 1)
    seen = [f.line for f in frames] + [n for n, _ in errors]
    assert len(seen) == len(set(seen)) and all(1 <= n <= nlines for n in seen), (seen, nlines)
    assert [f.line for f in frames] == sorted(f.line for f in frames)
    torn = not blob.endswith(b"\n")
    by_line = {f.line: f for f in frames}
    for n, want in expected.items():
        if torn and n == nlines:
            continue  # a torn last line is reported as an error
        f = by_line[n]
        assert (f.type, f.dir, f.epoch) == (want["type"], want["dir"], want["epoch"]), n
        if want["type"] == "close":
            assert (f.code, f.reason) == (want["code"], want["reason"])
        else:
            assert f.data == want["payload"], (f.data, want)
    meta = metadata(PATH)
    assert meta.frames == len(frames) and sorted(meta.errors) == sorted(errors)


def main() -> None:
    atheris.Setup(sys.argv, TestOneInput)
    try:
        atheris.Fuzz()
    finally:
        if os.path.exists(PATH):
            os.unlink(PATH)


if __name__ == "__main__":
    main()
