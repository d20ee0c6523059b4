"""The package as users consume it: ``cimport`` from their own Cython, shipped files.

``test_user_module_cimports_the_installed_pxd`` compiles a small Cython module the way a
strategy author would: ``include_path`` is the folder that holds the *imported* ``zenws``
package (site-packages for the wheel, ``src/`` for the editable install) plus picows'
folder, and ``include_dirs=[zenws.get_include()]`` for the C headers the ``.pxd`` files
name (like ``numpy.get_include()``).  Nothing from the checkout's ``ext/`` is used, so a
header that the wheel does not ship fails this test.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import zenws
from zenws._build import FAST_MODULES

INSTALLED = os.environ.get("ZENWS_TEST_INSTALLED") == "1"
_EXTERN_H = re.compile(r'^cdef extern from "(zenws_\w+\.h)"', re.MULTILINE)

USER_PYX = """
# A user's strategy module: every cimport goes through zenws' installed .pxd files.
from libc.stdint cimport int64_t

from zenws.fast.common cimport zenws_load_be16, zenws_monotonic_ns
from zenws.fast.frame cimport MessageAssembler
from zenws.fast.jsonrpc cimport Correlator, ScanResult, encode_request_c, scan_c
from zenws.fast.latency cimport LatencyBuffer
from zenws.fast.listener cimport FastListener
from zenws.fast.ratelimit cimport TokenBucket


cdef class Strategy(FastListener):
    cdef public list seen

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seen = []

    cdef int on_message_c(self, int opcode, object payload, int64_t recv_ns) except -1:
        self.seen.append((opcode, bytes(payload), recv_ns))
        return FastListener.on_message_c(self, opcode, payload, recv_ns)


def clock_ns():
    return zenws_monotonic_ns()


def be16(bytes b):
    return zenws_load_be16(<const unsigned char*>b)


def assemble(MessageAssembler asm, bytes first, bytes last):
    if asm.feed_c(1, False, False, <const unsigned char*>first, len(first)) != 0:
        return None
    if asm.feed_c(0, True, False, <const unsigned char*>last, len(last)) != 1:
        return None
    return asm.msg_opcode, asm.msg_payload


def record(LatencyBuffer buf, list values):
    cdef int64_t v
    for v in values:
        buf.add_c(v)


def spend(TokenBucket bucket, double cost, int n):
    cdef int i, granted = 0
    for i in range(n):
        granted += bucket.try_acquire_c(cost)
    return granted, bucket.time_until_c(cost)


def scan_kind_method(bytes msg):
    cdef ScanResult r = scan_c(msg)
    return r.s.kind, r.method, r.id


def request_bytes(int64_t id, str method, params):
    return encode_request_c(id, method, params)


def track_resolve(Correlator c, int64_t id, waiter, payload):
    c.track_c(id, waiter, 100, 1 << 62)
    return c.resolve_c(id, payload, 350)
"""

SETUP_PY = """
from setuptools import Extension, setup
from Cython.Build import cythonize

ext = Extension("zenws_user_strategy", ["zenws_user_strategy.pyx"], include_dirs={include_dirs!r})
setup(
    ext_modules=cythonize([ext], language_level=3, include_path={include_path!r}, quiet=True),
    script_args=["build_ext", "--inplace", "-q"],
)
"""


def _include_path() -> list[str]:
    import picows

    zenws_parent = Path(zenws.__file__).resolve().parent.parent
    picows_parent = Path(picows.__file__).resolve().parent.parent
    return [str(zenws_parent), str(picows_parent)]


def _build_user_module(tmp: Path) -> Any:
    (tmp / "zenws_user_strategy.pyx").write_text(USER_PYX)
    (tmp / "setup.py").write_text(
        SETUP_PY.format(include_dirs=[zenws.get_include()], include_path=_include_path())
    )
    env = {**os.environ, "CFLAGS": "-O0 -g0"}
    env.pop("PYTHONPATH", None)
    proc = subprocess.run(
        [sys.executable, "setup.py"],
        cwd=tmp,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, f"user module failed to build:\n{proc.stdout}\n{proc.stderr}"
    sys.path.insert(0, str(tmp))
    try:
        return importlib.import_module("zenws_user_strategy")
    finally:
        sys.path.remove(str(tmp))
        sys.modules.pop("zenws_user_strategy", None)


@pytest.fixture(scope="module")
def user_module(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return _build_user_module(tmp_path_factory.mktemp("zenws_user"))


def test_get_include_holds_the_headers_the_pxd_files_name() -> None:
    include = Path(zenws.get_include())
    assert include.is_dir() and include.is_absolute()
    assert include.is_relative_to(Path(zenws.__file__).resolve().parent)
    fast = Path(zenws.__file__).resolve().parent / "fast"
    named = {h for pxd in fast.glob("*.pxd") for h in _EXTERN_H.findall(pxd.read_text())}
    shipped = {p.name for p in include.glob("*.h")}
    assert named, "no .pxd names a header: the parser above is out of date"
    assert named <= shipped, sorted(named - shipped)


def test_user_module_cimports_the_installed_pxd(user_module: Any) -> None:
    from zenws.fast import frame, jsonrpc, latency, ratelimit

    t0 = user_module.clock_ns()
    assert isinstance(t0, int) and 0 < t0 <= user_module.clock_ns()
    assert user_module.be16(b"\x03\xe8") == 1000

    asm = frame.MessageAssembler()
    assert user_module.assemble(asm, b'{"a":', b"1}") == (1, b'{"a":1}')

    buf = latency.LatencyBuffer(8)
    user_module.record(buf, [5, 1, 9, 3])
    assert (len(buf), buf.count, buf.last) == (4, 4, 3)
    assert buf.summary().max == 9 and buf.summary().min == 1

    now = [0]
    bucket = ratelimit.TokenBucket(3, 1.0, clock=lambda: now[0])
    granted, wait_s = user_module.spend(bucket, 1.0, 5)
    assert granted == 3 and wait_s == pytest.approx(1.0, rel=1e-6)

    msg = b'{"jsonrpc":"2.0","id":42,"result":{"x":1}}'
    assert user_module.scan_kind_method(msg) == (jsonrpc.KIND_RESPONSE, None, 42)
    note = b'{"jsonrpc":"2.0","method":"subscription","params":{"channel":"t","data":1}}'
    assert user_module.scan_kind_method(note)[:2] == (jsonrpc.KIND_NOTIFICATION, "subscription")
    assert user_module.request_bytes(7, "public/test", {"a": 1}) == jsonrpc.encode_request(
        7, "public/test", {"a": 1}
    )
    got: list[Any] = []
    assert user_module.track_resolve(jsonrpc.Correlator(), 9, got.append, "done") == 250
    assert got == ["done"]


def test_user_listener_subclass_sees_messages_before_routing(user_module: Any) -> None:
    lst = user_module.Strategy()
    delivered: list[Any] = []
    lst.on_message = delivered.append
    note = b'{"jsonrpc":"2.0","method":"subscription","params":{"channel":"c","data":1}}'
    lst.feed_message(1, note, 12345)
    assert lst.seen == [(1, note, 12345)]
    assert [m.channel for m in delivered] == ["c"] and delivered[0].raw == note


def test_installed_distribution_ships_typing_and_cython_files() -> None:
    dist = importlib.metadata.distribution("zenws")
    if not INSTALLED:
        # Editable installs list no package files; the wheel check needs `make test`.
        package = Path(zenws.__file__).resolve().parent
        names = {str(p.relative_to(package.parent)) for p in package.rglob("*") if p.is_file()}
    else:
        names = {str(f) for f in dist.files or ()}
    needed = {"zenws/py.typed", "zenws/fast/common.pxd"}
    for name in FAST_MODULES:
        needed |= {f"zenws/fast/{name}.pxd", f"zenws/fast/{name}.pyi", f"zenws/fast/{name}.pyx"}
    assert needed <= names, sorted(needed - names)
    assert not any(n.startswith(("tests/", "bench/")) for n in names)
    if INSTALLED:
        # Cython's generated C and build leftovers stay out of the wheel.
        assert not any(n.startswith("zenws/fast/") and n.endswith((".c", ".html")) for n in names)
