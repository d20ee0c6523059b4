# C-level API of zenws.fast.listener: the picows WSListener subclass that runs
# the whole per-frame hot path in C, the zenws.Message object and the bounded
# delivery queue.  cimport-able from user Cython:
#
#     from zenws.fast.listener cimport FastListener
#
#     cdef class MyStrategy(FastListener):
#         cdef int on_message_c(self, int opcode, object payload,
#                               int64_t recv_ns) except -1:
#             ...                       # every complete data message, no Python dispatch
#             return FastListener.on_message_c(self, opcode, payload, recv_ns)
cimport cython
from libc.stdint cimport int64_t, uint64_t
from picows.picows cimport WSListener, WSTransport, WSFrame
from zenws.fast.frame cimport MessageAssembler
from zenws.fast.jsonrpc cimport Correlator, zenws_jsonenc_buf
from zenws.fast.latency cimport LatencyBuffer


# Message kinds at C level; the Python enum is zenws.MessageKind (same values).
cdef enum:
    KIND_OTHER = 0
    KIND_RESPONSE = 1
    KIND_NOTIFICATION = 2
    KIND_HEARTBEAT = 3
    KIND_BINARY = 4

# Decoders used by Message.json().
cdef enum:
    DECODER_SIMDJSON = 0
    DECODER_ORJSON = 1
    DECODER_JSON = 2
    DECODER_ZENWS = 3

# Overflow policies of MessageQueue.
cdef enum:
    OVERFLOW_DROP_OLDEST = 0
    OVERFLOW_DROP_NEWEST = 1
    OVERFLOW_PAUSE_READING = 2
    OVERFLOW_DISCONNECT = 3


@cython.final
@cython.freelist(64)
cdef class Message:
    cdef readonly int _kind        #: int (MessageKind value)
    cdef readonly object channel   #: str | None
    cdef readonly bytes raw        #: bytes
    cdef readonly int64_t recv_ns  #: int
    cdef readonly int64_t epoch    #: int
    cdef readonly object id        #: int | str | None
    cdef int _decoder
    cdef bint _parsed
    cdef object _json


cpdef object result_of(object payload, str method, int64_t request_id=*)


cdef Message make_message(int kind, bytes raw, object channel, object msg_id,
                          int64_t recv_ns, int64_t epoch, int decoder)


@cython.final
cdef class MessageQueue:
    cdef object _items             # collections.deque
    cdef readonly Py_ssize_t capacity
    cdef readonly int policy
    cdef readonly uint64_t dropped
    cdef readonly uint64_t overflows
    cdef readonly Py_ssize_t max_depth  #: int: the most messages queued at once
    cdef readonly bint paused      #: bool: reading paused by the pause_reading policy
    cdef object _waiter            # asyncio.Future | None
    cdef public object on_overflow  #: Callable[[str], None] | None (pause/resume/disconnect)
    cdef bint _closed
    cdef object _close_exc

    cdef int put_c(self, Message msg) except -1
    cdef _notify(self, str what)
    cdef Message _pop(self)


cdef class FastListener


cdef class ListenerEvents:
    # What a FastListener reports to its owner (the client's Connection part subclasses
    # it in Python; a Cython subclass overrides them at C level).  Called on the event
    # loop, never per data frame on the common path.
    cpdef on_disconnected(self, FastListener lst)
    cpdef on_peer_close(self, FastListener lst, int code, str reason)
    cpdef on_protocol_error(self, int code, str reason)
    cpdef on_violation(self, FastListener lst, int code, str reason)
    cpdef on_callback_error(self, object exc, object msg)
    cpdef on_error_no_id(self, bytes payload, int64_t recv_ns)
    cpdef on_write_paused(self, bint paused)


cdef class FastListener(WSListener):
    cdef readonly WSTransport transport  #: picows.WSTransport | None
    cdef public ListenerEvents events    #: ListenerEvents | None: the owner's event sink
    cdef readonly MessageAssembler assembler  #: zenws.fast.frame.MessageAssembler
    cdef readonly Correlator correlator  #: zenws.fast.jsonrpc.Correlator
    cdef readonly LatencyBuffer latency  #: zenws.fast.latency.LatencyBuffer
    cdef object deflater                 # zenws.fast.frame.Deflater | None
    cdef public dict handlers            #: dict[str, Callable[[Message], None]]
    cdef public object on_message        #: Callable[[Message], None] | None
    cdef public MessageQueue queue       #: MessageQueue | None
    cdef public object heartbeat         #: zenws.heartbeat.Heartbeat | None
    cdef public object recorder          #: FrameQueue (Recorder.queue), obj with write() or None
    cdef public object channel_of        #: Callable[[Any], str | None] | None (dialect)
    cdef object _text_hb                 # text Heartbeat | None
    cdef object _text_pong               # its literal pong bytes | None
    cdef public bint answer_test_request  #: bool: Deribit test_request -> public/test
    cdef public bint deliver_heartbeats  #: bool: server heartbeats reach user code too
    cdef public double test_timeout      #: float seconds for the public/test answer
    cdef public bint bare_requests       #: bool: requests without "jsonrpc" (Binance)
    cdef readonly int64_t epoch          #: int
    cdef readonly int decoder            #: int
    cdef readonly bint closed            #: bool: close sent/received or connection failed
    cdef readonly bint write_paused      #: bool
    cdef readonly bint deflate           #: bool: permessage-deflate negotiated
    cdef readonly bint prevalidated      #: bool: a ReadGuard checks framing + UTF-8 first
    cdef public object guard_factory     #: Callable[[FastListener, WSTransport], Any] | None
    cdef readonly object guard           #: zenws.fast.guard.ReadGuard | None
    cdef int64_t _next_id
    cdef int64_t _last_deadline
    cdef int64_t _test_id                # id of the last hot-path public/test
    cdef readonly uint64_t frames_in     #: int
    cdef readonly uint64_t frames_out    #: int
    cdef readonly uint64_t bytes_in      #: int
    cdef readonly uint64_t bytes_out     #: int
    cdef readonly uint64_t messages_in   #: int
    cdef readonly uint64_t responses     #: int: resolved in C
    cdef readonly uint64_t notifications  #: int
    cdef readonly uint64_t errors        #: int: protocol errors + invalid JSON + error w/o id
    cdef readonly uint64_t invalid_json  #: int
    cdef readonly uint64_t unknown_responses  #: int
    cdef readonly uint64_t callback_errors  #: int
    cdef readonly uint64_t test_requests  #: int
    cdef readonly int64_t last_frame_ns  #: int
    cdef readonly int64_t last_data_ns   #: int
    cdef readonly int close_code         #: int: code of the peer's CLOSE (-1: none)
    cdef readonly str close_reason       #: str
    cdef readonly int sent_close_code    #: int: code of our CLOSE (-1: none)
    cdef readonly int fail_code          #: int: code zenws failed the connection with (0: none)
    cdef readonly str fail_reason        #: str: the reason sent with it
    cdef bint _in_read                   # a ReadGuard is handing one read to picows
    cdef list _wakes                     # requests completed during that read
    cdef zenws_jsonenc_buf _reqbuf       # send_request's frame buffer (header room + text)

    cdef int on_message_c(self, int opcode, object payload, int64_t recv_ns) except -1
    cdef int dispatch_c(self, int opcode, bytes payload, int64_t recv_ns) except -1
    cdef int _dispatch_rest(self, int opcode, bytes payload, int64_t recv_ns) except -1
    cdef int deliver_c(self, object handler, Message msg) except -1
    cdef int answer_test_request_c(self, int64_t recv_ns) except -1
    cdef int _on_server_heartbeat(self, bytes payload, const char* buf, Py_ssize_t n,
                                  int64_t recv_ns) except -1
    cdef _safe_call(self, object fn, object a, object b)
    cdef _report_error(self, object exc, object msg)
    cdef _report_protocol_error(self, int code, str reason)
    cdef int _route_slow(self, int kind, bytes payload, int64_t recv_ns) except -1
    cdef bint _text_hb_check(self, bytes payload, int64_t recv_ns) except -1
    cdef _on_control(self, WSFrame frame, str kind, int64_t now)
    cdef _record(self, str direction, int opcode, object payload, int64_t now,
                 int code=*, str reason=*)
    cdef _send_close(self, int code, str reason)
    cdef int on_close_frame_c(self, WSFrame frame, int64_t recv_ns) except -1
    cdef int fail_c(self, int code, str reason) except -1
    cdef int violation_c(self, int code, str reason) except -1
    cdef int _check_picows_close(self) except -1
    cdef int send_c(self, int opcode, object data) except -1
    cdef int _send_framed(self, Py_ssize_t n) except -1
    cpdef int64_t new_id(self)
    cpdef int64_t send_request(self, str method, object params, object waiter,
                               int64_t timeout_ns) except -1
    cdef bint _resolve_decoded(self, object payload, const char* buf, Py_ssize_t n,
                               int64_t recv_ns) except -1
    cdef int _observe_response(self, object doc) except -1
    cdef bint _resolve_malformed(self, int64_t rid, bytes payload, int64_t recv_ns) except -1
    cdef int begin_read_c(self) except -1
    cdef int end_read_c(self) except -1
