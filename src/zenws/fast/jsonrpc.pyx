"""JSON-RPC 2.0 hot path: top-level member scan, request encoding, correlation.

``scan`` reads only what routing needs (kind, id, method, params.channel) in one
C pass over the bytes (ext/zenws_scan.c) and builds Python objects lazily.
``encode_request`` writes the whole request in C (ext/zenws_jsonenc.c: plain
data straight into the returned bytes; anything else in the params goes to
orjson).  ``Correlator`` maps in-flight request ids to their waiters with an
open-addressing int64 table, so tracking and resolving a request costs no
Python int or dict operations.

Specification: https://www.jsonrpc.org/specification (JSON-RPC 2.0), RFC 8259.
"""
cimport cython
from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.long cimport PyLong_AsLongLongAndOverflow
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from cpython.object cimport PyObject
from cpython.ref cimport Py_DECREF
from cpython.unicode cimport PyUnicode_AsUTF8AndSize, PyUnicode_DecodeUTF8
from libc.stdint cimport INT64_MAX, int64_t, uint8_t, uint64_t
from libc.string cimport memcpy, memset

from zenws.fast.common cimport zenws_cpu_api, zenws_cpu_features, zenws_monotonic_ns
from zenws.fast.frame cimport cpu_api_c

# The C units of this extension (scan, json) reach the one CPU dispatcher, compiled into
# zenws.fast.frame, through this pointer (zenws_cpu.h); it is set below, before any
# kernel chooses.
cdef extern from *:
    """
    const zenws_cpu_api *zenws_cpu_link = NULL;
    """
    const zenws_cpu_api* zenws_cpu_link

import asyncio
import json

import orjson

cdef object _Future = asyncio.Future
cdef object _dumps = orjson.dumps
cdef object _JSONDecodeError = json.JSONDecodeError

KIND_INVALID = ZENWS_KIND_INVALID
KIND_OTHER = ZENWS_KIND_OTHER
KIND_RESPONSE = ZENWS_KIND_RESPONSE
KIND_NOTIFICATION = ZENWS_KIND_NOTIFICATION
KIND_REQUEST = ZENWS_KIND_REQUEST
KIND_ERROR_NO_ID = ZENWS_KIND_ERROR_NO_ID
MAX_DEPTH = ZENWS_SCAN_MAX_DEPTH
STRICT_BELOW = ZENWS_SCAN_STRICT_BELOW

# Choose the scan kernel now (reads ZENWS_SCAN_KERNEL), not on the first message,
# and the string kernel of loads()/encode_request() (reads ZENWS_JSON_KERNEL).
zenws_cpu_link = cpu_api_c()
zenws_scan_kernel()
zenws_json_kernel_init()

cdef dict _KIND_NAMES = {
    ZENWS_KIND_INVALID: "INVALID",
    ZENWS_KIND_OTHER: "OTHER",
    ZENWS_KIND_RESPONSE: "RESPONSE",
    ZENWS_KIND_NOTIFICATION: "NOTIFICATION",
    ZENWS_KIND_REQUEST: "REQUEST",
    ZENWS_KIND_ERROR_NO_ID: "ERROR_NO_ID",
}

# ScanResult._have bits: which lazy attribute has been built.
cdef enum:
    _HAVE_ID = 1
    _HAVE_METHOD = 2
    _HAVE_CHANNEL = 4


cdef str _decode(bytes buf, Py_ssize_t off, Py_ssize_t size, int escaped):
    """Python str of a string span checked by zenws_scan (same as json.loads)."""
    cdef const char* src = PyBytes_AS_STRING(buf) + off
    cdef char* tmp
    cdef Py_ssize_t n
    if not escaped:
        # "surrogatepass" because json.loads decodes bytes that way.
        return PyUnicode_DecodeUTF8(src, size, "surrogatepass")
    tmp = <char*>PyMem_Malloc(size + 1)
    if tmp == NULL:
        raise MemoryError()
    try:
        n = zenws_unescape(src, size, tmp)
        return PyUnicode_DecodeUTF8(tmp, n, "surrogatepass")
    finally:
        PyMem_Free(tmp)


# No @cython.freelist: its allocation clears the whole object with `rep stosb`
# (about 15 ns per scan, measured); pymalloc + memset is cheaper for this size.
@cython.final
@cython.no_gc
@cython.auto_pickle(False)
cdef class ScanResult:
    """What :func:`scan` found at the top level of one message.

    Attributes:
        kind: one of the ``KIND_*`` constants.
        id: int, str or None (absent or ``null``).
        method: the top-level ``"method"`` string, or None.
        channel: ``params.channel`` of a notification, or None.
        has_result: a top-level ``"result"`` key is present.
        has_error: a top-level ``"error"`` key is present.
        buf: the scanned bytes.
    """

    def __init__(self) -> None:
        raise TypeError("ScanResult objects are created by zenws.fast.jsonrpc.scan()")

    @property
    def kind(self) -> int:
        return self.s.kind

    @property
    def has_result(self) -> bool:
        return self.s.has_result != 0

    @property
    def has_error(self) -> bool:
        return self.s.has_error != 0

    @property
    def id(self):
        if self.s.id_type == ZENWS_ID_INT:
            return self.s.id_int
        if self.s.id_type != ZENWS_ID_STRING:
            return None
        if not self._have & _HAVE_ID:
            self._id = _decode(self.buf, self.s.id_off, self.s.id_len, self.s.id_escaped)
            self._have |= _HAVE_ID
        return self._id

    @property
    def method(self):
        if self.s.method_len == 0 and self.s.method_off == 0:
            return None
        if not self._have & _HAVE_METHOD:
            self._method = _decode(self.buf, self.s.method_off, self.s.method_len,
                                   self.s.method_escaped)
            self._have |= _HAVE_METHOD
        return self._method

    @property
    def channel(self):
        if self.s.channel_len == 0 and self.s.channel_off == 0:
            return None
        if not self._have & _HAVE_CHANNEL:
            self._channel = _decode(self.buf, self.s.channel_off, self.s.channel_len,
                                    self.s.channel_escaped)
            self._have |= _HAVE_CHANNEL
        return self._channel

    def __repr__(self) -> str:
        return (
            f"ScanResult(kind={_KIND_NAMES[self.s.kind]}, id={self.id!r}, "
            f"method={self.method!r}, channel={self.channel!r}, "
            f"has_result={self.has_result}, has_error={self.has_error})"
        )


cdef ScanResult scan_c(bytes buf, bint strict=False):
    cdef ScanResult r
    if buf is None:
        raise TypeError("scan_c() needs bytes, got None")
    r = ScanResult.__new__(ScanResult)
    r.buf = buf
    if strict:
        zenws_scan_strict(PyBytes_AS_STRING(buf), PyBytes_GET_SIZE(buf), &r.s)
    else:
        zenws_scan(PyBytes_AS_STRING(buf), PyBytes_GET_SIZE(buf), &r.s)
    return r


cdef inline bytes _as_bytes(object buf):
    if type(buf) is bytes:
        return <bytes>buf
    if isinstance(buf, (bytearray, memoryview)):
        return bytes(buf)  # a copy: the result's offsets must stay valid
    raise TypeError(f"expected bytes, bytearray or memoryview, got {type(buf).__name__}")


# binding(False) + always_allow_keywords(False): a plain METH_O builtin, the
# cheapest call CPython has (no argument parsing, no CyFunction layer).  The
# "clinic" signature format gives it a __text_signature__ (``(buf, /)``), so that
# inspect.signature() sees the real parameter: without one, Python 3.13 reports
# ``(self, object, /)`` for every METH_O builtin.
@cython.binding(False)
@cython.always_allow_keywords(False)
@cython.embedsignature.format("clinic")
def scan(buf, /) -> ScanResult:
    """Scan the top level of a JSON-RPC message without parsing it.

    Args:
        buf: the message (bytes; bytearray/memoryview are copied first).

    Returns:
        A :class:`ScanResult`; ``kind`` is ``KIND_INVALID`` for malformed JSON
        (nested payloads of messages >= 128 bytes are checked by structure
        only: see :func:`scan_strict`).

    Raises:
        TypeError: ``buf`` is not a bytes-like object.
    """
    return scan_c(_as_bytes(buf), False)


@cython.binding(False)
@cython.always_allow_keywords(False)
@cython.embedsignature.format("clinic")
def scan_strict(buf, /) -> ScanResult:
    """Like :func:`scan`, but every nested value is checked against RFC 8259.

    Args:
        buf: the message (bytes; bytearray/memoryview are copied first).

    Returns:
        A :class:`ScanResult`; ``KIND_INVALID`` unless ``buf`` is valid JSON.

    Raises:
        TypeError: ``buf`` is not a bytes-like object.
    """
    return scan_c(_as_bytes(buf), True)


@cython.binding(False)
@cython.always_allow_keywords(False)
@cython.embedsignature.format("clinic")
def scan_id(buf, /):
    """Return the top-level ``"id"`` of a message: int, str or None.

    Args:
        buf: the message (bytes, bytearray or memoryview).

    Returns:
        The id; None when it is absent, ``null`` or the message is invalid.

    Raises:
        TypeError: ``buf`` is not a bytes-like object.
    """
    cdef zenws_scan_t s
    cdef bytes b = _as_bytes(buf)
    zenws_scan(PyBytes_AS_STRING(b), PyBytes_GET_SIZE(b), &s)
    if s.id_type == ZENWS_ID_INT:
        return s.id_int
    if s.id_type == ZENWS_ID_STRING:
        return _decode(b, s.id_off, s.id_len, s.id_escaped)
    return None


cdef extern from "zenws_jstr.h" nogil:
    Py_ssize_t zenws_jstr_quote(char* out, const uint8_t* s, Py_ssize_t k, int check,
                                int keys, zenws_keycache* kc) noexcept
    int zenws_jstr_has_secret_key(const uint8_t* s, Py_ssize_t k) noexcept


cdef Py_ssize_t jstr_quote_c(char* out, const uint8_t* s, Py_ssize_t k, int check, int keys,
                             zenws_keycache* kc) noexcept nogil:
    return zenws_jstr_quote(out, s, k, check, keys, kc)


cdef bint jstr_has_secret_key_c(const uint8_t* s, Py_ssize_t k) noexcept nogil:
    return zenws_jstr_has_secret_key(s, k) != 0


cdef int scan_raw_c(const char* buf, Py_ssize_t n, zenws_scan_t* out) noexcept nogil:
    return zenws_scan(buf, n, out)


cdef Py_ssize_t unescape_raw_c(const char* src, Py_ssize_t n, char* dst) noexcept nogil:
    return zenws_unescape(src, n, dst)


def scan_kernel() -> str:
    """Name of the SIMD kernel :func:`scan` uses for messages >= STRICT_BELOW bytes.

    Returns:
        ``"avx512"`` (AVX-512 BW; chosen only on Ice Lake or later CPUs),
        ``"avx2"`` (AVX2 + PCLMULQDQ), ``"sse2"`` or ``"scalar"`` (portable).
        Chosen at import from what the CPU supports; set the environment
        variable ``ZENWS_SCAN_KERNEL`` to one of these names before the import
        to force it.  Every kernel gives the same results.
    """
    return zenws_scan_kernel().decode("ascii")


def _set_scan_kernel(str name not None) -> str:
    """Switch the scan kernel (tests and benchmarks only; not thread-safe).

    Args:
        name: ``"avx512"``, ``"avx2"``, ``"sse2"``, ``"scalar"`` or ``"auto"``.

    Returns:
        The kernel in use before the call.

    Raises:
        ValueError: unknown name, or a kernel this CPU cannot run.
    """
    cdef str before = scan_kernel()
    if zenws_scan_set_kernel(name.encode("ascii")) != 0:
        raise ValueError(f"scan kernel {name!r} is unknown or not supported by this CPU")
    return before


# ---------------------------------------------------------------- decoding

cdef object loads_c(const char* buf, Py_ssize_t n):
    return zenws_json_loads(buf, n)


cdef object _loads_buffer(object data):
    cdef Py_buffer view
    if isinstance(data, memoryview) and not data.c_contiguous:
        data = data.tobytes()  # the decoder reads one contiguous run of bytes
        return zenws_json_loads(PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data))
    # Holding the buffer export keeps a bytearray from being resized meanwhile.
    PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
    try:
        return zenws_json_loads(<const char*>view.buf, view.len)
    finally:
        PyBuffer_Release(&view)


cdef object _loads_str(str data):
    cdef Py_ssize_t n
    cdef const char* p
    try:
        p = PyUnicode_AsUTF8AndSize(data, &n)
    except UnicodeEncodeError as exc:
        raise _JSONDecodeError("Lone surrogate in str (not UTF-8 encodable)",
                               data, exc.start) from None
    return zenws_json_loads(p, n)


@cython.binding(False)
@cython.always_allow_keywords(False)
@cython.embedsignature.format("clinic")
def loads(data, /):
    """Decode one JSON document (RFC 8259) into Python objects.

    The result equals ``json.loads`` of the same text (dict, list, str, int of any
    size, float rounded exactly like ``float()``, True/False/None), only faster.
    Stricter than ``json.loads``, like orjson: ``NaN``/``Infinity``, lone
    surrogates, a byte order mark and numbers beyond the double range (``1e400``)
    are errors.

    Args:
        data: UTF-8 bytes, bytearray or memoryview (a non-contiguous one is
            copied), or a str (encoded to UTF-8 first).

    Returns:
        The decoded value.

    Raises:
        json.JSONDecodeError: invalid JSON or UTF-8, nesting deeper than
            ``MAX_DEPTH``; ``pos`` is the byte offset into the UTF-8 input.
        ValueError: an integer longer than ``sys.get_int_max_str_digits()``.
        TypeError: ``data`` is not bytes, bytearray, memoryview or str.
    """
    if type(data) is bytes:
        return zenws_json_loads(PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data))
    if isinstance(data, str):
        return _loads_str(<str>data)
    if isinstance(data, (bytes, bytearray, memoryview)):
        return _loads_buffer(data)
    raise TypeError(
        f"loads() needs bytes, bytearray, memoryview or str, got {type(data).__name__}"
    )


def loads_kernel() -> str:
    """Name of the string kernel of :func:`loads`, :func:`dumps` and :func:`encode_request`.

    Returns:
        ``"avx2"`` (strings of 64 bytes and more, on AVX2 CPUs), ``"sse2"``
        (x86-64) or ``"swar"`` (portable, 8 bytes at a time).  Chosen at import
        from what the CPU supports; set the environment variable
        ``ZENWS_JSON_KERNEL`` to one of these names before the import to force
        it.  Every kernel gives the same results.
    """
    return zenws_json_kernel().decode("ascii")


def _set_json_kernel(str name not None) -> str:
    """Switch the string kernel of loads/dumps (tests and benchmarks only; not thread-safe).

    Args:
        name: ``"avx2"``, ``"sse2"``, ``"swar"`` or ``"auto"``.

    Returns:
        The kernel in use before the call.

    Raises:
        ValueError: unknown name, or a kernel this CPU cannot run.
    """
    cdef str before = loads_kernel()
    if zenws_json_set_kernel(name.encode("ascii")) != 0:
        raise ValueError(f"json kernel {name!r} is unknown or not supported by this CPU")
    return before


def _cpu_features() -> int:
    """ZENWS_CPU_* feature bits as this extension sees them, through frame's dispatcher
    (tests: every extension must see the same CPU)."""
    return zenws_cpu_features()


def _json_kernels() -> tuple:
    """Names of the string kernels this CPU can run, portable first (tests and benchmarks;
    not thread-safe: each is switched to for a moment)."""
    cdef str before = loads_kernel()
    cdef list out = []
    try:
        for k in ("swar", "sse2", "avx2"):
            if zenws_json_set_kernel(k.encode("ascii")) == 0:
                out.append(k)
    finally:
        zenws_json_set_kernel(before.encode("ascii"))
    return tuple(out)


# ---------------------------------------------------------------- encoding

cdef bytes _PREFIX = b'{"jsonrpc":"2.0","id":'
cdef bytes _BARE_PREFIX = b'{"id":'
cdef bytes _METHOD = b',"method":'
cdef bytes _PARAMS = b',"params":'
cdef bytes _EMPTY_PARAMS = b"{}"


cdef bytes _json_str(str s):
    """The JSON string literal of ``s`` (quotes included)."""
    cdef Py_ssize_t n
    cdef const char* p = PyUnicode_AsUTF8AndSize(s, &n)
    cdef bytes out
    cdef char* o
    if not zenws_json_plain(p, n):
        return _dumps(s)  # escapes '"', '\\' and control characters (RFC 8259 §7)
    out = PyBytes_FromStringAndSize(NULL, n + 2)
    o = PyBytes_AS_STRING(out)
    o[0] = b'"'
    memcpy(o + 1, p, n)
    o[n + 1] = b'"'
    return out


cdef inline bytes _steal_bytes(PyObject* out):
    cdef bytes b = <bytes>out  # a new reference...
    Py_DECREF(b)               # ...and the one zenws_jsonenc handed over
    return b


@cython.binding(False)
@cython.always_allow_keywords(False)
@cython.embedsignature.format("clinic")
def dumps(obj, /) -> bytes:
    """``orjson.dumps(obj)`` (no options), written by zenws' C encoder for plain data.

    dict (exact type, str keys), list, tuple, str, int (-2**63 .. 2**64-1),
    finite float, bool and None give orjson's bytes, except that a float may be
    written differently (the shortest text that reads back to the same double,
    e.g. ``1e-05`` for orjson's ``0.00001``).  Any other value anywhere inside
    (subclasses, dataclasses, enums, numpy, datetime, non-finite floats, ...)
    makes the whole value go to ``orjson.dumps``: same result, same errors.

    Args:
        obj: the value.

    Returns:
        The compact JSON bytes.

    Raises:
        orjson.JSONEncodeError: (a TypeError) whatever orjson raises for ``obj``.
    """
    cdef PyObject* out = NULL
    if zenws_jsonenc_dumps(obj, &out) == ZENWS_JSONENC_OK:
        return _steal_bytes(out)
    return _dumps(obj)


def _dumps_c(obj):
    """Test hook: the C encoder alone; None when ``obj`` holds an unsupported value."""
    cdef PyObject* out = NULL
    if zenws_jsonenc_dumps(obj, &out) == ZENWS_JSONENC_OK:
        return _steal_bytes(out)
    return None


cdef bytes _params_json(object params):
    cdef bytes out
    if params is None:
        return _EMPTY_PARAMS  # Deribit's documented requests always carry params
    out = _dumps(params)
    # JSON-RPC 2.0 §4.2: params is a structured value (object or array).
    if PyBytes_GET_SIZE(out) == 0 or PyBytes_AS_STRING(out)[0] not in (b"{", b"["):
        raise TypeError(
            f"params must encode to a JSON object or array, got {type(params).__name__}"
        )
    return out


cdef bytes _envelope(const char* id_p, Py_ssize_t id_n, str method, object params,
                     bint bare=False):
    cdef Py_ssize_t mn
    cdef const char* mp = PyUnicode_AsUTF8AndSize(method, &mn)
    cdef PyObject* out = NULL
    # Plain-data params (the usual dict of str/int/float) are written in C
    # straight into the request bytes; anything else is encoded by orjson.
    if zenws_jsonenc_request(id_p, id_n, mp, mn, params, bare, &out) == ZENWS_JSONENC_OK:
        return _steal_bytes(out)
    return _envelope_orjson(id_p, id_n, mp, mn, params, bare)


cdef bytes _envelope_orjson(const char* id_p, Py_ssize_t id_n, const char* mp, Py_ssize_t mn,
                            object params, bint bare):
    cdef Py_ssize_t pn, total, pos = 0
    cdef Py_ssize_t pre = 6 if bare else 22  # bare: b'{"id":', without "jsonrpc"
    cdef bytes mq = None
    cdef bytes pj = _params_json(params)
    cdef bytes out
    cdef char* o
    if not zenws_json_plain(mp, mn):
        mq = _dumps(PyUnicode_DecodeUTF8(mp, mn, NULL))
        mp = PyBytes_AS_STRING(mq)
        mn = PyBytes_GET_SIZE(mq) - 2  # copied below without its own quotes
        mp += 1
    pn = PyBytes_GET_SIZE(pj)
    total = pre + id_n + 10 + mn + 2 + 10 + pn + 1
    out = PyBytes_FromStringAndSize(NULL, total)
    o = PyBytes_AS_STRING(out)
    memcpy(o, PyBytes_AS_STRING(_BARE_PREFIX if bare else _PREFIX), pre)
    pos = pre
    memcpy(o + pos, id_p, id_n)
    pos += id_n
    memcpy(o + pos, PyBytes_AS_STRING(_METHOD), 10)
    pos += 10
    o[pos] = b'"'
    memcpy(o + pos + 1, mp, mn)
    pos += mn + 1
    o[pos] = b'"'
    pos += 1
    memcpy(o + pos, PyBytes_AS_STRING(_PARAMS), 10)
    pos += 10
    memcpy(o + pos, PyBytes_AS_STRING(pj), pn)
    pos += pn
    o[pos] = b"}"
    return out


cdef bytes encode_request_c(int64_t id, str method, object params, bint bare=False):
    cdef char id_buf[24]
    cdef Py_ssize_t n = zenws_format_i64(id, id_buf)
    return _envelope(id_buf, n, method, params, bare)


cdef extern from "zenws_jsonenc.h":
    int zenws_jsonenc_request_into(zenws_jsonenc_buf* b, Py_ssize_t head, const char* id_json,
                                   Py_ssize_t id_len, const char* method, Py_ssize_t method_len,
                                   object params, int bare, Py_ssize_t* n) except -1
    void zenws_jsonenc_buf_free(zenws_jsonenc_buf* b) noexcept


cdef Py_ssize_t encode_request_into(zenws_jsonenc_buf* b, Py_ssize_t head, int64_t id,
                                    str method, object params, bint bare=False) except -2:
    cdef char id_buf[24]
    cdef Py_ssize_t idn = zenws_format_i64(id, id_buf), mn, n = 0
    cdef const char* mp = PyUnicode_AsUTF8AndSize(method, &mn)
    if (zenws_jsonenc_request_into(b, head, id_buf, idn, mp, mn, params, bare, &n)
            == ZENWS_JSONENC_OK):
        return n
    return -1


cdef void free_request_buffer(zenws_jsonenc_buf* b) noexcept:
    zenws_jsonenc_buf_free(b)


def encode_request(id, str method not None, params=None, *, bint jsonrpc=True) -> bytes:
    """Encode a JSON-RPC 2.0 request.

    Args:
        id: int (int64 range) or str request id.
        method: the method name (JSON-escaped as needed).
        params: anything orjson encodes to an object or array; None sends ``{}``.
            Plain data (see :func:`dumps`) is written by zenws' C encoder,
            anything else by orjson.
        jsonrpc: False leaves out the ``"jsonrpc"`` member (``{"id":..,"method":..,
            "params":..}``, Binance's documented request shape).

    Returns:
        ``b'{"jsonrpc":"2.0","id":..,"method":"..","params":{..}}'``.

    Raises:
        TypeError: bad id/method type, or params not encodable to an object/array.
        OverflowError: an int id outside the int64 range.
    """
    cdef bytes id_json
    cdef bint bare = not jsonrpc
    if type(id) is int:
        return encode_request_c(id, method, params, bare)
    if isinstance(id, str):
        id_json = _json_str(id)
        return _envelope(PyBytes_AS_STRING(id_json), PyBytes_GET_SIZE(id_json), method, params,
                         bare)
    if isinstance(id, int) and not isinstance(id, bool):
        return encode_request_c(int(id), method, params, bare)
    raise TypeError(f"request id must be int or str, got {type(id).__name__}")


# ---------------------------------------------------------------- correlator

cdef enum:
    _EMPTY = 0
    _FUTURE = 1
    _CALLABLE = 2
    _MIN_CAPACITY_BITS = 6


cdef inline int _waiter_state(object waiter) except -1:
    if isinstance(waiter, _Future):
        return _FUTURE
    if callable(waiter):
        return _CALLABLE
    raise TypeError(f"waiter must be an asyncio.Future or a callable, got {type(waiter).__name__}")


cdef inline bint _as_int64(object value, int64_t* out) except -1:
    """Convert a Python int; False (no exception) when it does not fit."""
    cdef int overflow = 0
    cdef long long v = PyLong_AsLongLongAndOverflow(value, &overflow)
    if overflow:
        return False
    out[0] = v
    return True


cdef inline int _deliver(object waiter, int state, object payload) except -1:
    if state == _FUTURE:
        # A cancelled (or otherwise finished) future is left alone: the
        # caller gave up on the answer, which is not an error.
        if not waiter.done():
            waiter.set_result(payload)
    else:
        waiter(payload)
    return 0


@cython.final
@cython.auto_pickle(False)
cdef class Correlator:
    """In-flight JSON-RPC requests: id -> waiter, send time and deadline.

    Int ids (int64) live in a C open-addressing table with linear probing and
    backward-shift deletion; str ids in a dict.  A waiter is an
    ``asyncio.Future`` (gets ``set_result``/``set_exception`` unless already
    done) or a callable (called with the payload or the exception).

    ``on_response`` (default None): a callable the FastListener calls with every
    response matched to a pending request -- the decoded dict, or the raw bytes
    when the response was not decoded on the read path -- before its waiter gets
    it, so that an adapter can read envelope members beside ``result`` (Binance's
    ``status`` and ``rateLimits``).  Left None it costs one pointer test.
    """

    def __cinit__(self):
        cdef Py_ssize_t cap = 1 << _MIN_CAPACITY_BITS
        self._slots = <_Slot*>PyMem_Malloc(cap * sizeof(_Slot))
        if self._slots == NULL:
            raise MemoryError()
        memset(self._slots, 0, cap * sizeof(_Slot))
        self._waiters = [None] * cap
        self._mask = cap - 1
        self._shift = 64 - _MIN_CAPACITY_BITS
        self._count = 0
        self._str_entries = {}
        self._min_deadline = INT64_MAX
        self._min_stale = False

    def __dealloc__(self):
        PyMem_Free(self._slots)

    # --- C table -------------------------------------------------------

    cdef Py_ssize_t _home(self, int64_t id) noexcept:
        # Fibonacci hashing: sequential ids spread over the whole table.
        return <Py_ssize_t>((<uint64_t>id * <uint64_t>0x9E3779B97F4A7C15) >> self._shift)

    cdef Py_ssize_t _find(self, int64_t id) noexcept:
        cdef Py_ssize_t i = self._home(id)
        while self._slots[i].state != _EMPTY:
            if self._slots[i].id == id:
                return i
            i = (i + 1) & self._mask
        return -1

    cdef void _remove_at(self, Py_ssize_t i) noexcept:
        # Backward-shift deletion keeps every probe chain unbroken without
        # tombstones (Knuth vol. 3, 6.4, Algorithm R).
        cdef Py_ssize_t j = i, k
        cdef list waiters = self._waiters
        cdef _Slot* slots = self._slots
        if slots[i].deadline_ns == self._min_deadline:
            self._min_stale = True
        while True:
            j = (j + 1) & self._mask
            if slots[j].state == _EMPTY:
                break
            k = self._home(slots[j].id)
            if (i <= j and i < k <= j) or (i > j and (k > i or k <= j)):
                continue  # slot j is still reachable from its home
            slots[i] = slots[j]
            waiters[i] = waiters[j]
            i = j
        slots[i].state = _EMPTY
        waiters[i] = None
        self._count -= 1

    cdef int _grow(self) except -1:
        cdef Py_ssize_t old_cap = self._mask + 1, cap = old_cap * 2, i, j
        cdef _Slot* old = self._slots
        cdef _Slot* slots = <_Slot*>PyMem_Malloc(cap * sizeof(_Slot))
        cdef list old_waiters = self._waiters
        cdef list waiters
        if slots == NULL:
            raise MemoryError()
        memset(slots, 0, cap * sizeof(_Slot))
        waiters = [None] * cap
        self._slots = slots
        self._waiters = waiters
        self._mask = cap - 1
        self._shift -= 1
        for i in range(old_cap):
            if old[i].state != _EMPTY:
                j = self._home(old[i].id)
                while slots[j].state != _EMPTY:
                    j = (j + 1) & self._mask
                slots[j] = old[i]
                waiters[j] = old_waiters[i]
        PyMem_Free(old)
        return 0

    cdef int track_c(self, int64_t id, object waiter, int64_t sent_ns,
                     int64_t deadline_ns) except -1:
        cdef int state = _waiter_state(waiter)
        cdef Py_ssize_t i
        if (self._count + 1) * 2 > self._mask + 1:
            self._grow()  # keep the load factor <= 1/2: short probe chains
        i = self._home(id)
        while self._slots[i].state != _EMPTY:
            if self._slots[i].id == id:
                raise ValueError(f"request id {id} is already in flight")
            i = (i + 1) & self._mask
        self._slots[i].id = id
        self._slots[i].sent_ns = sent_ns
        self._slots[i].deadline_ns = deadline_ns
        self._slots[i].state = state
        self._waiters[i] = waiter
        self._count += 1
        if deadline_ns < self._min_deadline:
            self._min_deadline = deadline_ns
        return 0

    cdef int64_t resolve_c(self, int64_t id, object payload, int64_t recv_ns) except -2:
        cdef Py_ssize_t i = self._find(id)
        cdef int state
        cdef int64_t sent
        cdef object waiter
        if i < 0:
            return -1
        waiter = self._waiters[i]
        state = self._slots[i].state
        sent = self._slots[i].sent_ns
        self._remove_at(i)  # before delivery: the waiter may track/resolve again
        _deliver(waiter, state, payload)
        return recv_ns - sent

    cdef object waiter_c(self, int64_t id):
        cdef Py_ssize_t i = self._find(id)
        return None if i < 0 else self._waiters[i]

    cdef object pop_if_c(self, int64_t id, type cls, int64_t* sent_ns):
        cdef Py_ssize_t i = self._find(id)
        cdef object waiter
        if i < 0 or type(self._waiters[i]) is not cls:
            return None
        waiter = self._waiters[i]
        sent_ns[0] = self._slots[i].sent_ns
        self._remove_at(i)
        return waiter

    cdef bint discard_c(self, int64_t id) noexcept:
        cdef Py_ssize_t i = self._find(id)
        if i < 0:
            return False
        self._remove_at(i)
        return True

    # --- Python API ----------------------------------------------------

    def track(self, id, waiter, int64_t deadline_ns, sent_ns=None) -> None:
        """Start tracking a request.

        Args:
            id: int (int64) or str request id.
            waiter: an ``asyncio.Future`` or a callable taking one argument.
            deadline_ns: monotonic ns after which :meth:`expire` returns it.
            sent_ns: monotonic ns the request left; None reads the clock now.

        Raises:
            ValueError: ``id`` is already in flight.
            TypeError: bad id or waiter type.
            OverflowError: an int id outside the int64 range.
        """
        cdef int64_t sent = zenws_monotonic_ns() if sent_ns is None else <int64_t>sent_ns
        cdef int state
        if type(id) is int or (isinstance(id, int) and not isinstance(id, bool)):
            self.track_c(id, waiter, sent, deadline_ns)
        elif isinstance(id, str):
            state = _waiter_state(waiter)
            if id in self._str_entries:
                raise ValueError(f"request id {id!r} is already in flight")
            self._str_entries[id] = (waiter, state, sent, deadline_ns)
            if deadline_ns < self._min_deadline:
                self._min_deadline = deadline_ns
        else:
            raise TypeError(f"request id must be int or str, got {type(id).__name__}")

    def resolve(self, id, payload, int64_t recv_ns) -> int:
        """Deliver ``payload`` to the waiter of ``id`` and forget the request.

        Args:
            id: the response id (int or str).
            payload: what the waiter receives (the raw message, the result...).
            recv_ns: monotonic ns the response arrived.

        Returns:
            The round-trip time ``recv_ns - sent_ns``, or -1 for an unknown id.

        Raises:
            Exception: whatever a callable waiter raises (the entry is gone).
        """
        cdef tuple entry
        cdef int64_t key
        if type(id) is int:
            if not _as_int64(id, &key):
                return -1  # outside int64: cannot be in flight
            return self.resolve_c(key, payload, recv_ns)
        if type(id) is str or isinstance(id, str):
            entry = self._str_entries.pop(id, None)
            if entry is None:
                return -1
            if <int64_t>entry[3] == self._min_deadline:
                self._min_stale = True
            _deliver(entry[0], entry[1], payload)
            return recv_ns - <int64_t>entry[2]
        if isinstance(id, int) and not isinstance(id, bool):
            return self.resolve(int(id), payload, recv_ns)
        return -1

    def discard(self, id) -> bool:
        """Forget a request without delivering anything.

        Returns:
            True if ``id`` was in flight.
        """
        cdef tuple entry
        cdef int64_t key
        if isinstance(id, int) and not isinstance(id, bool):
            return _as_int64(id, &key) and self.discard_c(key)
        if isinstance(id, str):
            entry = self._str_entries.pop(id, None)
            if entry is None:
                return False
            if <int64_t>entry[3] == self._min_deadline:
                self._min_stale = True
            return True
        return False

    def __contains__(self, id) -> bool:
        cdef int64_t key
        if isinstance(id, int) and not isinstance(id, bool):
            return _as_int64(id, &key) and self._find(key) >= 0
        return id in self._str_entries

    def __len__(self) -> int:
        return self._count + len(self._str_entries)

    @property
    def pending(self) -> int:
        """Number of requests in flight."""
        return self._count + len(self._str_entries)

    cdef int _refresh_min(self) except -1:
        cdef int64_t m = INT64_MAX
        cdef Py_ssize_t i
        cdef tuple entry
        for i in range(self._mask + 1):
            if self._slots[i].state != _EMPTY and self._slots[i].deadline_ns < m:
                m = self._slots[i].deadline_ns
        for entry in self._str_entries.values():
            if <int64_t>entry[3] < m:
                m = entry[3]
        self._min_deadline = m
        self._min_stale = False
        return 0

    def next_deadline(self):
        """The earliest pending deadline (monotonic ns), or None when idle."""
        if self._count == 0 and not self._str_entries:
            return None
        if self._min_stale:
            self._refresh_min()
        return self._min_deadline

    def expire(self, int64_t now_ns) -> list:
        """Remove and return the requests whose deadline is ``<= now_ns``.

        O(1) while nothing is due (a lower bound of every deadline is kept);
        the caller fails the returned waiters (e.g. with RequestTimeout).

        Returns:
            ``[(id, waiter), ...]`` in no particular order.
        """
        cdef list due = []
        cdef list ids = []
        cdef Py_ssize_t i
        cdef object key
        cdef tuple entry
        if now_ns < self._min_deadline:
            return due
        for i in range(self._mask + 1):
            if self._slots[i].state != _EMPTY and self._slots[i].deadline_ns <= now_ns:
                ids.append(self._slots[i].id)
        for key in ids:
            i = self._find(key)
            due.append((key, self._waiters[i]))
            self._remove_at(i)
        if self._str_entries:
            for key, entry in list(self._str_entries.items()):
                if <int64_t>entry[3] <= now_ns:
                    del self._str_entries[key]
                    due.append((key, entry[0]))
        self._refresh_min()
        return due

    def fail_all(self, exc) -> int:
        """Fail every pending request with ``exc`` and clear the table.

        Futures that are not done get ``set_exception(exc)``; callables are
        called with ``exc``.  Every waiter is reached even if a callable
        raises; the first such error is re-raised at the end.

        Returns:
            The number of requests that were pending.
        """
        cdef list items = []
        cdef Py_ssize_t i, cap = self._mask + 1
        cdef tuple entry
        cdef object first_error = None
        for i in range(cap):
            if self._slots[i].state != _EMPTY:
                items.append((self._waiters[i], self._slots[i].state))
        for entry in self._str_entries.values():
            items.append((entry[0], entry[1]))
        memset(self._slots, 0, cap * sizeof(_Slot))
        self._waiters = [None] * cap
        self._count = 0
        self._str_entries = {}
        self._min_deadline = INT64_MAX
        self._min_stale = False
        for waiter, state in items:
            try:
                if state == _FUTURE:
                    if not waiter.done():
                        waiter.set_exception(exc)
                else:
                    waiter(exc)
            except Exception as e:  # isolate: the others must still fail
                if first_error is None:
                    first_error = e
        if first_error is not None:
            raise first_error
        return len(items)

    def __repr__(self) -> str:
        return f"<Correlator pending={self.pending} capacity={self._mask + 1}>"


def _c_track_resolve_loop(Correlator c, object waiter, Py_ssize_t n) -> int:
    """Benchmark hook: ``n`` track_c + resolve_c pairs (the C path the listener uses).

    Returns:
        The sum of the RTTs (1 ns each), so callers can check the work was done.
    """
    cdef Py_ssize_t i
    cdef int64_t total = 0
    for i in range(n):
        c.track_c(i, waiter, 0, INT64_MAX)
        total += c.resolve_c(i, None, 1)
    return total
