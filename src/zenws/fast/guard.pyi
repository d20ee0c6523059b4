"""Type stubs for zenws.fast.guard (compiled): RFC 6455 checks in front of picows."""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable
from typing import Any, Final, TypeVar, final

from aiofastnet import Protocol
from picows import WSListener, WSTransport
from typing_extensions import Buffer

from zenws.fast.listener import FastListener

@final
class ReadGuard(Protocol, asyncio.BufferedProtocol):
    listener: Final[FastListener]
    stopped: Final[bool]
    fail_code: Final[int]
    fail_reason: Final[str]
    max_frame_size: Final[int]
    max_message_size: Final[int]
    bytes_forwarded: Final[int]
    head_bytes: Final[int]
    @property
    def protocol(self) -> Any: ...
    def is_buffered_protocol(self) -> bool: ...
    def get_buffer(self, sizehint: int) -> memoryview: ...
    def buffer_updated(self, nbytes: int) -> None: ...
    def data_received(self, data: bytes) -> None: ...
    def connection_made(self, transport: Any) -> None: ...
    def connection_lost(self, exc: Exception | None) -> None: ...
    def eof_received(self) -> bool | None: ...
    def pause_writing(self) -> None: ...
    def resume_writing(self) -> None: ...
    def stop(self) -> None: ...
    def attach(self, listener: FastListener, transport: Any = None) -> ReadGuard | None: ...
    def walk(self, data: Buffer) -> tuple[int, int]: ...

def detached(
    max_frame_size: int = -1, max_message_size: int = -1, deflate: bool = False
) -> ReadGuard: ...
def wrap(protocol: asyncio.BufferedProtocol, max_frame_size: int = -1) -> ReadGuard: ...

_L = TypeVar("_L", bound=WSListener)

async def connect(
    listener_factory: Callable[[Any, Any], _L] | Callable[[], _L],
    url: str,
    *,
    ssl_context: ssl.SSLContext | None = None,
    handshake_timeout: float | None = 5.0,
    max_frame_size: int = ...,
    extra_headers: Any = None,
    logger: logging.Logger | logging.LoggerAdapter[Any] | None = None,
    proxy: str | None = None,
    guard: bool = True,
    use_aiofastnet: bool = True,
) -> tuple[WSTransport, _L]: ...
