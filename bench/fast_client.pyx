# cython: language_level=3
# Benchmark clients written as a user would write a zenws.fast strategy: Cython
# subclasses of FastListener (cimported from the installed .pxd) that drive the
# round trips from the message path itself, with no asyncio future per message.
# Compiled at run time by bench/fast_build.py.
from libc.stdint cimport int64_t

from zenws.fast.common cimport zenws_monotonic_ns
from zenws.fast.listener cimport FastListener


cdef class EchoStrategy(FastListener):
    """Ping-pong echo: each echoed message sends the next one from on_message_c."""
    cdef object done
    cdef bytes payload
    cdef long remaining
    cdef int64_t sent_ns
    cdef int64_t[:] samples
    cdef Py_ssize_t n

    def arm(self, bytes payload, long count, object done, int64_t[:] samples):
        self.payload, self.remaining, self.done, self.samples, self.n = (
            payload, count, done, samples, 0)

    def kick(self):
        self.sent_ns = zenws_monotonic_ns()
        self.send_c(2, self.payload)

    cdef int on_message_c(self, int opcode, object payload, int64_t recv_ns) except -1:
        if self.remaining <= 0:
            return 0
        if self.n < self.samples.shape[0]:
            self.samples[self.n] = recv_ns - self.sent_ns
            self.n += 1
        self.remaining -= 1
        if self.remaining == 0:
            self.done.set_result(None)
            return 0
        self.sent_ns = zenws_monotonic_ns()
        self.send_c(opcode, payload)
        return 0


cdef class _Next:
    # Correlator waiter: zenws resolves the response in C (scan + Correlator)
    # and calls this, which records the RTT and sends the next request.
    cdef RpcStrategy s

    def __call__(self, payload):
        self.s.on_response(payload)


cdef class RpcStrategy(FastListener):
    """JSON-RPC round trips through zenws' C request path (encode, track, scan, resolve)."""
    cdef object done
    cdef str method
    cdef object params
    cdef long remaining
    cdef int64_t sent_ns
    cdef int64_t[:] samples
    cdef Py_ssize_t n
    cdef _Next waiter

    def arm(self, str method, object params, long count, object done, int64_t[:] samples):
        self.method, self.params, self.remaining, self.done = method, params, count, done
        self.samples, self.n = samples, 0
        self.waiter = _Next()
        self.waiter.s = self

    cpdef kick(self):
        self.sent_ns = zenws_monotonic_ns()
        self.send_request(self.method, self.params, self.waiter, 30_000_000_000)

    cdef on_response(self, object payload):
        if isinstance(payload, BaseException):
            self.done.set_exception(payload)
            return
        if self.n < self.samples.shape[0]:
            self.samples[self.n] = zenws_monotonic_ns() - self.sent_ns
            self.n += 1
        self.remaining -= 1
        if self.remaining <= 0:
            self.done.set_result(None)
        else:
            self.kick()


cdef class CountStrategy(FastListener):
    """Notification fan-in into a Cython hook: counts messages, no Python dispatch."""
    cdef public long count
    cdef public long target
    cdef public object done

    cdef int on_message_c(self, int opcode, object payload, int64_t recv_ns) except -1:
        self.count += 1
        if self.count == self.target and self.done is not None:
            self.done.set_result(None)
        return 0
