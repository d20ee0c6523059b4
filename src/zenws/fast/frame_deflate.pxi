# permessage-deflate (RFC 7692) for zenws.fast.frame: included by frame.pyx,
# compiled into the same extension module (declarations in frame.pxd).

# ---------------------------------------------------------------- permessage-deflate

_EMPTY_BLOCK = b"\x00\x00\xff\xff"  # RFC 7692 §7.2.2: appended before inflating
cdef Py_ssize_t _MAX_BUDGET = 1 << 62  # keeps budget + 1 from overflowing


@cython.final
cdef class Inflater:
    """Per-connection decompressor for incoming messages (RFC 7692 §7.2.2).

    Output is bounded: `inflate` never produces (or allocates) more than
    ``max_size + 1`` bytes, so a zip bomb fails with ProtocolError 1009 early.
    """

    def __cinit__(self, int max_window_bits=15, bint no_context_takeover=False):
        if not 8 <= max_window_bits <= 15:
            raise ValueError("max_window_bits must be in 8..15")
        self.max_window_bits = max_window_bits
        self.no_context_takeover = no_context_takeover
        self._new()

    cdef int _new(self) except -1:
        # Raw deflate stream: negative wbits (no zlib header, RFC 7692 §7.2.1).
        self._d = _zlib.decompressobj(-self.max_window_bits)
        return 0

    cpdef void reset(self) noexcept:
        """Drop the LZ77 window (start of a connection, or no_context_takeover)."""
        try:
            self._new()
        except Exception:
            pass

    cdef bytes feed_c(self, const unsigned char* data, Py_ssize_t size, Py_ssize_t budget):
        cdef object mv = PyMemoryView_FromMemory(<char*>data, size, PyBUF_READ)
        return self._run(mv, budget)

    cdef bytes finish_c(self, Py_ssize_t budget):
        cdef bytes out = self._run(_EMPTY_BLOCK, budget)
        if self.no_context_takeover or self._d.eof:
            # RFC 7692 §7.1.1: the peer resets its window for every message.
            self._new()
        return out

    cdef bytes _run(self, object data, Py_ssize_t budget):
        cdef bytes out
        if budget < 0:
            budget = 0
        elif budget > _MAX_BUDGET:
            budget = _MAX_BUDGET
        try:
            # max_length = budget + 1: producing one byte more than allowed
            # proves the message is too big without inflating the rest.
            out = self._d.decompress(data, budget + 1)
        except _zlib.error as exc:
            self._new()
            raise ProtocolError(f"invalid compressed data: {exc}", 1002) from None
        if PyBytes_GET_SIZE(out) > budget:
            self._new()
            raise ProtocolError(f"decompressed message over the {budget} byte limit", 1009)
        if self._d.unused_data:
            self._new()
            raise ProtocolError("data after the end of the deflate stream", 1002)
        return out

    cdef bytes step_c(self, object data, Py_ssize_t max_length):
        if data is None:
            data = self._d.unconsumed_tail
        try:
            return self._d.decompress(data, max_length)
        except _zlib.error as exc:
            self._new()
            raise ProtocolError(f"invalid compressed data: {exc}", 1002) from None

    cdef bint has_tail_c(self):
        return PyBytes_GET_SIZE(self._d.unconsumed_tail) > 0

    cdef int end_message_c(self) except -1:
        if self._d.unused_data:
            self._new()
            raise ProtocolError("data after the end of the deflate stream", 1002)
        if self.no_context_takeover or self._d.eof:
            self._new()  # RFC 7692 §7.1.1: the peer resets its window for every message
        return 0

    def inflate(self, object data, Py_ssize_t max_size):
        """Decompress one whole message payload.

        Args:
            data: the compressed payload (all fragments joined, RFC 7692 §7.2.2).
            max_size: largest allowed decompressed size in bytes.

        Returns:
            The decompressed message.

        Raises:
            ProtocolError: 1009 when the output would exceed max_size, 1002 on
                corrupt data.
        """
        cdef Py_buffer view
        cdef bytes head
        _get_buf(data, &view, PyBUF_SIMPLE)
        try:
            head = self.feed_c(<const unsigned char*>view.buf, view.len, max_size)
        finally:
            PyBuffer_Release(&view)
        return head + self.finish_c(max_size - PyBytes_GET_SIZE(head))


@cython.final
cdef class Deflater:
    """Per-connection compressor for outgoing messages (RFC 7692 §7.2.1)."""

    def __cinit__(self, int max_window_bits=15, bint no_context_takeover=False, *,
                  int level=6, int mem_level=8):
        if not 8 <= max_window_bits <= 15:
            raise ValueError("max_window_bits must be in 8..15")
        self.max_window_bits = max_window_bits
        self.no_context_takeover = no_context_takeover
        self.level = level
        self.mem_level = mem_level
        self._new()

    cdef int _new(self) except -1:
        # zlib rehashes its whole hash table (2 ** (mem_level + 7) entries) every
        # time the window slides, i.e. every window size of input: with a small
        # window and the default table that is 4-10x slower (9 bits: ~4 ms instead
        # of ~0.5 ms per 128 KiB of JSON) for no better ratio. So the table is kept
        # at most 4x the window (zlib's own default pairs 15 bits with mem_level 8).
        cdef int mem_level = min(self.mem_level, max(1, self.max_window_bits - 5))
        if self.max_window_bits == 8:
            # zlib cannot deflate with a 256-byte window (wbits -8 is rejected).
            # Stored blocks (level 0) have no back-references, so the output
            # is valid for a peer whose window is 8 bits.
            self._c = _zlib.compressobj(0, _zlib.DEFLATED, -9, mem_level)
        else:
            self._c = _zlib.compressobj(self.level, _zlib.DEFLATED, -self.max_window_bits,
                                        mem_level)
        return 0

    def reset(self):
        """Drop the LZ77 window."""
        self._new()

    cpdef bytes compress(self, object data):
        """Compress one whole message.

        Args:
            data: the message payload (bytes-like; str is UTF-8 encoded).

        Returns:
            The payload to send with RSV1 set on the first frame.
        """
        if isinstance(data, str):
            data = PyUnicode_AsUTF8String(data)
        cdef bytes out = self._c.compress(data) + self._c.flush(_zlib.Z_SYNC_FLUSH)
        # RFC 7692 §7.2.1: remove the 00 00 ff ff tail of the sync flush.
        if self.no_context_takeover:
            self._new()
        return out[:PyBytes_GET_SIZE(out) - 4]


@cython.final
cdef class DeflateParams:
    """Negotiated permessage-deflate parameters (RFC 7692 §7.1)."""

    def __init__(self, bint server_no_context_takeover=False,
                 bint client_no_context_takeover=False, int server_max_window_bits=15,
                 int client_max_window_bits=15):
        self.server_no_context_takeover = server_no_context_takeover
        self.client_no_context_takeover = client_no_context_takeover
        self.server_max_window_bits = server_max_window_bits
        self.client_max_window_bits = client_max_window_bits

    def make_inflater(self):
        """Inflater for messages received by the client (server's parameters)."""
        return Inflater(self.server_max_window_bits, self.server_no_context_takeover)

    def make_deflater(self, *, int level=6):
        """Deflater for messages sent by the client (client's parameters)."""
        return Deflater(self.client_max_window_bits, self.client_no_context_takeover,
                        level=level)

    def __repr__(self):
        return (f"DeflateParams(server_no_context_takeover={self.server_no_context_takeover}, "
                f"client_no_context_takeover={self.client_no_context_takeover}, "
                f"server_max_window_bits={self.server_max_window_bits}, "
                f"client_max_window_bits={self.client_max_window_bits})")

    def __eq__(self, other):
        if not isinstance(other, DeflateParams):
            return NotImplemented
        return repr(self) == repr(other)

    __hash__ = None


_PARAM_NAMES = ("server_no_context_takeover", "client_no_context_takeover",
                "server_max_window_bits", "client_max_window_bits")


def deflate_offer(object client_max_window_bits=True, object server_max_window_bits=None,
                  bint client_no_context_takeover=False, bint server_no_context_takeover=False):
    """Sec-WebSocket-Extensions value a client sends to offer permessage-deflate.

    Args:
        client_max_window_bits: True = offer the parameter without a value (the
            server may pick 8..15), an int 9..15 = that limit, None = omit.
        server_max_window_bits: None, or 8..15 to ask the server for a smaller window.
        client_no_context_takeover: promise to reset our window per message.
        server_no_context_takeover: ask the server to reset its window per message.

    Returns:
        e.g. ``"permessage-deflate; client_max_window_bits"``.

    Raises:
        ValueError: a window size out of range.
    """
    parts = ["permessage-deflate"]
    if server_no_context_takeover:
        parts.append("server_no_context_takeover")
    if client_no_context_takeover:
        parts.append("client_no_context_takeover")
    if server_max_window_bits is not None:
        if not 8 <= server_max_window_bits <= 15:
            raise ValueError("server_max_window_bits must be in 8..15")
        parts.append(f"server_max_window_bits={server_max_window_bits}")
    if client_max_window_bits is True:
        parts.append("client_max_window_bits")
    elif client_max_window_bits is not None and client_max_window_bits is not False:
        if not 9 <= client_max_window_bits <= 15:
            raise ValueError("client_max_window_bits must be in 9..15")
        parts.append(f"client_max_window_bits={client_max_window_bits}")
    return "; ".join(parts)


cdef int _window_bits(str name, object value) except -1:
    if value is None:
        raise ProtocolError(f"permessage-deflate: {name} needs a value", 1002)
    if not (value.isdigit() and value.isascii() and len(value) <= 2):
        raise ProtocolError(f"permessage-deflate: invalid {name}={value!r}", 1002)
    cdef int bits = int(value)
    if not 8 <= bits <= 15:
        raise ProtocolError(f"permessage-deflate: {name}={bits} not in 8..15", 1002)
    return bits


def _split_params(str extension):
    # RFC 6455 §9.1 grammar: name *( ";" param [ "=" (token | quoted-string) ] )
    out = []
    for item in extension.split(";")[1:]:
        name, eq, value = item.partition("=")
        name = name.strip().lower()
        value = value.strip() if eq else None
        if value is not None and len(value) >= 2 and value[0] == '"' == value[len(value) - 1]:
            value = value[1:len(value) - 1]
        out.append((name, value))
    return out


def parse_deflate_response(str header_value, *, object client_max_window_bits=True,
                           object server_max_window_bits=None,
                           bint client_no_context_takeover=False,
                           bint server_no_context_takeover=False):
    """Validate the server's Sec-WebSocket-Extensions answer (RFC 7692 §7.1).

    Pass the same keyword arguments as to `deflate_offer` so the answer is
    checked against what was offered.

    Args:
        header_value: the response header value.
        client_max_window_bits: as offered (True, an int, or None).
        server_max_window_bits: as offered (None or an int).
        client_no_context_takeover: as offered.
        server_no_context_takeover: as offered.

    Returns:
        The DeflateParams to use for this connection.

    Raises:
        ProtocolError: (close code 1002) an extension that was not offered, an
            unknown or duplicate parameter, a bad or out-of-range window size,
            or an answer that contradicts the offer.
    """
    extensions = [e.strip() for e in header_value.split(",") if e.strip()]
    if len(extensions) != 1:
        raise ProtocolError(f"expected exactly one extension, got {header_value!r}", 1002)
    name = extensions[0].split(";", 1)[0].strip().lower()
    if name != "permessage-deflate":
        raise ProtocolError(f"server accepted an extension we did not offer: {name!r}", 1002)
    seen = {}
    for pname, value in _split_params(extensions[0]):
        if pname not in _PARAM_NAMES:
            raise ProtocolError(f"permessage-deflate: unknown parameter {pname!r}", 1002)
        if pname in seen:
            raise ProtocolError(f"permessage-deflate: duplicate parameter {pname!r}", 1002)
        if pname.endswith("takeover") and value is not None:
            raise ProtocolError(f"permessage-deflate: {pname} takes no value", 1002)
        seen[pname] = value
    params = DeflateParams(
        server_no_context_takeover="server_no_context_takeover" in seen,
        client_no_context_takeover=("client_no_context_takeover" in seen
                                    or client_no_context_takeover))
    if server_no_context_takeover and not params.server_no_context_takeover:
        raise ProtocolError("permessage-deflate: server_no_context_takeover was required", 1002)
    if "server_max_window_bits" in seen:
        params.server_max_window_bits = _window_bits(
            "server_max_window_bits", seen["server_max_window_bits"])
        if (server_max_window_bits is not None
                and params.server_max_window_bits > server_max_window_bits):
            raise ProtocolError("permessage-deflate: server_max_window_bits above the offer",
                                1002)
    elif server_max_window_bits is not None:
        raise ProtocolError("permessage-deflate: server_max_window_bits missing", 1002)
    if "client_max_window_bits" in seen:
        if client_max_window_bits is None or client_max_window_bits is False:
            raise ProtocolError("permessage-deflate: client_max_window_bits not offered", 1002)
        params.client_max_window_bits = _window_bits(
            "client_max_window_bits", seen["client_max_window_bits"])
        if (client_max_window_bits is not True
                and params.client_max_window_bits > client_max_window_bits):
            raise ProtocolError("permessage-deflate: client_max_window_bits above the offer",
                                1002)
    elif (client_max_window_bits is not None and client_max_window_bits is not True
            and client_max_window_bits is not False):
        # identity tests, as in deflate_offer (``not in (None, True, False)`` compiled to
        # generic comparisons against None that gcc flagged with -Warray-bounds)
        params.client_max_window_bits = client_max_window_bits
    return params
