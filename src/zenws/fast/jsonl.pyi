"""Recorder hot paths: the frame arena and the JSONL encoder (see jsonl.pyx)."""

from collections.abc import Callable
from typing import final

#: FrameQueue.drain() / serve() results.
DRAIN_DONE: int
DRAIN_PYTHON: int
DRAIN_ROTATE: int
DRAIN_DROPS: int
DRAIN_STOP: int

def has_secret_key(data: str | bytes | bytearray | memoryview) -> bool: ...
def write_fd(fd: int, data: bytes | bytearray | memoryview) -> None: ...
def encode_frame(
    rel_ns: int,
    wall_ns: int,
    epoch: int,
    direction: str,
    kind: str,
    payload: str | bytes | None,
    code: int | None,
    reason: str,
    redact: bool,
) -> bytes | None: ...
def encode_batch(
    entries: list[tuple[int, str, str, str | bytes | None, int, int | None, str]],
    t0: int,
    wall0: int,
    redact: bool,
    fallback: Callable[[tuple[int, str, str, str | bytes | None, int, int | None, str]], bytes],
) -> bytes: ...

@final
class FrameQueue:
    dropped: int
    written: int
    closed: bool
    def __init__(
        self,
        capacity: int,
        flush_entries: int,
        wake: Callable[[], object] | None,
        arena_bytes: int = ...,
    ) -> None: ...
    @property
    def count(self) -> int: ...
    @property
    def arena_bytes(self) -> int: ...
    def push(
        self,
        direction: str,
        kind: str,
        payload: str | bytes | bytearray | memoryview | None,
        epoch: int,
        mono_ns: int | None = None,
        code: int | None = None,
        reason: str = "",
    ) -> None: ...
    def pop_batch(
        self, limit: int
    ) -> list[tuple[int, str, str, str | bytes, int, int | None, str]]: ...
    def drain(
        self,
        fd: int,
        t0: int,
        wall0: int,
        redact: bool,
        size: int,
        limit: int,
        exempt_first: bool,
        max_frames: int,
    ) -> tuple[int, int, int]: ...
    def serve(
        self,
        fd: int,
        t0: int,
        wall0: int,
        redact: bool,
        size: int,
        limit: int,
        exempt_first: bool,
        interval: float,
    ) -> tuple[int, int]: ...
    def kick(self) -> None: ...
    def stop(self) -> None: ...
    def reported_drops(self, total: int) -> None: ...
    def add_written(self, n: int) -> None: ...
    def close(self) -> None: ...
    def __len__(self) -> int: ...
