"""Type stubs for zenws.fast.frame (RFC 6455 frame codec, RFC 7692 deflate)."""

from __future__ import annotations

from typing import Final, Literal, final

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

@final
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
def _cpu_features() -> int: ...
def _cpu_env() -> dict[str, str]: ...
def utf8_kernel() -> Literal["avx2", "sse2", "swar"]: ...
def _utf8_kernels() -> tuple[str, ...]: ...
def utf8_valid(data: Buffer) -> bool: ...
def utf8_first_invalid(data: Buffer) -> int: ...
def encode_close_payload(code: int, reason: str = "") -> bytes: ...
def parse_close_payload(payload: Buffer) -> tuple[int | None, str]: ...

@final
class Inflater:
    """Bounded permessage-deflate decompressor (RFC 7692 §7.2.2)."""

    @property
    def max_window_bits(self) -> int: ...
    @property
    def no_context_takeover(self) -> bool: ...
    def __init__(self, max_window_bits: int = 15, no_context_takeover: bool = False) -> None: ...
    def inflate(self, data: Buffer, max_size: int) -> bytes: ...
    def reset(self) -> None: ...

@final
class Deflater:
    """permessage-deflate compressor (RFC 7692 §7.2.1)."""

    @property
    def max_window_bits(self) -> int: ...
    @property
    def no_context_takeover(self) -> bool: ...
    @property
    def level(self) -> int: ...
    @property
    def mem_level(self) -> int: ...
    def __init__(
        self,
        max_window_bits: int = 15,
        no_context_takeover: bool = False,
        *,
        level: int = 6,
        mem_level: int = 8,
    ) -> None: ...
    def compress(self, data: Buffer | str) -> bytes: ...
    def reset(self) -> None: ...

@final
class DeflateParams:
    """Negotiated permessage-deflate parameters (RFC 7692 §7.1)."""

    server_no_context_takeover: bool
    client_no_context_takeover: bool
    server_max_window_bits: int
    client_max_window_bits: int
    def __init__(
        self,
        server_no_context_takeover: bool = False,
        client_no_context_takeover: bool = False,
        server_max_window_bits: int = 15,
        client_max_window_bits: int = 15,
    ) -> None: ...
    def make_inflater(self) -> Inflater: ...
    def make_deflater(self, *, level: int = 6) -> Deflater: ...

@final
class MessageAssembler:
    """Reassembles data frames into messages with RFC 6455/7692 checks."""

    @property
    def msg_opcode(self) -> int: ...
    @property
    def msg_payload(self) -> bytes | None: ...
    @property
    def max_message_size(self) -> int: ...
    @property
    def inflater(self) -> Inflater | None: ...
    @property
    def in_message(self) -> bool: ...
    def __init__(
        self, max_message_size: int = 16 * 1024 * 1024, *, inflater: Inflater | None = None
    ) -> None: ...
    def feed(
        self, opcode: int, payload: Buffer, fin: bool = True, rsv1: bool = False
    ) -> tuple[int, bytes] | None: ...
    def reset(self) -> None: ...

def deflate_offer(
    client_max_window_bits: int | bool | None = True,
    server_max_window_bits: int | None = None,
    client_no_context_takeover: bool = False,
    server_no_context_takeover: bool = False,
) -> str: ...
def parse_deflate_response(
    header_value: str,
    *,
    client_max_window_bits: int | bool | None = True,
    server_max_window_bits: int | None = None,
    client_no_context_takeover: bool = False,
    server_no_context_takeover: bool = False,
) -> DeflateParams: ...
