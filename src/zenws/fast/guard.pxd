# C-level API of zenws.fast.guard: the read guard that sits between the event
# loop's transport and picows' WSProtocol from the connection's first byte: it
# forwards the HTTP response head unchecked and validates RFC 6455 framing on the
# raw byte stream after it, before picows parses it.
cimport cython
from libc.stdint cimport int64_t, uint32_t
from zenws.fast._compat cimport Protocol
from zenws.fast.listener cimport FastListener


# Result of ReadGuard.walk_c besides a close code (1002 / 1007 / 1009).
cdef enum:
    GUARD_OK = 0        # every byte of the chunk is valid, forward all of it
    GUARD_CLOSED = 1    # a valid CLOSE frame ends at *cut: forward up to it, then nothing

# ReadGuard._mode: what the bytes read now are.
cdef enum:
    GUARD_HEAD = 0      # the HTTP response head: forwarded unchecked, its end is looked for
    GUARD_FRAMES = 1    # WebSocket frames after a 101: validated before picows sees them
    GUARD_PASS = 2      # no frames follow (a refused upgrade) or no FastListener: forwarded


@cython.final
cdef class ReadGuard(Protocol):
    cdef object _proto                 # picows WSProtocol (the real protocol)
    cdef object _get_buffer            # its bound get_buffer
    cdef object _buffer_updated        # its bound buffer_updated
    cdef readonly FastListener listener  #: the FastListener fed by picows
    cdef object _loop
    cdef int _mode                     # GUARD_HEAD / GUARD_FRAMES / GUARD_PASS
    cdef int _crlf                     # bytes of the head's final CRLF CRLF seen so far
    cdef readonly Py_ssize_t head_bytes  #: int: bytes of the HTTP response head received
    cdef unsigned char _status[16]     # the first bytes of the response (its status line)
    cdef const unsigned char* _ptr     # start of the buffer handed out by get_buffer
    cdef readonly bint stopped         #: bool: nothing more is forwarded
    cdef readonly int fail_code        #: int: close code of the violation (0: none)
    cdef readonly str fail_reason      #: str
    cdef readonly int64_t max_frame_size  #: int: payload limit of a data frame
    cdef readonly int64_t max_message_size  #: int: limit of an uncompressed message
    cdef int64_t _msg_len              # payload bytes of the open uncompressed message
    cdef readonly unsigned long long bytes_forwarded  #: int
    cdef bint _deflate                 # permessage-deflate negotiated: RSV1 legal
    cdef bint _lost                    # connection_lost() was called
    # frame parser state (kept across reads)
    cdef unsigned char _hdr[14]        # stash of a header split across reads
    cdef int _hdr_len                  # bytes in _hdr (0: at a frame boundary)
    cdef bint _in_payload              # True: _remaining payload bytes still to come
    cdef int64_t _remaining
    cdef int _op                       # opcode of the current frame
    cdef bint _fin
    cdef bint _check_text              # current frame's payload is UTF-8 checked
    # message state (RFC 6455 §5.4 fragmentation)
    cdef int _msg_op                   # opcode of the open message, -1 = none
    cdef bint _msg_compressed
    cdef uint32_t _utf8                # validator state across reads and fragments
    # CLOSE payload (<= 125 bytes) collected across reads
    cdef unsigned char _close[125]
    cdef int _close_len
    cdef const char* _why              # reason of the last violation (static text)

    cdef int walk_c(self, const unsigned char* p, Py_ssize_t n, Py_ssize_t* cut) noexcept
    cdef int _header_c(self, const unsigned char* p, Py_ssize_t n, Py_ssize_t* used) noexcept
    cdef int _frame_done_c(self) noexcept
    cdef _stop(self, int rc)
    cdef _head_read(self, Py_ssize_t nbytes)
    cdef Py_ssize_t _head_end_c(self, const unsigned char* p, Py_ssize_t n) noexcept
