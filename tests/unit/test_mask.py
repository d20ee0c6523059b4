"""Masking kernels (ext/zenws_mask.c) against a naive XOR, for every kernel."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from zenws.fast import frame as fr

KERNELS = fr.mask_kernels()
KEYS = [bytes([0x37, 0xFA, 0x21, 0x3D]), bytes([0x00, 0xFF, 0x80, 0x01])]
# Lengths 0-70 cover the byte heads/tails and 8/16/32-byte steps; the larger
# ones reach the unrolled 64-byte (SSE2/NEON) and 128-byte (AVX2) loops.
LENGTHS = [*range(71), 127, 128, 129, 131, 191, 255, 256, 300, 1031, 4099]
ALIGNMENTS = range(64)  # offsets into a bytearray: every position mod 32/64


def naive(data: bytes, key: bytes, phase: int) -> bytes:
    return bytes(b ^ key[(phase + i) % 4] for i, b in enumerate(data))


def test_kernel_list() -> None:
    assert KERNELS[0] == "scalar64"
    assert fr.mask_kernel() in KERNELS
    machine = os.uname().machine
    if machine in ("x86_64", "AMD64"):
        assert "sse2" in KERNELS
        with open("/proc/cpuinfo") as f:
            has_avx2 = " avx2" in f.read()
        assert ("avx2" in KERNELS) == has_avx2
        assert fr.mask_kernel() == ("avx2" if has_avx2 else "sse2")
    elif machine in ("aarch64", "arm64"):
        assert fr.mask_kernel() == "neon"


@pytest.mark.parametrize("kernel", KERNELS)
def test_kernel_vs_naive_every_length_alignment_key(kernel: str) -> None:
    data = os.urandom(4099 + 64)
    for key in KEYS:
        for phase in range(4):
            for n in LENGTHS:
                expected = naive(data[:n], key, phase)
                for align in ALIGNMENTS if n <= 300 else range(0, 64, 7):
                    buf = bytearray(64 + n + 64)
                    buf[align : align + n] = data[:n]
                    view = memoryview(buf)[align : align + n]
                    fr._apply_mask_kernel(kernel, view, key, phase)
                    assert buf[align : align + n] == expected, (kernel, n, align, phase)
                    # Bytes around the target are untouched (no over-read/-write).
                    assert not any(buf[:align]) and not any(buf[align + n :])


@pytest.mark.parametrize("kernel", KERNELS)
def test_kernel_in_pieces_equals_whole(kernel: str) -> None:
    # Masking a payload in two pieces with offset = position keeps the key phase.
    data = os.urandom(1000)
    whole = naive(data, KEYS[0], 0)
    for cut in (0, 1, 3, 5, 63, 64, 129, 999):
        buf = bytearray(data)
        fr._apply_mask_kernel(kernel, memoryview(buf)[:cut], KEYS[0], 0)
        fr._apply_mask_kernel(kernel, memoryview(buf)[cut:], KEYS[0], cut)
        assert bytes(buf) == whole


def test_apply_mask_dispatched_and_involution() -> None:
    data = os.urandom(70000)
    buf = bytearray(data)
    fr.apply_mask(buf, KEYS[0])
    assert bytes(buf[:300]) == naive(data[:300], KEYS[0], 0)
    assert bytes(buf[-300:]) == naive(data[-300:], KEYS[0], (70000 - 300) % 4)
    fr.apply_mask(buf, KEYS[0])
    assert bytes(buf) == data


def test_apply_mask_errors() -> None:
    with pytest.raises(TypeError):
        fr.apply_mask(b"read-only", KEYS[0])
    with pytest.raises(ValueError):
        fr.apply_mask(bytearray(4), b"abc")
    with pytest.raises(ValueError):
        fr.apply_mask(bytearray(4), KEYS[0], -1)
    with pytest.raises(ValueError):
        fr._apply_mask_kernel("avx1024", bytearray(4), KEYS[0])


def _run(env_value: str) -> list[str]:
    code = (
        "from zenws.fast import frame as fr\n"
        "b = bytearray(range(256)) * 3\n"
        "fr.apply_mask(memoryview(b)[3:], b'\\x01\\x02\\x03\\x04')\n"
        "exp = bytes(x ^ (1, 2, 3, 4)[i % 4] for i, x in enumerate((bytes(range(256)) * 3)[3:]))\n"
        "print(fr.mask_kernel(), bytes(b[3:]) == exp)\n"
    )
    env = dict(os.environ, ZENWS_MASK_KERNEL=env_value)
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    return out.stdout.split()


@pytest.mark.parametrize("kernel", KERNELS)
def test_env_var_forces_kernel(kernel: str) -> None:
    assert _run(kernel) == [kernel, "True"]


def test_env_var_unknown_kernel_keeps_best() -> None:
    assert _run("no-such-kernel") == [fr.mask_kernel(), "True"]
