# The one place where zenws uses private API of picows and aiofastnet (Cython
# attributes and methods, and Python names, outside their documented API).  Every
# other module cimports these names from here, never from picows/aiofastnet
# directly.
#
# Such symbols can change in any release, and a compiled caller does not notice:
# it reads a field at a fixed offset or calls a fixed vtable slot; a Python call
# with positional arguments binds them to whatever the new signature says.  So
# zenws.fast._compat_check compares, when zenws.fast.listener and
# zenws.fast.guard are imported, the installed picows.pxd / aiofastnet .pxd
# declarations of these classes, and the signatures of the Python names below in
# picows' shipped sources, with the ones zenws is compiled against, and raises
# ImportError naming what changed (tests/unit/test_compat.py).
from aiofastnet.utils cimport NoResult
from aiofastnet.transport cimport Protocol
from picows.picows cimport WSFrame, WSTransport


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


# ---- connecting with picows' protocol behind zenws' ReadGuard --------------------
# picows.ws_connect creates its WSProtocol and the transport in one call, so bytes
# that come with the 101 response reach picows before any hook of its public API
# runs.  zenws.fast.guard.connect does what ws_connect does with the same picows
# pieces instead, the guard in front of the protocol from the first byte.

cdef inline object client_protocol(str host_port, str ws_path, object listener_factory,
                                   object logger, object handshake_timeout,
                                   Py_ssize_t max_frame_size, object extra_headers):
    # picows.picows.WSProtocol (not exported by picows), with the positional
    # arguments picows/api.py's ws_connect passes.
    from picows.picows import WSAutoPingStrategy, WSProtocol
    return WSProtocol(
        host_port, ws_path,
        True,                       # is_client_side
        listener_factory, logger,
        True,                       # disconnect_on_exception
        handshake_timeout,
        False, 10, 10, WSAutoPingStrategy.PING_WHEN_IDLE,   # no auto ping
        False,                      # enable_auto_pong: FastListener answers pings
        max_frame_size, extra_headers,
        16 * 1024,                  # read_buffer_init_size (ws_connect's default)
    )


cdef inline object protocol_handshake_done(object proto):
    # WSProtocol.wait_until_handshake_complete(): a coroutine; it ends when picows
    # has processed the 101 (or raises its handshake error), or the connection is lost.
    return proto.wait_until_handshake_complete()


cdef inline object protocol_transport(object proto):
    return proto.transport          # WSProtocol.transport: the WSTransport


cdef inline object protocol_listener(object proto):
    return proto.listener           # WSProtocol.listener: None if the handshake did not end


cdef inline object parse_ws_url(str url, bint check_scheme):
    # picows.url.parse_url -> picows.WSParsedURL (host, port, netloc, resource_name,
    # is_secure, scheme, username, password).
    from picows.url import parse_url
    return parse_url(url, check_scheme)


cdef inline object connect_socket_or_proxy(object loop, object parsed_url, object parsed_proxy,
                                           object ssl, dict conn_kwargs,
                                           object create_connection):
    # picows.proxy.connect_through_optional_proxy (a coroutine): no proxy ->
    # ConnectedSocket(None, host, port); SOCKS -> ConnectedSocket(sock, None, None);
    # HTTP(S) CONNECT -> ConnectedTransport(transport).  It may set
    # conn_kwargs["server_hostname"].
    from picows.proxy import connect_through_optional_proxy
    return connect_through_optional_proxy(
        loop, parsed_url, parsed_proxy, None, ssl, None, conn_kwargs, create_connection)
