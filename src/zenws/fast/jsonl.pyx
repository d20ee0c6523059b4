# cython: language_level=3
"""Recorder hot paths (``zenws.recorder``): the loop-side frame queue and the JSONL encoder.

:class:`FrameQueue` is what ``Recorder.write`` is: a bounded ring of frame tuples that the
event-loop thread appends to (no lock: every access holds the GIL and runs no Python code) and
the writer thread empties in batches; a full ring counts a drop instead of waiting.

:func:`encode_batch` turns a batch of queued frames into finished lines -- UTC timestamp,
integers, JSON string escaping (the same escapes as orjson) or base64 -- in C without the GIL,
so recording costs the writer thread a fraction of a microsecond per frame and never holds up
the event loop. Frames that need Python go to a fallback: text whose keys may name a secret
(the caller redacts it), text bytes that are not valid UTF-8, unexpected payload types.
"""

cimport cython
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.unicode cimport PyUnicode_AsUTF8AndSize
from libc.stdint cimport int64_t, uint8_t, uint64_t
from libc.stdlib cimport free, malloc, realloc
from libc.string cimport memchr, memcpy

from zenws.fast.common cimport zenws_monotonic_ns

cdef const char *B64 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
cdef const char *HEX = b"0123456789abcdef"

# Substrings that make a JSON key suspicious (a superset of zenws._redact.is_sensitive: every
# name it flags contains one of these). A hit only sends the frame to the exact Python check.
cdef const char *NEEDLES[8]
NEEDLES[:] = [b"token", b"secret", b"sig", b"pass", b"key", b"credential", b"auth", b"cookie"]
cdef int NEEDLE_LEN[8]
NEEDLE_LEN[:] = [5, 6, 3, 4, 3, 10, 4, 6]

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


cdef inline uint64_t _load64(const uint8_t *p) noexcept nogil:
    cdef uint64_t v
    memcpy(&v, p, 8)
    return v


cdef inline bint _plain8(uint64_t x) noexcept nogil:
    """No byte of x is >= 0x80, < 0x20, '"' or '\\' (SWAR, "haszero" bit tricks)."""
    cdef uint64_t ones = 0x0101010101010101ULL
    cdef uint64_t high = 0x8080808080808080ULL
    cdef uint64_t q = x ^ (ones * 0x22)
    cdef uint64_t b = x ^ (ones * 0x5C)
    cdef uint64_t bad = (x | ((x - ones * 0x20) & ~x) | ((q - ones) & ~q) | ((b - ones) & ~b))
    return (bad & high) == 0


cdef Py_ssize_t _put_escaped(char *out, Py_ssize_t n, const uint8_t *s, Py_ssize_t k,
                             bint check) noexcept nogil:
    """A JSON string with quotes, escaped as orjson does (RFC 8259 §7).

    With ``check``, multi-byte sequences are validated (RFC 3629 §4: no overlongs, surrogates
    or code points above U+10FFFF) and -1 is returned for invalid UTF-8.
    """
    cdef Py_ssize_t i = 0, extra, j
    cdef uint8_t c, c1
    out[n] = b'"'
    n += 1
    while i < k:
        if i + 8 <= k and _plain8(_load64(s + i)):
            memcpy(out + n, s + i, 8)
            n += 8
            i += 8
            continue
        c = s[i]
        if c >= 0x80:
            if check:
                if 0xC2 <= c <= 0xDF:
                    extra = 1
                elif 0xE0 <= c <= 0xEF:
                    extra = 2
                elif 0xF0 <= c <= 0xF4:
                    extra = 3
                else:
                    return -1
                if i + extra >= k:
                    return -1
                c1 = s[i + 1]
                if (c == 0xE0 and c1 < 0xA0) or (c == 0xED and c1 > 0x9F):
                    return -1
                if (c == 0xF0 and c1 < 0x90) or (c == 0xF4 and c1 > 0x8F):
                    return -1
                for j in range(1, extra + 1):
                    if (s[i + j] & 0xC0) != 0x80:
                        return -1
                memcpy(out + n, s + i, extra + 1)
                n += extra + 1
                i += extra + 1
                continue
            out[n] = <char>c
            n += 1
        elif c >= 0x20 and c != 0x22 and c != 0x5C:
            out[n] = <char>c
            n += 1
        elif c == 0x22 or c == 0x5C:
            out[n] = b'\\'
            out[n + 1] = <char>c
            n += 2
        elif c == 0x0A:
            n = _put(out, n, b"\\n", 2)
        elif c == 0x0D:
            n = _put(out, n, b"\\r", 2)
        elif c == 0x09:
            n = _put(out, n, b"\\t", 2)
        elif c == 0x08:
            n = _put(out, n, b"\\b", 2)
        elif c == 0x0C:
            n = _put(out, n, b"\\f", 2)
        else:
            n = _put(out, n, b"\\u00", 4)
            out[n] = HEX[c >> 4]
            out[n + 1] = HEX[c & 15]
            n += 2
        i += 1
    out[n] = b'"'
    return n + 1


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


cdef inline uint8_t _lower(uint8_t c) noexcept nogil:
    return c + 32 if 65 <= c <= 90 else c


cdef bint _suspicious_key(const uint8_t *k, Py_ssize_t n) noexcept nogil:
    cdef int w, m, j
    cdef Py_ssize_t i
    cdef const char *needle
    for w in range(8):
        needle = NEEDLES[w]
        m = NEEDLE_LEN[w]
        i = 0
        while i + m <= n:
            j = 0
            while j < m and _lower(k[i + j]) == <uint8_t>needle[j]:
                j += 1
            if j == m:
                return True
            i += 1
    return False


cdef bint _has_secret_key(const uint8_t *s, Py_ssize_t k) noexcept nogil:
    """True if some quoted string followed by ``:`` (a JSON key) looks credential-like."""
    cdef const uint8_t *end = s + k
    cdef const uint8_t *p = s
    cdef const uint8_t *start
    cdef const uint8_t *q
    cdef const uint8_t *b
    while p < end:
        p = <const uint8_t *>memchr(p, 0x22, end - p)  # opening quote (SIMD in libc)
        if p == NULL:
            return False
        start = p + 1
        q = start
        while True:  # closing quote: the next one not escaped by an odd run of backslashes
            q = <const uint8_t *>memchr(q, 0x22, end - q)
            if q == NULL:
                return False
            b = q
            while b > start and (b - 1)[0] == 0x5C:
                b -= 1
            if (q - b) % 2 == 0:
                break
            q += 1
        p = q + 1
        while p < end and (p[0] == 0x20 or p[0] == 0x09 or p[0] == 0x0A or p[0] == 0x0D):
            p += 1
        if p < end and p[0] == 0x3A and _suspicious_key(start, q - start):
            return True
    return False


def has_secret_key(data) -> bool:
    """True when a JSON text (str or UTF-8 bytes) has a key that may name a credential.

    A superset of :func:`zenws._redact.is_sensitive` applied to every key: False means the
    frame certainly needs no redaction.
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
                             TsCache *cache) noexcept nogil:
    """Append one line at ``n`` (room reserved by the caller); -1 = needs Python."""
    cdef int kind = it.kind
    if kind == K_FALLBACK:
        return -1
    if kind == K_TEXT and redact and _has_secret_key(<const uint8_t *>it.s, it.k):
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
        n = _put_escaped(out, n, <const uint8_t *>it.s, it.k, it.check_utf8)
        if n < 0:  # invalid UTF-8: the Python path records it as flagged base64
            return -1
    elif kind == K_CLOSE:
        n = _put_int(out, n, it.code) if it.has_code else _put(out, n, b"null", 4)
        n = _put(out, n, b',"reason":', 10)
        n = _put_escaped(out, n, <const uint8_t *>it.s, it.k, False)
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


cdef object _IN = "in"
cdef object _OUT = "out"
cdef frozenset _KINDS = frozenset(("text", "binary", "ping", "pong", "close"))


@cython.final
cdef class FrameQueue:
    """Bounded ring of ``(mono_ns, direction, kind, payload, epoch, code, reason)`` tuples.

    Args:
        capacity: frames held before new ones are dropped (and counted).
        flush_entries: call ``wake()`` when this many frames are waiting.
        wake: a callable, e.g. ``threading.Event().set``.
    """

    def __cinit__(self, Py_ssize_t capacity, Py_ssize_t flush_entries, object wake):
        if capacity < 1 or flush_entries < 1:
            raise ValueError("capacity and flush_entries must be >= 1")
        self.ring = [None] * capacity
        self.capacity = capacity
        self.head = 0
        self.count = 0
        self.flush_entries = flush_entries
        self.wake = wake
        self.dropped = 0
        self.closed = False

    cdef int push_c(self, str direction, str kind, object payload, int64_t epoch,
                    int64_t mono_ns, object code, str reason) except -1:
        cdef Py_ssize_t i
        if self.closed:
            return 0
        if self.count >= self.capacity:
            self.dropped += 1
            return 0
        if payload is None:
            payload = b""
        elif type(payload) is not bytes and type(payload) is not str:
            payload = bytes(payload)  # the caller may reuse its buffer
        i = self.head + self.count
        if i >= self.capacity:
            i -= self.capacity
        self.ring[i] = (mono_ns, direction, kind, payload, epoch, code, reason)
        self.count += 1
        if self.count == self.flush_entries:
            self.wake()
        return 0

    def push(self, str direction, str kind, object payload, int64_t epoch, object mono_ns=None,
             object code=None, str reason=""):
        """Queue one frame; never blocks (see ``zenws.recorder.Recorder.write``).

        Raises:
            ValueError: unknown direction or kind.
        """
        if (direction != _IN and direction != _OUT) or kind not in _KINDS:
            raise ValueError(f"bad frame direction/kind: {direction!r}/{kind!r}")
        self.push_c(direction, kind, payload, epoch,
                    zenws_monotonic_ns() if mono_ns is None else <int64_t>mono_ns, code,
                    reason if reason is not None else "")

    def pop_batch(self, Py_ssize_t limit):
        """Remove and return up to ``limit`` frames, oldest first."""
        cdef Py_ssize_t n = min(limit, self.count), j
        cdef list out = [None] * n
        for j in range(n):
            out[j] = self.ring[self.head]
            self.ring[self.head] = None
            self.head += 1
            if self.head == self.capacity:
                self.head = 0
        self.count -= n
        return out

    def close(self):
        """Refuse further frames (they are ignored, not counted as dropped)."""
        self.closed = True

    def __len__(self):
        return self.count
