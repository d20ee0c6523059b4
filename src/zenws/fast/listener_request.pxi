# The compiled request path of zenws.fast.listener: included by listener.pyx and
# compiled into the same extension module (declarations in listener.pxd).
# Requester (``client.request``), the waiter a task awaits (_Waiter) and the
# hand-rolled request coroutine (_Call).


@cython.final
cdef class Requester:
    """``Client.request`` of one client, compiled (bound as the client's ``request``).

    The common call -- default deadline, no rate limiter, no debug logging, no
    telemetry handler, no back-pressure, not an idempotent-retry method -- goes
    straight to the compiled request coroutine with no Python frame; anything
    else goes to ``slow(method, params, timeout)``, the client's general path.
    The client keeps the fields current: ``lst`` is the listener of the OPEN
    connection (None otherwise), ``armed`` whether its deadline sweep is armed
    (the fast path's deadline, now + default, is never earlier than it).
    """

    cdef public FastListener lst    #: FastListener | None
    cdef public object slow         #: Callable[[str, Any, float | None], Coroutine]
    cdef public object loop         #: asyncio.AbstractEventLoop | None
    cdef public bint armed          #: bool
    cdef public bint plain          #: bool: no rate limiter, no debug logging
    cdef public int64_t timeout_ns  #: int: the default deadline
    cdef public object idempotent   #: frozenset[str] | None

    def request(self, str method, object params=None, *, object timeout=None):
        """See ``zenws.Client.request``."""
        cdef FastListener lst = self.lst
        cdef _Call c
        if (timeout is None and lst is not None and self.armed and self.plain
                and not lst.closed and not lst.write_paused and not _tm.active
                and (self.idempotent is None or method not in self.idempotent)):
            c = _Call.__new__(_Call)
            c.lst = lst
            c.method = method
            c.params = params
            c.timeout_ns = self.timeout_ns
            c.loop = self.loop
            return c
        return self.slow(method, params, timeout)


cdef extern from *:
    """
    /* name == the ASCII literal lit, for attribute names (exact str, compact).
       Length first: the names compared here all differ in length. */
    static inline int zenws_str_eq(PyObject *name, const char *lit) {
        Py_ssize_t n = (Py_ssize_t)strlen(lit);
        return PyUnicode_GET_LENGTH(name) == n && PyUnicode_IS_ASCII(name)
            && memcmp(PyUnicode_DATA(name), lit, (size_t)n) == 0;
    }
    """
    bint zenws_str_eq(str name, const char* lit) noexcept


# ``_Waiter.result`` once a response arrived (see ``_Waiter.__getattribute__``): a
# no-argument builtin that returns None -- an empty dict's bound ``clear``, called
# through C (METH_NOARGS) rather than a Python-level function.
_resolved = {}.clear


# Bound builtins a task gets from ``_Waiter.__getattribute__`` (C calls, no
# Python-level argument parsing): ``get_loop`` is a METH_NOARGS function bound to
# the loop that returns its self, cached for the last loop seen (a process
# normally runs one); ``add_done_callback`` is bound to the waiter.
cdef extern from *:
    """
    static PyObject *zenws_return_self(PyObject *self, PyObject *unused) {
        (void)unused;
        Py_INCREF(self);
        return self;
    }
    static PyMethodDef zenws_get_loop_def = {
        "get_loop", zenws_return_self, METH_NOARGS, "The event loop of the request."
    };
    static PyObject *zenws_last_get_loop = NULL;
    static PyObject *zenws_get_loop_of(PyObject *loop) {
        PyObject *g = zenws_last_get_loop;
        if (g == NULL || PyCFunction_GET_SELF(g) != loop) {
            g = PyCFunction_NewEx(&zenws_get_loop_def, loop, NULL);
            if (g == NULL) return NULL;
            Py_XSETREF(zenws_last_get_loop, g);
        }
        Py_INCREF(g);
        return g;
    }

    typedef int (*zenws_add_cb_fn)(PyObject *self, PyObject *fn, PyObject *context);
    static zenws_add_cb_fn zenws_waiter_add_cb = NULL;
    static PyObject *zenws_waiter_add_done_callback(PyObject *self, PyObject *const *args,
                                                   Py_ssize_t nargsf, PyObject *kwnames) {
        Py_ssize_t nargs = PyVectorcall_NARGS(nargsf), i, nkw;
        PyObject *context = Py_None;
        if (nargs != 1) {
            PyErr_Format(PyExc_TypeError,
                         "add_done_callback() takes exactly 1 positional argument (%zd given)",
                         nargs);
            return NULL;
        }
        nkw = kwnames == NULL ? 0 : PyTuple_GET_SIZE(kwnames);
        for (i = 0; i < nkw; i++) {
            if (PyUnicode_CompareWithASCIIString(PyTuple_GET_ITEM(kwnames, i), "context") != 0) {
                PyErr_Format(PyExc_TypeError,
                             "add_done_callback() got an unexpected keyword argument '%U'",
                             PyTuple_GET_ITEM(kwnames, i));
                return NULL;
            }
            context = args[nargs + i];
        }
        if (zenws_waiter_add_cb(self, args[0], context) < 0) return NULL;
        Py_RETURN_NONE;
    }
    static PyMethodDef zenws_add_done_callback_def = {
        "add_done_callback", (PyCFunction)(void (*)(void))zenws_waiter_add_done_callback,
        METH_FASTCALL | METH_KEYWORDS,
        "Call fn(self) once done (via loop.call_soon when already done)."
    };
    static PyObject *zenws_bound_add_done_callback(PyObject *self) {
        return PyCFunction_NewEx(&zenws_add_done_callback_def, self, NULL);
    }
    static void zenws_waiter_install(zenws_add_cb_fn fn) { zenws_waiter_add_cb = fn; }
    """
    ctypedef int (*zenws_add_cb_fn)(object, object, object) except -1
    object zenws_get_loop_of(object loop)
    object zenws_bound_add_done_callback(object waiter)
    void zenws_waiter_install(zenws_add_cb_fn fn)


cdef enum:
    _PENDING = 0
    _RESULT = 1
    _EXCEPTION = 2
    _CANCELLED = 3


@cython.final
@cython.freelist(64)
cdef class _Waiter:
    """The future a compiled request waits on: the part of the ``asyncio.Future``
    protocol a task uses (``_asyncio_future_blocking``, ``_loop``,
    ``add_done_callback``, ``result``, ``cancel``...), without a Future's cost
    (``Future()`` calls ``loop.get_debug()`` every time).

    The correlator calls it with the response (or an exception).  A response
    that arrives in a read handed over by the connection's ReadGuard resumes the
    waiting task at the end of that read (``FastListener.end_read_c``), once
    every frame of the read was processed -- the order a ``call_soon`` would
    give, without the handle and the extra loop iteration.  Exceptions,
    cancellation, deliveries outside such a read (no guard, ``feed_message``)
    and any wake-up while a task is running go through ``loop.call_soon``, as
    for a Future.
    """

    cdef readonly object _loop
    cdef FastListener lst   # its connection (None: always through call_soon)
    cdef object cb          # the task's wakeup callback
    cdef object ctx         # its contextvars.Context
    cdef list extra         # further (callback, context) pairs, rarely any
    cdef readonly object value  # the response (decoded dict or raw bytes), or the exception
    cdef object cancel_msg
    cdef int state          # _PENDING, _RESULT, _EXCEPTION, _CANCELLED
    cdef public object _asyncio_future_blocking

    def __call__(self, value):
        """Deliver the response or an exception (the correlator's waiter call)."""
        self.deliver_c(value)

    cdef int deliver_c(self, object value) except -1:
        cdef FastListener lst = self.lst
        if self.state != _PENDING:
            return 0
        self.value = value
        if isinstance(value, BaseException):
            self.state = _EXCEPTION
            self._schedule()
            return 0
        self.state = _RESULT
        if lst is not None and lst._in_read:
            lst._wakes.append(self)  # resumed by end_read_c, once the read is processed
        else:
            self._schedule()
        return 0

    cdef int wake_c(self) except -1:
        cdef object cb = self.cb
        cdef object ctx
        if cb is None or self.extra is not None or _current_task(self._loop) is not None:
            self._schedule()
            return 0
        ctx = self.ctx
        self.cb = self.ctx = None
        if ctx is None:
            self._run_inline(cb)
            return 0
        if PyContext_Enter(ctx) < 0:
            raise RuntimeError("cannot enter the waiting task's context")
        try:
            self._run_inline(cb)
        finally:
            PyContext_Exit(ctx)
        return 0

    cdef _run_inline(self, object cb):
        try:
            cb(self)
        except Exception as exc:  # the task machinery itself failed: report, never lose it
            self._loop.call_exception_handler({
                "message": "zenws: resuming a request's task failed", "exception": exc,
            })

    cdef _schedule(self):
        cdef object cb = self.cb
        cdef list extra = self.extra
        self.cb = None
        self.extra = None
        if cb is not None:
            self._loop.call_soon(cb, self, context=self.ctx)
            self.ctx = None
        if extra is not None:
            for fn, context in extra:
                self._loop.call_soon(fn, self, context=context)

    # -- the asyncio.Future protocol (what tasks and asyncio helpers call) --------

    def get_loop(self):
        """The event loop of the request."""
        return self._loop

    def __getattribute__(self, str name):
        # A task drives a non-Future through attribute lookups, four per request
        # (CPython's task_step/task_wakeup, 3.10-3.13): ``_asyncio_future_blocking``,
        # ``get_loop()``, ``add_done_callback`` and, on resume, ``result()`` (by a C
        # string: a fresh str each time).  Those four are answered here without the
        # generic lookup and, for get_loop/result, without a bound method.  Once a
        # response is in, result() is None anyway (the task resumes with None and
        # _Call reads ``value``), so a constant no-argument builtin stands in.
        if zenws_str_eq(name, "_asyncio_future_blocking"):
            return self._asyncio_future_blocking
        if zenws_str_eq(name, "get_loop"):
            return zenws_get_loop_of(self._loop)
        if zenws_str_eq(name, "add_done_callback"):
            return zenws_bound_add_done_callback(self)
        if self.state == _RESULT and zenws_str_eq(name, "result"):
            return _resolved
        return PyObject_GenericGetAttr(self, name)

    def __setattr__(self, str name, value):
        # The task clears ``_asyncio_future_blocking`` on every request.
        if zenws_str_eq(name, "_asyncio_future_blocking"):
            self._asyncio_future_blocking = value
        else:
            PyObject_GenericSetAttr(self, name, value)

    def add_done_callback(self, fn, *, context=None):
        """Call ``fn(self)`` once done (via ``loop.call_soon`` when already done)."""
        self.add_cb(fn, context)

    cdef add_cb(self, object fn, object context):
        if self.state != _PENDING:
            self._loop.call_soon(fn, self, context=context)
        elif self.cb is None and self.extra is None:
            self.cb = fn
            self.ctx = context
        else:
            if self.extra is None:
                self.extra = []
            self.extra.append((fn, context))

    def remove_done_callback(self, fn):
        """Forget ``fn``; returns how many registrations were removed."""
        cdef int n = 0
        if self.cb is not None and self.cb == fn:
            self.cb = self.ctx = None
            n += 1
        if self.extra is not None:
            kept = [(f, c) for f, c in self.extra if f != fn]
            n += len(self.extra) - len(kept)
            self.extra = kept or None
        return n

    def done(self):
        """True once a response, an exception or a cancellation arrived."""
        return self.state != _PENDING

    def cancelled(self):
        """True if cancelled."""
        return self.state == _CANCELLED

    def cancel(self, msg=None):
        """Cancel the wait (the task's cancellation); False when already done."""
        if self.state != _PENDING:
            return False
        self.state = _CANCELLED
        self.cancel_msg = msg
        self._schedule()
        return True

    def result(self):
        """None once the response is in (the compiled request reads ``value`` itself);
        raises the exception, CancelledError or InvalidStateError like a Future."""
        if self.state == _RESULT:
            return None
        if self.state == _EXCEPTION:
            raise self.value
        if self.state == _CANCELLED:
            raise CancelledError(*(() if self.cancel_msg is None else (self.cancel_msg,)))
        raise InvalidStateError("result is not ready")

    def exception(self):
        """The exception, None after a response; raises like ``Future.exception``."""
        if self.state == _EXCEPTION:
            return self.value
        if self.state == _RESULT:
            return None
        if self.state == _CANCELLED:
            raise CancelledError(*(() if self.cancel_msg is None else (self.cancel_msg,)))
        raise InvalidStateError("exception is not set")

    def __repr__(self):
        return f"<zenws request waiter {('pending', 'done', 'failed', 'cancelled')[self.state]}>"


cdef int _waiter_add_cb(object self, object fn, object context) except -1:
    (<_Waiter>self).add_cb(fn, context)
    return 0


zenws_waiter_install(_waiter_add_cb)


@cython.final
@cython.freelist(64)
cdef class _Call:
    """One in-flight ``FastListener.call()``: a hand-rolled coroutine over one future.

    Step 1 (first ``send(None)``/``__next__``) encodes, tracks and sends the request
    and yields the future to the task (``_asyncio_future_blocking`` protocol, as
    ``Future.__await__`` does); step 2 (the task resumes it once the future is done)
    turns the raw response into its ``result`` or raises.  Cancellation removes the
    pending entry, as the ``async def`` version did.
    """

    cdef FastListener lst
    cdef str method
    cdef object params
    cdef object loop
    cdef object fut
    cdef int64_t timeout_ns
    cdef int64_t rid
    cdef int state  # 0 not started, 1 waiting on fut, 2 finished

    def __await__(self):
        return self

    def __iter__(self):
        return self

    def __next__(self):
        return self._step()

    def send(self, value):
        """Coroutine protocol: resume (the value is ignored, as for a future)."""
        return self._step()

    def throw(self, typ, val=None, tb=None):
        """Coroutine protocol: raise ``typ``/``val`` at the await point.

        The task throws a failed future's exception in (rather than resuming with
        ``send``), so this is also the path of timeouts and lost connections.
        """
        cdef bint was_waiting = self.state == 1
        self.state = 2
        self.params = None
        self.fut = None
        if isinstance(typ, BaseException):
            exc = typ
        elif val is None:
            exc = typ()
        elif isinstance(val, BaseException):
            exc = val
        else:
            exc = typ(val)
        if was_waiting:
            self._raise_failed(exc)
        raise exc

    def close(self):
        """Coroutine protocol: stop (nothing more is delivered to this call)."""
        self.state = 2
        self.params = None
        self.fut = None

    cdef object _step(self):
        # __next__/send() (pure-Python drivers): same steps, StopIteration on return.
        cdef PyObject* out = NULL
        cdef object value
        cdef int r = _call_step(self, &out)
        value = <object>out
        Py_DECREF(value)  # _call_step handed over a new reference
        if r == 0:
            return value
        raise StopIteration(value)

    cdef int step_c(self, PyObject** out) except -1:
        cdef _Waiter w
        cdef object value
        if self.state == 0:
            w = _Waiter.__new__(_Waiter)
            w._loop = self.loop
            w.lst = self.lst
            self.state = 2  # until the send succeeded (an exception ends the call)
            self.rid = self.lst.send_request(self.method, self.params, w, self.timeout_ns)
            self.params = None
            self.fut = w
            self.state = 1
            w._asyncio_future_blocking = True
            Py_INCREF(w)
            out[0] = <PyObject*>w
            return 0
        if self.state != 1:
            raise RuntimeError("cannot reuse already awaited coroutine")
        w = <_Waiter>self.fut
        if w.state == _PENDING:  # stepped by something other than the task: wait on
            w._asyncio_future_blocking = True
            Py_INCREF(w)
            out[0] = <PyObject*>w
            return 0
        self.state = 2
        self.fut = None
        if w.state != _RESULT:
            try:
                w.result()
            except BaseException as exc:
                self._raise_failed(exc)
                raise
        value = result_of(w.value, self.method, self.rid)
        Py_INCREF(value)
        out[0] = <PyObject*>value
        return 1

    cdef int _raise_failed(self, object exc) except -1:
        # The await point failed: a cancelled wait forgets its entry; a deadline
        # expiry (set by the sweep without the method) is raised with its details.
        cdef double t
        if isinstance(exc, CancelledError):
            self.lst.correlator.discard_c(self.rid)
        elif isinstance(exc, RequestTimeout):
            t = self.timeout_ns / 1e9
            raise RequestTimeout(f"{self.method} (id {self.rid}) got no response within {t} s",
                                 method=self.method, request_id=self.rid, timeout=t) from None
        return 0


cdef int _call_step(object self, PyObject** out) except -1:
    return (<_Call>self).step_c(out)


# am_send for _Call (tp_as_async.am_send, CPython >= 3.10): the task and the
# awaiting coroutine's SEND step it through PyIter_Send, and the result comes back
# as PYGEN_RETURN -- no StopIteration object per request (a plain __next__ would
# need one).  The step itself is the Cython method _Call._step_c.
cdef extern from *:
    """
    typedef int (*zenws_call_step_fn)(PyObject *, PyObject **);
    static zenws_call_step_fn zenws_call_step = NULL;
    static PySendResult zenws_call_am_send(PyObject *self, PyObject *arg, PyObject **res) {
        PyObject *out = NULL;
        int r;
        (void)arg;
        r = zenws_call_step(self, &out);
        if (r < 0) { *res = NULL; return PYGEN_ERROR; }
        *res = out;
        return r == 0 ? PYGEN_NEXT : PYGEN_RETURN;
    }
    static PyObject *zenws_call_am_await(PyObject *self) { Py_INCREF(self); return self; }
    static PyAsyncMethods zenws_call_as_async = {
        zenws_call_am_await, NULL, NULL, zenws_call_am_send
    };
    static void zenws_call_install(PyTypeObject *t, zenws_call_step_fn fn) {
        zenws_call_step = fn;
        t->tp_as_async = &zenws_call_as_async;
        PyType_Modified(t);
    }
    """
    ctypedef int (*zenws_call_step_fn)(object, PyObject**) except -1
    void zenws_call_install(PyTypeObject* t, zenws_call_step_fn fn)


zenws_call_install(<PyTypeObject*>_Call, _call_step)
collections.abc.Coroutine.register(_Call)
