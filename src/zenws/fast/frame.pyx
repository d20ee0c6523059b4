# RFC 6455 frame codec: encode/decode, masking (SIMD, ext/zenws_mask.c), UTF-8
# validation (ext/zenws_utf8.c), close payloads, message reassembly and
# permessage-deflate (RFC 7692).  The per-frame paths stay in C; Python objects
# are created only for what is handed to the caller (payload bytes, Frame).
cimport cython
from cpython.buffer cimport (PyBUF_SIMPLE, PyBUF_WRITABLE, PyBuffer_Release,
                             PyObject_GetBuffer)
from cpython.bytes cimport (PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE,
                            _PyBytes_Resize)
from cpython.ref cimport PyObject, Py_DECREF, Py_INCREF
from cpython.mem cimport PyMem_Free, PyMem_Realloc
from cpython.unicode cimport PyUnicode_AsUTF8String, PyUnicode_DecodeUTF8
from libc.stdint cimport int64_t, uint32_t, uint64_t
from libc.string cimport memcpy


cdef extern from "Python.h":
    # on a PyObject*: an object argument would get a temporary reference first
    Py_ssize_t _refcnt "Py_REFCNT"(PyObject* o)
    object PyMemoryView_FromMemory(char* mem, Py_ssize_t size, int flags)
    int PyBUF_READ

from zenws.fast.common cimport zenws_load_be16, zenws_load_be64, zenws_store_be16, zenws_store_be64
from zenws.fast.common cimport zenws_cpu_api, zenws_cpu_features

cdef extern from "zenws_cpu.h" nogil:
    # defined in this extension only (setup.py: ZENWS_CPU_OWNER)
    const zenws_cpu_api* zenws_cpu_api_table() noexcept
    int zenws_cpu_env(int i, const char** var, const char** value) noexcept

cdef extern from "zenws_utf8.h" nogil:
    const char* zenws_utf8_kernel() noexcept
    int zenws_utf8_set_kernel(const char* name) noexcept

import os
import zlib as _zlib

from zenws.errors import ProtocolError

OP_CONT = 0
OP_TEXT = 1
OP_BINARY = 2
OP_CLOSE = 8
OP_PING = 9
OP_PONG = 10

# RFC 6455 §7.4.1 close codes used by the codec.
CLOSE_NORMAL = 1000
CLOSE_PROTOCOL_ERROR = 1002
CLOSE_INVALID_DATA = 1007
CLOSE_TOO_BIG = 1009

# A fragment buffer larger than this is released after its message.
cdef Py_ssize_t _KEEP_BUFFER = 1 << 20
# Inflation runs in steps of max(_INFLATE_STEP, max_message_size / 16) bytes copied
# into the message as they come: the peak is the message plus one step.
cdef Py_ssize_t _INFLATE_STEP = 256 * 1024

_OPNAMES = {0: "CONT", 1: "TEXT", 2: "BINARY", 8: "CLOSE", 9: "PING", 10: "PONG"}

# ZENWS_KERNEL_MASK (or ZENWS_MASK_KERNEL)=scalar64|sse2|avx2|neon forces a kernel,
# ZENWS_CPU caps the automatic choice (zenws_cpu.h); an unknown or unsupported name
# keeps the best one (mask_kernel() tells which).
cdef int _init_mask_kernel() except -1:
    zenws_mask_init(NULL)
    return 0


_init_mask_kernel()


cdef uint32_t utf8_feed_c(uint32_t state, const unsigned char* p, size_t n,
                          size_t* bad) noexcept nogil:
    return zenws_utf8_feed(state, p, n, bad)


cdef int utf8_valid_c(const unsigned char* p, size_t n) noexcept nogil:
    return zenws_utf8_valid(p, n)


cdef const zenws_cpu_api* cpu_api_c() noexcept nogil:
    return zenws_cpu_api_table()


# ---------------------------------------------------------------- helpers

cdef inline bint _is_control(int opcode) noexcept:
    return opcode >= 8


cdef inline bint _opcode_known(int opcode) noexcept:
    return opcode <= 2 or 8 <= opcode <= 10


cdef bint close_code_valid(int code) noexcept:
    # RFC 6455 §7.4.1-7.4.2: 1004/1005/1006/1015 must never be on the wire,
    # 1016-2999 are reserved for future RFCs, 3000-4999 are registered/private.
    if 3000 <= code <= 4999:
        return True
    return 1000 <= code <= 1014 and code != 1004 and code != 1005 and code != 1006


cdef int _raise(str message, int close_code) except -1:
    raise ProtocolError(message, close_code)


cdef int check_close_payload(const unsigned char* p, Py_ssize_t n) except -1:
    cdef int code
    if n == 0:
        return 0
    if n == 1:
        _raise("close frame payload of 1 byte (RFC 6455 §5.5.1)", 1002)
    if n > 125:
        _raise("close frame payload over 125 bytes", 1002)
    code = zenws_load_be16(p)
    if not close_code_valid(code):
        _raise(f"invalid close code {code} (RFC 6455 §7.4)", 1002)
    if not zenws_utf8_valid(p + 2, <size_t>(n - 2)):
        _raise("close reason is not valid UTF-8", 1007)
    return 0


cdef inline int _get_buf(object obj, Py_buffer* view, int flags) except -1:
    # Normalises "not a buffer" into a clear TypeError naming the type.
    try:
        PyObject_GetBuffer(obj, view, flags)
    except TypeError:
        raise TypeError(f"expected a bytes-like object, got {type(obj).__name__}") from None
    return 0


# ---------------------------------------------------------------- Frame

@cython.final
@cython.freelist(16)
cdef class Frame:
    """One WebSocket frame (RFC 6455 §5.2); `payload` is already unmasked."""

    def __init__(self, int opcode, bytes payload=b"", bint fin=True, bint rsv1=False,
                 bint rsv2=False, bint rsv3=False, bint masked=False):
        self.opcode = opcode
        self.payload = payload
        self.fin = fin
        self.rsv1 = rsv1
        self.rsv2 = rsv2
        self.rsv3 = rsv3
        self.masked = masked

    def __repr__(self):
        name = _OPNAMES.get(self.opcode, str(self.opcode))
        data = self.payload if len(self.payload) <= 32 else self.payload[:32] + b"..."
        flags = "".join(f for f, on in (("fin ", self.fin), ("rsv1 ", self.rsv1),
                                        ("rsv2 ", self.rsv2), ("rsv3 ", self.rsv3),
                                        ("masked ", self.masked)) if on)
        return f"<Frame {name} {flags}len={len(self.payload)} {data!r}>"

    def __eq__(self, other):
        if not isinstance(other, Frame):
            return NotImplemented
        cdef Frame o = <Frame>other
        return (self.opcode == o.opcode and self.fin == o.fin and self.rsv1 == o.rsv1
                and self.rsv2 == o.rsv2 and self.rsv3 == o.rsv3 and self.masked == o.masked
                and self.payload == o.payload)

    __hash__ = None


# ---------------------------------------------------------------- decode

cdef Py_ssize_t parse_header(const unsigned char* p, Py_ssize_t n, FrameHeader* h,
                             int64_t max_size, int flags) except -2:
    cdef unsigned char b0, b1
    cdef uint64_t length
    cdef Py_ssize_t pos = 2
    if n < 2:
        return -1
    b0 = p[0]
    b1 = p[1]
    h.fin = (b0 & 0x80) != 0
    h.rsv1 = (b0 & 0x40) != 0
    h.rsv2 = (b0 & 0x20) != 0
    h.rsv3 = (b0 & 0x10) != 0
    h.opcode = b0 & 0x0F
    h.masked = (b1 & 0x80) != 0
    length = b1 & 0x7F
    # RFC 6455 §5.2: reserved bits must be 0 unless an extension defines them;
    # RFC 7692 §6 gives RSV1 to permessage-deflate (flag HDR_ALLOW_RSV1).
    if h.rsv2 or h.rsv3 or (h.rsv1 and not (flags & HDR_ALLOW_RSV1)):
        _raise("reserved bits set without a negotiated extension", 1002)
    if not _opcode_known(h.opcode):
        _raise(f"unknown opcode {h.opcode}", 1002)
    if _is_control(h.opcode):
        # RFC 6455 §5.5: control frames <= 125 bytes and never fragmented.
        if length > 125:
            _raise("control frame payload over 125 bytes", 1002)
        if not h.fin:
            _raise("fragmented control frame", 1002)
    if h.masked:
        if flags & HDR_REQUIRE_UNMASKED:
            _raise("masked frame from the server (RFC 6455 §5.1)", 1002)
    elif flags & HDR_REQUIRE_MASK:
        _raise("unmasked frame from the client (RFC 6455 §5.1)", 1002)
    # Extended lengths: RFC 6455 §5.2 says the minimal number of bytes MUST be
    # used; a non-minimal form (5 in the 16-bit form) is a 1002, as in the read
    # guard (zenws.fast.guard) and in picows.
    if length == 126:
        if n < 4:
            return -1
        length = zenws_load_be16(p + 2)
        pos = 4
        if length < 126:
            _raise("non-minimal 16-bit payload length (RFC 6455 §5.2)", 1002)
    elif length == 127:
        if n < 10:
            return -1
        length = zenws_load_be64(p + 2)
        pos = 10
        if length >> 63:
            _raise("64-bit payload length with the most significant bit set", 1002)
        if length < 65536:
            _raise("non-minimal 64-bit payload length (RFC 6455 §5.2)", 1002)
    if max_size >= 0 and length > <uint64_t>max_size:
        _raise(f"frame payload of {length} bytes exceeds max_size {max_size}", 1009)
    if length > <uint64_t>(0x7FFFFFFFFFFFFFFF - 14):
        _raise("frame length does not fit in memory", 1009)
    if h.masked:
        if n < pos + 4:
            return -1
        memcpy(h.key, p + pos, 4)
        pos += 4
    h.header_len = pos
    h.payload_len = <Py_ssize_t>length
    return pos + <Py_ssize_t>length


cdef inline int64_t _max_size_arg(object max_size) except -2:
    if max_size is None:
        return -1
    cdef int64_t m = max_size
    if m < 0:
        raise ValueError("max_size must be >= 0 or None")
    return m


cdef bytes _payload_bytes(const unsigned char* p, FrameHeader* h):
    # Copy (and unmask, RFC 6455 §5.3) the payload into a new bytes object.
    # Allocated with NULL data so it is never one of CPython's shared 1-byte
    # singletons, which must not be written to.
    cdef bytes payload
    cdef unsigned char* out
    if not h.masked:
        return PyBytes_FromStringAndSize(<const char*>p, h.payload_len)
    payload = PyBytes_FromStringAndSize(NULL, h.payload_len)
    out = <unsigned char*>PyBytes_AS_STRING(payload)
    memcpy(out, p, <size_t>h.payload_len)
    zenws_mask(out, <size_t>h.payload_len, h.key, 0)
    return payload


def decode(object buf, *, object max_size=None, bint allow_rsv1=False,
           object expect_masked=None):
    """Decode one frame from the start of `buf`.

    Args:
        buf: bytes-like object holding zero or more frames.
        max_size: largest accepted payload in bytes (None = unlimited).
        allow_rsv1: True when permessage-deflate was negotiated (RFC 7692).
        expect_masked: True on a server (client frames must be masked), False on a
            client (server frames must not be), None to accept both.

    Returns:
        ``(frame, consumed)`` or None when `buf` does not hold a whole frame yet.

    Raises:
        ProtocolError: invalid frame; ``close_code`` is the RFC 6455 code
            (1002 protocol error, 1007 bad UTF-8 close reason, 1009 too big).
    """
    cdef Py_buffer view
    cdef FrameHeader h
    cdef Py_ssize_t total
    cdef int flags = HDR_ALLOW_RSV1 if allow_rsv1 else 0
    cdef int64_t limit = _max_size_arg(max_size)
    cdef bytes payload
    cdef Frame frame
    if expect_masked is not None:
        flags |= HDR_REQUIRE_MASK if expect_masked else HDR_REQUIRE_UNMASKED
    _get_buf(buf, &view, PyBUF_SIMPLE)
    try:
        total = parse_header(<const unsigned char*>view.buf, view.len, &h, limit, flags)
        if total < 0 or total > view.len:
            return None
        payload = _payload_bytes(<const unsigned char*>view.buf + h.header_len, &h)
    finally:
        PyBuffer_Release(&view)
    if h.opcode == OPCODE_CLOSE:
        check_close_payload(<const unsigned char*>PyBytes_AS_STRING(payload), h.payload_len)
    frame = Frame.__new__(Frame)
    frame.opcode = h.opcode
    frame.fin = h.fin
    frame.rsv1 = h.rsv1
    frame.rsv2 = h.rsv2
    frame.rsv3 = h.rsv3
    frame.masked = h.masked
    frame.payload = payload
    return frame, total


# ---------------------------------------------------------------- encode

cdef bytes _rand_pool = b""
cdef Py_ssize_t _rand_pos = 0


cdef const unsigned char* _random_key() except NULL:
    # RFC 6455 §5.3: keys must be unpredictable; os.urandom in 4 KiB batches.
    global _rand_pool, _rand_pos
    if _rand_pos + 4 > PyBytes_GET_SIZE(_rand_pool):
        _rand_pool = os.urandom(4096)
        _rand_pos = 0
    cdef const unsigned char* k = <const unsigned char*>PyBytes_AS_STRING(_rand_pool) + _rand_pos
    _rand_pos += 4
    return k


cdef bytes encode_c(int opcode, const unsigned char* data, Py_ssize_t n, bint fin,
                    int rsv_bits, const unsigned char* key):
    cdef Py_ssize_t hlen = 2
    cdef unsigned char* out
    cdef bytes frame
    if n > 65535:
        hlen = 10
    elif n > 125:
        hlen = 4
    if key != NULL:
        hlen += 4
    frame = PyBytes_FromStringAndSize(NULL, hlen + n)
    out = <unsigned char*>PyBytes_AS_STRING(frame)
    out[0] = (0x80 if fin else 0) | (rsv_bits & 0x70) | (opcode & 0x0F)
    cdef unsigned char mbit = 0x80 if key != NULL else 0
    if n > 65535:
        out[1] = mbit | 127
        zenws_store_be64(out + 2, <uint64_t>n)
    elif n > 125:
        out[1] = mbit | 126
        zenws_store_be16(out + 2, <unsigned short>n)
    else:
        out[1] = mbit | <unsigned char>n
    if n:
        memcpy(out + hlen, data, <size_t>n)
    if key != NULL:
        memcpy(out + hlen - 4, key, 4)
        zenws_mask(out + hlen, <size_t>n, key, 0)
    return frame


cdef Py_ssize_t frame_in_place_c(int opcode, unsigned char* payload, Py_ssize_t n) except -1:
    cdef const unsigned char* key = _random_key()
    cdef Py_ssize_t hlen = 6 if n <= 125 else 8 if n <= 65535 else 14
    cdef unsigned char* out = payload - hlen
    out[0] = 0x80 | (opcode & 0x0F)
    if n > 65535:
        out[1] = 0x80 | 127
        zenws_store_be64(out + 2, <uint64_t>n)
    elif n > 125:
        out[1] = 0x80 | 126
        zenws_store_be16(out + 2, <unsigned short>n)
    else:
        out[1] = 0x80 | <unsigned char>n
    memcpy(payload - 4, key, 4)
    zenws_mask(payload, <size_t>n, key, 0)
    return hlen


def encode(int opcode, object payload=b"", *, bint fin=True, bint rsv1=False,
           bint rsv2=False, bint rsv3=False, object mask=None, bint strict=True):
    """Encode one frame (RFC 6455 §5.2).

    Args:
        opcode: 0..15; OP_TEXT, OP_BINARY, OP_CONT, OP_CLOSE, OP_PING, OP_PONG.
        payload: bytes-like, or str (encoded as UTF-8).
        fin: final fragment bit.
        rsv1: RSV1 (permessage-deflate "compressed"); rsv2, rsv3: reserved bits.
        mask: None/False = unmasked (server), True = random key (client), or the
            4-byte key to use.
        strict: reject frames a conforming peer must not send (unknown opcode,
            RSV2/RSV3, RSV1 on a control or continuation frame, control frame
            over 125 bytes or fragmented).  Test servers pass False to build
            invalid frames on purpose.

    Returns:
        The frame as bytes.

    Raises:
        ValueError: opcode outside 0..15, bad key length, or (strict) an invalid frame.
        TypeError: payload or key is not bytes-like.
    """
    cdef Py_buffer view
    cdef Py_buffer kview
    cdef const unsigned char* key = NULL
    cdef unsigned char keybuf[4]
    cdef int rsv_bits = (0x40 if rsv1 else 0) | (0x20 if rsv2 else 0) | (0x10 if rsv3 else 0)
    if not 0 <= opcode <= 15:
        raise ValueError(f"opcode must be in 0..15, got {opcode}")
    if isinstance(payload, str):
        payload = PyUnicode_AsUTF8String(payload)
    if mask is None or mask is False:
        pass
    elif mask is True:
        key = _random_key()
    else:
        _get_buf(mask, &kview, PyBUF_SIMPLE)
        try:
            if kview.len != 4:
                raise ValueError(f"mask key must be 4 bytes, got {kview.len}")
            memcpy(keybuf, kview.buf, 4)
        finally:
            PyBuffer_Release(&kview)
        key = keybuf
    _get_buf(payload, &view, PyBUF_SIMPLE)
    try:
        if strict:
            _check_encodable(opcode, view.len, fin, rsv_bits)
        return encode_c(opcode, <const unsigned char*>view.buf, view.len, fin, rsv_bits, key)
    finally:
        PyBuffer_Release(&view)


cdef int _check_encodable(int opcode, Py_ssize_t n, bint fin, int rsv_bits) except -1:
    if not _opcode_known(opcode):
        raise ValueError(f"unknown opcode {opcode} (pass strict=False to send it anyway)")
    if rsv_bits & 0x30:
        raise ValueError("RSV2/RSV3 are not defined by any supported extension")
    if _is_control(opcode):
        if n > 125:
            raise ValueError("control frame payload over 125 bytes (RFC 6455 §5.5)")
        if not fin:
            raise ValueError("control frames cannot be fragmented (RFC 6455 §5.5)")
        if rsv_bits:
            raise ValueError("RSV1 on a control frame (RFC 7692 §6.1)")
    elif opcode == OPCODE_CONT and rsv_bits:
        raise ValueError("RSV1 on a continuation frame (RFC 7692 §6.1)")
    return 0


# ---------------------------------------------------------------- masking

def apply_mask(object buf, object key, Py_ssize_t offset=0):
    """XOR a writable buffer in place with a 4-byte masking key (RFC 6455 §5.3).

    Args:
        buf: writable bytes-like object (bytearray, memoryview, numpy array...).
        key: the 4-byte masking key.
        offset: position of buf[0] inside the payload (for masking in pieces):
            buf[0] is XORed with key[offset % 4].

    Raises:
        TypeError: buf is read-only or not a buffer.
        ValueError: key is not 4 bytes or offset < 0.
    """
    _mask_buffer(-1, buf, key, offset)


def _apply_mask_kernel(str kernel, object buf, object key, Py_ssize_t offset=0):
    """apply_mask() through a named kernel (tests and benchmarks)."""
    cdef int k
    for k in range(ZENWS_MASK_NKERNELS):
        if zenws_mask_kernel_name(k).decode() == kernel:
            if not zenws_mask_available(k):
                raise ValueError(f"mask kernel {kernel!r} is not available on this CPU")
            _mask_buffer(k, buf, key, offset)
            return
    raise ValueError(f"unknown mask kernel {kernel!r}")


cdef int _mask_buffer(int kernel, object buf, object key, Py_ssize_t offset) except -1:
    cdef Py_buffer view
    cdef Py_buffer kview
    cdef unsigned char keybuf[4]
    if offset < 0:
        raise ValueError("offset must be >= 0")
    _get_buf(key, &kview, PyBUF_SIMPLE)
    try:
        if kview.len != 4:
            raise ValueError(f"mask key must be 4 bytes, got {kview.len}")
        memcpy(keybuf, kview.buf, 4)
    finally:
        PyBuffer_Release(&kview)
    try:
        PyObject_GetBuffer(buf, &view, PyBUF_WRITABLE)
    except (TypeError, BufferError):
        raise TypeError(f"apply_mask needs a writable buffer, got {type(buf).__name__}") from None
    try:
        with nogil:
            if kernel < 0:
                zenws_mask(<unsigned char*>view.buf, <size_t>view.len, keybuf, <size_t>offset)
            else:
                zenws_mask_with(kernel, <unsigned char*>view.buf, <size_t>view.len, keybuf,
                                <size_t>offset)
    finally:
        PyBuffer_Release(&view)
    return 0


def mask_kernel():
    """Name of the masking kernel chosen at run time ("avx2", "sse2", "neon", "scalar64")."""
    return zenws_mask_kernel_name(zenws_mask_current()).decode()


def _cpu_features() -> int:
    """ZENWS_CPU_* feature bits the detector reports (tests: every extension must see
    the same CPU)."""
    return zenws_cpu_features()


def _cpu_env() -> dict:
    """The ZENWS_CPU / ZENWS_KERNEL_<NAME> variables (or their older spellings) the
    dispatcher read, with the value it saw, in the order read (``zenws.build_info``)."""
    cdef const char* var
    cdef const char* value
    cdef int i = 0
    cdef dict out = {}
    while zenws_cpu_env(i, &var, &value):
        out[var.decode("ascii", "replace")] = value.decode("ascii", "replace")
        i += 1
    return out


def utf8_kernel() -> str:
    """Name of the UTF-8 validator's ASCII kernel ("avx2", "sse2", "swar")."""
    return zenws_utf8_kernel().decode("ascii")


def _utf8_kernels() -> tuple:
    """Names of the UTF-8 kernels this CPU can run, portable first (tests and
    ``build_info``; not thread-safe: each is switched to for a moment)."""
    cdef bytes before = zenws_utf8_kernel()
    cdef list out = []
    try:
        for k in ("swar", "sse2", "avx2"):
            if zenws_utf8_set_kernel(k.encode("ascii")) == 0:
                out.append(k)
    finally:
        zenws_utf8_set_kernel(before)
    return tuple(out)


def mask_kernels():
    """Names of every masking kernel this CPU and build can run, best last."""
    cdef int k
    return tuple(zenws_mask_kernel_name(k).decode() for k in range(ZENWS_MASK_NKERNELS)
                 if zenws_mask_available(k))


# ---------------------------------------------------------------- UTF-8

def utf8_valid(object data):
    """True if `data` (bytes-like) is complete, valid UTF-8 (RFC 3629)."""
    cdef Py_buffer view
    _get_buf(data, &view, PyBUF_SIMPLE)
    try:
        return zenws_utf8_valid(<const unsigned char*>view.buf, <size_t>view.len) != 0
    finally:
        PyBuffer_Release(&view)


def utf8_first_invalid(object data):
    """Index of the first byte that makes `data` invalid UTF-8.

    Returns:
        -1 when `data` is valid, the index of the first byte that can never be
        part of valid UTF-8, or ``len(data)`` when `data` only ends inside an
        unfinished sequence (it may continue in the next fragment).
    """
    cdef Py_buffer view
    cdef size_t bad = 0
    cdef uint32_t state
    _get_buf(data, &view, PyBUF_SIMPLE)
    try:
        state = zenws_utf8_feed(ZENWS_UTF8_ACCEPT, <const unsigned char*>view.buf,
                                <size_t>view.len, &bad)
        if state == ZENWS_UTF8_REJECT:
            return <Py_ssize_t>bad
        return -1 if state == ZENWS_UTF8_ACCEPT else view.len
    finally:
        PyBuffer_Release(&view)


# ---------------------------------------------------------------- close payloads

def encode_close_payload(int code, str reason=""):
    """Build a close frame payload: 2-byte code + UTF-8 reason (RFC 6455 §5.5.1).

    Args:
        code: a close code valid on the wire (1000-1003, 1007-1014, 3000-4999).
        reason: text, at most 123 bytes once UTF-8 encoded.

    Returns:
        The payload bytes.

    Raises:
        ValueError: the code may not be sent, or the reason is too long.
    """
    if not close_code_valid(code):
        raise ValueError(f"close code {code} may not be sent (RFC 6455 §7.4)")
    cdef bytes r = PyUnicode_AsUTF8String(reason)
    if len(r) > 123:
        raise ValueError(f"close reason is {len(r)} bytes once encoded; the limit is 123")
    cdef bytes out = PyBytes_FromStringAndSize(NULL, 2 + len(r))
    zenws_store_be16(<unsigned char*>PyBytes_AS_STRING(out), <unsigned short>code)
    memcpy(PyBytes_AS_STRING(out) + 2, PyBytes_AS_STRING(r), len(r))
    return out


def parse_close_payload(object payload):
    """Parse and validate a close frame payload (RFC 6455 §5.5.1, §7.4).

    Args:
        payload: the (unmasked) close frame payload.

    Returns:
        ``(code, reason)``; ``(None, "")`` for an empty payload.

    Raises:
        ProtocolError: 1002 for a 1-byte payload, over 125 bytes or an invalid
            code; 1007 when the reason is not UTF-8.
    """
    cdef Py_buffer view
    _get_buf(payload, &view, PyBUF_SIMPLE)
    try:
        check_close_payload(<const unsigned char*>view.buf, view.len)
        if view.len == 0:
            return None, ""
        return (zenws_load_be16(<const unsigned char*>view.buf),
                PyUnicode_DecodeUTF8(<const char*>view.buf + 2, view.len - 2, NULL))
    finally:
        PyBuffer_Release(&view)


# ---------------------------------------------------------------- reassembly

cdef int _grow(_ByteBuf* b, Py_ssize_t need) except -1:
    # Geometric growth of the fragment buffer; `need` is already bounded by
    # max_message_size, so this never allocates past the configured limit.
    cdef Py_ssize_t cap = b.cap * 2 if b.cap else 4096
    cdef char* p
    if cap < need:
        cap = need
    p = <char*>PyMem_Realloc(b.data, <size_t>cap)
    if p == NULL:
        raise MemoryError()
    b.data = p
    b.cap = cap
    return 0


cdef inline int _append(_ByteBuf* b, const void* p, Py_ssize_t n) except -1:
    if n <= 0:
        return 0  # also keeps memcpy away from a NULL (never allocated) buffer
    if b.size + n > b.cap:
        _grow(b, b.size + n)
    memcpy(b.data + b.size, p, <size_t>n)
    b.size += n
    return 0


@cython.final
cdef class MessageAssembler:
    """Reassembles data frames into messages (RFC 6455 §5.4), validating as it goes.

    Checks the fragmentation sequence (1002), UTF-8 of text messages
    incrementally across fragments (1007 at the first bad byte), the message
    size (1009, decompressed size when inflating) and RSV1 (RFC 7692 §6.1:
    only on the first frame of a message and only with an inflater).
    Control frames are not fed here; they may arrive between fragments.
    """

    def __cinit__(self, Py_ssize_t max_message_size=16 * 1024 * 1024, *, Inflater inflater=None):
        if max_message_size < 0:
            raise ValueError("max_message_size must be >= 0")
        self.max_message_size = max_message_size
        self.inflater = inflater
        self.msg_opcode = -1
        self.msg_payload = None
        self._opcode = -1

    def __dealloc__(self):
        PyMem_Free(self._buf.data)

    cpdef void reset(self) noexcept:
        """Forget any partial message (e.g. after a reconnect)."""
        self._opcode = -1
        self._compressed = False
        self._utf8 = ZENWS_UTF8_ACCEPT
        self._buf.size = 0
        self._zout = None
        self._zlen = 0
        if self._buf.cap > _KEEP_BUFFER:
            # Do not pin a huge buffer after one large message.
            PyMem_Free(self._buf.data)
            self._buf.data = NULL
            self._buf.cap = 0
        if self.inflater is not None:
            self.inflater.reset()

    @property
    def in_message(self):
        """True while a fragmented message is open."""
        return self._opcode >= 0

    cdef int feed_c(self, int opcode, bint fin, bint rsv1,
                    const unsigned char* data, Py_ssize_t size) except -1:
        return self._feed(opcode, fin, rsv1, data, size, None)

    cdef int feed_obj(self, int opcode, bint fin, bint rsv1, bytes payload) except -1:
        return self._feed(opcode, fin, rsv1, <const unsigned char*>PyBytes_AS_STRING(payload),
                          PyBytes_GET_SIZE(payload), payload)

    def feed(self, int opcode, object payload, bint fin=True, bint rsv1=False):
        """Feed one data frame (opcode 0, 1 or 2) with its unmasked payload.

        Args:
            opcode: OP_CONT, OP_TEXT or OP_BINARY.
            payload: the frame payload (bytes-like; a bytes object of a
                single-frame uncompressed message is returned as is, no copy).
            fin: the frame's FIN bit.
            rsv1: the frame's RSV1 bit (compressed message, RFC 7692).

        Returns:
            ``(opcode, payload_bytes)`` when a message is complete, else None.

        Raises:
            ProtocolError: 1002 bad sequence/RSV1, 1007 invalid UTF-8, 1009 too big.
            ValueError: opcode is not a data opcode.
        """
        cdef Py_buffer view
        cdef int done
        if type(payload) is bytes:
            done = self.feed_obj(opcode, fin, rsv1, <bytes>payload)
        else:
            _get_buf(payload, &view, PyBUF_SIMPLE)
            try:
                done = self._feed(opcode, fin, rsv1, <const unsigned char*>view.buf,
                                  view.len, None)
            finally:
                PyBuffer_Release(&view)
        if done:
            return self.msg_opcode, self.msg_payload
        return None

    cdef int _fail(self, str message, int close_code) except -1:
        self.reset()
        raise ProtocolError(message, close_code)

    cdef int _feed(self, int opcode, bint fin, bint rsv1, const unsigned char* data,
                   Py_ssize_t size, object obj) except -1:
        if opcode == OPCODE_CONT:
            if self._opcode < 0:
                return self._fail("continuation frame without a message to continue", 1002)
            if rsv1:
                return self._fail("RSV1 set on a continuation frame (RFC 7692 §6.1)", 1002)
        elif opcode == OPCODE_TEXT or opcode == OPCODE_BINARY:
            if self._opcode >= 0:
                return self._fail("new data frame while a fragmented message is open", 1002)
            if rsv1 and self.inflater is None:
                return self._fail("RSV1 set but permessage-deflate was not negotiated", 1002)
            self._opcode = opcode
            self._compressed = rsv1
            self._utf8 = ZENWS_UTF8_ACCEPT
            # Fast path: a whole uncompressed message in one frame, no copy.
            if fin and not rsv1:
                return self._single(opcode, data, size, obj)
        else:
            raise ValueError(f"MessageAssembler takes data frames only, got opcode {opcode}")
        if self._compressed:
            self._inflate_part(data, size, fin)
        else:
            if self._buf.size + size > self.max_message_size:
                return self._fail(f"message over max_message_size {self.max_message_size}",
                                  1009)
            if self._opcode == OPCODE_TEXT:
                self._check_utf8(data, size)
            _append(&self._buf, data, size)
        if not fin:
            return 0
        if self._opcode == OPCODE_TEXT and self._utf8 != ZENWS_UTF8_ACCEPT:
            return self._fail("text message ends inside a UTF-8 sequence", 1007)
        self.msg_opcode = self._opcode
        if self._compressed:
            self.msg_payload = self._take_inflated()
        else:
            self.msg_payload = PyBytes_FromStringAndSize(self._buf.data, self._buf.size)
        self._opcode = -1
        self._buf.size = 0
        if self._buf.cap > _KEEP_BUFFER:
            self.reset()
        return 1

    cdef int _single(self, int opcode, const unsigned char* data, Py_ssize_t size,
                     object obj) except -1:
        self._opcode = -1
        if size > self.max_message_size:
            return self._fail(f"message over max_message_size {self.max_message_size}", 1009)
        if opcode == OPCODE_TEXT and not zenws_utf8_valid(data, <size_t>size):
            return self._fail("text message is not valid UTF-8", 1007)
        self.msg_opcode = opcode
        self.msg_payload = obj if obj is not None else PyBytes_FromStringAndSize(
            <const char*>data, size)
        return 1

    cdef int _check_utf8(self, const unsigned char* data, Py_ssize_t size) except -1:
        cdef size_t bad = 0
        self._utf8 = zenws_utf8_feed(self._utf8, data, <size_t>size, &bad)
        if self._utf8 == ZENWS_UTF8_REJECT:
            self._fail(f"invalid UTF-8 in text message at fragment byte {bad}", 1007)
        return 0

    cdef int _inflate_part(self, const unsigned char* data, Py_ssize_t size,
                           bint fin) except -1:
        # Inflated in bounded steps straight into the message's bytes object, so a
        # message (or a deflate bomb) costs its size plus one step, never two copies;
        # the 1009 reason names the configured limit, not what was left of it.
        try:
            self._inflate_from(PyMemoryView_FromMemory(<char*>data, size, PyBUF_READ))
            if fin:
                self._inflate_from(_EMPTY_BLOCK)
                self.inflater.end_message_c()
        except ProtocolError:
            self.reset()
            raise
        return 0

    cdef int _inflate_from(self, object data) except -1:
        cdef Py_ssize_t step = max(_INFLATE_STEP, self.max_message_size >> 4)
        cdef Py_ssize_t room, want
        cdef bytes piece
        while True:
            room = self.max_message_size - self._zlen
            want = (room if room < step else step) + 1  # one byte past the limit proves it
            piece = self.inflater.step_c(data, want)
            data = None
            if PyBytes_GET_SIZE(piece) > room:
                raise ProtocolError(
                    f"decompressed message over max_message_size {self.max_message_size}", 1009)
            if self._opcode == OPCODE_TEXT:
                self._check_utf8(<const unsigned char*>PyBytes_AS_STRING(piece),
                                 PyBytes_GET_SIZE(piece))
            self._zappend(piece)
            if PyBytes_GET_SIZE(piece) < want and not self.inflater.has_tail_c():
                return 0

    cdef int _zappend(self, bytes piece) except -1:
        cdef Py_ssize_t n = PyBytes_GET_SIZE(piece)
        cdef object old
        if n == 0:
            return 0
        if self._zout is None:
            self._zout = piece          # zlib's own bytes object: no copy
            self._zlen = n
            return 0
        if self._zlen + n > PyBytes_GET_SIZE(self._zout):
            # Room for the largest allowed message at once, never grown again: pages
            # are resident only once written, and the final shrink (_take_inflated)
            # is a realloc in place, so the message is never copied twice.
            old = self._zout
            self._zout = PyBytes_FromStringAndSize(NULL, self.max_message_size)
            memcpy(PyBytes_AS_STRING(self._zout), PyBytes_AS_STRING(old), <size_t>self._zlen)
            old = None
        memcpy(PyBytes_AS_STRING(self._zout) + self._zlen, PyBytes_AS_STRING(piece), <size_t>n)
        self._zlen += n
        return 0

    cdef int _resize_z(self, Py_ssize_t size) except -1:
        # _PyBytes_Resize needs the only reference (anything else would see the
        # bytes change): then it is a realloc, else a copy.
        cdef PyObject* p
        cdef object old
        if _refcnt(<PyObject*>self._zout) > 1:
            old = self._zout
            self._zout = PyBytes_FromStringAndSize(PyBytes_AS_STRING(old), size)
            return 0
        p = <PyObject*>self._zout
        Py_INCREF(self._zout)
        self._zout = None               # p now holds the only reference
        _PyBytes_Resize(&p, size)       # realloc; on failure p is freed and NULL
        self._zout = <object>p
        Py_DECREF(self._zout)
        return 0

    cdef bytes _take_inflated(self):
        cdef bytes out
        if self._zout is None:
            return b""
        if PyBytes_GET_SIZE(self._zout) != self._zlen:
            self._resize_z(self._zlen)
        out = self._zout
        self._zout = None
        self._zlen = 0
        return out


include "frame_deflate.pxi"
