# zenws.fast.listener: the per-frame hot path.
#
# FastListener subclasses picows' WSListener in Cython (the pattern of picows'
# examples/echo_client_cython.pyx), so every frame reaches on_ws_frame through a
# C vtable call.  From there one C call chain does: RFC 6455 checks ->
# MessageAssembler.feed_c (continuations, UTF-8, size limit, inflate) ->
# zenws_scan -> either Correlator.resolve_c (responses: no Message object) or
# the Deribit test_request answer or routing of a notification by channel.
# Only messages that reach user code become zenws.Message objects.
cimport cython
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE, PyBytes_FromStringAndSize
from cpython.dict cimport PyDict_GetItem
from cpython.object cimport PyObject_GenericGetAttr, PyObject_GenericSetAttr, PyTypeObject
from cpython.ref cimport PyObject, Py_INCREF, Py_DECREF
from cpython.contextvars cimport PyContext_Enter, PyContext_Exit
from cpython.unicode cimport PyUnicode_DecodeUTF8
from cpython.long cimport PyLong_AsLongLongAndOverflow
from libc.stdint cimport int64_t, uint64_t, INT64_MAX
from libc.string cimport memcmp

from picows.picows cimport WSListener, WSTransport, WSFrame, WSMsgType, WSCloseCode
from zenws.fast._compat cimport frame_payload, transport_check_thread, transport_write
from zenws.fast.common cimport zenws_monotonic_ns, zenws_load_be16
from zenws.fast.frame cimport MessageAssembler, close_code_valid, frame_in_place_c
from zenws.fast.jsonrpc cimport (
    Correlator, encode_request_c, encode_request_into, free_request_buffer, loads_c,
    zenws_scan_t, scan_raw_c as zenws_scan, unescape_raw_c as zenws_unescape,
    ZENWS_KIND_INVALID, ZENWS_KIND_OTHER, ZENWS_KIND_RESPONSE, ZENWS_KIND_NOTIFICATION,
    ZENWS_KIND_ERROR_NO_ID, ZENWS_ID_INT,
)
from zenws.fast.latency cimport LatencyBuffer
from zenws.fast.jsonl cimport FrameQueue

import collections
import collections.abc
import enum
import json as _stdjson

import orjson

from asyncio import CancelledError, InvalidStateError, current_task as _current_task

from zenws.errors import ConnectionLost, ProtocolError, RequestTimeout, RpcError
from zenws.fast._compat_check import check as _check_private_api
from zenws import telemetry as _tm

# zenws/fast/_compat.pxd: the private picows API this module is compiled against.
_check_private_api()

cdef extern from "Python.h":
    # declared here with a PyObject* list: NULL deletes the slice (cpython.list says object)
    int PyList_SetSlice(object lst, Py_ssize_t low, Py_ssize_t high, PyObject* items) except -1


cdef extern from "string.h" nogil:
    void* memmem(const void* haystack, size_t hlen, const void* needle, size_t nlen)


class MessageKind(enum.IntEnum):
    """What a delivered :class:`Message` is (values match the C enum).

    ``str()`` and ``format()`` give the lower-case name (``"heartbeat"``): since
    Python 3.11 an IntEnum member would otherwise print as its number.
    """

    OTHER = KIND_OTHER
    RESPONSE = KIND_RESPONSE
    NOTIFICATION = KIND_NOTIFICATION
    HEARTBEAT = KIND_HEARTBEAT
    BINARY = KIND_BINARY

    def __str__(self):
        return self.name.lower()

    def __format__(self, spec):
        return format(self.name.lower(), spec)


cdef tuple _KINDS = (MessageKind.OTHER, MessageKind.RESPONSE, MessageKind.NOTIFICATION,
                     MessageKind.HEARTBEAT, MessageKind.BINARY)
_DECODERS = {"simdjson": DECODER_SIMDJSON, "orjson": DECODER_ORJSON, "json": DECODER_JSON,
             "zenws": DECODER_ZENWS}
_POLICIES = {"drop_oldest": OVERFLOW_DROP_OLDEST, "drop_newest": OVERFLOW_DROP_NEWEST,
             "pause_reading": OVERFLOW_PAUSE_READING, "disconnect": OVERFLOW_DISCONNECT}

# simdjson is an optional decoder (pip install "zenws[simdjson]"): imported the first
# time it is selected, so a missing pysimdjson never breaks `import zenws`.  One
# parser for the whole module: Message.json() materializes the document
# (as_dict/as_list) before the next parse, so no proxy outlives it (a simdjson
# Parser holds one live document; DESIGN §6).
cdef object _simd_parser = None
cdef object _orjson_loads = orjson.loads
cdef object _json_loads = _stdjson.loads
cdef object _SimdObject = None
cdef object _SimdArray = None
#: the decoder ``Config.decoder`` and ``FastListener`` use unless told otherwise:
#: the fastest of them on the bench/test_bench_message.py corpus (bench/RESULTS.md)
DEFAULT_DECODER = "zenws"
SIMDJSON_HINT = ('decoder="simdjson" needs the optional pysimdjson package: '
                 'pip install "zenws[simdjson]"')
cdef bytes _TEST_REQUEST = b'"test_request"'
cdef str _PUBLIC_TEST = "public/test"


def _load_simdjson():
    """Import pysimdjson for the ``"simdjson"`` decoder, once.

    Raises:
        ImportError: pysimdjson is not installed (the message says how to install it).
    """
    global _simd_parser, _SimdObject, _SimdArray
    if _simd_parser is None:
        try:
            import simdjson
        except ImportError as exc:
            raise ImportError(SIMDJSON_HINT, name="simdjson") from exc
        _SimdObject, _SimdArray = simdjson.Object, simdjson.Array
        _simd_parser = simdjson.Parser()


cdef object _simd_loads(bytes raw):
    doc = _simd_parser.parse(raw)
    if isinstance(doc, _SimdObject):
        return doc.as_dict()
    if isinstance(doc, _SimdArray):
        return doc.as_list()
    return doc


cdef object _NO_RESULT = object()


cpdef object result_of(object payload, str method, int64_t request_id=-1):
    """Return the ``result`` of a JSON-RPC response, or raise its ``error`` as RpcError.

    ``payload`` is the raw response (bytes, decoded by zenws' C decoder,
    ``zenws.fast.jsonrpc.loads``) or the response already decoded (a dict).
    ``request_id`` (when >= 0) names the request in a ProtocolError.

    Raises:
        RpcError: an ``error`` object with an integer ``code``.
        ProtocolError: (``close_code`` None) a malformed response: not valid JSON, not
            an object, neither or both of ``result`` and ``error`` (an ``"error": null``
            counts as absent), or an ``error`` that is not an object with an integer code.
    """
    cdef object doc, err, res, code, text, status
    if type(payload) is dict:
        doc = payload
    else:
        try:
            doc = loads_c(PyBytes_AS_STRING(payload), PyBytes_GET_SIZE(payload))
        except ValueError as exc:  # JSONDecodeError, too-long ints, lone surrogates
            raise _malformed(method, request_id, f"not valid JSON ({exc})") from None
    if type(doc) is not dict:
        raise _malformed(method, request_id, "not a JSON object")
    err = (<dict>doc).get("error")
    if err is None:
        res = (<dict>doc).get("result", _NO_RESULT)
        if res is _NO_RESULT:
            raise _malformed(method, request_id, "neither result nor error")
        return res
    # JSON-RPC 2.0 §5: exactly one of result/error; error = {code: int, message: str}.
    if "result" in <dict>doc:
        raise _malformed(method, request_id, "both result and error")
    if type(err) is not dict:
        raise _malformed(method, request_id,
                         f"error is not an object (a JSON {_json_type(err)})")
    code = (<dict>err).get("code")
    if type(code) is not int:
        raise _malformed(method, request_id, "error has no integer code")
    # Binance's WebSocket API spells the message "msg" and puts an HTTP-like "status"
    # and the "rateLimits" usage beside the error (error path only: no cost otherwise).
    text = (<dict>err).get("message")
    if text is None:
        text = (<dict>err).get("msg", "")
    status = (<dict>doc).get("status")
    raise RpcError(code, str(text), (<dict>err).get("data"), method=method,
                   status=status if type(status) is int else None,
                   rate_limits=(<dict>doc).get("rateLimits"))


cdef object _malformed(str method, int64_t request_id, str reason):
    cdef object rid = None if request_id < 0 else request_id
    cdef str where = method if rid is None else f"{method} (id {rid})"
    return ProtocolError(f"malformed response to {where}: {reason}", None, reason=reason,
                         method=method, request_id=rid)


cdef str _json_type(object value):
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    return "array" if isinstance(value, list) else type(value).__name__


def decoder_id(str name):
    """Return the C decoder id for ``"zenws"``, ``"orjson"``, ``"json"`` or ``"simdjson"``.

    Raises:
        ValueError: an unknown decoder name.
        ImportError: ``"simdjson"`` without pysimdjson installed (with the pip command).
    """
    try:
        decoder = _DECODERS[name]
    except KeyError:
        raise ValueError(f"unknown decoder {name!r}; use one of {sorted(_DECODERS)}") from None
    if decoder == DECODER_SIMDJSON:
        _load_simdjson()
    return decoder


def overflow_policy_id(str name):
    """Return the C policy id for an overflow policy name."""
    try:
        return _POLICIES[name]
    except KeyError:
        raise ValueError(f"unknown overflow policy {name!r}; use one of {sorted(_POLICIES)}") \
            from None


@cython.final
@cython.freelist(64)
cdef class Message:
    """One complete message delivered to user code.

    Created once per delivered message by the hot path; ``json()`` parses the
    payload on first use and caches the result.
    """

    def __init__(self):
        raise TypeError("zenws.Message objects are created by the client")

    @property
    def kind(self):
        """MessageKind: RESPONSE, NOTIFICATION, HEARTBEAT, OTHER or BINARY."""
        return _KINDS[self._kind]

    @property
    def text(self):
        """str: the payload of a text message, decoded (validated UTF-8 on receipt)."""
        if self._kind == KIND_BINARY:
            raise TypeError("a binary message has no text; use .raw")
        return PyUnicode_DecodeUTF8(PyBytes_AS_STRING(self.raw),
                                    PyBytes_GET_SIZE(self.raw), NULL)

    def json(self):
        """Parse the payload as JSON once (zenws, orjson, json or simdjson) and cache it.

        Returns:
            The decoded document (dict for JSON-RPC messages).

        Raises:
            ValueError: the payload is not valid JSON (or nested too deeply, or a number
                the decoder cannot represent), with every decoder; a subclass such as
                ``json.JSONDecodeError`` or ``UnicodeDecodeError`` for some.
        """
        if not self._parsed:
            try:
                if self._decoder == DECODER_ORJSON:
                    self._json = _orjson_loads(self.raw)
                elif self._decoder == DECODER_SIMDJSON:
                    self._json = _simd_loads(self.raw)
                elif self._decoder == DECODER_ZENWS:
                    self._json = loads_c(PyBytes_AS_STRING(self.raw),
                                         PyBytes_GET_SIZE(self.raw))
                else:
                    self._json = _json_loads(self.raw)
            except RuntimeError as exc:
                # json.loads: RecursionError on deep nesting; simdjson: RuntimeError
                # (DEPTH_ERROR, BIGINT_ERROR).  Every decoder fails with a ValueError.
                raise ValueError(f"the payload is not valid JSON ({exc})") from None
            self._parsed = True
        return self._json

    def __len__(self):
        return PyBytes_GET_SIZE(self.raw)

    def __repr__(self):
        # The payload is never shown: it may carry tokens (DESIGN §3, secrets).
        return (f"<zenws.Message {_KINDS[self._kind].name} channel={self.channel!r} "
                f"id={self.id!r} bytes={PyBytes_GET_SIZE(self.raw)} epoch={self.epoch}>")


cdef Message make_message(int kind, bytes raw, object channel, object msg_id,
                          int64_t recv_ns, int64_t epoch, int decoder):
    cdef Message m = Message.__new__(Message)
    m._kind = kind
    m.raw = raw
    m.channel = channel
    m.id = msg_id
    m.recv_ns = recv_ns
    m.epoch = epoch
    m._decoder = decoder
    return m


def _make_message(int kind, bytes raw, object channel=None, object msg_id=None,
                  int64_t recv_ns=0, int64_t epoch=0, str decoder=DEFAULT_DECODER):
    """Build a Message outside the hot path (tests, replay)."""
    return make_message(kind, raw, channel, msg_id, recv_ns, epoch, decoder_id(decoder))


@cython.final
cdef class MessageQueue:
    """Bounded FIFO between the hot path and ``async for msg in client``.

    A full queue applies the policy: drop the oldest, drop the arriving message, keep it
    and report "pause" (the owner stops reading the socket until the queue is down to
    half, "resume"), or drop it and report "disconnect".  ``max_depth`` is the
    high-water mark.

    Args:
        capacity: maximum number of queued messages.
        policy: "drop_oldest", "drop_newest", "pause_reading" or "disconnect".
    """

    def __cinit__(self, Py_ssize_t capacity=4096, str policy="drop_oldest"):
        if capacity < 1:
            raise ValueError("capacity must be >= 1")
        self._items = collections.deque()
        self.capacity = capacity
        self.policy = overflow_policy_id(policy)
        self._waiter = None
        self.on_overflow = None

    cdef int put_c(self, Message msg) except -1:
        cdef Py_ssize_t n
        if self._closed:
            self.dropped += 1
            return 0
        n = len(self._items)
        if n >= self.capacity:
            self.overflows += 1
            if self.policy == OVERFLOW_DROP_OLDEST:
                self._items.popleft()
                self.dropped += 1
                self._items.append(msg)
                self._notify("drop_oldest")
            elif self.policy == OVERFLOW_DROP_NEWEST:
                self.dropped += 1
                self._notify("drop_newest")
                return 0
            elif self.policy == OVERFLOW_PAUSE_READING:
                # Nothing is lost: the transport stops reading; the frames of the
                # read in progress are still queued (the read guard lends at most
                # 256 KiB per read).
                self._items.append(msg)
                n += 1
                if not self.paused:
                    self.paused = True
                    self._notify("pause")
            else:
                self.dropped += 1
                self._notify("disconnect")
                return 0
        else:
            self._items.append(msg)
            n += 1
        if n > self.max_depth:
            self.max_depth = n
        if self._waiter is not None:
            if not self._waiter.done():
                self._waiter.set_result(None)
            self._waiter = None
        return 0

    cdef _notify(self, str what):
        if self.on_overflow is not None:
            self.on_overflow(what)

    def put_nowait(self, Message msg):
        """Queue ``msg`` applying the overflow policy (what the hot path does)."""
        self.put_c(msg)

    def get_nowait(self):
        """Return the oldest message or ``None`` when the queue is empty."""
        if not self._items:
            return None
        return self._pop()

    cdef Message _pop(self):
        cdef Message msg = self._items.popleft()
        if self.paused and len(self._items) <= self.capacity // 2:
            self.paused = False
            self._notify("resume")
        return msg

    async def get(self, loop):
        """Wait for the next message.

        Raises:
            StopAsyncIteration: the queue was closed (client closed) and is empty.
        """
        while not self._items:
            if self._closed:
                if self._close_exc is not None:
                    raise self._close_exc
                raise StopAsyncIteration
            if self._waiter is None or self._waiter.done():
                self._waiter = loop.create_future()
            await self._waiter
        return self._pop()

    def close(self, exc=None):
        """Stop accepting messages; waiters wake and drain what is left."""
        self._closed = True
        self._close_exc = exc
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)
        self._waiter = None

    def clear(self):
        """Drop everything queued (counted in ``dropped``)."""
        self.dropped += len(self._items)
        self._items.clear()

    @property
    def closed(self):
        """bool: close() was called."""
        return self._closed

    def __len__(self):
        return len(self._items)


@cython.final
cdef class _TestReply:
    # Correlator waiter of a hot-path public/test answer: its RTT becomes the
    # heartbeat RTT (a real request/response round trip, DESIGN §3).
    cdef FastListener listener
    cdef int64_t sent_ns

    def __call__(self, payload):
        cdef object hb = self.listener.heartbeat
        if hb is None or isinstance(payload, BaseException):
            return
        hb.on_test_reply(zenws_monotonic_ns() - self.sent_ns)


def _retrieve(fut):
    if not fut.cancelled():
        fut.exception()


# Room kept in front of a request in FastListener._reqbuf for its frame header
# (<= 14 bytes from a client); 16 keeps the text as aligned as a bytes object's.
cdef enum:
    _REQ_HEAD = 16
    _REQ_KEEP = 256 * 1024  # larger frame buffers are freed once their request is sent


cdef inline bint _response_prefix(const char* buf, Py_ssize_t n) noexcept:
    # How JSON-RPC responses begin on the wire (Deribit and most servers); others
    # (e.g. ``{"result":..,"id":..}``) take the scan path.
    return ((n > 22 and memcmp(buf, b'{"jsonrpc":"2.0","id":', 22) == 0)
            or (n > 6 and memcmp(buf, b'{"id":', 6) == 0))


cdef inline Py_ssize_t _skip_ws(const char* buf, Py_ssize_t i, Py_ssize_t n) noexcept:
    while i < n and (buf[i] == 32 or buf[i] == 9 or buf[i] == 10 or buf[i] == 13):
        i += 1
    return i


cdef inline Py_ssize_t _skip_string(const char* buf, Py_ssize_t i, Py_ssize_t n) noexcept:
    # buf[i] is the opening quote; returns the index after the closing one (n: unclosed).
    i += 1
    while i < n:
        if buf[i] == 92:  # backslash: skip the escaped byte
            i += 2
        elif buf[i] == 34:
            return i + 1
        else:
            i += 1
    return n


cdef bint _salvage_id(const char* buf, Py_ssize_t n, int64_t* out) noexcept:
    # The top-level int "id" of a message the scan rejected (invalid JSON, nesting over
    # the limit): the members of the top-level object are walked up to the first error,
    # values skipped by counting brackets (no depth limit), the last "id" before the
    # error wins.  Used only to end the pending request such a message answers.
    cdef Py_ssize_t i = _skip_ws(buf, 0, n), k, start, depth
    cdef uint64_t v
    cdef bint neg, found = False, is_id
    if i >= n or buf[i] != 123:  # '{'
        return False
    i += 1
    while True:
        i = _skip_ws(buf, i, n)
        if i >= n or buf[i] != 34:
            return found
        k = _skip_string(buf, i, n)
        is_id = k - i == 4 and buf[i + 1] == 105 and buf[i + 2] == 100  # "id"
        i = _skip_ws(buf, k, n)
        if i >= n or buf[i] != 58:  # ':'
            return found
        i = _skip_ws(buf, i + 1, n)
        if i >= n:
            return found
        if is_id:
            neg = buf[i] == 45  # '-'
            start = i + neg
            i = start
            v = 0
            while i < n and i - start < 19 and 48 <= <unsigned char>buf[i] <= 57:
                v = v * 10 + (<unsigned char>buf[i] - 48)
                i += 1
            k = _skip_ws(buf, i, n)
            if i == start or k >= n or (buf[k] != 44 and buf[k] != 125) \
                    or v > <uint64_t>INT64_MAX:
                return False  # the (last) id is not one we can correlate
            out[0] = -<int64_t>v if neg else <int64_t>v
            found = True
            i = k
        else:  # skip the value: strings whole, brackets counted
            depth = 0
            while i < n:
                if buf[i] == 34:
                    i = _skip_string(buf, i, n)
                    continue
                if buf[i] == 91 or buf[i] == 123:
                    depth += 1
                elif buf[i] == 93 or buf[i] == 125:
                    if depth == 0:
                        break
                    depth -= 1
                elif buf[i] == 44 and depth == 0:
                    break
                i += 1
        if i >= n or buf[i] != 44:  # ',' (anything else ends the walk)
            return found
        i += 1


cdef inline object _json_str(const char* buf, Py_ssize_t off, Py_ssize_t n, int escaped):
    if not escaped:
        return PyUnicode_DecodeUTF8(buf + off, n, "surrogatepass")
    cdef bytes tmp = PyBytes_FromStringAndSize(NULL, n)
    cdef Py_ssize_t m = zenws_unescape(buf + off, n, PyBytes_AS_STRING(tmp))
    return PyUnicode_DecodeUTF8(PyBytes_AS_STRING(tmp), m, "surrogatepass")


cdef class ListenerEvents:
    """What a :class:`FastListener` reports to its owner: one declared interface.

    ``FastListener.events`` holds one (``None``: nobody listens, and a failed connection
    is closed at once).  Subclass it in Python (the client does) or in Cython (C-level
    overrides); every method here does nothing.  They run on the event loop, outside the
    per-frame common path; an exception raised by one is counted in ``callback_errors``
    and reported to :meth:`on_callback_error`, never to picows.
    """

    cpdef on_disconnected(self, FastListener lst):
        """TCP is gone (after a close handshake or not); ``lst`` saw its last frame."""

    cpdef on_peer_close(self, FastListener lst, int code, str reason):
        """The server's CLOSE arrived (already answered); TCP may still be open."""

    cpdef on_protocol_error(self, int code, str reason):
        """The connection was failed with CLOSE ``code`` (RFC 6455 §7.1.7)."""

    cpdef on_violation(self, FastListener lst, int code, str reason):
        """The read guard stopped at a violation after delivering every frame before it.

        The owner calls ``lst.fail(code, reason)`` when it chooses (raising here fails
        the connection at once).
        """

    cpdef on_callback_error(self, object exc, object msg):
        """A user callback, the recorder or the heartbeat raised ``exc`` (isolated)."""

    cpdef on_error_no_id(self, bytes payload, int64_t recv_ns):
        """A JSON-RPC error response without an id arrived (nothing to correlate)."""

    cpdef on_write_paused(self, bint paused):
        """The transport's write buffer crossed its high (True) or low (False) mark."""


cdef class FastListener(WSListener):
    """picows listener running zenws' per-frame hot path in C.

    Subclass it in Cython and override ``on_message_c`` to receive complete
    messages with no Python dispatch (see listener.pxd).

    Args:
        epoch: connection epoch stamped on every Message.
        correlator: the client's Correlator (responses resolve in C).
        latency: LatencyBuffer receiving the RTT of every resolved request.
        max_message_size: limit of a reassembled message (1009 beyond it).
        inflater: zenws.fast.frame.Inflater when permessage-deflate was negotiated.
        deflater: zenws.fast.frame.Deflater for outgoing messages (same condition).
        decoder: "zenws" (default), "orjson", "json" or "simdjson" for Message.json().
        first_id: first JSON-RPC id this listener hands out.
    """

    def __cinit__(self, *args, **kwargs):
        self.handlers = {}
        self.close_code = -1
        self.sent_close_code = -1
        self.close_reason = ""
        self.fail_reason = ""
        self.answer_test_request = True
        self.deliver_heartbeats = True
        self.test_timeout = 10.0
        self._next_id = 1
        self._test_id = -1
        self._wakes = []

    def __dealloc__(self):
        free_request_buffer(&self._reqbuf)

    def __init__(self, *, int64_t epoch=0, Correlator correlator=None,
                 LatencyBuffer latency=None, Py_ssize_t max_message_size=16 * 1024 * 1024,
                 inflater=None, deflater=None, str decoder=DEFAULT_DECODER, int64_t first_id=1):
        self.epoch = epoch
        self.correlator = correlator if correlator is not None else Correlator()
        self.latency = latency if latency is not None else LatencyBuffer(1024)
        self.assembler = MessageAssembler(max_message_size, inflater=inflater)
        self.deflater = deflater
        self.deflate = inflater is not None
        self.decoder = decoder_id(decoder)
        self._next_id = first_id

    # ---- picows callbacks -------------------------------------------------

    cpdef on_ws_connected(self, WSTransport transport):
        self.transport = transport
        self.last_frame_ns = self.last_data_ns = zenws_monotonic_ns()
        # picows stores the error that failed the connection in this future;
        # the client reports it through its own events, so mark it retrieved.
        transport.disconnected_future.add_done_callback(_retrieve)
        # zenws.connect sets guard_factory (zenws.fast.guard.ReadGuard.attach): from here
        # on, a ReadGuard validates the byte stream before picows parses it.
        if self.guard_factory is not None:
            try:
                self.guard = self.guard_factory(self, transport)
            except Exception as exc:
                self.guard = None
                self.prevalidated = False
                self._report_error(exc, None)

    cpdef on_ws_frame(self, WSTransport transport, WSFrame frame):
        cdef int64_t now = zenws_monotonic_ns()
        cdef int opcode = <int>frame.msg_type
        cdef int rc
        # After our CLOSE or a failure only the peer's CLOSE still matters
        # (picows reads ahead: frames behind a violation must be ignored).
        if self.closed and opcode != 8:
            return
        self.frames_in += 1
        self.bytes_in += <uint64_t>frame.payload_size
        self.last_frame_ns = now
        if opcode <= 2:
            self.last_data_ns = now
            if self.prevalidated:
                # The ReadGuard already checked reserved bits, the fragmentation
                # sequence and UTF-8: a whole uncompressed message skips the
                # assembler (only its size limit still applies).
                if frame.fin and opcode != 0 and not frame.rsv1:
                    if frame.payload_size > self.assembler.max_message_size:
                        self.fail_c(1009, "message over max_message_size "
                                    f"{self.assembler.max_message_size}")
                        return
                    self.messages_in += 1
                    if (opcode == 1 and self.recorder is None and type(self) is FastListener
                            and _response_prefix(<const char*>frame_payload(frame),
                                                 frame.payload_size)):
                        # on_message_c is dispatch_c here: a response to a request is
                        # decoded straight from picows' buffer, with no bytes copy.
                        if self._resolve_decoded(None, <const char*>frame_payload(frame),
                                                 frame.payload_size, now):
                            return
                        self._dispatch_rest(opcode, PyBytes_FromStringAndSize(
                            <const char*>frame_payload(frame), frame.payload_size), now)
                        return
                    payload = PyBytes_FromStringAndSize(<const char*>frame_payload(frame),
                                                        frame.payload_size)
                    if self.recorder is not None:
                        self._record("in", opcode, payload, now)
                    self.on_message_c(opcode, payload, now)
                    return
            # RFC 6455 §5.2: RSV2/RSV3 have no meaning without an extension;
            # RSV1 only with permessage-deflate (RFC 7692 §6).
            elif frame.rsv2 or frame.rsv3 or (frame.rsv1 and not self.deflate):
                self.fail_c(1002, "reserved bit set")
                return
            try:
                rc = self.assembler.feed_c(opcode, frame.fin, frame.rsv1,
                                           frame_payload(frame),
                                           frame.payload_size)
            except ProtocolError as exc:
                self.fail_c(exc.close_code, str(exc))
                return
            if rc == 1:
                self.messages_in += 1
                if self.recorder is not None:
                    self._record("in", self.assembler.msg_opcode, self.assembler.msg_payload,
                                 now)
                self.on_message_c(self.assembler.msg_opcode, self.assembler.msg_payload, now)
            return
        if frame.rsv1 or frame.rsv2 or frame.rsv3:
            # RFC 6455 §5.2 and RFC 7692 §6.1: no reserved bit on a control frame.
            self.fail_c(1002, "reserved bit set on a control frame")
            return
        if opcode == 10:
            self._on_control(frame, "pong", now)
        elif opcode == 9:
            # Auto-pong is off so that pings count as frames for the dead-peer
            # timer; RFC 6455 §5.5.3: answer with the same payload.
            payload = frame.get_payload_as_bytes()
            if self.recorder is not None:
                self._record("in", 9, payload, now)
            transport.send_pong(payload)
            self.frames_out += 1
            self.bytes_out += <uint64_t>PyBytes_GET_SIZE(payload)
            if self.heartbeat is not None:
                self._safe_call(self.heartbeat.on_ping, payload, now)
        elif opcode == 8:
            self.on_close_frame_c(frame, now)

    cpdef on_ws_disconnected(self, WSTransport transport):
        self._check_picows_close()
        self.closed = True
        if self.events is not None:
            self.events.on_disconnected(self)

    cpdef pause_writing(self):
        self.write_paused = True
        if self.events is not None:
            self.events.on_write_paused(True)

    cpdef resume_writing(self):
        self.write_paused = False
        if self.events is not None:
            self.events.on_write_paused(False)

    # ---- the message path -------------------------------------------------

    cdef int on_message_c(self, int opcode, object payload, int64_t recv_ns) except -1:
        """Called for every complete data message; the default routes it."""
        return self.dispatch_c(opcode, <bytes>payload, recv_ns)

    cdef int dispatch_c(self, int opcode, bytes payload, int64_t recv_ns) except -1:
        cdef const char* buf = PyBytes_AS_STRING(payload)
        cdef Py_ssize_t n = PyBytes_GET_SIZE(payload)
        if opcode == 1 and _response_prefix(buf, n) and self._resolve_decoded(
                payload, buf, n, recv_ns):
            return 0
        return self._dispatch_rest(opcode, payload, recv_ns)

    cdef int _dispatch_rest(self, int opcode, bytes payload, int64_t recv_ns) except -1:
        # dispatch_c once the message is known not to be a decoded-path response.
        cdef zenws_scan_t sc
        cdef const char* buf
        cdef Py_ssize_t n
        cdef int kind
        cdef int64_t rtt
        cdef object channel
        cdef PyObject* handler
        if opcode == 2:
            return self.deliver_c(None, make_message(KIND_BINARY, payload, None, None,
                                                     recv_ns, self.epoch, self.decoder))
        buf = PyBytes_AS_STRING(payload)
        n = PyBytes_GET_SIZE(payload)
        kind = zenws_scan(buf, n, &sc)
        if kind == ZENWS_KIND_RESPONSE:
            if sc.id_type == 1:
                if (self.correlator.on_response is not None
                        and self.correlator.waiter_c(sc.id_int) is not None):
                    self._observe_response(payload)
                rtt = self.correlator.resolve_c(sc.id_int, payload, recv_ns)
                if rtt >= 0:
                    self.responses += 1
                    if sc.id_int != self._test_id:  # heartbeat RTTs are not request RTTs
                        self.latency.add_c(rtt)
                    return 0
                msg_id = sc.id_int
            else:
                msg_id = _json_str(buf, sc.id_off, sc.id_len, sc.id_escaped)
            self.unknown_responses += 1
            return self.deliver_c(None, make_message(KIND_RESPONSE, payload, None, msg_id,
                                                     recv_ns, self.epoch, self.decoder))
        if kind == ZENWS_KIND_NOTIFICATION:
            if sc.channel_len > 0:
                self.notifications += 1
                channel = _json_str(buf, sc.channel_off, sc.channel_len, sc.channel_escaped)
                handler = PyDict_GetItem(self.handlers, channel)
                return self.deliver_c(<object>handler if handler != NULL else None,
                                      make_message(KIND_NOTIFICATION, payload, channel, None,
                                                   recv_ns, self.epoch, self.decoder))
            if sc.method_len == 9 and memcmp(buf + sc.method_off, b"heartbeat", 9) == 0:
                return self._on_server_heartbeat(payload, buf, n, recv_ns)
            self.notifications += 1
            return self._route_slow(KIND_NOTIFICATION, payload, recv_ns)
        elif kind == ZENWS_KIND_ERROR_NO_ID:
            # e.g. Deribit -32600 "request entity too large" (no id to correlate).
            self.errors += 1
            if self.events is not None:
                try:
                    self.events.on_error_no_id(payload, recv_ns)
                except Exception as exc:
                    self.callback_errors += 1
                    self._report_error(exc, None)
        elif kind == ZENWS_KIND_INVALID:
            # Not JSON: maybe a text heartbeat answer ("pong"), else counted + delivered
            # (or, when its top-level "id" is a pending request's, ends that request).
            if self._text_hb is not None and self._text_hb_check(payload, recv_ns):
                return 0
            self.invalid_json += 1
            if _salvage_id(buf, n, &sc.id_int) and self._resolve_malformed(sc.id_int, payload,
                                                                           recv_ns):
                return 0
            return self.deliver_c(None, make_message(KIND_OTHER, payload, None, None,
                                                     recv_ns, self.epoch, self.decoder))
        elif (kind == ZENWS_KIND_OTHER and sc.id_type == ZENWS_ID_INT
              and self._resolve_malformed(sc.id_int, payload, recv_ns)):
            return 0  # an id without result/error: a malformed response
        return self._route_slow(KIND_OTHER, payload, recv_ns)

    cdef int _observe_response(self, object doc) except -1:
        # Correlator.on_response (e.g. a venue adapter reading Binance's rateLimits),
        # called before the request's waiter gets the response; isolated like a callback.
        try:
            self.correlator.on_response(doc)
        except Exception as exc:
            self.callback_errors += 1
            self._report_error(exc, None)
        return 0

    cdef bint _resolve_malformed(self, int64_t rid, bytes payload, int64_t recv_ns) except -1:
        # A message carrying a pending request's id that is no well-formed response
        # (neither result nor error, or not valid JSON) still ends that request now:
        # its waiter gets the bytes and result_of() raises ProtocolError with the reason,
        # instead of the request waiting for its deadline (DESIGN §3).  Error branch only.
        if self.correlator.waiter_c(rid) is None:
            return False
        self.correlator.resolve_c(rid, payload, recv_ns)
        self.responses += 1
        return True

    cdef bint _resolve_decoded(self, object payload, const char* buf, Py_ssize_t n,
                               int64_t recv_ns) except -1:
        # A response to a compiled request is decoded here, once, instead of being
        # scanned here and decoded again by the request: the id is read from the
        # dict (json.loads' view of the document, duplicate keys included) and the
        # dict goes to the request's waiter.  Anything unexpected (invalid JSON,
        # not a response with an int64 id, another kind of waiter) returns False
        # or delivers the raw bytes, exactly as the scan path would.  ``payload``
        # is the message's bytes, or None when only ``buf`` exists (made on demand).
        cdef object doc, rid_obj, waiter
        cdef dict d
        cdef int64_t rid, rtt, sent = 0
        cdef int overflow = 0
        try:
            doc = loads_c(buf, n)
        except ValueError:
            return False
        if type(doc) is not dict:
            return False
        d = <dict>doc
        rid_obj = d.get("id")
        if type(rid_obj) is not int or ("result" not in d and "error" not in d):
            return False
        rid = PyLong_AsLongLongAndOverflow(rid_obj, &overflow)
        if overflow:
            return False
        waiter = self.correlator.pop_if_c(rid, _Waiter, &sent)
        if self.correlator.on_response is not None and (
                waiter is not None or self.correlator.waiter_c(rid) is not None):
            self._observe_response(doc)
        if waiter is not None:  # a compiled request: it gets the dict
            (<_Waiter>waiter).deliver_c(doc)
            rtt = recv_ns - sent
        else:                   # futures and other waiters get the bytes
            if payload is None:
                payload = PyBytes_FromStringAndSize(buf, n)
            if self.correlator.waiter_c(rid) is None:
                self.unknown_responses += 1
                self.deliver_c(None, make_message(KIND_RESPONSE, payload, None, rid, recv_ns,
                                                  self.epoch, self.decoder))
                return True
            rtt = self.correlator.resolve_c(rid, payload, recv_ns)
        self.responses += 1
        if rid != self._test_id:  # heartbeat RTTs are not request RTTs
            self.latency.add_c(rtt)
        return True

    cdef int begin_read_c(self) except -1:
        """The ReadGuard hands picows one read: requests completed by its frames
        resume at end_read_c(), after every frame of the read was processed."""
        self._in_read = True
        return 0

    cdef int end_read_c(self) except -1:
        """Resume the tasks whose requests the read completed, in order, right here
        (no ``call_soon`` handle, no extra loop iteration)."""
        cdef list wakes = self._wakes
        cdef Py_ssize_t i, n = len(wakes)
        self._in_read = False
        if n == 0:
            return 0
        try:
            for i in range(n):  # reads never nest: nothing is appended meanwhile
                (<_Waiter>wakes[i]).wake_c()
        finally:
            PyList_SetSlice(wakes, 0, n, NULL)
        return 0

    cdef int _route_slow(self, int kind, bytes payload, int64_t recv_ns) except -1:
        # Messages the C scan cannot attach a channel to (e.g. Binance stream
        # envelopes): the dialect's channel_of() decides, only when there are
        # channel handlers to route to.
        cdef Message msg = make_message(kind, payload, None, None, recv_ns, self.epoch,
                                        self.decoder)
        cdef object handler = None
        if self.channel_of is not None and self.handlers:
            if self._text_hb is not None and self._text_hb_check(payload, recv_ns):
                return 0
            try:
                ch = self.channel_of(msg.json())
            except Exception:
                ch = None
            if ch is not None:
                msg.channel = ch
                handler = self.handlers.get(ch)
        elif self._text_hb is not None and self._text_hb_check(payload, recv_ns):
            return 0
        return self.deliver_c(handler, msg)

    cdef bint _text_hb_check(self, bytes payload, int64_t recv_ns) except -1:
        # Text heartbeat answers ("pong") are consumed here, never delivered.
        if self._text_pong is not None and payload != self._text_pong:
            return False
        try:
            return bool(self._text_hb.on_text(payload, recv_ns))
        except Exception:
            return False

    def set_heartbeat(self, hb):
        """Attach the heartbeat strategy that receives pings/pongs/server heartbeats."""
        self.heartbeat = hb
        self._text_hb = hb if getattr(hb, "kind", None) == "text" else None
        self._text_pong = getattr(hb, "pong_bytes", None) if self._text_hb is not None else None

    cdef int _on_server_heartbeat(self, bytes payload, const char* buf, Py_ssize_t n,
                                  int64_t recv_ns) except -1:
        # Deribit: {"method":"heartbeat","params":{"type":"test_request"}} must be
        # answered with public/test before any user code runs.
        cdef bint test = memmem(buf, <size_t>n, PyBytes_AS_STRING(_TEST_REQUEST),
                                <size_t>PyBytes_GET_SIZE(_TEST_REQUEST)) != NULL
        if test and self.answer_test_request:
            self.answer_test_request_c(recv_ns)
        if self.heartbeat is not None:
            self._safe_call(self.heartbeat.on_server_heartbeat,
                            "test_request" if test else "heartbeat", recv_ns)
        if not self.deliver_heartbeats:  # housekeeping, answered above: not user data
            return 0
        return self.deliver_c(None, make_message(KIND_HEARTBEAT, payload, None, None,
                                                 recv_ns, self.epoch, self.decoder))

    cdef int answer_test_request_c(self, int64_t recv_ns) except -1:
        cdef int64_t rid = self._next_id
        cdef _TestReply waiter = _TestReply.__new__(_TestReply)
        cdef int64_t now = zenws_monotonic_ns()
        self._next_id += 1
        self._test_id = rid
        waiter.listener = self
        waiter.sent_ns = now
        self.correlator.track_c(rid, waiter, now, now + <int64_t>(self.test_timeout * 1e9))
        self.send_c(1, encode_request_c(rid, _PUBLIC_TEST, None))
        self.test_requests += 1
        return 0

    cdef int deliver_c(self, object handler, Message msg) except -1:
        if handler is None:
            handler = self.on_message
        if handler is not None:
            try:
                handler(msg)
            except Exception as exc:
                # A raising user callback never kills the connection (DESIGN §3).
                self.callback_errors += 1
                self._report_error(exc, msg)
            return 0
        if self.queue is not None:
            self.queue.put_c(msg)
        return 0

    cdef _safe_call(self, object fn, object a, object b):
        try:
            fn(a, b)
        except Exception as exc:
            self.callback_errors += 1
            self._report_error(exc, None)

    cdef _report_error(self, object exc, object msg):
        # A raising callback (user code, recorder, heartbeat) is reported to the owner;
        # a raising report is counted and dropped: it never reaches picows.
        if self.events is None:
            return
        try:
            self.events.on_callback_error(exc, msg)
        except Exception:
            self.callback_errors += 1

    cdef _on_control(self, WSFrame frame, str kind, int64_t now):
        payload = frame.get_payload_as_bytes()
        if self.recorder is not None:
            self._record("in", 10, payload, now)
        if self.heartbeat is not None:
            self._safe_call(self.heartbeat.on_pong, payload, now)

    cdef _record(self, str direction, int opcode, object payload, int64_t now,
                 int code=-1, str reason=""):
        cdef object rec = self.recorder
        if type(rec) is FrameQueue:  # a Recorder's queue: one C call, no Python frame
            try:
                (<FrameQueue>rec).push_c(direction == "out", opcode, payload, self.epoch, now,
                                         code, reason)
            except Exception as exc:
                self._report_error(exc, None)
            return
        kind = ("text" if opcode == 1 else "binary" if opcode == 2 else "ping" if opcode == 9
                else "pong" if opcode == 10 else "close")
        try:
            if opcode == 8:
                self.recorder.write(direction, kind, payload, self.epoch, now,
                                    code=code if code >= 0 else None, reason=reason)
            else:
                self.recorder.write(direction, kind, payload, self.epoch, now)
        except Exception as exc:
            self._report_error(exc, None)

    # ---- close handling -----------------------------------------------------

    cdef int on_close_frame_c(self, WSFrame frame, int64_t recv_ns) except -1:
        cdef Py_ssize_t n = frame.payload_size
        cdef const unsigned char* p = frame_payload(frame)
        cdef int code = 1005
        cdef str reason = ""
        cdef bint was_closed = self.closed
        self._check_picows_close()
        # RFC 6455 §5.5.1 / §7.4: a body is empty or a valid 2-byte code + UTF-8.
        if n == 1:
            return self.fail_c(1002, "close frame with a 1-byte body")
        if n >= 2:
            code = zenws_load_be16(p)
            if not close_code_valid(code):
                return self.fail_c(1002, f"invalid close code {code}")
            try:
                reason = PyUnicode_DecodeUTF8(<const char*>p + 2, n - 2, NULL)
            except UnicodeDecodeError:
                return self.fail_c(1007, "close reason is not valid UTF-8")
        self.close_code = code
        self.close_reason = reason
        self.closed = True
        self.assembler.reset()
        if self.recorder is not None:
            self._record("in", 8, frame.get_payload_as_bytes(), recv_ns, code, reason)
        if not was_closed and not self.transport.is_close_frame_sent:
            # §5.5.1: echo the code; an empty close is answered with 1000.
            self._send_close(1000 if code == 1005 else code, "")
        if self.events is not None:
            self.events.on_peer_close(self, code, reason)
        return 0

    cdef int _check_picows_close(self) except -1:
        # picows itself fails the connection on some violations (bad close frame,
        # frame over its size limit) before we see the frame: count and report them.
        cdef WSTransport tr = self.transport
        if tr is None or self.sent_close_code >= 0 or not tr.is_close_frame_sent:
            return 0
        sent = tr.close_handshake.sent if tr.close_handshake is not None else None
        if sent is None:
            return 0
        self.sent_close_code = <int>sent.code
        self.fail_code = self.sent_close_code
        self.fail_reason = sent.reason or ""
        self.closed = True
        self.errors += 1
        self._report_protocol_error(self.sent_close_code, sent.reason)
        return 0

    cdef _report_protocol_error(self, int code, str reason):
        if self.events is None:
            return
        try:
            self.events.on_protocol_error(code, reason)
        except Exception as exc:
            self.callback_errors += 1
            self._report_error(exc, None)

    cdef int fail_c(self, int code, str reason) except -1:
        """Fail the connection (RFC 6455 §7.1.7): CLOSE with ``code``, nothing more is read.

        ``fail_code`` / ``fail_reason`` keep what was sent.  Without ``events`` TCP is
        closed at once.  With one, the server closes TCP after our CLOSE (RFC 6455
        §7.1.1), or the client does after ``close_timeout``: until then the bytes that
        still arrive are read and dropped, because closing a socket with unread data
        resets the connection and the server would lose the CLOSE.
        """
        if self.closed:
            return 0
        self.closed = True
        self.errors += 1
        self.fail_code = code
        self.fail_reason = reason
        self.assembler.reset()
        if self.guard is not None:
            self.guard.stop()
        if self.transport is not None:
            self._send_close(code, reason)
            if self.events is None:
                self.transport.disconnect(True)
        self._report_protocol_error(code, reason)
        return 0

    cdef int violation_c(self, int code, str reason) except -1:
        """The ReadGuard stopped at a violation; every frame before it was delivered.

        The client fails the connection once the messages before the violation are
        consumed (those waiting in the queue included, DESIGN §3); without ``events``,
        at once.
        """
        if self.closed:
            return 0
        if self.events is not None:
            try:
                self.events.on_violation(self, code, reason)
                return 0
            except Exception as exc:
                self._report_error(exc, None)
        return self.fail_c(code, reason)

    cdef _send_close(self, int code, str reason):
        cdef bytes r = reason.encode("utf-8")[:120]
        # Never the default argument: picows would put code 0 on the wire (DESIGN §6).
        self.transport.send_close(<WSCloseCode>code, r)
        self.sent_close_code = code
        if self.recorder is not None:
            self._record("out", 8, b"", zenws_monotonic_ns(), code, reason)

    # ---- sending --------------------------------------------------------------

    cdef int send_c(self, int opcode, object data) except -1:
        cdef bint rsv1 = False
        if self.transport is None or self.closed:
            raise ConnectionLost("connection is not open", epoch=self.epoch)
        if self.recorder is not None:
            self._record("out", opcode, data, zenws_monotonic_ns())
        if self.deflater is not None:
            data = self.deflater.compress(data)
            rsv1 = True
        self.transport.send(<WSMsgType>opcode, data, True, rsv1)
        self.frames_out += 1
        self.bytes_out += <uint64_t>len(data)
        return 0

    cpdef int64_t send_request(self, str method, object params, object waiter,
                               int64_t timeout_ns) except -1:
        """Encode, track (deadline = now + timeout_ns) and send one JSON-RPC request.

        One C call for what request() needs per call; returns the id used.  With
        ``bare_requests`` the request has no ``"jsonrpc"`` member (Binance).
        """
        cdef int64_t rid = self._next_id
        cdef int64_t now
        cdef Py_ssize_t n = -1
        cdef bytes data = None
        if self.transport is None or self.closed:
            raise ConnectionLost("connection is not open", epoch=self.epoch)
        if self.recorder is None and self.deflater is None:
            # Plain data goes straight into a frame buffer kept for the connection,
            # framed and masked in place (_send_framed).
            n = encode_request_into(&self._reqbuf, _REQ_HEAD, rid, method, params,
                                    self.bare_requests)
        if n < 0:
            data = encode_request_c(rid, method, params, self.bare_requests)
        self._next_id += 1
        now = zenws_monotonic_ns()
        self._last_deadline = now + timeout_ns
        self.correlator.track_c(rid, waiter, now, self._last_deadline)
        try:
            if data is not None:
                self.send_c(1, data)
            else:
                self._send_framed(n)
        except BaseException:
            self.correlator.discard_c(rid)
            raise
        return rid

    cdef int _send_framed(self, Py_ssize_t n) except -1:
        # The text frame of _reqbuf.data[_REQ_HEAD:_REQ_HEAD + n], written whole by
        # picows' transport (as its send() would after masking): header in front,
        # payload masked in place by zenws' kernel (picows' in-place masking
        # streams its stores past the cache, and the kernel then reads the frame
        # back from memory).  Like picows' send(), nothing goes out after CLOSE.
        cdef WSTransport tr = self.transport
        cdef unsigned char* payload = <unsigned char*>self._reqbuf.data + _REQ_HEAD
        cdef Py_ssize_t hlen
        transport_check_thread(tr, "send")
        if tr.is_close_frame_sent or tr.is_disconnected:
            return 0
        hlen = frame_in_place_c(1, payload, n)
        transport_write(tr, <char*>payload - hlen, hlen + n)
        self.frames_out += 1
        self.bytes_out += <uint64_t>n
        if self._reqbuf.cap > _REQ_KEEP:
            free_request_buffer(&self._reqbuf)  # a rare large request: do not keep its memory
        return 0

    def call(self, str method, object params, int64_t timeout_ns, object loop):
        """request() fast path, compiled: send, await the C-resolved future, parse.

        Returns a coroutine-like awaitable (a registered
        ``collections.abc.Coroutine``, so ``create_task`` accepts it) that is driven
        by the event loop's task directly: no coroutine frame per call.  Nothing is
        sent until it is first awaited/stepped.  The caller (Client.request) handles
        rate limiting, back-pressure, telemetry and the deadline timer; this only
        does the per-request work.
        """
        cdef _Call c = _Call.__new__(_Call)
        c.lst = self
        c.method = method
        c.params = params
        c.timeout_ns = timeout_ns
        c.loop = loop
        return c

    @property
    def last_deadline_ns(self):
        """int: deadline of the last send_request() (monotonic ns)."""
        return self._last_deadline

    cpdef int64_t new_id(self):
        """Return a fresh JSON-RPC id (unique on this client across epochs)."""
        cdef int64_t rid = self._next_id
        self._next_id += 1
        return rid

    def send_text(self, data):
        """Send a text frame (str or UTF-8 bytes); compressed when deflate is on."""
        if isinstance(data, str):
            data = (<str>data).encode("utf-8")
        self.send_c(1, data)

    def send_binary(self, data):
        """Send a binary frame."""
        self.send_c(2, data)

    def send_ping(self, bytes payload=b""):
        """Send a PING control frame (RFC 6455 §5.5.2, payload <= 125 bytes)."""
        if self.transport is None or self.closed:
            raise ConnectionLost("connection is not open", epoch=self.epoch)
        if self.recorder is not None:
            self._record("out", 9, payload, zenws_monotonic_ns())
        self.transport.send_ping(payload)
        self.frames_out += 1
        self.bytes_out += <uint64_t>len(payload)

    def close(self, int code=1000, str reason=""):
        """Start the closing handshake with an explicit code; no-op when closed."""
        if self.closed or self.transport is None:
            return False
        self.closed = True
        self._send_close(code, reason)
        return True

    def fail(self, int code, str reason):
        """Fail the connection with ``code`` (sends CLOSE, then disconnects)."""
        self.fail_c(code, reason)

    def abort(self):
        """Drop the TCP connection at once (no CLOSE frame)."""
        self.closed = True
        if self.transport is not None:
            self.transport.disconnect(False)

    def feed_message(self, int opcode, bytes payload, int64_t recv_ns=0):
        """Run the message path on a complete message (tests, replay)."""
        self.on_message_c(opcode, payload, recv_ns or zenws_monotonic_ns())

    def counters(self):
        """Return the C counters as a dict (read by Client.metrics())."""
        return {
            "frames_in": self.frames_in, "frames_out": self.frames_out,
            "bytes_in": self.bytes_in, "bytes_out": self.bytes_out,
            "messages_in": self.messages_in, "responses": self.responses,
            "notifications": self.notifications, "errors": self.errors,
            "invalid_json": self.invalid_json, "unknown_responses": self.unknown_responses,
            "callback_errors": self.callback_errors, "test_requests": self.test_requests,
        }

    @property
    def next_id(self):
        """int: the id new_id() returns next."""
        return self._next_id


include "listener_request.pxi"
