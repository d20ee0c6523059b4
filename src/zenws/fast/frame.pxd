# C-level API of zenws.fast.frame: RFC 6455 frame codec, masking, UTF-8,
# message reassembly and permessage-deflate (RFC 7692).  cimport-able:
#     from zenws.fast.frame cimport MessageAssembler, parse_header, FrameHeader
cimport cython
from libc.stdint cimport int64_t, uint32_t

from zenws.fast.common cimport zenws_cpu_api


cdef extern from "zenws_mask.h" nogil:
    void zenws_mask(unsigned char* data, size_t n, const unsigned char* key,
                    size_t phase) noexcept
    void zenws_mask_with(int kernel, unsigned char* data, size_t n,
                         const unsigned char* key, size_t phase) noexcept
    int zenws_mask_init(const char* forced) noexcept
    int zenws_mask_available(int kernel) noexcept
    const char* zenws_mask_kernel_name(int kernel) noexcept
    int zenws_mask_current() noexcept
    enum:
        ZENWS_MASK_NKERNELS


cdef extern from "zenws_utf8.h" nogil:
    enum:
        ZENWS_UTF8_ACCEPT
        ZENWS_UTF8_REJECT
    uint32_t zenws_utf8_feed(uint32_t state, const unsigned char* p, size_t n,
                             size_t* bad) noexcept
    int zenws_utf8_valid(const unsigned char* p, size_t n) noexcept

# The UTF-8 validator is compiled into this extension only (one kernel choice);
# other extensions call it through these (cimport: a function pointer).
cdef uint32_t utf8_feed_c(uint32_t state, const unsigned char* p, size_t n,
                          size_t* bad) noexcept nogil
cdef int utf8_valid_c(const unsigned char* p, size_t n) noexcept nogil


# The CPU detector and kernel dispatcher (ext/zenws_cpu.c) is compiled into this
# extension only; the C units of another extension call it through this table
# (zenws_cpu.h: their module stores it in zenws_cpu_link at import).
cdef const zenws_cpu_api* cpu_api_c() noexcept nogil


# Opcodes at C level (RFC 6455 §5.2); the Python constants are OP_CONT, ...
cdef enum:
    OPCODE_CONT = 0
    OPCODE_TEXT = 1
    OPCODE_BINARY = 2
    OPCODE_CLOSE = 8
    OPCODE_PING = 9
    OPCODE_PONG = 10

# parse_header() flags
cdef enum:
    HDR_ALLOW_RSV1 = 1       # permessage-deflate negotiated: RSV1 is legal
    HDR_REQUIRE_MASK = 2     # server side: client frames must be masked (§5.1)
    HDR_REQUIRE_UNMASKED = 4  # client side: server frames must not be masked (§5.1)


cdef struct FrameHeader:
    int opcode
    bint fin
    bint rsv1
    bint rsv2
    bint rsv3
    bint masked
    unsigned char key[4]
    Py_ssize_t header_len       # bytes before the payload
    Py_ssize_t payload_len


# Parses and validates one frame header at p[0..n).  Returns the total frame
# length (header + payload), -1 when more bytes are needed (the payload may
# still be incomplete when the return value > n); raises ProtocolError.
cdef Py_ssize_t parse_header(const unsigned char* p, Py_ssize_t n, FrameHeader* h,
                             int64_t max_size, int flags) except -2

# Frame bytes; rsv_bits = 0x40 (RSV1) | 0x20 | 0x10; key NULL = unmasked.
cdef bytes encode_c(int opcode, const unsigned char* data, Py_ssize_t n, bint fin,
                    int rsv_bits, const unsigned char* key)

# A final, masked client frame around payload[0..n), in place: the header (with a
# random key) is written into the bytes just before payload (the caller keeps 14
# there) and the payload is masked.  Returns the header length.
cdef Py_ssize_t frame_in_place_c(int opcode, unsigned char* payload, Py_ssize_t n) except -1

# RFC 6455 §5.5.1/§7.4: raises ProtocolError 1002 (bad length/code) or 1007.
cdef int check_close_payload(const unsigned char* p, Py_ssize_t n) except -1

cdef bint close_code_valid(int code) noexcept


@cython.final
cdef class Frame:
    cdef readonly int opcode     #: int
    cdef readonly bint fin       #: bool
    cdef readonly bint rsv1      #: bool
    cdef readonly bint rsv2      #: bool
    cdef readonly bint rsv3      #: bool
    cdef readonly bint masked    #: bool
    cdef readonly bytes payload  #: bytes (unmasked)


cdef struct _ByteBuf:
    char* data
    Py_ssize_t size
    Py_ssize_t cap


@cython.final
cdef class Inflater:
    cdef readonly int max_window_bits       #: int
    cdef readonly bint no_context_takeover  #: bool
    cdef object _d
    cdef int _new(self) except -1
    cpdef void reset(self) noexcept
    # Decompress one fragment; at most `budget` bytes out (else ProtocolError 1009).
    cdef bytes feed_c(self, const unsigned char* data, Py_ssize_t size, Py_ssize_t budget)
    # End of message: flush with 00 00 ff ff (RFC 7692 §7.2.2), reset if no takeover.
    cdef bytes finish_c(self, Py_ssize_t budget)
    cdef bytes _run(self, object data, Py_ssize_t budget)
    # One bounded step: at most max_length (>= 1) bytes out of `data`, or, with None,
    # of the input the previous step left (its output was full); RFC 7692 §7.2.2.
    cdef bytes step_c(self, object data, Py_ssize_t max_length)
    cdef bint has_tail_c(self)
    # After the 00 00 ff ff block of a message: trailing data check, window reset.
    cdef int end_message_c(self) except -1


@cython.final
cdef class Deflater:
    cdef readonly int max_window_bits       #: int
    cdef readonly bint no_context_takeover  #: bool
    cdef readonly int level                 #: int
    cdef readonly int mem_level             #: int
    cdef object _c
    cdef int _new(self) except -1
    cpdef bytes compress(self, object data)


@cython.final
cdef class DeflateParams:
    cdef public bint server_no_context_takeover  #: bool
    cdef public bint client_no_context_takeover  #: bool
    cdef public int server_max_window_bits       #: int
    cdef public int client_max_window_bits       #: int


@cython.final
cdef class MessageAssembler:
    cdef readonly int msg_opcode           #: opcode of the last completed message
    cdef readonly object msg_payload       #: bytes of the last completed message
    cdef readonly Py_ssize_t max_message_size  #: int
    cdef readonly Inflater inflater        #: Inflater | None
    cdef int _opcode                       # opcode of the open message, -1 = none
    cdef bint _compressed
    cdef uint32_t _utf8
    cdef _ByteBuf _buf
    cdef object _zout                      # bytes being inflated into (resized in place)
    cdef Py_ssize_t _zlen                  # bytes of _zout filled
    # Returns 0 = need more frames, 1 = message complete (read msg_opcode and
    # msg_payload); raises ProtocolError(close_code=1002/1007/1009).
    cdef int feed_c(self, int opcode, bint fin, bint rsv1,
                    const unsigned char* data, Py_ssize_t size) except -1
    # Same with the payload as a bytes object (handed out as is when possible).
    cdef int feed_obj(self, int opcode, bint fin, bint rsv1, bytes payload) except -1
    cpdef void reset(self) noexcept
    cdef int _fail(self, str message, int close_code) except -1
    cdef int _feed(self, int opcode, bint fin, bint rsv1, const unsigned char* data,
                   Py_ssize_t size, object obj) except -1
    cdef int _single(self, int opcode, const unsigned char* data, Py_ssize_t size,
                     object obj) except -1
    cdef int _check_utf8(self, const unsigned char* data, Py_ssize_t size) except -1
    cdef int _inflate_part(self, const unsigned char* data, Py_ssize_t size,
                           bint fin) except -1
    cdef int _inflate_from(self, object data) except -1
    cdef int _zappend(self, bytes piece) except -1
    cdef int _resize_z(self, Py_ssize_t size) except -1
    cdef bytes _take_inflated(self)
