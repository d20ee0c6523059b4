"""Micro benchmarks for zenws.fast.frame (pytest-benchmark).

Run: python -m pytest bench/test_bench_frame.py --benchmark-only -p no:cacheprovider
Each round runs 100 calls (the method bound to a local), so per-call time is the
reported time / 100.  apply_mask reports GB/s in extra_info.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from websockets.speedups import apply_mask as ws_apply_mask

from zenws.fast import frame as fr

LOOPS = 100
KEY = b"\x37\xfa\x21\x3d"
SIZE = 64 * 1024
# A realistic 300-byte Deribit ticker notification.
TICKER = (
    b'{"jsonrpc":"2.0","method":"subscription","params":{"channel":"ticker.BTC-PERPETUAL.raw",'
    b'"data":{"timestamp":1732579200123,"stats":{"volume_usd":812345678.0,"volume":9876.5},'
    b'"state":"open","settlement_price":97123.45,"open_interest":123456789,"min_price":96000.0,'
    b'"max_price":98000.0,"mark_price":97050.12,"last_price":97051.0}}}'
)[:300]


def _loop(fn: Callable[..., Any], *args: Any) -> Callable[[], None]:
    def run() -> None:
        for _ in range(LOOPS):
            fn(*args)

    return run


def _gbps(benchmark: Any, nbytes: int) -> None:
    # Per-call seconds from the fastest round (least disturbed by the shared machine).
    if getattr(benchmark, "stats", None) is None:  # pytest-codspeed counts, no timings
        return
    per_call = benchmark.stats.stats.min / LOOPS
    benchmark.extra_info["GB/s"] = round(nbytes / per_call / 1e9, 2)


@pytest.mark.parametrize("kernel", fr.mask_kernels())
def test_apply_mask_64k_kernel(benchmark: Any, kernel: str) -> None:
    buf = bytearray(SIZE)
    mask = fr._apply_mask_kernel
    benchmark(_loop(mask, kernel, buf, KEY))
    _gbps(benchmark, SIZE)


def test_apply_mask_64k_dispatched(benchmark: Any) -> None:
    buf = bytearray(SIZE)
    benchmark.extra_info["kernel"] = fr.mask_kernel()
    benchmark(_loop(fr.apply_mask, buf, KEY))
    _gbps(benchmark, SIZE)


def test_apply_mask_64k_websockets(benchmark: Any) -> None:
    # websockets.speedups.apply_mask returns a new bytes object (not in place).
    data = bytes(SIZE)
    benchmark(_loop(ws_apply_mask, data, KEY))
    _gbps(benchmark, SIZE)


def test_decode_300b_text_unmasked(benchmark: Any) -> None:
    raw = fr.encode(fr.OP_TEXT, TICKER)
    benchmark(_loop(fr.decode, raw))


def test_decode_300b_text_masked(benchmark: Any) -> None:
    raw = fr.encode(fr.OP_TEXT, TICKER, mask=KEY)
    benchmark(_loop(fr.decode, raw))


def test_encode_300b_text_masked(benchmark: Any) -> None:
    enc = fr.encode

    def run() -> None:
        for _ in range(LOOPS):
            enc(1, TICKER, mask=KEY)

    benchmark(run)


def test_encode_300b_text_random_key(benchmark: Any) -> None:
    enc = fr.encode

    def run() -> None:
        for _ in range(LOOPS):
            enc(1, TICKER, mask=True)

    benchmark(run)


def test_assembler_single_frame_feed(benchmark: Any) -> None:
    feed = fr.MessageAssembler().feed
    benchmark(_loop(feed, fr.OP_TEXT, TICKER))


def test_utf8_valid_300b(benchmark: Any) -> None:
    benchmark(_loop(fr.utf8_valid, TICKER))
