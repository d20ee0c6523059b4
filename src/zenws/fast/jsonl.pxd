# C-level API of zenws.fast.jsonl (the recorder's frame arena and line encoder).
from cpython.pythread cimport PyThread_type_lock
from libc.stdint cimport int32_t, int64_t, uint8_t, uint16_t, uint32_t, uint64_t


cdef bint _has_secret_key(const uint8_t *s, Py_ssize_t k) noexcept nogil


# One record in the arena: this header, then the payload (padded to 16 bytes).
cdef struct RecHdr:
    uint32_t size        # bytes of the whole record (header + payload, multiple of 16)
    uint32_t len         # payload bytes (close frames: the reason, UTF-8)
    uint8_t kind         # 0 text, 1 binary, 2 ping, 3 pong, 4 close
    uint8_t flags        # F_* in jsonl.pyx
    uint16_t _pad
    int32_t code         # close code (flag F_HAS_CODE)
    int64_t mono
    int64_t epoch


# In/out state of one FrameQueue.drain() call (the writer thread, without the GIL).
cdef struct Drain:
    int fd
    int64_t t0
    int64_t wall0
    int64_t size
    int64_t limit
    Py_ssize_t max_frames
    Py_ssize_t frames
    int redact
    int exempt_first
    int status
    int err


cdef class FrameQueue:
    # The two threads' fields sit on separate cache lines (the _pad arrays), and each side
    # reads the other's position only when its cached copy says the arena is full (producer)
    # or empty (consumer): a push normally touches no line the writer thread wrote.
    cdef char _pad0[64]
    # producer side (event-loop thread, GIL held)
    cdef uint64_t head                   # bytes published (release store)
    cdef uint64_t pushed                 # frames published
    cdef uint64_t tail_seen, popped_seen  # the consumer's positions, as last read
    cdef uint64_t _end                   # end of the record being claimed
    cdef readonly uint64_t dropped
    cdef Py_ssize_t capacity, flush_entries, inline_max
    cdef object wake
    cdef readonly bint closed
    cdef uint64_t idle                   # the consumer sleeps: kick it when work piles up
    cdef uint64_t stopping               # stop() was called
    cdef PyThread_type_lock wake_lock    # held while the consumer sleeps on it
    # fixed
    cdef uint8_t *arena
    cdef uint64_t cap, mask, half
    cdef char _pad1[64]
    # consumer side (writer thread, usually without the GIL)
    cdef uint64_t tail                   # bytes released (release store)
    cdef uint64_t popped                 # frames consumed (release store)
    cdef readonly uint64_t written       # frames written to the file
    cdef uint64_t reported               # drops reported so far
    cdef char *out                       # reused output buffer
    cdef void *keycache                  # harmless JSON keys seen (zenws_keycache)
    cdef char _pad2[64]

    # Queue one frame from C (the listener's hot path); never blocks: a full arena counts a
    # drop. ``opcode`` is the WebSocket opcode (1 text, 2 binary, 8 close, 9 ping, 10 pong;
    # anything else raises ValueError); ``payload`` bytes or str (other buffers are copied,
    # ignored for close); ``code`` the close code or -1 for none; ``reason`` the close reason.
    cdef int push_c(self, bint out, int opcode, object payload, int64_t epoch,
                    int64_t mono_ns, int code, str reason) except -1

    cdef uint8_t *_claim(self, uint64_t need) noexcept
    cdef bint _frames_full(self) noexcept
    cdef int _publish(self) except -1
    cdef int _push_obj(self, tuple entry, int64_t mono_ns, int64_t epoch) except -1
    cdef tuple _entry(self, bint out, int kind, object payload, int64_t epoch, int64_t mono_ns,
                      int code, str reason)
    cdef RecHdr *_peek(self, uint64_t *pos, uint64_t head) noexcept nogil
    cdef void _consumed(self, uint64_t tail, Py_ssize_t frames) noexcept nogil
    cdef void _drain(self, Drain *d) noexcept nogil
    cdef void _sleep(self, long long timeout_us) noexcept nogil
    cdef void _kick(self) noexcept nogil
