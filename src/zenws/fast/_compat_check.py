# ruff: noqa: E501  (EXPECTED holds declarations verbatim)
"""Import-time check of the private picows / aiofastnet API in ``zenws/fast/_compat.pxd``.

zenws' compiled modules use a few private symbols of picows and aiofastnet, all in
one place, ``zenws/fast/_compat.pxd``: Cython ones (``WSFrame.payload_ptr``,
``WSTransport._check_thread`` / ``_fast_write``, ``aiofastnet.transport.Protocol``)
and Python ones that connecting with picows' protocol behind the read guard needs
(``picows.picows.WSProtocol``, called with positional arguments,
``picows.url.parse_url``, ``picows.proxy.connect_through_optional_proxy``).
Compiled code reads such fields at fixed offsets and calls such methods through
fixed vtable slots, and positional arguments bind to whatever a new signature says:
an upgraded dependency that changes them would not fail, it would misbehave.
:func:`check` compares the installed ``.pxd`` declarations of those classes, and the
signatures of those Python names in picows' shipped sources, with the ones zenws is
compiled against and raises :class:`ImportError` naming what changed;
``zenws.fast.listener`` and ``zenws.fast.guard`` call it when they are imported.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Final

#: (package, .pxd file, block header) -> the block's declarations, comments removed
#: and whitespace collapsed, as zenws is compiled against them (picows 2.3.1,
#: aiofastnet 1.2.0).
EXPECTED: Final[dict[tuple[str, str, str], tuple[str, ...]]] = {
    ("picows", "picows.pxd", "cdef class WSFrame:"): (
        "cdef:",
        "bytes _payload_obj",
        "char* payload_ptr",
        "readonly Py_ssize_t payload_size",
        "readonly Py_ssize_t tail_size",
        "readonly WSMsgType msg_type",
        "readonly uint8_t fin",
        "readonly uint8_t rsv1",
        "readonly uint8_t rsv2",
        "readonly uint8_t rsv3",
        "readonly uint8_t last_in_buffer",
        "cpdef bytes get_payload_as_bytes(self)",
        "cpdef str get_payload_as_utf8_text(self)",
        "cpdef str get_payload_as_ascii_text(self)",
        "cpdef object get_payload_as_memoryview(self)",
        "cpdef WSCloseCode get_close_code(self)",
        "cpdef bytes get_close_message(self)",
        "cpdef str get_close_reason(self)",
    ),
    ("picows", "picows.pxd", "cdef class WSTransport:"): (
        "cdef:",
        "object __weakref__",
        "unsigned long _thread_id",
        "object _loop",
        "object _logger",
        "bint _log_debug_enabled",
        "bint _is_aiofn_transport",
        "object _tr_get_write_buffer_size",
        "object _tr_write",
        "int _socket",
        "readonly object underlying_transport",
        "readonly object request",
        "readonly object response",
        "readonly WSCloseHandshake close_handshake",
        "readonly bint is_client_side",
        "readonly bint is_secure",
        "readonly bint is_close_frame_sent",
        "readonly bint is_disconnected",
        "bint auto_ping_expect_pong",
        "object pong_received_at_future",
        "object listener_proxy",
        "object disconnected_future",
        "MemoryBuffer _write_buffer",
        "cdef inline NoResult send_reuse_external_buffer(self, WSMsgType msg_type,",
        "char* msg_ptr, Py_ssize_t msg_size,",
        "bint fin=*, bint rsv1=*, bint rsv2=*,",
        "bint rsv3=*) except NoResult.EXC",
        "cpdef send(self, WSMsgType msg_type, message, bint fin=*, bint rsv1=*, bint rsv2=*, bint rsv3=*)",
        "cpdef send_reuse_external_bytearray(self, WSMsgType msg_type, bytearray buffer, Py_ssize_t msg_offset, bint fin=*, bint rsv1=*, bint rsv2=*, bint rsv3=*)",
        "cpdef send_ping(self, message=*)",
        "cpdef send_pong(self, message=*)",
        "cpdef send_close(self, WSCloseCode close_code=*, close_message=*)",
        "cpdef disconnect(self, bint graceful=*)",
        "cpdef notify_user_specific_pong_received(self)",
        "cdef inline NoResult _check_thread(self, meth) except NoResult.EXC",
        "cdef inline Py_ssize_t _get_header_size(self, Py_ssize_t msg_size) noexcept",
        "cdef inline NoResult _send_buffer(self, WSMsgType msg_type,",
        "char* msg_ptr, Py_ssize_t msg_size,",
        "bint fin, bint rsv1, bint rsv2, bint rsv3) except NoResult.EXC",
        "cdef inline NoResult _send(self, WSMsgType msg_type, message,",
        "bint fin, bint rsv1, bint rsv2, bint rsv3) except NoResult.EXC",
        "cdef inline uint32_t _prepare_header(self, uint8_t* header_ptr, WSMsgType msg_type, Py_ssize_t msg_size, bint fin, bint rsv1, bint rsv2, bint rsv3) noexcept",
        "cdef inline NoResult _send_http_handshake(self, bytes ws_path, bytes host_port,",
        "bytes websocket_key_b64, object extra_headers) except NoResult.EXC",
        "cdef inline NoResult _send_http_handshake_response(self, response,",
        "bytes accept_val) except NoResult.EXC",
        "cdef inline NoResult _fast_write(self, char* ptr, Py_ssize_t sz) except NoResult.EXC",
    ),
    ("aiofastnet", "transport.pxd", "cdef class Protocol:"): (
        "cpdef is_buffered_protocol(self)",
        "cdef NoResult get_buffer_c(self, Py_ssize_t hint, char** buf, Py_ssize_t* buf_len) except NoResult.EXC",
        "cpdef get_buffer(self, Py_ssize_t hint)",
        "cpdef buffer_updated(self, Py_ssize_t bytes_read)",
        "cpdef data_received(self, data)",
        "cpdef Py_ssize_t get_local_write_buffer_size(self) except -1",
    ),
    ("aiofastnet", "utils.pxd", "cdef enum NoResult:"): (
        "EXC = -1",
        "OK = 0",
    ),
}


#: (package, source file, block header, or "" for the whole file) -> declarations that
#: must appear in it, whitespace collapsed (the Python-level names _compat.pxd uses).
SIGNATURES: Final[dict[tuple[str, str, str], tuple[str, ...]]] = {
    ("picows", "picows.pyx", "cdef class WSProtocol(WSProtocolBase, asyncio.BufferedProtocol):"): (
        "cdef: readonly WSTransport transport readonly WSListener listener",
        "def __init__(self, str host_port, str ws_path, bint is_client_side, ws_listener_factory, logger, bint disconnect_on_exception, websocket_handshake_timeout, enable_auto_ping, auto_ping_idle_timeout, auto_ping_reply_timeout, auto_ping_strategy, enable_auto_pong, max_frame_size, extra_headers, read_buffer_init_size):",
        "def connection_made(self, transport):",
        "def connection_lost(self, exc):",
        "def eof_received(self) -> bool:",
        "def pause_writing(self):",
        "def resume_writing(self):",
        "def get_buffer(self, Py_ssize_t size_hint):",
        "def buffer_updated(self, Py_ssize_t nbytes):",
        "async def wait_until_handshake_complete(self):",
    ),
    ("picows", "url.py", "class WSParsedURL:"): (
        "url: str scheme: str is_secure: bool netloc: str host: WSHost port: WSPort path: str query: str username: Optional[str] = None password: Optional[str] = None",
        "def resource_name(self) -> str:",
    ),
    ("picows", "url.py", ""): (
        "def parse_url(url: str, check_scheme: bool = True) -> WSParsedURL:",
    ),
    ("picows", "proxy.py", "class ConnectedSocket:"): (
        "sock: Optional[socket.socket] host: Optional[WSHost] port: Optional[WSPort]",
    ),
    ("picows", "proxy.py", "class ConnectedTransport:"): ("transport: asyncio.Transport",),
    ("picows", "proxy.py", ""): (
        "async def connect_through_optional_proxy( loop: asyncio.AbstractEventLoop, parsed_url: WSParsedURL, proxy_parsed_url: Optional[WSParsedURL], socket_factory: Optional[WSSocketFactory], ssl_context: Optional[Union[SSLContext, bool]], proxy_ssl_context: Optional[SSLContext], conn_kwargs: Dict[str, Any], create_connection: Callable[..., Awaitable[Any]] ) -> Union[ConnectedSocket, ConnectedTransport]:",
    ),
}


def _block(text: str, header: str) -> str | None:
    # The text of the top-level block `header` ("" = the whole text), comments removed
    # and whitespace collapsed: one pass over the block (this runs at import).
    if header:
        m = re.search(r"^" + re.escape(header) + r"[ \t]*$", text, re.M)
        if m is None:
            return None
        end = re.compile(r"^\S", re.M).search(text, m.end() + 1)
        text = text[m.end() : end.start() if end else len(text)]
    return " ".join(re.sub(r"#[^\n]*", "", text).split())


def declarations(text: str, header: str) -> str | None:
    """The declarations of the top-level block ``header`` in .pxd ``text``, normalized.

    Comments are removed and whitespace (line wrapping included) is collapsed; None
    when there is no such block.
    """
    lines = text.splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.rstrip() == header)
    except StopIteration:
        return None
    out: list[str] = []
    for line in lines[start + 1 :]:
        if line and not line[0].isspace():
            break
        decl = re.sub(r"\s+", " ", re.sub(r"#.*", "", line)).strip()
        if decl:
            out.append(decl)
    return " ".join(out)


def _pxd_text(package: str, name: str) -> str:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"zenws needs {package}, which is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / name
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ImportError(
            f"zenws: cannot read {path} to check the private {package} API that "
            f"zenws/fast/_compat.pxd uses ({exc.strerror})"
        ) from None


_checked = False


def check(sources: dict[tuple[str, str], str] | None = None) -> None:
    """Raise ImportError if an installed picows / aiofastnet no longer has what _compat.pxd uses.

    Args:
        sources: ``(package, file) -> .pxd text`` to check instead of the installed
            files (tests).
    """
    global _checked
    if sources is None and _checked:
        return  # the installed files do not change while zenws runs
    texts: dict[tuple[str, str], str] = {}

    def text(package: str, name: str) -> str:
        key = (package, name)
        if key not in texts:
            texts[key] = sources[key] if sources is not None else _pxd_text(package, name)
        return texts[key]

    def fail(header: str, package: str, name: str, what: str, table: str) -> ImportError:
        return ImportError(
            f"zenws: `{header}` in {package}/{name} {what}; zenws/fast/_compat.pxd "
            f"uses its private API as compiled against "
            f"{_COMPILED_AGAINST}. Install that version of {package} (pyproject.toml "
            f"pins it) or port zenws/fast/_compat.pxd and update "
            f"zenws.fast._compat_check.{table}."
        )

    for (package, name, header), expected in EXPECTED.items():
        found = declarations(text(package, name), header)
        if found != " ".join(expected):
            raise fail(
                header[:-1], package, name, "is gone" if found is None else "changed", "EXPECTED"
            )
    for (package, name, header), wanted in SIGNATURES.items():
        block = _block(text(package, name), header)
        for decl in wanted:
            if block is None or decl not in block:
                what = f"`{header.rstrip(':')}`" if header else "the module"
                raise fail(decl, package, name, f"changed ({what} no longer has it)", "SIGNATURES")
    if sources is None:
        _checked = True


_COMPILED_AGAINST: Final = "picows 2.3.1 / aiofastnet 1.2.0"
