"""JSONL line encoder for the recorder's writer thread (see jsonl.pyx)."""

from collections.abc import Callable
from typing import final

def has_secret_key(data: str | bytes | bytearray | memoryview) -> bool: ...
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
    count: int
    dropped: int
    closed: bool
    def __init__(self, capacity: int, flush_entries: int, wake: Callable[[], object]) -> None: ...
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
    def close(self) -> None: ...
    def __len__(self) -> int: ...
