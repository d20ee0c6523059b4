"""Type stubs for zenws.fast.frame (RFC 6455 frame codec, RFC 7692 deflate)."""

from __future__ import annotations

from typing import Final, Literal

from typing_extensions import Buffer

OP_CONT: Final = 0
OP_TEXT: Final = 1
OP_BINARY: Final = 2
OP_CLOSE: Final = 8
OP_PING: Final = 9
OP_PONG: Final = 10
CLOSE_NORMAL: Final = 1000
CLOSE_PROTOCOL_ERROR: Final = 1002
CLOSE_INVALID_DATA: Final = 1007
CLOSE_TOO_BIG: Final = 1009

class Frame:
    """One WebSocket frame; `payload` is unmasked."""

    @property
    def opcode(self) -> int: ...
    @property
    def fin(self) -> bool: ...
    @property
    def rsv1(self) -> bool: ...
    @property
    def rsv2(self) -> bool: ...
    @property
    def rsv3(self) -> bool: ...
    @property
    def masked(self) -> bool: ...
    @property
    def payload(self) -> bytes: ...
    def __init__(
        self,
        opcode: int,
        payload: bytes = b"",
        fin: bool = True,
        rsv1: bool = False,
        rsv2: bool = False,
        rsv3: bool = False,
        masked: bool = False,
    ) -> None: ...

def decode(
    buf: Buffer,
    *,
    max_size: int | None = None,
    allow_rsv1: bool = False,
    expect_masked: bool | None = None,
) -> tuple[Frame, int] | None: ...
def encode(
    opcode: int,
    payload: Buffer | str = b"",
    *,
    fin: bool = True,
    rsv1: bool = False,
    rsv2: bool = False,
    rsv3: bool = False,
    mask: bool | Buffer | None = None,
    strict: bool = True,
) -> bytes: ...
def apply_mask(buf: Buffer, key: Buffer, offset: int = 0) -> None: ...
def _apply_mask_kernel(kernel: str, buf: Buffer, key: Buffer, offset: int = 0) -> None: ...
def mask_kernel() -> Literal["avx2", "sse2", "neon", "scalar64"]: ...
def mask_kernels() -> tuple[str, ...]: ...
def utf8_valid(data: Buffer) -> bool: ...
def utf8_first_invalid(data: Buffer) -> int: ...
def encode_close_payload(code: int, reason: str = "") -> bytes: ...
def parse_close_payload(payload: Buffer) -> tuple[int | None, str]: ...
