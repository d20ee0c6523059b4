# cython: language_level=3
"""Recorder hot paths (``zenws.recorder``): the frame arena and the JSONL encoder.

:class:`FrameQueue` is what ``Recorder.write`` is: a single-producer/single-consumer arena of
bytes. The event-loop thread copies each frame (a 32-byte header and the payload) into it --
no lock, no Python object kept -- and a full arena counts a drop instead of waiting. The
writer thread lives in :meth:`FrameQueue.serve`: it sleeps on a C lock, then encodes the
frames straight from the arena into finished JSONL lines -- UTC timestamp, integers, JSON
string escaping (the same escapes as orjson, SIMD, ext/zenws_jstr.c) or base64 -- and
``write(2)``s them, all without the GIL. Frames that need Python are left to the caller: text
that may carry a secret (a key that may name one, found during the escaping pass, or a
``name=value``-like form, found by a second SIMD pass; the caller redacts it), text
bytes that are not valid UTF-8, frames held by reference.

:func:`encode_batch` and :func:`encode_frame` encode Python tuples the same way.
"""

cimport cython
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.pythread cimport (
    PY_LOCK_ACQUIRED,
    WAIT_LOCK,
    PyLockStatus,
    PyThread_acquire_lock,
    PyThread_allocate_lock,
    PyThread_free_lock,
    PyThread_release_lock,
    PyThread_type_lock,
)
from cpython.ref cimport Py_DECREF, Py_INCREF, Py_XDECREF, PyObject
from cpython.unicode cimport PyUnicode_AsUTF8AndSize, PyUnicode_DecodeUTF8
from libc.errno cimport EINTR, EIO, errno
from libc.limits cimport LLONG_MAX
from libc.stdint cimport int64_t, uint8_t, uint32_t, uint64_t
from libc.stdlib cimport calloc, free, malloc, realloc
from libc.string cimport memcpy, memset

from zenws.fast.common cimport zenws_monotonic_ns
# the JSON string unit (ext/zenws_jstr.c) lives in zenws.fast.jsonrpc
from zenws.fast.jsonrpc cimport (
    jstr_has_secret_key_c as zenws_has_secret_key,
    jstr_quote_c as zenws_json_string,
    zenws_keycache,
)


cdef extern from "zenws_jsonl.h" nogil:
    uint64_t zenws_load_acquire(const uint64_t *p) noexcept
    void zenws_store_release(uint64_t *p, uint64_t v) noexcept
    Py_ssize_t zenws_write(int fd, const char *p, Py_ssize_t n) noexcept
    void zenws_store_seqcst(uint64_t *p, uint64_t v) noexcept
    uint64_t zenws_exchange(uint64_t *p, uint64_t v) noexcept

import os

cdef const char *B64 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

cdef struct TsCache:
    # date/time part of the last timestamp; per call, since batches encode without the GIL
    # and several recorders' writer threads may do so at once
    int64_t sec
    char prefix[20]


cdef struct Buf:
    char *p
    Py_ssize_t cap


cdef int _reserve(Buf *buf, Py_ssize_t need) except -1:
    """Grow ``buf`` to hold ``need`` bytes. Buffers are per call: a fallback into Python code
    may let another recorder's writer thread run, so no buffer is shared."""
    cdef char *p
    if need <= buf.cap:
        return 0
    need = max(need, 2 * buf.cap, 4096)
    p = <char *>realloc(buf.p, need)
    if p == NULL:
        raise MemoryError()
    buf.p = p
    buf.cap = need
    return 0


cdef inline Py_ssize_t _put(char *out, Py_ssize_t n, const char *s, Py_ssize_t k) noexcept nogil:
    memcpy(out + n, s, k)
    return n + k


cdef inline Py_ssize_t _put_int(char *out, Py_ssize_t n, int64_t v) noexcept nogil:
    cdef char tmp[24]
    cdef int i = 0
    cdef unsigned long long u
    if v < 0:
        out[n] = b'-'
        n += 1
        u = <unsigned long long>(-(v + 1)) + 1
    else:
        u = <unsigned long long>v
    while True:
        tmp[i] = <char>(48 + u % 10)
        i += 1
        u //= 10
        if u == 0:
            break
    while i > 0:
        i -= 1
        out[n] = tmp[i]
        n += 1
    return n


cdef inline void _two(char *p, int v) noexcept nogil:
    p[0] = <char>(48 + v // 10)
    p[1] = <char>(48 + v % 10)


cdef void _civil(int64_t days, int64_t *y, int *m, int *d) noexcept nogil:
    """Days since 1970-01-01 -> proleptic Gregorian date (H. Hinnant, "chrono-Compatible
    Low-Level Date Algorithms", civil_from_days); portable, unlike gmtime_r."""
    cdef int64_t z = days + 719468
    cdef int64_t era = (z if z >= 0 else z - 146096) // 146097
    cdef int64_t doe = z - era * 146097
    cdef int64_t yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    cdef int64_t doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    cdef int64_t mp = (5 * doy + 2) // 153
    d[0] = <int>(doy - (153 * mp + 2) // 5 + 1)
    m[0] = <int>(mp + 3 if mp < 10 else mp - 9)
    y[0] = yoe + era * 400 + (1 if m[0] <= 2 else 0)


cdef Py_ssize_t _put_ts(char *out, Py_ssize_t n, int64_t wall_ns,
                        TsCache *cache) noexcept nogil:
    """``YYYY-MM-DDTHH:MM:SS.uuuuuuZ`` (UTC); the date/time part is cached per second."""
    cdef char *_ts_prefix = cache.prefix
    cdef int64_t sec = wall_ns // 1000000000
    cdef int64_t us = (wall_ns - sec * 1000000000) // 1000
    cdef int64_t days, rem, year
    cdef int month, day, i
    if us < 0:  # C division truncates (cdivision): floor it for times before 1970
        sec -= 1
        us += 1000000
    if sec != cache.sec:
        days = sec // 86400
        rem = sec - days * 86400
        if rem < 0:
            days -= 1
            rem += 86400
        _civil(days, &year, &month, &day)
        year = min(max(year, 0), 9999)
        _two(_ts_prefix, <int>(year // 100))
        _two(_ts_prefix + 2, <int>(year % 100))
        _ts_prefix[4] = b'-'
        _two(_ts_prefix + 5, month)
        _ts_prefix[7] = b'-'
        _two(_ts_prefix + 8, day)
        _ts_prefix[10] = b'T'
        _two(_ts_prefix + 11, <int>(rem // 3600))
        _ts_prefix[13] = b':'
        _two(_ts_prefix + 14, <int>(rem % 3600 // 60))
        _ts_prefix[16] = b':'
        _two(_ts_prefix + 17, <int>(rem % 60))
        _ts_prefix[19] = b'.'
        cache.sec = sec
    n = _put(out, n, _ts_prefix, 20)
    for i in range(5, -1, -1):
        out[n + i] = <char>(48 + us % 10)
        us //= 10
    out[n + 6] = b'Z'
    return n + 7


cdef inline Py_ssize_t _put_escaped(char *out, Py_ssize_t n, const uint8_t *s, Py_ssize_t k,
                                    bint check) noexcept nogil:
    """A JSON string with quotes at ``out + n``, escaped as orjson does (RFC 8259 §7); -1
    for invalid UTF-8 when ``check`` (SIMD loop in ext/zenws_jstr.c)."""
    cdef Py_ssize_t m = zenws_json_string(out + n, s, k, check, 0, NULL)
    return -1 if m < 0 else n + m


cdef Py_ssize_t _put_base64(char *out, Py_ssize_t n, const uint8_t *s, Py_ssize_t k) noexcept nogil:
    cdef Py_ssize_t i = 0
    cdef unsigned int v
    out[n] = b'"'
    n += 1
    while i + 2 < k:
        v = (s[i] << 16) | (s[i + 1] << 8) | s[i + 2]
        out[n] = B64[(v >> 18) & 63]
        out[n + 1] = B64[(v >> 12) & 63]
        out[n + 2] = B64[(v >> 6) & 63]
        out[n + 3] = B64[v & 63]
        n += 4
        i += 3
    if k - i == 1:
        v = s[i] << 16
        out[n] = B64[(v >> 18) & 63]
        out[n + 1] = B64[(v >> 12) & 63]
        out[n + 2] = b'='
        out[n + 3] = b'='
        n += 4
    elif k - i == 2:
        v = (s[i] << 16) | (s[i + 1] << 8)
        out[n] = B64[(v >> 18) & 63]
        out[n + 1] = B64[(v >> 12) & 63]
        out[n + 2] = B64[(v >> 6) & 63]
        out[n + 3] = b'='
        n += 4
    out[n] = b'"'
    return n + 1


cdef bint _has_secret_key(const uint8_t *s, Py_ssize_t k) noexcept nogil:
    """True if some quoted string followed by ``:`` (a JSON key) looks credential-like: one
    pass, see ``zenws_jstr_has_secret_key`` in ext/zenws_jstr.c."""
    return zenws_has_secret_key(s, k)


def has_secret_key(data) -> bool:
    """True when a text (str or UTF-8 bytes) may carry a secret the rule set hides.

    A superset of :func:`zenws._redact.redact_json_text`: a JSON key that may name a
    credential, or a ``name=value``, ``Name: value``, ``'name': value``, URL userinfo or
    ``Bearer`` credential whose name may be one. False means the frame certainly needs no
    redaction.
    """
    cdef Py_ssize_t k
    cdef const char *s
    if isinstance(data, str):
        s = PyUnicode_AsUTF8AndSize(data, &k)
    else:
        data = bytes(data)
        s = PyBytes_AS_STRING(data)
        k = PyBytes_GET_SIZE(data)
    return _has_secret_key(<const uint8_t *>s, k)


cdef enum:
    K_FALLBACK = -1
    K_TEXT = 0
    K_BINARY = 1
    K_PING = 2
    K_PONG = 3
    K_CLOSE = 4

cdef const char *KIND_HEAD[5]
KIND_HEAD[:] = [b'text","data":', b'binary","data":', b'ping","data":', b'pong","data":',
                b'close","code":']
cdef Py_ssize_t KIND_HEAD_LEN[5]
KIND_HEAD_LEN[:] = [13, 15, 13, 13, 14]


cdef struct Item:
    const char *s        # payload (text/binary/ping/pong) or reason (close), UTF-8 for text
    Py_ssize_t k
    int64_t rel
    int64_t wall
    int64_t epoch
    int64_t code
    int kind             # K_*; K_FALLBACK = the caller encodes it in Python
    bint out_dir
    bint has_code
    bint check_utf8      # text given as bytes: validate while escaping


cdef int _prepare(Item *it, object e, int64_t t0, int64_t wall0) except -1:
    """Read one queued tuple into ``it`` (GIL held); pointers stay valid while ``e`` lives."""
    cdef tuple t = <tuple>e
    cdef object kind = t[2]
    cdef object payload = t[3]
    cdef object code = t[5]
    cdef object reason = t[6]
    it.rel = <int64_t>t[0] - t0
    it.wall = wall0 + it.rel
    it.epoch = <int64_t>t[4]
    it.out_dir = t[1] == "out"
    it.has_code = code is not None
    it.code = <int64_t>code if it.has_code else 0
    it.check_utf8 = False
    it.kind = K_FALLBACK
    it.s = NULL
    it.k = 0
    if kind == "close":
        if type(reason) is str:
            try:
                it.s = PyUnicode_AsUTF8AndSize(reason, &it.k)
                it.kind = K_CLOSE
            except UnicodeEncodeError:
                pass
        return 0
    if type(payload) is bytes:
        it.s = PyBytes_AS_STRING(payload)
        it.k = PyBytes_GET_SIZE(payload)
        it.check_utf8 = True
    elif type(payload) is str and kind == "text":
        try:
            it.s = PyUnicode_AsUTF8AndSize(payload, &it.k)
        except UnicodeEncodeError:  # lone surrogates: the Python path records them
            return 0
    else:
        return 0
    if kind == "text":
        it.kind = K_TEXT
    elif kind == "binary":
        it.kind = K_BINARY
    elif kind == "ping":
        it.kind = K_PING
    elif kind == "pong":
        it.kind = K_PONG
    return 0


cdef Py_ssize_t _encode_item(char *out, Py_ssize_t n, const Item *it, bint redact,
                             TsCache *cache, void *kc=NULL) noexcept nogil:
    """Append one line at ``n`` (room reserved by the caller); -1 = needs Python."""
    cdef int kind = it.kind
    cdef Py_ssize_t m
    if kind == K_FALLBACK:
        return -1
    n = _put(out, n, b'{"ts":"', 7)
    n = _put_ts(out, n, it.wall, cache)
    n = _put(out, n, b'","mono_ns":', 12)
    n = _put_int(out, n, it.rel)
    n = _put(out, n, b',"epoch":', 9)
    n = _put_int(out, n, it.epoch)
    n = _put(out, n, b',"dir":"out","type":"' if it.out_dir else b',"dir":"in","type":"',
             21 if it.out_dir else 20)
    n = _put(out, n, KIND_HEAD[kind], KIND_HEAD_LEN[kind])
    if kind == K_TEXT:
        # with redact, the secret-key scan rides along the escaping pass: -2 = a key may
        # name a credential (Python redacts the frame); -1 = invalid UTF-8 (Python records
        # it as flagged base64)
        m = zenws_json_string(out + n, <const uint8_t *>it.s, it.k, it.check_utf8,
                              redact, <zenws_keycache *>kc)
        if m < 0:
            return -1
        n += m
    elif kind == K_CLOSE:
        n = _put_int(out, n, it.code) if it.has_code else _put(out, n, b"null", 4)
        n = _put(out, n, b',"reason":', 10)
        # a close reason is peer text like any frame: the same scan, -2 = Python redacts it
        m = zenws_json_string(out + n, <const uint8_t *>it.s, it.k, False, redact,
                              <zenws_keycache *>kc)
        if m < 0:
            return -1
        n += m
    else:
        n = _put_base64(out, n, <const uint8_t *>it.s, it.k)
    return _put(out, n, b"}\n", 2)


def encode_batch(list entries, int64_t t0, int64_t wall0, bint redact, object fallback):
    """Encode queued recorder entries into one block of JSONL lines.

    The pointers are read with the GIL held; the encoding itself (timestamps, escaping,
    base64, the secret-key scan) runs without it, so an event loop on another core is never
    held up by a long batch.

    Args:
        entries: ``(mono_ns, direction, kind, payload, epoch, code, reason)`` tuples.
        t0: monotonic time of the session start (``mono_ns - t0`` is stored).
        wall0: wall-clock time at ``t0`` (ns since the Unix epoch).
        redact: send text that may carry a secret key to ``fallback``.
        fallback: ``fallback(entry) -> bytes`` encodes the entries this function cannot
            (redaction, invalid UTF-8, unexpected payload types).

    Returns:
        The lines, concatenated, in entry order.
    """
    cdef Py_ssize_t count = len(entries), i, n = 0, m, need = 0, nfb = 0, prev
    cdef Item *items = NULL
    cdef Py_ssize_t *splits = NULL  # output offset of each fallback entry
    cdef Py_ssize_t *which = NULL   # its index in entries
    cdef Buf buf
    cdef TsCache cache
    cache.sec = -1
    buf.p = NULL
    buf.cap = 0
    try:
        items = <Item *>malloc(max(count, 1) * sizeof(Item))
        splits = <Py_ssize_t *>malloc(max(count, 1) * sizeof(Py_ssize_t))
        which = <Py_ssize_t *>malloc(max(count, 1) * sizeof(Py_ssize_t))
        if items == NULL or splits == NULL or which == NULL:
            raise MemoryError()
        for i in range(count):
            _prepare(&items[i], entries[i], t0, wall0)
            need += 6 * items[i].k + 192  # worst case: every byte as \u00XX
        _reserve(&buf, need)
        with nogil:
            for i in range(count):
                m = _encode_item(buf.p, n, &items[i], redact, &cache)
                if m < 0:
                    splits[nfb] = n
                    which[nfb] = i
                    nfb += 1
                else:
                    n = m
        if nfb == 0:
            return PyBytes_FromStringAndSize(buf.p, n)
        parts = []
        prev = 0
        for i in range(nfb):
            parts.append(PyBytes_FromStringAndSize(buf.p + prev, splits[i] - prev))
            parts.append(fallback(entries[which[i]]))
            prev = splits[i]
        parts.append(PyBytes_FromStringAndSize(buf.p + prev, n - prev))
        return b"".join(parts)
    finally:
        free(buf.p)
        free(items)
        free(splits)
        free(which)


def encode_frame(int64_t rel_ns, int64_t wall_ns, int64_t epoch, str direction, str kind,
                 object payload, object code, str reason, bint redact):
    """Encode one recorded frame as a JSONL line (with the trailing newline).

    Args:
        rel_ns: monotonic offset from the session start.
        wall_ns: wall-clock time of the frame (ns since the Unix epoch, UTC).
        epoch: connection epoch.
        direction: ``"in"`` or ``"out"``.
        kind: ``"text"``, ``"binary"``, ``"ping"``, ``"pong"`` or ``"close"``.
        payload: str or bytes (text), bytes (binary/ping/pong), ignored for close.
        code: close code or None.
        reason: close reason.
        redact: return None for text that may carry a secret key.

    Returns:
        The line as bytes, or None when the caller must encode it in Python.
    """
    cdef Item it
    cdef Buf buf
    cdef TsCache cache
    cdef Py_ssize_t n
    cache.sec = -1
    buf.p = NULL
    buf.cap = 0
    _prepare(&it, (rel_ns, direction, kind, payload, epoch, code, reason), 0, wall_ns - rel_ns)
    try:
        _reserve(&buf, 6 * it.k + 192)
        n = _encode_item(buf.p, 0, &it, redact, &cache)
        return None if n < 0 else PyBytes_FromStringAndSize(buf.p, n)
    finally:
        free(buf.p)


# -- the frame arena ---------------------------------------------------------------------------
#
# A single-producer / single-consumer ring of bytes. The producer (the event-loop thread, GIL
# held) copies each frame -- a fixed header and the payload -- into free space and then
# publishes ``head``; the consumer (the writer thread, GIL released) encodes the records in
# [tail, head) and then publishes ``tail``. Positions only grow (uint64: no wrap in practice);
# the byte index is ``pos & mask``. A record never wraps: one that does not fit before the end
# of the arena is preceded by a WRAP record (or, when fewer than a header's bytes are left, an
# implicit skip) and starts again at index 0. The acquire/release pairs make the payload bytes
# visible before ``head`` and keep the consumer's reads before ``tail`` frees the space.

cdef enum:
    F_OUT = 1            # direction "out"
    F_HAS_CODE = 2
    F_STR = 4            # the payload was a str (valid UTF-8; read back as str)
    F_OBJ = 8            # the payload area holds a PyObject* (an entry tuple) we own a ref to
    F_WRAP = 16          # filler up to the end of the arena; not a frame
    HDR = 32             # sizeof(RecHdr), checked at import
    MAX_INLINE = 65536   # bigger payloads are kept by reference (F_OBJ)
    OUT_CAP = 6 * 65536 + 4096  # room for any one in-arena record, escaped (\u00XX)
    CHUNK = 65536        # write(2) once this much output is pending

assert sizeof(RecHdr) == HDR

cdef enum:  # drain() / serve() results
    D_DONE = 0         # everything up to the snapshot written
    D_PYTHON = 1       # the next record needs Python (take it with pop_batch(1))
    D_ROTATE = 2       # the next line would cross the rotation limit
    D_DROPS = 3        # serve(): frames were dropped since the last report
    D_STOP = 4         # serve(): stop() was called and everything is written

DRAIN_DONE = D_DONE
DRAIN_PYTHON = D_PYTHON
DRAIN_ROTATE = D_ROTATE
DRAIN_DROPS = D_DROPS
DRAIN_STOP = D_STOP

cdef extern from "pythread.h":
    PyLockStatus PyThread_acquire_lock_timed(PyThread_type_lock lock, long long microseconds,
                                             int intr_flag) nogil

cdef object _IN = "in"
cdef object _OUT = "out"
cdef tuple _KIND_NAMES = ("text", "binary", "ping", "pong", "close")
cdef int KIND_OPCODE[5]
KIND_OPCODE[:] = [1, 2, 9, 10, 8]


cdef inline uint64_t _round16(uint64_t n) noexcept nogil:
    return (n + 15) & ~(<uint64_t>15)


cdef inline int _opcode_kind(int opcode) noexcept nogil:
    """WebSocket opcode (RFC 6455 §5.2) -> K_*; -1 for anything else."""
    if opcode == 1:
        return K_TEXT
    if opcode == 2:
        return K_BINARY
    if opcode == 9:
        return K_PING
    if opcode == 10:
        return K_PONG
    if opcode == 8:
        return K_CLOSE
    return -1


cdef inline int _kind_of(str kind) noexcept:
    # identity first: callers pass the interned literals
    if kind is _KIND_NAMES[0] or kind == "text":
        return K_TEXT
    if kind is _KIND_NAMES[1] or kind == "binary":
        return K_BINARY
    if kind is _KIND_NAMES[4] or kind == "close":
        return K_CLOSE
    if kind == "ping":
        return K_PING
    if kind == "pong":
        return K_PONG
    return -1


cdef inline void _item_from_rec(Item *it, const RecHdr *h, int64_t t0,
                                int64_t wall0) noexcept nogil:
    it.s = <const char *>(<const uint8_t *>h + HDR)
    it.k = h.len
    # unsigned: a caller's absurd mono_ns wraps instead of overflowing (undefined behaviour)
    it.rel = <int64_t>(<uint64_t>h.mono - <uint64_t>t0)
    it.wall = <int64_t>(<uint64_t>wall0 + <uint64_t>it.rel)
    it.epoch = h.epoch
    it.code = h.code
    it.has_code = (h.flags & F_HAS_CODE) != 0
    it.kind = h.kind
    it.out_dir = (h.flags & F_OUT) != 0
    it.check_utf8 = (h.flags & F_STR) == 0


cdef int _write_all(int fd, const char *p, Py_ssize_t n) noexcept nogil:
    """write(2) all of ``p``, retrying partial writes and EINTR; 0 or the errno."""
    cdef Py_ssize_t r
    while n > 0:
        r = zenws_write(fd, p, n)
        if r < 0:
            if errno == EINTR:
                continue
            return errno
        if r == 0:
            return EIO
        p += r
        n -= r
    return 0


def write_fd(int fd, const unsigned char[::1] data not None):
    """Write all of ``data`` to the file descriptor (partial writes and EINTR retried).

    Raises:
        OSError: the write failed (disk full, closed descriptor...).
    """
    cdef int err
    cdef Py_ssize_t n = data.shape[0]
    if n == 0:
        return
    with nogil:
        err = _write_all(fd, <const char *>&data[0], n)
    if err:
        raise OSError(err, os.strerror(err))


@cython.final
cdef class FrameQueue:
    """Bounded single-producer/single-consumer arena of frames, drained to a file in C.

    The producer (whichever thread holds the GIL: the event loop) calls :meth:`push` or the
    C-level ``push_c``; a single consumer (the recorder's writer thread) calls :meth:`drain`,
    which encodes and writes records without the GIL, or :meth:`pop_batch`.

    Args:
        capacity: frames held before new ones are dropped (and counted).
        flush_entries: call ``wake()`` when this many frames are waiting.
        wake: a callable, e.g. ``threading.Event().set``.
        arena_bytes: bytes of payload (plus 32 per frame) held before frames are dropped;
            rounded up to a power of two, at least 64 KiB. Payloads above 64 KiB are held by
            reference instead of copied.
    """

    def __cinit__(self, Py_ssize_t capacity, Py_ssize_t flush_entries, object wake,
                  Py_ssize_t arena_bytes=8 * 1024 * 1024):
        cdef uint64_t cap = 65536
        if capacity < 1 or flush_entries < 1 or arena_bytes < 1:
            raise ValueError("capacity, flush_entries and arena_bytes must be >= 1")
        if arena_bytes > (<Py_ssize_t>1 << 40):
            raise ValueError("arena_bytes is too large")
        while cap < <uint64_t>arena_bytes:
            cap <<= 1
        self.arena = <uint8_t *>malloc(cap)
        self.out = <char *>malloc(OUT_CAP)
        self.keycache = calloc(1, sizeof(zenws_keycache))
        if self.arena == NULL or self.out == NULL or self.keycache == NULL:
            raise MemoryError()
        # touch every page now, so that the event loop never takes the page faults
        memset(self.arena, 0, cap)
        self.cap = cap
        self.mask = cap - 1
        # a copied frame takes at most a quarter of the arena, so that one always fits
        self.inline_max = min(MAX_INLINE, cap // 4 - HDR)
        self.half = cap // 2
        self.head = self.tail = self.pushed = self.popped = self.tail_seen = self.popped_seen = 0
        self.capacity = capacity
        self.flush_entries = flush_entries
        self.wake = wake
        self.dropped = 0
        self.closed = False
        self.idle = 1
        self.stopping = 0
        self.written = 0
        self.reported = 0
        self.wake_lock = PyThread_allocate_lock()
        if self.wake_lock == NULL:
            raise MemoryError()
        PyThread_acquire_lock(self.wake_lock, WAIT_LOCK)  # held: the consumer's sleep

    def __dealloc__(self):
        cdef RecHdr *h
        cdef uint64_t pos = self.tail
        if self.arena != NULL:
            h = self._peek(&pos, self.head)
            while h != NULL:  # release the references held by F_OBJ records
                if h.flags & F_OBJ:
                    Py_XDECREF((<PyObject **>(<uint8_t *>h + HDR))[0])
                pos += h.size
                h = self._peek(&pos, self.head)
        free(self.arena)
        free(self.out)
        free(self.keycache)
        if self.wake_lock != NULL:
            PyThread_free_lock(self.wake_lock)

    # -- producer ----------------------------------------------------------------------------

    cdef uint8_t *_claim(self, uint64_t need) noexcept:
        """Room for a record of ``need`` bytes, or NULL (full). Sets ``_end``."""
        cdef uint64_t head = self.head
        cdef uint64_t idx = head & self.mask
        cdef uint64_t to_end = self.cap - idx
        cdef uint64_t room = need + (to_end if to_end < need else 0)
        cdef uint64_t used = head - self.tail_seen
        cdef RecHdr *wrap
        if used + room > self.cap:  # looks full: see how far the writer got
            self.tail_seen = zenws_load_acquire(&self.tail)
            used = head - self.tail_seen
            if used + room > self.cap:
                return NULL
        if to_end < need:  # skip to the start; a WRAP filler when a header fits
            if to_end >= HDR:
                wrap = <RecHdr *>(self.arena + idx)
                wrap.size = <uint32_t>to_end
                wrap.flags = F_WRAP
            head += to_end
            idx = 0
        self._end = head + need
        return self.arena + idx

    cdef inline bint _frames_full(self) noexcept:
        if self.pushed - self.popped_seen < <uint64_t>self.capacity:
            return False
        self.popped_seen = zenws_load_acquire(&self.popped)
        return self.pushed - self.popped_seen >= <uint64_t>self.capacity

    cdef int _publish(self) except -1:
        # seq_cst: the head must be visible before ``idle`` is read (the consumer does the
        # opposite: sets ``idle``, then reads the head), or a wake-up could be lost
        zenws_store_seqcst(&self.head, self._end)
        zenws_store_release(&self.pushed, self.pushed + 1)
        # Wake a sleeping consumer once flush_entries frames wait or the arena is half full;
        # a busy one checks the backlog itself before sleeping, so while it works a push
        # reads none of its cache lines.
        if zenws_load_acquire(&self.idle):
            self.tail_seen = zenws_load_acquire(&self.tail)
            self.popped_seen = zenws_load_acquire(&self.popped)
            if (self._end - self.tail_seen >= self.half
                    or self.pushed - self.popped_seen >= <uint64_t>self.flush_entries):
                self._kick()
                if self.wake is not None:
                    self.wake()
        return 0

    cdef inline void _kick(self) noexcept nogil:
        if zenws_exchange(&self.idle, 0):  # it sleeps (or is about to): one release
            PyThread_release_lock(self.wake_lock)

    cdef int _push_obj(self, tuple entry, int64_t mono_ns, int64_t epoch) except -1:
        """Keep a reference to ``entry`` (a full 7-tuple); the writer encodes it in Python."""
        cdef uint8_t *p
        cdef RecHdr *h
        if self._frames_full():
            zenws_store_release(&self.dropped, self.dropped + 1)
            return 0
        p = self._claim(HDR + 16)
        if p == NULL:
            zenws_store_release(&self.dropped, self.dropped + 1)
            return 0
        h = <RecHdr *>p
        h.size = HDR + 16
        h.len = 0
        h.kind = 0
        h.flags = F_OBJ
        h.code = 0
        h.mono = mono_ns
        h.epoch = epoch
        Py_INCREF(entry)
        (<PyObject **>(p + HDR))[0] = <PyObject *>entry
        return self._publish()

    cdef int push_c(self, bint out, int opcode, object payload, int64_t epoch,
                    int64_t mono_ns, int code, str reason) except -1:
        cdef int kind = _opcode_kind(opcode)
        cdef uint8_t flags = F_OUT if out else 0
        cdef const char *s
        cdef Py_ssize_t k
        cdef uint64_t need
        cdef uint8_t *p
        cdef RecHdr hdr
        if self.closed:
            return 0
        if kind < 0:
            raise ValueError(f"cannot record WebSocket opcode {opcode}")
        if kind == K_CLOSE:
            if reason is None:
                reason = ""
            try:
                s = PyUnicode_AsUTF8AndSize(reason, &k)
            except UnicodeEncodeError:  # lone surrogates: the Python encoder records them
                return self._push_obj(self._entry(out, kind, b"", epoch, mono_ns, code, reason),
                                      mono_ns, epoch)
            flags |= F_STR
            if code >= 0:
                flags |= F_HAS_CODE
        else:
            if type(payload) is bytes:
                s = PyBytes_AS_STRING(payload)
                k = PyBytes_GET_SIZE(payload)
            elif type(payload) is str:
                try:
                    s = PyUnicode_AsUTF8AndSize(payload, &k)
                except UnicodeEncodeError:
                    return self._push_obj(self._entry(out, kind, payload, epoch, mono_ns, -1, ""),
                                          mono_ns, epoch)
                flags |= F_STR
            elif payload is None:
                s = b""
                k = 0
            else:
                payload = bytes(payload)  # the caller may reuse its buffer
                s = PyBytes_AS_STRING(payload)
                k = PyBytes_GET_SIZE(payload)
            if k > self.inline_max:  # immutable and big: hold it rather than copy it
                return self._push_obj(self._entry(out, kind, payload, epoch, mono_ns, -1, ""),
                                      mono_ns, epoch)
        # from here on no Python code runs: the GIL keeps other producers out
        if self._frames_full():
            zenws_store_release(&self.dropped, self.dropped + 1)
            return 0
        need = HDR + _round16(<uint64_t>k)
        p = self._claim(need)
        if p == NULL:
            zenws_store_release(&self.dropped, self.dropped + 1)
            return 0
        hdr.size = <uint32_t>need
        hdr.len = <uint32_t>k
        hdr.kind = <uint8_t>kind
        hdr.flags = flags
        hdr._pad = 0
        hdr.code = code if code >= 0 else 0
        hdr.mono = mono_ns
        hdr.epoch = epoch
        memcpy(p, &hdr, HDR)
        memcpy(p + HDR, s, k)
        return self._publish()

    cdef tuple _entry(self, bint out, int kind, object payload, int64_t epoch, int64_t mono_ns,
                      int code, str reason):
        return (mono_ns, _OUT if out else _IN, _KIND_NAMES[kind],
                b"" if payload is None else payload, epoch, code if code >= 0 else None, reason)

    def push(self, str direction, str kind, object payload, int64_t epoch, object mono_ns=None,
             object code=None, str reason=""):
        """Queue one frame; never blocks (see ``zenws.recorder.Recorder.write``).

        Raises:
            ValueError: unknown direction or kind.
        """
        cdef bint out
        cdef int k = _kind_of(kind)
        cdef int64_t mono = zenws_monotonic_ns() if mono_ns is None else <int64_t>mono_ns
        if direction is _OUT or direction == _OUT:
            out = True
        elif direction is _IN or direction == _IN:
            out = False
        else:
            k = -1
        if k < 0:
            raise ValueError(f"bad frame direction/kind: {direction!r}/{kind!r}")
        if code is None:
            return self.push_c(out, KIND_OPCODE[k], payload, epoch, mono, -1, reason)
        if type(code) is int and 0 <= code <= 0x7FFFFFFF:
            return self.push_c(out, KIND_OPCODE[k], payload, epoch, mono, code, reason)
        if self.closed:
            return
        if type(payload) is not bytes and type(payload) is not str and payload is not None:
            payload = bytes(payload)
        # an unusual close code: recorded exactly as given, by the Python encoder
        self._push_obj((mono, _OUT if out else _IN, _KIND_NAMES[k],
                        b"" if payload is None else payload, epoch, code,
                        "" if reason is None else reason), mono, epoch)

    def close(self):
        """Refuse further frames (they are ignored, not counted as dropped)."""
        self.closed = True

    def __len__(self):
        return <Py_ssize_t>(self.pushed - zenws_load_acquire(&self.popped))

    @property
    def count(self):
        """Frames waiting."""
        return <Py_ssize_t>(self.pushed - zenws_load_acquire(&self.popped))

    @property
    def arena_bytes(self):
        """Size of the arena in bytes."""
        return self.cap

    # -- consumer ----------------------------------------------------------------------------

    cdef RecHdr *_peek(self, uint64_t *pos, uint64_t head) noexcept nogil:
        """The record at ``*pos`` (moved past fillers), or NULL when ``*pos`` reached ``head``.
        Consumer only; nothing is released until ``_consumed``."""
        cdef uint64_t idx, to_end
        cdef RecHdr *h
        while pos[0] != head:
            idx = pos[0] & self.mask
            to_end = self.cap - idx
            if to_end < HDR:
                pos[0] += to_end
                continue
            h = <RecHdr *>(self.arena + idx)
            if h.flags & F_WRAP:
                pos[0] += h.size
                continue
            return h
        return NULL

    cdef void _consumed(self, uint64_t tail, Py_ssize_t frames) noexcept nogil:
        """Release the arena up to ``tail`` and count ``frames`` as consumed."""
        zenws_store_release(&self.tail, tail)
        zenws_store_release(&self.popped, self.popped + <uint64_t>frames)

    def pop_batch(self, Py_ssize_t limit):
        """Remove and return up to ``limit`` frames, oldest first, as
        ``(mono_ns, direction, kind, payload, epoch, code, reason)`` tuples (consumer only)."""
        cdef list out = []
        cdef RecHdr *h
        cdef uint64_t head = zenws_load_acquire(&self.head)
        cdef uint64_t pos = self.tail
        cdef const char *s
        cdef object payload, entry, reason
        cdef PyObject *ref
        while len(out) < limit:
            h = self._peek(&pos, head)
            if h == NULL:
                self._consumed(pos, 0)
                break
            s = <const char *>(<uint8_t *>h + HDR)
            if h.flags & F_OBJ:
                ref = (<PyObject **>s)[0]
                entry = <object>ref  # a new reference; the arena's is released below
                (<PyObject **>s)[0] = NULL
                Py_DECREF(entry)
            else:
                payload = b""
                reason = ""
                if h.kind == K_CLOSE:
                    reason = PyUnicode_DecodeUTF8(s, h.len, NULL)
                elif h.flags & F_STR:
                    payload = PyUnicode_DecodeUTF8(s, h.len, NULL)
                else:
                    payload = PyBytes_FromStringAndSize(s, h.len)
                entry = (h.mono, _OUT if h.flags & F_OUT else _IN, _KIND_NAMES[h.kind], payload,
                         h.epoch, h.code if h.flags & F_HAS_CODE else None, reason)
            out.append(entry)
            pos += h.size
            self._consumed(pos, 1)
        return out

    cdef void _drain(self, Drain *d) noexcept nogil:
        cdef uint64_t head = zenws_load_acquire(&self.head)
        cdef uint64_t tail = self.tail
        cdef Py_ssize_t n = 0, m, pending = 0
        cdef RecHdr *h
        cdef Item it
        cdef TsCache cache
        cache.sec = -1
        d.status = D_DONE
        while d.frames + pending < d.max_frames:
            h = self._peek(&tail, head)
            if h == NULL:
                break
            if h.flags & F_OBJ:
                d.status = D_PYTHON
                break
            if n + 6 * <Py_ssize_t>h.len + 192 > OUT_CAP or n >= CHUNK:
                # Release what is encoded (once per chunk, so that the loop thread's cache
                # line is disturbed rarely), then write it.
                self._consumed(tail, pending)
                d.err = _write_all(d.fd, self.out, n)
                if d.err:
                    return
                d.size += n
                d.frames += pending
                zenws_store_release(&self.written, self.written + <uint64_t>pending)
                n = pending = 0
            _item_from_rec(&it, h, d.t0, d.wall0)
            m = _encode_item(self.out, n, &it, d.redact, &cache, self.keycache)
            if m < 0:
                d.status = D_PYTHON
                break
            if d.limit >= 0 and d.size + m > d.limit and not d.exempt_first:
                d.status = D_ROTATE
                break
            d.exempt_first = False
            n = m
            pending += 1
            tail += h.size
        self._consumed(tail, pending)
        if n:
            d.err = _write_all(d.fd, self.out, n)
            if d.err:
                return
            d.size += n
        d.frames += pending
        zenws_store_release(&self.written, self.written + <uint64_t>pending)

    cdef void _sleep(self, long long timeout_us) noexcept nogil:
        """Wait until a push past the thresholds, kick() or stop(), or the timeout."""
        zenws_store_seqcst(&self.idle, 1)
        # re-check after announcing the sleep: a push that missed ``idle`` is seen here
        if (zenws_load_acquire(&self.pushed) - self.popped >= <uint64_t>self.flush_entries
                or zenws_load_acquire(&self.head) - self.tail >= self.half
                or zenws_load_acquire(&self.stopping)):
            if not zenws_exchange(&self.idle, 0):
                # a producer took the flag: its release is coming, consume it
                PyThread_acquire_lock(self.wake_lock, WAIT_LOCK)
            return
        if PyThread_acquire_lock_timed(self.wake_lock, timeout_us, 0) != PY_LOCK_ACQUIRED:
            if not zenws_exchange(&self.idle, 0):
                PyThread_acquire_lock(self.wake_lock, WAIT_LOCK)

    def serve(self, int fd, int64_t t0, int64_t wall0, bint redact, int64_t size,
              int64_t limit, bint exempt_first, double interval):
        """The writer thread's loop: sleep, drain, repeat -- all without the GIL.

        Sleeps until ``flush_entries`` frames wait, the arena is half full, :meth:`kick` or
        :meth:`stop` is called, or ``interval`` seconds pass; then writes everything queued
        (as :meth:`drain`). Returns only when Python is needed.

        Returns:
            ``(status, size)``: ``DRAIN_PYTHON`` (take the next frame with
            ``pop_batch(1)``), ``DRAIN_ROTATE`` (rotate, then serve again with
            ``exempt_first=True``), ``DRAIN_DROPS`` (report :attr:`dropped`, then call
            :meth:`reported_drops`), ``DRAIN_STOP`` (stopped, everything written).

        Raises:
            OSError: a write failed.
        """
        cdef Drain d
        # at least hourly: PyThread_acquire_lock_timed takes no more than PY_TIMEOUT_MAX
        cdef long long timeout_us = <long long>(min(max(interval, 1e-4), 3600.0) * 1e6)
        d.fd = fd
        d.t0 = t0
        d.wall0 = wall0
        d.size = size
        d.limit = limit
        d.redact = redact
        d.exempt_first = exempt_first
        d.status = D_DONE
        d.err = 0
        with nogil:
            while True:
                d.max_frames = <Py_ssize_t>(LLONG_MAX >> 1)
                d.frames = 0
                self._drain(&d)
                if d.err or d.status != D_DONE:
                    break
                if zenws_load_acquire(&self.dropped) != self.reported:
                    d.status = D_DROPS
                    break
                if zenws_load_acquire(&self.head) == self.tail:
                    if zenws_load_acquire(&self.stopping):
                        d.status = D_STOP
                        break
                    self._sleep(timeout_us)
                elif (zenws_load_acquire(&self.pushed) - self.popped
                        < <uint64_t>self.flush_entries):
                    self._sleep(timeout_us)
        if d.err:
            raise OSError(d.err, os.strerror(d.err))
        return d.status, d.size

    def kick(self):
        """Wake the consumer now (a flush request)."""
        self._kick()

    def stop(self):
        """Make :meth:`serve` return ``DRAIN_STOP`` once everything queued is written."""
        zenws_store_seqcst(&self.stopping, 1)
        self._kick()

    def reported_drops(self, uint64_t total):
        """The consumer reported drops up to ``total``."""
        self.reported = total

    def add_written(self, uint64_t n):
        """Count ``n`` frames written by the caller (the Python path)."""
        zenws_store_release(&self.written, self.written + n)

    def drain(self, int fd, int64_t t0, int64_t wall0, bint redact, int64_t size,
              int64_t limit, bint exempt_first, Py_ssize_t max_frames):
        """Encode and write up to ``max_frames`` queued frames to ``fd`` without the GIL.

        Stops early, before the record concerned, when a frame needs Python (redaction,
        invalid UTF-8, a frame held by reference: take it with ``pop_batch(1)``), or when the
        next line would bring the file past ``limit`` bytes (the caller rotates, then calls
        again with ``exempt_first=True``).

        Args:
            fd: the file descriptor (opened for appending).
            t0: monotonic time of the session start.
            wall0: wall-clock time at ``t0`` (ns since the Unix epoch).
            redact: send text that may carry a secret key to Python.
            size: bytes in the file now.
            limit: the rotation limit (footer room already deducted), or -1.
            exempt_first: write the first line whatever its size (a fresh part).
            max_frames: at most this many frames.

        Returns:
            ``(status, frames_written, size)``, status one of ``DRAIN_DONE``,
            ``DRAIN_PYTHON``, ``DRAIN_ROTATE``.

        Raises:
            OSError: a write failed (the frames concerned are lost; the caller stops).
        """
        cdef Drain d
        d.fd = fd
        d.t0 = t0
        d.wall0 = wall0
        d.size = size
        d.limit = limit
        d.max_frames = max_frames
        d.frames = 0
        d.redact = redact
        d.exempt_first = exempt_first
        d.status = D_DONE
        d.err = 0
        with nogil:
            self._drain(&d)
        if d.err:
            raise OSError(d.err, os.strerror(d.err))
        return d.status, d.frames, d.size
