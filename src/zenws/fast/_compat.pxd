# The one place where zenws uses private Cython API of picows and aiofastnet
# (attributes and methods outside their documented Python API).  Every other
# module cimports these names from here, never from picows/aiofastnet directly.
#
# Such symbols can change in any release, and a compiled caller does not notice:
# it reads a field at a fixed offset or calls a fixed vtable slot.  So
# zenws.fast._compat_check compares, when zenws.fast.listener and
# zenws.fast.guard are imported, the installed picows.pxd / aiofastnet .pxd
# declarations of these classes with the ones zenws is compiled against, and
# raises ImportError naming the class that changed (tests/unit/test_compat.py).
from aiofastnet.utils cimport NoResult
from aiofastnet.transport cimport Protocol
from picows.picows cimport MemoryBuffer, WSFrame, WSTransport


cdef inline const unsigned char* frame_payload(WSFrame frame) noexcept:
    # WSFrame.payload_ptr: the payload inside picows' read buffer, no copy
    # (the public get_payload_as_memoryview() allocates a memoryview).
    return <const unsigned char*>frame.payload_ptr


cdef inline int transport_check_thread(WSTransport tr, str meth) except -1:
    # WSTransport._check_thread: what picows' public send() checks first.
    tr._check_thread(meth)
    return 0


cdef inline int transport_write(WSTransport tr, char* p, Py_ssize_t n) except -1:
    # WSTransport._fast_write: a whole, already framed and masked frame.
    tr._fast_write(p, n)
    return 0


cdef inline MemoryBuffer read_buffer(object proto):
    # picows' WSProtocol keeps its read buffer (a MemoryBuffer) in a private
    # attribute that is not visible from Cython outside picows: find it among
    # the protocol's references.  Exactly one, or a RuntimeError.
    import gc
    cdef MemoryBuffer rb = None
    for ref in gc.get_referents(proto):
        if isinstance(ref, MemoryBuffer):
            if rb is not None:
                raise RuntimeError(
                    "picows' WSProtocol holds two read buffers: zenws.fast._compat.pxd "
                    "does not match the installed picows")
            rb = <MemoryBuffer>ref
    if rb is None:
        raise RuntimeError(
            "picows' WSProtocol holds no read buffer: zenws.fast._compat.pxd "
            "does not match the installed picows")
    return rb


cdef inline char* read_buffer_data(MemoryBuffer rb) noexcept:
    return rb.data


cdef inline Py_ssize_t read_buffer_size(MemoryBuffer rb) noexcept:
    return rb.size
