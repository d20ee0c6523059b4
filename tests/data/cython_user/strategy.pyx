# A user strategy written in Cython: subclasses zenws' FastListener through the
# installed .pxd and sees every complete message with no Python dispatch.
from libc.stdint cimport int64_t

from zenws.fast.listener cimport FastListener


cdef class CountingStrategy(FastListener):
    cdef public list seen
    cdef public int64_t last_ns

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seen = []

    cdef int on_message_c(self, int opcode, object payload, int64_t recv_ns) except -1:
        self.seen.append((opcode, len(payload)))
        self.last_ns = recv_ns
        # keep zenws' routing (responses resolve, notifications route)
        return FastListener.on_message_c(self, opcode, payload, recv_ns)
