# zenws.fast.guard: RFC 6455 checks on the raw byte stream, in front of picows.
#
# picows' WSProtocol parses the NEXT frame before it delivers the current one,
# so a violation in frame N+1 makes it send CLOSE without delivering frame N;
# it hands over complete frames only, so invalid UTF-8 in a frame that arrives
# in pieces is seen at its end; and it answers a second CLOSE with 1002 before
# the first reaches the listener (DESIGN §6).  ReadGuard is the transport's
# protocol instead, from the connection's first byte (connect() creates the
# connection with the guard in front of picows' protocol): it lets the HTTP
# response head through, then lends picows' read buffer (picows' public
# get_buffer()) to the transport, walks the frame headers of every read in C,
# and announces to picows (its buffer_updated()) only the prefix that is valid.
# On the first violation it announces exactly the frames before the offending
# one and fails the connection with the RFC code; the bytes after it are never
# announced, so picows never parses them.
cimport cython
from cpython.buffer cimport Py_buffer
from cpython.bytes cimport PyBytes_FromStringAndSize
from libc.stdint cimport int64_t, uint64_t
from libc.string cimport memcpy

from zenws.fast._compat cimport (
    NoResult, client_protocol, connect_socket_or_proxy, parse_ws_url, protocol_handshake_done,
    protocol_listener, protocol_transport,
)
from zenws.fast.common cimport zenws_load_be16, zenws_load_be64
from zenws.fast.frame cimport close_code_valid
from zenws.fast.listener cimport FastListener

import asyncio
import logging
import ssl as _ssl
from functools import partial

from zenws.fast._compat_check import check as _check_private_api

_check_private_api()


# The UTF-8 DFA lives in the frame extension (one copy, one kernel choice).
from zenws.fast.frame cimport (
    ZENWS_UTF8_ACCEPT, ZENWS_UTF8_REJECT, utf8_feed_c as zenws_utf8_feed,
    utf8_valid_c as zenws_utf8_valid,
)


cdef extern from "Python.h":
    Py_buffer* PyMemoryView_GET_BUFFER(object mview)


cdef inline Py_ssize_t _min(Py_ssize_t a, Py_ssize_t b) noexcept nogil:
    return a if a < b else b


# Largest read lent to the transport.  picows doubles its read buffer whenever a read
# fills it, so under a flood one read would grow without bound (megabytes of frames
# delivered at once, however soon reading is paused); capped, overflow="pause_reading"
# overshoots its queue by at most one read.  aiofastnet reads at most this much per
# loop iteration anyway (DATA_RECEIVED_MAX_SIZE, MAX_READ_BYTES_PER_CYCLE_HINT).
cdef enum:
    _READ_MAX = 256 * 1024


@cython.final
cdef class ReadGuard(Protocol, asyncio.BufferedProtocol):
    """The transport's protocol from the first byte; picows' WSProtocol sits behind it.

    Created by :func:`connect` (or :func:`wrap`).  Every read lands in picows' read
    buffer (the memoryview picows' ``get_buffer()`` hands out).  Until the end of the
    HTTP response head, ``buffer_updated`` forwards the bytes unchecked; after a 101
    it validates the new bytes and announces to picows (``buffer_updated(n)``) only
    the valid prefix: bytes after a violation or a CLOSE are never announced, so
    picows never parses them.  It is an ``aiofastnet.Protocol``, so picows'
    transport (aiofastnet) calls it from C; any other transport calls the
    ``asyncio.BufferedProtocol`` methods.
    """

    def __cinit__(self):
        self._msg_op = -1
        self._utf8 = ZENWS_UTF8_ACCEPT
        self.max_frame_size = -1
        self.max_message_size = -1
        self.fail_reason = ""
        self._why = b""

    # ---- the C walk -----------------------------------------------------------

    cdef int _header_c(self, const unsigned char* p, Py_ssize_t n, Py_ssize_t* used) noexcept:
        # Returns 0 = more bytes needed, 1 = header parsed (used = its length),
        # or a close code; state changes only once the whole header is there.
        cdef unsigned char b0, b1
        cdef int op
        cdef bint fin, rsv1
        cdef uint64_t length, total
        cdef Py_ssize_t hl = 2
        if n < 2:
            return 0
        b0 = p[0]
        b1 = p[1]
        fin = (b0 & 0x80) != 0
        rsv1 = (b0 & 0x40) != 0
        op = b0 & 0x0F
        length = b1 & 0x7F
        if b0 & 0x30:
            # RFC 6455 §5.2: RSV2/RSV3 have no meaning without an extension.
            self._why = b"reserved bit RSV2/RSV3 set"
            return 1002
        if b1 & 0x80:
            self._why = b"masked frame from the server (RFC 6455 section 5.1)"
            return 1002
        if op >= 8:
            if op > 10:
                self._why = b"reserved control opcode"
                return 1002
            # RFC 6455 §5.5: control frames <= 125 bytes, never fragmented;
            # RFC 7692 §6.1: no RSV1 on a control frame.
            if not fin:
                self._why = b"fragmented control frame"
                return 1002
            if length > 125:
                self._why = b"control frame payload over 125 bytes"
                return 1002
            if rsv1:
                self._why = b"RSV1 set on a control frame"
                return 1002
        else:
            if op > 2:
                self._why = b"reserved data opcode"
                return 1002
            if op == 0:
                # RFC 6455 §5.4: a continuation needs an open message.
                if self._msg_op < 0:
                    self._why = b"continuation frame without a message to continue"
                    return 1002
                if rsv1:
                    self._why = b"RSV1 set on a continuation frame (RFC 7692 section 6.1)"
                    return 1002
            else:
                if self._msg_op >= 0:
                    self._why = b"new data frame while a fragmented message is open"
                    return 1002
                if rsv1 and not self._deflate:
                    self._why = b"RSV1 set but permessage-deflate was not negotiated"
                    return 1002
            # Extended lengths as strict as picows (it fails non-minimal forms).
            if length == 126:
                if n < 4:
                    return 0
                length = zenws_load_be16(p + 2)
                hl = 4
                if length < 126:
                    self._why = b"non-minimal 16-bit payload length"
                    return 1002
            elif length == 127:
                if n < 10:
                    return 0
                length = zenws_load_be64(p + 2)
                hl = 10
                if length >> 63 or length < 65536:
                    self._why = b"invalid 64-bit payload length"
                    return 1002
            if self.max_frame_size >= 0 and length > <uint64_t>self.max_frame_size:
                self._why = b"frame payload over the size limit"
                return 1009
            if op != 0:
                total = length
            else:
                total = <uint64_t>self._msg_len + length
            # The limit applies to the whole message (RFC 6455 §5.4: all its fragments),
            # seen here before its payload is read; inflated sizes are the assembler's.
            if (self.max_message_size >= 0 and not (rsv1 if op != 0 else self._msg_compressed)
                    and total > <uint64_t>self.max_message_size):
                self._why = b"message over max_message_size"
                return 1009
            self._msg_len = <int64_t>total
            if op != 0:
                self._msg_op = op
                self._msg_compressed = rsv1
                self._utf8 = ZENWS_UTF8_ACCEPT
        self._op = op
        self._fin = fin
        self._remaining = <int64_t>length
        self._in_payload = length > 0
        # Compressed text is validated after inflate by the listener's assembler.
        self._check_text = op <= 2 and self._msg_op == 1 and not self._msg_compressed
        if op == 8:
            self._close_len = 0
        used[0] = hl
        return 1

    cdef int _frame_done_c(self) noexcept:
        cdef int code
        if self._op <= 2:
            if self._fin:
                if self._check_text and self._utf8 != ZENWS_UTF8_ACCEPT:
                    self._why = b"text message ends inside a UTF-8 sequence"
                    return 1007
                self._msg_op = -1
            return GUARD_OK
        if self._op == 8:
            # RFC 6455 §5.5.1 / §7.4: empty, or a valid code + UTF-8 reason.
            if self._close_len == 1:
                self._why = b"close frame with a 1-byte body"
                return 1002
            if self._close_len >= 2:
                code = zenws_load_be16(self._close)
                if not close_code_valid(code):
                    self._why = b"invalid close code"
                    return 1002
                if not zenws_utf8_valid(self._close + 2, <size_t>(self._close_len - 2)):
                    self._why = b"close reason is not valid UTF-8"
                    return 1007
            return GUARD_CLOSED
        return GUARD_OK

    cdef int walk_c(self, const unsigned char* p, Py_ssize_t n, Py_ssize_t* cut) noexcept:
        """Validate p[0..n); on a verdict other than GUARD_OK, cut = bytes to forward."""
        cdef Py_ssize_t i = 0
        cdef Py_ssize_t start = 0      # where the current frame starts in this read
        cdef Py_ssize_t take, hl = 0
        cdef size_t bad = 0
        cdef int rc
        while i < n:
            if not self._in_payload:
                if self._hdr_len == 0:
                    start = i
                    rc = self._header_c(p + i, n - i, &hl)
                    if rc == 0:
                        # Header split across reads: keep its first bytes (< 14).
                        memcpy(self._hdr, p + i, <size_t>(n - i))
                        self._hdr_len = <int>(n - i)
                        return GUARD_OK
                    if rc != 1:
                        cut[0] = start
                        return rc
                    i += hl
                else:
                    start = 0          # its first bytes were forwarded with an earlier read
                    take = _min(14 - self._hdr_len, n - i)
                    memcpy(self._hdr + self._hdr_len, p + i, <size_t>take)
                    rc = self._header_c(self._hdr, self._hdr_len + take, &hl)
                    if rc == 0:
                        self._hdr_len += <int>take
                        return GUARD_OK
                    if rc != 1:
                        cut[0] = 0
                        return rc
                    i += hl - self._hdr_len
                    self._hdr_len = 0
                if not self._in_payload:
                    rc = self._frame_done_c()
                    if rc != GUARD_OK:
                        cut[0] = i if rc == GUARD_CLOSED else start
                        return rc
                continue
            take = n - i
            if self._remaining < take:
                take = <Py_ssize_t>self._remaining
            if self._check_text:
                # Fail fast at the first invalid byte (RFC 6455 §8.1), even if
                # the rest of the frame has not arrived.
                self._utf8 = zenws_utf8_feed(self._utf8, p + i, <size_t>take, &bad)
                if self._utf8 == ZENWS_UTF8_REJECT:
                    self._why = b"invalid UTF-8 in a text message"
                    cut[0] = start
                    return 1007
            elif self._op == 8:
                memcpy(self._close + self._close_len, p + i, <size_t>take)
                self._close_len += <int>take
            i += take
            self._remaining -= take
            if self._remaining == 0:
                self._in_payload = False
                rc = self._frame_done_c()
                if rc != GUARD_OK:
                    cut[0] = i if rc == GUARD_CLOSED else start
                    return rc
        return GUARD_OK

    # ---- asyncio.BufferedProtocol ------------------------------------------------

    cpdef is_buffered_protocol(self):
        return True

    cdef NoResult get_buffer_c(self, Py_ssize_t hint, char** buf,
                               Py_ssize_t* buf_len) except NoResult.EXC:
        cdef Py_buffer* pb
        mv = self._get_buffer(hint)        # picows' buffer: the read lands there
        pb = PyMemoryView_GET_BUFFER(mv)
        self._ptr = <const unsigned char*>pb.buf
        buf[0] = <char*>pb.buf             # picows' MemoryBuffer keeps it alive
        buf_len[0] = _min(pb.len, _READ_MAX)
        return NoResult.OK

    cpdef get_buffer(self, Py_ssize_t sizehint):
        mv = self._get_buffer(sizehint)
        self._ptr = <const unsigned char*>PyMemoryView_GET_BUFFER(mv).buf
        return mv[:_READ_MAX] if len(mv) > _READ_MAX else mv

    cpdef buffer_updated(self, Py_ssize_t nbytes):
        cdef Py_ssize_t cut = 0
        cdef int rc
        if self.stopped:
            return          # RFC 6455 §5.5.1 / §7.1.7: nothing after CLOSE or a failure
        if self._mode != GUARD_FRAMES:
            self._head_read(nbytes)
            return
        rc = self.walk_c(self._ptr, nbytes, &cut)
        if rc == GUARD_OK:
            self.bytes_forwarded += <uint64_t>nbytes
            self.listener.begin_read_c()
            try:
                self._buffer_updated(nbytes)
            finally:
                self.listener.end_read_c()     # requests completed by the read resume
            return
        self.stopped = True
        if cut > 0:
            # picows delivers every frame before the cut now (it sees no next frame).
            self.bytes_forwarded += <uint64_t>cut
            self.listener.begin_read_c()
            try:
                self._buffer_updated(cut)
            finally:
                self.listener.end_read_c()
        self._stop(rc)

    cdef _stop(self, int rc):
        self.stopped = True
        if rc != GUARD_CLOSED:
            self.fail_code = rc
            self.fail_reason = (<bytes>self._why).decode("ascii")
            if self.fail_reason == "message over max_message_size":
                self.fail_reason += f" {self.max_message_size}"
            # Scheduled after the wake-ups of the frames delivered before the
            # violation: an `async for` consumer runs (and may answer) first.
            self._loop.call_soon(self._fail)

    # ---- the HTTP response head ---------------------------------------------------

    cdef Py_ssize_t _head_end_c(self, const unsigned char* p, Py_ssize_t n) noexcept:
        # Bytes of p[0..n) up to and including the CRLF CRLF that ends the head,
        # or -1 (not in this read; the state carries over to the next one).
        cdef Py_ssize_t i
        cdef unsigned char c
        for i in range(n):
            c = p[i]
            if self.head_bytes < 16:
                self._status[self.head_bytes] = c
            self.head_bytes += 1
            if c == (13 if (self._crlf & 1) == 0 else 10):      # \r \n \r \n
                self._crlf += 1
                if self._crlf == 4:
                    return i + 1
            else:
                self._crlf = 1 if c == 13 else 0
        return -1

    cdef _head_read(self, Py_ssize_t nbytes):
        cdef Py_ssize_t end
        if self._mode == GUARD_PASS:
            self._buffer_updated(nbytes)
            return
        end = self._head_end_c(self._ptr, nbytes)
        if end < 0:
            self._buffer_updated(nbytes)     # picows collects the head
            return
        status = PyBytes_FromStringAndSize(<const char*>self._status, _min(self.head_bytes, 16))
        if status[:9] not in (b"HTTP/1.1 ", b"HTTP/1.0 ") or status[9:13] not in (
                b"101 ", b"101\r"):
            # A refused upgrade: no frames follow, picows reads the body (the error's
            # raw_body) and fails the handshake.
            self._mode = GUARD_PASS
            self._buffer_updated(nbytes)
            return
        # Frames that came in the same read as the 101: copied out before picows
        # parses the head (it moves what follows the head in its buffer), then
        # validated like any read once the listener is attached.
        rest = (PyBytes_FromStringAndSize(<const char*>self._ptr + end, nbytes - end)
                if end < nbytes else None)
        # picows parses the 101 and, on success, calls FastListener.on_ws_connected,
        # which calls attach() (the listener's guard_factory).
        self._buffer_updated(end)
        if self._mode == GUARD_HEAD:
            # The handshake failed (picows disconnects): nothing more reaches picows.
            self.stopped = True
            return
        if rest is not None:
            self.data_received(rest)    # validated (GUARD_FRAMES) or passed on (GUARD_PASS)

    def attach(self, FastListener listener not None, transport=None):
        """Validate the frames after the 101 for ``listener`` (its ``guard_factory``).

        :func:`connect` sets ``listener.guard_factory`` to this method; the listener
        calls it from ``on_ws_connected``, while picows processes the 101 response,
        before any frame is parsed.

        Returns:
            The guard (``listener.guard``; ``listener.prevalidated`` is set), or
            ``None`` if the guard is not in front of this handshake (the listener
            then checks every frame itself).
        """
        if self._mode != GUARD_HEAD or self.listener is not None or self._proto is None:
            return None
        self.listener = listener
        self.max_message_size = listener.assembler.max_message_size
        self._deflate = listener.deflate
        self._mode = GUARD_FRAMES
        listener.prevalidated = True
        return self

    def _fail(self):
        if not self._lost:
            self.listener.violation_c(self.fail_code, self.fail_reason)

    def stop(self):
        """Forward nothing more to picows (the connection failed); bytes are still read."""
        self.stopped = True

    cpdef data_received(self, data):
        # Transports that do not support BufferedProtocol: copy through picows' buffer.
        cdef const unsigned char[::1] view = data
        cdef Py_ssize_t off = 0, n = view.shape[0], k
        while off < n:
            mv = self.get_buffer(n - off)
            k = _min(len(mv), n - off)
            mv[:k] = data[off:off + k]
            self.buffer_updated(k)
            off += k

    def connection_made(self, transport):
        self._proto.connection_made(transport)

    def connection_lost(self, exc):
        self._lost = True
        self.stopped = True
        self._proto.connection_lost(exc)

    def eof_received(self):
        return self._proto.eof_received()

    def pause_writing(self):
        self._proto.pause_writing()

    def resume_writing(self):
        self._proto.resume_writing()

    def walk(self, data):
        """Validate ``data`` as the next bytes of the stream (tests and fuzzing).

        Returns:
            ``(verdict, cut)``: verdict 0 = every byte is valid (cut = ``len(data)``),
            1 = a valid CLOSE ends at ``cut``, else the close code of the violation
            in the frame that starts at ``cut`` (0 if it started in an earlier chunk).
        """
        cdef const unsigned char[::1] view = data
        cdef Py_ssize_t cut = view.shape[0]
        cdef int rc
        if cut == 0:
            return GUARD_OK, 0
        rc = self.walk_c(&view[0], view.shape[0], &cut)
        return rc, cut

    @property
    def protocol(self):
        """The picows WSProtocol behind the guard."""
        return self._proto

    def __repr__(self):
        state = f"failed {self.fail_code}" if self.fail_code else (
            "stopped" if self.stopped else "guarding")
        return f"<zenws.fast.guard.ReadGuard {state} forwarded={self.bytes_forwarded}>"


def detached(int64_t max_frame_size=-1, int64_t max_message_size=-1, bint deflate=False):
    """A :class:`ReadGuard` in front of nothing: feed it with :meth:`ReadGuard.walk`.

    The same validation as an installed guard (tests, fuzzing: tests/fuzz/fuzz_guard.py).
    """
    cdef ReadGuard guard = ReadGuard.__new__(ReadGuard)
    guard.max_frame_size = max_frame_size
    guard.max_message_size = max_message_size
    guard._deflate = deflate
    guard._mode = GUARD_FRAMES
    return guard


def wrap(protocol not None, int64_t max_frame_size=-1):
    """A :class:`ReadGuard` in front of picows' ``protocol``, before its connection opens.

    The guard is the protocol to give the transport (``create_connection``'s
    factory, or ``set_protocol`` + ``connection_made``); it forwards every call to
    ``protocol``.  Frames are validated once a :class:`FastListener` attaches it
    (``listener.guard_factory = guard.attach``).

    Args:
        protocol: picows' protocol (an ``asyncio.BufferedProtocol``).
        max_frame_size: payload limit of a data frame (picows' ``max_frame_size``).
    """
    cdef ReadGuard guard = ReadGuard.__new__(ReadGuard)
    guard._proto = protocol
    guard._get_buffer = protocol.get_buffer
    guard._buffer_updated = protocol.buffer_updated
    guard._loop = asyncio.get_running_loop()
    guard.max_frame_size = max_frame_size
    return guard


async def connect(listener_factory, str url, *, ssl_context=None, handshake_timeout=5.0,
                  int64_t max_frame_size=10 * 1024 * 1024, extra_headers=None, logger=None,
                  proxy=None, bint guard=True, bint use_aiofastnet=True):
    """Open a client WebSocket with picows, a :class:`ReadGuard` in front from the first byte.

    What ``picows.ws_connect`` does (TCP or a proxy, TLS, the upgrade request, picows'
    handshake timeout), except that zenws creates the connection itself, so the guard
    is the transport's protocol before the 101 response is read: frames that come in
    the same read as the 101 are validated like any other.  Redirects are not
    followed (a 3xx is a ``WSHandshakeError``); automatic PONGs are off (a
    ``FastListener`` answers PINGs itself).

    Args:
        listener_factory: ``(request, response) -> listener`` or ``() -> listener``, as
            for ``ws_connect``.  A :class:`FastListener` is guarded (its
            ``guard_factory`` is set); any other listener gets the bytes unchecked.
        url: ``ws://`` or ``wss://`` URL (no userinfo: picows would ignore it).
        ssl_context: the ``SSLContext`` for ``wss://`` (default: a verifying one).
        handshake_timeout: seconds for the 101 response (``None``: no limit).
        max_frame_size: picows' frame size limit, also the guard's.
        extra_headers: headers added to the upgrade request.
        logger: a ``logging.Logger`` or ``LoggerAdapter`` for picows (default
            ``picows.client``).
        proxy: ``http://``, ``https://``, ``socks4://`` or ``socks5://`` proxy URL.
        guard: False: no guard (picows parses every byte, the listener checks frames).
        use_aiofastnet: False: the event loop's own ``create_connection``/``start_tls``.

    Returns:
        ``(transport, listener)``: picows' ``WSTransport`` and the listener.

    Raises:
        ConnectionResetError: the server closed the connection before the end of its
            answer to the upgrade request.
        Exception: what ``ws_connect`` raises: ``picows.WSHandshakeError`` (refused or
            invalid upgrade), ``OSError`` (DNS, refused TCP), ``ssl.SSLError``,
            ``asyncio.TimeoutError`` (the handshake timeout), a proxy's error.
    """
    cdef ReadGuard g = None
    loop = asyncio.get_running_loop()
    parsed = parse_ws_url(url, True)
    parsed_proxy = parse_ws_url(proxy, False) if proxy is not None else None
    ssl = (ssl_context if ssl_context is not None else True) if parsed.is_secure else None
    if use_aiofastnet:
        import aiofastnet

        create_connection = partial(aiofastnet.create_connection, loop)
        start_tls = partial(aiofastnet.start_tls, loop)
    else:
        create_connection = loop.create_connection
        start_tls = loop.start_tls

    def factory(request, response):
        try:
            listener = listener_factory(request, response)
        except TypeError as exc:
            try:
                listener = listener_factory()       # the no-argument form, as picows allows
            except TypeError:
                raise exc from None
        if g is not None:
            if isinstance(listener, FastListener):
                (<FastListener>listener).guard_factory = g.attach
            else:
                g._mode = GUARD_PASS
        return listener

    proto = client_protocol(
        parsed.netloc, parsed.resource_name, factory,
        logger if logger is not None else logging.getLogger("picows.client"),
        handshake_timeout, max_frame_size, extra_headers)
    if guard:
        g = wrap(proto, max_frame_size)
    top = g if guard else proto
    conn_kwargs = {}
    connection = await connect_socket_or_proxy(
        loop, parsed, parsed_proxy, ssl, conn_kwargs, create_connection)
    transport = getattr(connection, "transport", None)
    if transport is not None:
        # An HTTP(S) proxy's tunnel: TLS to the server inside it, then the upgrade.
        try:
            if ssl is not None:
                ctx = ssl if isinstance(ssl, _ssl.SSLContext) else _ssl.create_default_context()
                tls = await start_tls(
                    transport, transport.get_protocol(), ctx,
                    server_hostname=conn_kwargs.get("server_hostname", parsed.host))
                if tls is None:
                    raise ConnectionError("connection closed while starting TLS")
                transport = tls
            transport.set_protocol(top)
            top.connection_made(transport)
        except (asyncio.CancelledError, Exception):
            transport.abort()
            raise
    else:
        transport, _ = await create_connection(
            lambda: top, connection.host, connection.port, ssl=ssl, sock=connection.sock,
            **conn_kwargs)
    try:
        await protocol_handshake_done(proto)
    except (asyncio.CancelledError, Exception):
        if not transport.is_closing():
            transport.abort()
        raise
    listener = protocol_listener(proto)
    if listener is None:
        # picows ends the handshake without a listener when the connection is lost.
        transport.abort()
        if g is None:
            raise ConnectionResetError(
                "the server closed the connection before it had answered the WebSocket "
                "upgrade request")
        if g.head_bytes == 0:
            raise ConnectionResetError(
                "the server closed the connection without answering the WebSocket upgrade "
                "request")
        raise ConnectionResetError(
            "the server closed the connection before the end of its answer to the WebSocket "
            f"upgrade request ({g.head_bytes} bytes received)")
    return protocol_transport(proto), listener
