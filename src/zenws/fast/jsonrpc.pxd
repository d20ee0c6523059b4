# C-level API of zenws.fast.jsonrpc (cimport-able from user Cython code).
#
# The scanner itself is plain C (ext/zenws_scan.c): call zenws_scan() on a
# message to get the kind, the id and the offsets of method / params.channel
# without building any Python object.  Offsets point at the raw string
# content between the quotes; *_escaped says whether a backslash occurs (then
# decode with zenws_unescape or the ScanResult properties).
cimport cython
from cpython.object cimport PyObject
from libc.stdint cimport int64_t, uint8_t


cdef extern from "zenws_scan.h" nogil:
    enum:
        ZENWS_KIND_INVALID
        ZENWS_KIND_OTHER
        ZENWS_KIND_RESPONSE
        ZENWS_KIND_NOTIFICATION
        ZENWS_KIND_REQUEST
        ZENWS_KIND_ERROR_NO_ID
        ZENWS_ID_NONE
        ZENWS_ID_INT
        ZENWS_ID_STRING
        ZENWS_SCAN_MAX_DEPTH
        ZENWS_SCAN_STRICT_BELOW

    ctypedef struct zenws_scan_t:
        int kind
        int id_type                 # 0 none, 1 int, 2 string
        int64_t id_int
        Py_ssize_t id_off, id_len, method_off, method_len, channel_off, channel_len
        int id_escaped, method_escaped, channel_escaped, has_result, has_error

    int zenws_scan(const char* buf, Py_ssize_t len, zenws_scan_t* out) noexcept
    int zenws_scan_strict(const char* buf, Py_ssize_t len, zenws_scan_t* out) noexcept
    Py_ssize_t zenws_unescape(const char* src, Py_ssize_t len, char* dst) noexcept
    Py_ssize_t zenws_format_i64(int64_t v, char* dst) noexcept
    int zenws_json_plain(const char* s, Py_ssize_t len) noexcept
    # Stage-1 kernel of zenws_scan(): "avx512", "avx2", "sse2" or "scalar" (chosen on
    # first use within ZENWS_CPU; ZENWS_KERNEL_SCAN / ZENWS_SCAN_KERNEL can force one).
    const char* zenws_scan_kernel() noexcept
    int zenws_scan_set_kernel(const char* name) noexcept

cdef extern from "zenws_jstr.h" nogil:
    ctypedef struct zenws_keycache:
        pass

# The JSON string unit (ext/zenws_jstr.c) is compiled into this extension only; the
# JSONL writer (zenws.fast.jsonl) calls it through these (cimport: a function pointer).
# jstr_quote_c: s[0:k] as a quoted JSON string at out (room for 6 * k + 18 bytes), UTF-8
# checked when check, credential-looking keys found when keys; the length, -1 (invalid
# UTF-8) or -2 (a suspicious key).
cdef Py_ssize_t jstr_quote_c(char* out, const uint8_t* s, Py_ssize_t k, int check, int keys,
                             zenws_keycache* kc) noexcept nogil
cdef bint jstr_has_secret_key_c(const uint8_t* s, Py_ssize_t k) noexcept nogil

# The scanner is compiled into this extension only (one kernel choice); other
# extensions call it through these (cimport: a function pointer).
cdef int scan_raw_c(const char* buf, Py_ssize_t n, zenws_scan_t* out) noexcept nogil
cdef Py_ssize_t unescape_raw_c(const char* src, Py_ssize_t n, char* dst) noexcept nogil


@cython.final
@cython.no_gc
cdef class ScanResult:
    cdef zenws_scan_t s            #: the raw C result (offsets into ``buf``)
    cdef readonly bytes buf        #: the scanned message (kept alive for the offsets)
    cdef object _id                # lazily built Python values (see _have)
    cdef object _method
    cdef object _channel
    cdef int _have


# Scan ``buf`` into a fresh ScanResult; strict selects
# zenws_scan_strict (every nested value grammar-checked).
cdef ScanResult scan_c(bytes buf, bint strict=*)


# One open-addressing slot of the Correlator's int64 id table.
ctypedef struct _Slot:
    int64_t id
    int64_t sent_ns
    int64_t deadline_ns
    int state                      # 0 empty, 1 asyncio.Future, 2 callable


@cython.final
cdef class Correlator:
    cdef _Slot* _slots
    cdef list _waiters             # waiter of slot i at index i (keeps GC aware)
    cdef Py_ssize_t _mask          # capacity - 1 (capacity is a power of two)
    cdef int _shift                # 64 - log2(capacity), for the hash
    cdef Py_ssize_t _count         # int ids in flight
    cdef dict _str_entries         # str id -> (waiter, state, sent_ns, deadline_ns)
    cdef int64_t _min_deadline     # lower bound of every pending deadline
    cdef bint _min_stale           # True when _min_deadline may be too low
    cdef public object on_response  #: Callable[[dict | bytes], object] | None

    cdef Py_ssize_t _home(self, int64_t id) noexcept
    cdef Py_ssize_t _find(self, int64_t id) noexcept
    cdef void _remove_at(self, Py_ssize_t i) noexcept
    cdef int _grow(self) except -1
    cdef int _refresh_min(self) except -1

    # Start tracking ``id`` (waiter: asyncio.Future or callable); ValueError
    # if it is already in flight, TypeError for another waiter type.
    cdef int track_c(self, int64_t id, object waiter, int64_t sent_ns,
                     int64_t deadline_ns) except -1
    # Remove ``id`` and deliver ``payload`` to its waiter (a done/cancelled
    # future is skipped); returns recv_ns - sent_ns, or -1 for an unknown id.
    # Exceptions raised by a callable waiter propagate (the entry is gone).
    cdef int64_t resolve_c(self, int64_t id, object payload, int64_t recv_ns) except -2
    # Forget ``id`` without delivering anything; False if unknown.
    cdef bint discard_c(self, int64_t id) noexcept
    # The waiter tracked under ``id`` (left in place), or None.
    cdef object waiter_c(self, int64_t id)
    # The waiter tracked under ``id`` if it is exactly of type ``cls``: removed
    # and returned (the caller delivers; *sent_ns = its send time).  Else None
    # and nothing changes.
    cdef object pop_if_c(self, int64_t id, type cls, int64_t* sent_ns)


# b'{"jsonrpc":"2.0","id":<id>,"method":"<method>","params":<params>}'
# (params None -> {}; params must encode to an object/array: plain data is
# written by zenws_jsonenc, anything else by orjson); bare: b'{"id":..' without
# the "jsonrpc" member.
cdef bytes encode_request_c(int64_t id, str method, object params, bint bare=*)

# The same request written into b.data[head:head + n] (b grows as needed; the
# first head bytes are the caller's, e.g. room for a frame header); returns n,
# or -1 when params is not plain data (then use encode_request_c).
cdef Py_ssize_t encode_request_into(zenws_jsonenc_buf* b, Py_ssize_t head, int64_t id,
                                    str method, object params, bint bare=*) except -2
# Free b's memory (b is left empty and reusable).
cdef void free_request_buffer(zenws_jsonenc_buf* b) noexcept


# JSON -> Python decoder (ext/zenws_json.c): what json.loads builds from the
# same UTF-8 text, or json.JSONDecodeError (pos = byte offset).  NULL = error.
cdef extern from "zenws_json.h":
    enum:
        ZENWS_JSON_MAX_DEPTH
    object zenws_json_loads(const char* buf, Py_ssize_t len)
    const char* zenws_json_kernel() noexcept
    const char* zenws_json_kernel_init() noexcept
    int zenws_json_set_kernel(const char* name) noexcept


# JSON encoder for plain data (ext/zenws_jsonenc.c): orjson.dumps' bytes for
# dict/list/tuple/str/int/float/bool/None; 1 (no exception) for anything
# else, so that the caller falls back to orjson; -1 with an exception set.
cdef extern from "zenws_jsonenc.h":
    enum:
        ZENWS_JSONENC_OK
        ZENWS_JSONENC_UNSUPPORTED
        ZENWS_JSONENC_MAX_DEPTH
    int zenws_jsonenc_request(const char* id_json, Py_ssize_t id_len, const char* method,
                              Py_ssize_t method_len, object params, int bare,
                              PyObject** out) except -1
    ctypedef struct zenws_jsonenc_buf:
        char* data
        Py_ssize_t cap
    int zenws_jsonenc_dumps(object obj, PyObject** out) except -1
    int zenws_jsonenc_plain(const char* s, Py_ssize_t n) noexcept


# Decode the JSON document buf[0:n] (need not be NUL-terminated); see loads().
cdef object loads_c(const char* buf, Py_ssize_t n)
