"""The private picows / aiofastnet API zenws uses is checked when zenws is imported.

zenws/fast/_compat.pxd declares every private symbol of picows and aiofastnet that
the compiled modules use; zenws.fast._compat_check compares the installed .pxd
declarations, and the signatures of the private Python names in picows' shipped
sources, with the ones zenws is compiled against.  An upgraded dependency that
changes one of them must fail the import with a message naming it, never run on.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

from zenws.fast import _compat_check

SRC = Path(__file__).resolve().parents[2] / "src" / "zenws"


def _installed() -> dict[tuple[str, str], str]:
    out = {}
    for package, name, _ in [*_compat_check.EXPECTED, *_compat_check.SIGNATURES]:
        spec = importlib.util.find_spec(package)
        assert spec is not None and spec.submodule_search_locations
        path = Path(next(iter(spec.submodule_search_locations))) / name
        out[(package, name)] = path.read_text(encoding="utf-8")
    return out


def test_installed_dependencies_match() -> None:
    _compat_check.check()  # what the compiled modules ran at import
    _compat_check.check(_installed())


@pytest.mark.parametrize(
    ("package", "name", "old", "new", "header"),
    [
        # a field added before payload_ptr moves it: WSFrame changed
        (
            "picows",
            "picows.pxd",
            "char* payload_ptr",
            "int x\n        char* payload_ptr",
            "cdef class WSFrame",
        ),
        # a cdef method added before _fast_write shifts its vtable slot
        (
            "picows",
            "picows.pxd",
            "    cdef inline NoResult _fast_write",
            "    cdef int _new(self)\n    cdef inline NoResult _fast_write",
            "cdef class WSTransport",
        ),
        (
            "aiofastnet",
            "transport.pxd",
            "char** buf, Py_ssize_t* buf_len",
            "char** buf, size_t* buf_len",
            "cdef class Protocol",
        ),
        ("aiofastnet", "utils.pxd", "OK = 0", "OK = 1", "cdef enum NoResult"),
    ],
)
def test_changed_private_symbol_fails_loudly(
    package: str, name: str, old: str, new: str, header: str
) -> None:
    sources = _installed()
    assert old in sources[(package, name)]
    sources[(package, name)] = sources[(package, name)].replace(old, new, 1)
    with pytest.raises(ImportError) as ei:
        _compat_check.check(sources)
    msg = str(ei.value)
    assert f"`{header}` in {package}/{name}" in msg
    assert "zenws/fast/_compat.pxd" in msg


@pytest.mark.parametrize(
    ("name", "old", "new", "decl"),
    [
        # a positional parameter added before max_frame_size: zenws' arguments would
        # bind to the wrong parameters
        (
            "picows.pyx",
            "                 max_frame_size,\n",
            "                 read_limit,\n                 max_frame_size,\n",
            "def __init__(self, str host_port",
        ),
        (
            "picows.pyx",
            "async def wait_until_handshake_complete(self):",
            "async def wait_handshake(self):",
            "async def wait_until_handshake_complete(self):",
        ),
        # the protocol's fields moved out of the class
        (
            "picows.pyx",
            "        readonly WSListener listener\n",
            "        WSListener listener\n",
            "cdef: readonly WSTransport transport readonly WSListener listener",
        ),
        (
            "url.py",
            "def parse_url(url: str, check_scheme: bool = True)",
            "def parse_url(url: str, check_scheme: bool = False)",
            "def parse_url(",
        ),
        (
            "proxy.py",
            "        ssl_context: Optional[Union[SSLContext, bool]],\n",
            "",
            "async def connect_through_optional_proxy(",
        ),
        ("proxy.py", "    transport: asyncio.Transport", "    tr: asyncio.Transport", "transport"),
    ],
)
def test_changed_private_python_name_fails_loudly(name: str, old: str, new: str, decl: str) -> None:
    sources = _installed()
    assert old in sources[("picows", name)]
    sources[("picows", name)] = sources[("picows", name)].replace(old, new, 1)
    with pytest.raises(ImportError) as ei:
        _compat_check.check(sources)
    msg = str(ei.value)
    assert f"in picows/{name} changed" in msg
    assert decl in msg
    assert "zenws/fast/_compat.pxd" in msg


def test_comments_and_wrapping_are_not_api() -> None:
    sources = _installed()
    key = ("picows", "picows.pxd")
    sources[key] = sources[key].replace(
        "char* payload_ptr", "char*    payload_ptr   # moved comment"
    )
    _compat_check.check(sources)


def test_checked_at_import() -> None:
    # the compiled modules run the check when imported (a changed dependency is an
    # ImportError of zenws.fast.listener / zenws.fast.guard, not a later crash)
    code = (
        "import zenws.fast._compat_check as c\n"
        "c.EXPECTED[('picows', 'picows.pxd', 'cdef class WSFrame:')] = ('changed',)\n"
        "try:\n"
        "    import zenws.fast.{mod}\n"
        "except ImportError as exc:\n"
        "    print('IMPORTERROR', exc)\n"
    )
    for mod in ("listener", "guard"):
        proc = subprocess.run(
            [sys.executable, "-c", code.format(mod=mod)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert "IMPORTERROR zenws: `cdef class WSFrame` in picows/picows.pxd changed" in (
            proc.stdout
        ), proc.stdout + proc.stderr


def test_private_symbols_only_in_compat_pxd() -> None:
    # every other source cimports picows/aiofastnet's public API only
    private = re.compile(
        r"payload_ptr|\._check_thread\b|\._fast_write\b|get_referents"
        r"|(picows|aiofastnet)\S* cimport .*MemoryBuffer|aiofastnet\S* cimport"
        r"|picows\.(picows|url|proxy) import|wait_until_handshake_complete"
    )
    offenders = []
    for path in sorted((SRC / "fast").glob("*.p[yx][xdi]")):
        if path.name == "_compat.pxd":
            continue
        for no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("#", 1)[0]
            if private.search(code):
                offenders.append(f"{path.name}:{no}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


def test_no_reach_into_private_state_through_gc() -> None:
    # picows' read buffer is reached through its protocol's public get_buffer() /
    # buffer_updated() only: nothing in zenws looks objects up among gc referents.
    offenders = [
        str(path.relative_to(SRC))
        for path in sorted(SRC.rglob("*"))
        if path.suffix in (".py", ".pyx", ".pxd", ".pxi", ".pyi")
        and re.search(r"\bget_referents\b|\bget_referrers\b", path.read_text(encoding="utf-8"))
    ]
    assert not offenders, offenders
