"""Python-visible API of zenws.fast.listener (the C hot path over picows)."""

import asyncio
import enum
from collections.abc import Callable, Coroutine
from typing import Any, Final, final

from picows import WSFrame, WSListener, WSTransport

from zenws.fast.frame import Deflater, Inflater, MessageAssembler
from zenws.fast.jsonrpc import Correlator
from zenws.fast.latency import LatencyBuffer

class MessageKind(enum.IntEnum):
    OTHER = 0
    RESPONSE = 1
    NOTIFICATION = 2
    HEARTBEAT = 3
    BINARY = 4
    def __format__(self, spec: str) -> str: ...

DEFAULT_DECODER: Final[str]
SIMDJSON_HINT: Final[str]

def result_of(payload: bytes | dict[str, Any], method: str, request_id: int = -1) -> Any: ...
def decoder_id(name: str) -> int: ...
def overflow_policy_id(name: str) -> int: ...

@final
class Message:
    """One complete message delivered to user code (built by the hot path)."""

    channel: Final[str | None]
    raw: Final[bytes]
    recv_ns: Final[int]
    epoch: Final[int]
    id: Final[int | str | None]
    @property
    def kind(self) -> MessageKind: ...
    @property
    def text(self) -> str: ...
    def json(self) -> Any: ...
    def __len__(self) -> int: ...

def _make_message(
    kind: int,
    raw: bytes,
    channel: str | None = None,
    msg_id: int | str | None = None,
    recv_ns: int = 0,
    epoch: int = 0,
    decoder: str = "zenws",
) -> Message: ...

@final
class MessageQueue:
    capacity: Final[int]
    policy: Final[int]
    dropped: Final[int]
    overflows: Final[int]
    max_depth: Final[int]
    paused: Final[bool]
    on_overflow: Callable[[str], None] | None
    def __init__(self, capacity: int = 4096, policy: str = "drop_oldest") -> None: ...
    def put_nowait(self, msg: Message) -> None: ...
    def get_nowait(self) -> Message | None: ...
    async def get(self, loop: asyncio.AbstractEventLoop) -> Message: ...
    def close(self, exc: BaseException | None = None) -> None: ...
    def clear(self) -> None: ...
    @property
    def closed(self) -> bool: ...
    def __len__(self) -> int: ...

class ListenerEvents:
    """What a FastListener reports to its owner (subclass it; every method does nothing)."""

    def on_disconnected(self, lst: FastListener) -> None: ...
    def on_peer_close(self, lst: FastListener, code: int, reason: str) -> None: ...
    def on_protocol_error(self, code: int, reason: str) -> None: ...
    def on_violation(self, lst: FastListener, code: int, reason: str) -> None: ...
    def on_callback_error(self, exc: BaseException, msg: Message | None) -> None: ...
    def on_error_no_id(self, payload: bytes, recv_ns: int) -> None: ...
    def on_write_paused(self, paused: bool) -> None: ...

class FastListener(WSListener):
    transport: Final[WSTransport | None]
    events: ListenerEvents | None
    assembler: Final[MessageAssembler]
    correlator: Final[Correlator]
    latency: Final[LatencyBuffer]
    handlers: dict[str, Callable[[Message], Any]]
    on_message: Callable[[Message], Any] | None
    queue: MessageQueue | None
    heartbeat: Any
    recorder: Any
    channel_of: Callable[[Any], str | None] | None
    answer_test_request: bool
    deliver_heartbeats: bool
    test_timeout: float
    bare_requests: bool
    epoch: Final[int]
    decoder: Final[int]
    closed: Final[bool]
    write_paused: Final[bool]
    deflate: Final[bool]
    prevalidated: Final[bool]
    guard_factory: Callable[[FastListener, WSTransport], Any] | None
    guard: Final[Any]
    frames_in: Final[int]
    frames_out: Final[int]
    bytes_in: Final[int]
    bytes_out: Final[int]
    messages_in: Final[int]
    responses: Final[int]
    notifications: Final[int]
    errors: Final[int]
    invalid_json: Final[int]
    unknown_responses: Final[int]
    callback_errors: Final[int]
    test_requests: Final[int]
    last_frame_ns: Final[int]
    last_data_ns: Final[int]
    close_code: Final[int]
    close_reason: Final[str]
    sent_close_code: Final[int]
    fail_code: Final[int]
    fail_reason: Final[str]
    def __init__(
        self,
        *,
        epoch: int = 0,
        correlator: Correlator | None = None,
        latency: LatencyBuffer | None = None,
        max_message_size: int = ...,
        inflater: Inflater | None = None,
        deflater: Deflater | None = None,
        decoder: str = "zenws",
        first_id: int = 1,
    ) -> None: ...
    def on_ws_connected(self, transport: WSTransport) -> None: ...
    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None: ...
    def on_ws_disconnected(self, transport: WSTransport) -> None: ...
    def pause_writing(self) -> None: ...
    def resume_writing(self) -> None: ...
    def set_heartbeat(self, hb: Any) -> None: ...
    def new_id(self) -> int: ...
    def send_request(self, method: str, params: Any, waiter: Any, timeout_ns: int) -> int: ...
    def call(
        self, method: str, params: Any, timeout_ns: int, loop: asyncio.AbstractEventLoop | None
    ) -> Coroutine[Any, Any, Any]: ...
    def send_text(self, data: str | bytes) -> None: ...
    def send_binary(self, data: bytes) -> None: ...
    def send_ping(self, payload: bytes = b"") -> None: ...
    def close(self, code: int = 1000, reason: str = "") -> bool: ...
    def fail(self, code: int, reason: str) -> None: ...
    def abort(self) -> None: ...
    def feed_message(self, opcode: int, payload: bytes, recv_ns: int = 0) -> None: ...
    def counters(self) -> dict[str, int]: ...
    @property
    def next_id(self) -> int: ...
    @property
    def last_deadline_ns(self) -> int: ...

@final
class Requester:
    """``Client.request`` of one client, compiled (the client keeps the fields current)."""

    lst: FastListener | None
    slow: Callable[[str, Any, float | None], Coroutine[Any, Any, Any]] | None
    loop: asyncio.AbstractEventLoop | None
    armed: bool
    plain: bool
    timeout_ns: int
    idempotent: frozenset[str] | None
    def request(
        self, method: str, params: Any = None, *, timeout: float | None = None
    ) -> Coroutine[Any, Any, Any]: ...
