# C-level API of zenws.fast.jsonl (the recorder's line encoder).
from libc.stdint cimport int64_t, uint8_t


cdef bint _has_secret_key(const uint8_t *s, Py_ssize_t k) noexcept nogil


cdef class FrameQueue:
    cdef list ring
    cdef Py_ssize_t capacity, head, flush_entries
    cdef readonly Py_ssize_t count
    cdef object wake
    cdef readonly long long dropped
    cdef readonly bint closed

    # Queue one frame from C (the listener's hot path); never blocks: a full ring counts a
    # drop. ``payload`` must be bytes or str (other buffers are copied).
    cdef int push_c(self, str direction, str kind, object payload, int64_t epoch,
                    int64_t mono_ns, object code, str reason) except -1
