"""The hand-written C units (ext/): each compiled into one extension, one CPU dispatcher.

- Every global function a unit defines is in exactly one built extension, the one
  ``setup.py`` (``C_SOURCES``) puts the unit in: read from the symbol tables of the built
  ``.so`` files with ``nm``, so a unit compiled twice (or a header that grew a copy of it)
  fails here.
- ``build_info()`` reports the CPU/kernel environment scheme in effect: the features the
  one detector found, the variables it read and which dispatcher each of them decided.
- The JSON string unit's copy loops (ext/zenws_jstr.c) serve both the encoder and the
  JSONL writer: each JSON string kernel gives byte-identical output to orjson / the Python
  JSONL encoder, around the kernels' block sizes and at every stop position.
"""

from __future__ import annotations

import ast
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

import zenws
from zenws.fast import frame, jsonl, jsonrpc
from zenws.recording.writer import _encode_entry

REPO = Path(__file__).resolve().parents[2]

# A definition of a global function at the start of a line: "<type> zenws_x(" with no
# "static" (or a *_INLINE macro for "static inline") and no ";" (a prototype) on that line.
_DEFINITION = re.compile(
    r"^(?!static\b)(?![A-Z_]*INLINE\b)(?![ #/*])[A-Za-z_][\w\s\*]*?\b(zenws_\w+)\([^;]*$"
)


def _c_sources() -> dict[str, list[str]]:
    tree = ast.parse((REPO / "setup.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", "") == "C_SOURCES":
            value: dict[str, list[str]] = ast.literal_eval(node.value)  # type: ignore[arg-type]
            return value
    raise AssertionError("C_SOURCES not found in setup.py")


def _defined(unit: Path) -> set[str]:
    return {m.group(1) for line in unit.read_text().splitlines() if (m := _DEFINITION.match(line))}


def _symbols(shared_object: str) -> set[str]:
    out = subprocess.run(
        ["nm", "--defined-only", shared_object], capture_output=True, text=True, check=True
    ).stdout
    names = set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] in "Tt":
            names.add(parts[2].lstrip("_") if sys.platform == "darwin" else parts[2])
    return names


def test_every_unit_is_listed_once() -> None:
    sources = _c_sources()
    listed = [s for unit in sources.values() for s in unit]
    assert len(listed) == len(set(listed)), listed
    on_disk = sorted(str(p.relative_to(REPO)) for p in (REPO / "ext").glob("*.c"))
    assert sorted(listed) == on_disk
    # the dispatcher and the JSON string unit are where the headers say they are
    assert "ext/zenws_cpu.c" in sources["frame"]
    assert "ext/zenws_jstr.c" in sources["jsonrpc"]


@pytest.mark.skipif(shutil.which("nm") is None, reason="needs binutils' nm")
def test_each_unit_is_compiled_into_exactly_one_extension() -> None:
    extensions = zenws.build_info()["extensions"]
    symbols = {name: _symbols(path) for name, path in extensions.items()}
    for owner, units in _c_sources().items():
        for unit in units:
            defined = _defined(REPO / unit)
            assert defined, unit
            for function in sorted(defined):
                holders = sorted(name for name, names in symbols.items() if function in names)
                assert holders == [owner], (unit, function, holders)


# ---- the CPU detector's environment scheme, as build_info() reports it

_REPORT = (
    "import json, zenws\n"
    "i = zenws.build_info()\n"
    "print(json.dumps({k: i[k] for k in ('cpu_env', 'overrides', 'kernels',"
    " 'kernels_available', 'cpu_features')}))\n"
)


def _report(**env: str) -> dict[str, dict[str, str]]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k != "ZENWS_CPU" and not k.startswith("ZENWS_KERNEL_") and not k.endswith("_KERNEL")
    }
    out = subprocess.run(
        [sys.executable, "-c", _REPORT],
        env={**clean, **env},
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    result: dict[str, dict[str, str]] = json.loads(out.stdout)
    return result


def test_no_environment_no_override() -> None:
    got = _report()
    assert got["cpu_env"] == {} and got["overrides"] == {}
    bits = frame._cpu_features()
    features = {"sse2": 0x01, "sse4.2": 0x02, "avx2": 0x04, "avx512": 0x08, "pclmulqdq": 0x10}
    features["neon"] = 0x20
    assert set(got["cpu_features"]) == {name for name, bit in features.items() if bits & bit}


def test_the_environment_in_effect_is_reported() -> None:
    available = zenws.build_info()["kernels_available"]
    scan = available["scan"][0]  # the portable one: every CPU runs it
    got = _report(
        ZENWS_CPU="sse2",
        ZENWS_KERNEL_SCAN=scan,
        ZENWS_UTF8_KERNEL="swar",
        ZENWS_KERNEL_MASK="bogus",
    )
    assert got["cpu_env"] == {
        "ZENWS_CPU": "sse2",
        "ZENWS_KERNEL_SCAN": scan,
        "ZENWS_UTF8_KERNEL": "swar",
        "ZENWS_KERNEL_MASK": "bogus",
    }
    assert got["kernels"]["scan"] == scan and got["kernels"]["utf8"] == "swar"
    overrides = got["overrides"]
    assert overrides["scan"] == "ZENWS_KERNEL_SCAN"
    assert overrides["utf8"] == "ZENWS_UTF8_KERNEL"
    # an unknown name decides nothing: the mask kernel is capped by ZENWS_CPU instead, when
    # this CPU has a wider one
    level = {"scalar64": 0, "sse2": 1, "neon": 1, "avx2": 2}
    widest_mask = max(level[k] for k in available["mask"])
    assert overrides.get("mask") == ("ZENWS_CPU" if widest_mask > 1 else None)
    assert got["kernels"]["mask"] in ("sse2", "neon", "scalar64")


# ---- the JSON string unit's copy loops, per kernel

_LENGTHS = [*range(0, 40), 47, 48, 49, 63, 64, 65, 95, 96, 97, 127, 128, 129, 200, 1000]
_STOPS = ['"', "\\", "\n", "\x01", "\x1f", "é", "\u20ac", "\U0001f600", "\x7f"]


def _texts() -> list[str]:
    out = []
    for n in _LENGTHS:
        body = "abcdefgh" * (n // 8 + 1)
        body = body[:n]
        out.append(body)
        for pos in sorted({0, n // 3, n // 2, n - 1, n} - {-1}):
            for stop in _STOPS:
                out.append(body[:pos] + stop + body[pos:])
        out.append(body + '"k":"v"' * 5 + body)
    return out


@contextlib.contextmanager
def _kernel(kernel: str) -> Iterator[bool]:
    """Run with this JSON string kernel; yields False (and checks that it is refused) when
    this CPU cannot run it."""
    if kernel not in jsonrpc._json_kernels():
        with pytest.raises(ValueError):
            jsonrpc._set_json_kernel(kernel)
        yield False
        return
    before = jsonrpc._set_json_kernel(kernel)
    try:
        yield True
    finally:
        jsonrpc._set_json_kernel(before)


@pytest.mark.parametrize("json_kernel", ["swar", "sse2", "avx2"])
def test_encoder_copy_loops_match_orjson(json_kernel: str) -> None:
    with _kernel(json_kernel) as runs:
        if runs:
            _check_encoder(json_kernel)


def _check_encoder(json_kernel: str) -> None:
    for text in _texts():
        value = {text: [text, {"k": text}]}
        assert jsonrpc.dumps(value) == orjson.dumps(value), (json_kernel, text)


@pytest.mark.parametrize("json_kernel", ["swar", "sse2", "avx2"])
def test_jsonl_copy_loops_match_the_python_encoder(json_kernel: str) -> None:
    with _kernel(json_kernel) as runs:
        if runs:
            _check_jsonl(json_kernel)


def _check_jsonl(json_kernel: str) -> None:
    t0, wall0 = 1_000_000_000, 1_795_654_369_279_273_236
    for text in _texts():
        raw = text.encode()
        for payload in (text, raw, raw + b"\xff" + raw, raw[:-1] if raw[-1:] >= b"\x80" else raw):
            entry = (t0 + 5, "in", "text", payload, 1, None, "")
            want = _encode_entry(entry, t0, wall0, False)
            got = jsonl.encode_frame(5, wall0 + 5, 1, "in", "text", payload, None, "", False)
            assert got is None or got == want, (json_kernel, payload)
            batch = jsonl.encode_batch(
                [entry], t0, wall0, False, lambda e: _encode_entry(e, t0, wall0, False)
            )
            assert batch == want, (json_kernel, payload)
