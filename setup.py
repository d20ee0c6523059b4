"""Build the zenws.fast Cython extensions and the C kernels in ext/.

The kernels' headers live in src/zenws/include/ (shipped in the wheel, see
zenws.get_include()) so that users' Cython can cimport the zenws.fast .pxd files.

Build switches are environment variables so they work through pip, build and
cibuildwheel alike:

- ``ZENWS_DEBUG=1``     compile with ``-O0 -g`` and enable the debug counters macro.
                        Without it, release builds carry no debug info (``-g0``, and the
                        linker drops what the interpreter's own flags add).
- ``ZENWS_COVERAGE=1``  Cython line tracing (for coverage of .pyx files).
- ``ZENWS_SANITIZE=1``  AddressSanitizer + UBSan (run with ``LD_PRELOAD`` of libasan).
- ``ZENWS_ONLY=a,b``    build only these fast modules (developer convenience).
- ``ZENWS_BUILD_JOBS=N`` compile N extensions at once (default: the CPU count).
"""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).parent
FAST = ROOT / "src" / "zenws" / "fast"

# Hand-written C that each Cython module links in (ext/zenws_*.c).  Each unit is
# compiled into exactly one extension, so its kernel choice exists once; the other
# extensions call it through the cdef functions the owner's .pxd declares (cimport).
# The CPU detector and dispatcher (zenws_cpu.c) lives in frame; the C units of another
# extension reach it through the table frame.pxd exports (zenws_cpu.h).
C_SOURCES: dict[str, list[str]] = {
    "book": ["ext/zenws_book.c"],
    "frame": ["ext/zenws_cpu.c", "ext/zenws_mask.c", "ext/zenws_utf8.c"],
    "jsonrpc": [
        "ext/zenws_jstr.c",
        "ext/zenws_scan.c",
        "ext/zenws_json.c",
        "ext/zenws_jsonenc.c",
    ],
    "latency": ["ext/zenws_quantile.c"],
}

CPU_UNIT = "ext/zenws_cpu.c"

# A change to any of these rebuilds every extension (zenws_cpu.h is shared by all
# kernels).
HEADERS = sorted((ROOT / "src/zenws/include").glob("*.h")) + sorted((ROOT / "ext").glob("*.h"))

DIRECTIVES = {
    "language_level": 3,
    "boundscheck": False,
    "wraparound": False,
    "initializedcheck": False,
    "cdivision": True,
    "embedsignature": True,
    "freethreading_compatible": False,
}


def _flag(name: str) -> bool:
    return os.environ.get(name, "0") not in ("", "0", "false", "no")


def _picows_include() -> list[str]:
    # fast/listener.pyx does `from picows.picows cimport ...` and fast/guard.pyx
    # `from aiofastnet.transport cimport Protocol`; Cython finds the .pxd files
    # through the folder that holds the installed picows (and aiofastnet, its
    # dependency) package.
    try:
        import picows
    except ImportError:  # pragma: no cover - picows is a build requirement
        return []
    return [str(Path(picows.__file__).resolve().parent.parent)]


def extensions() -> list[Extension]:
    only = {m for m in os.environ.get("ZENWS_ONLY", "").split(",") if m}
    debug, sanitize = _flag("ZENWS_DEBUG"), _flag("ZENWS_SANITIZE")
    compile_args: list[str] = []
    link_args: list[str] = []
    macros: list[tuple[str, str | None]] = []
    if sys.platform != "win32":
        # -g0 after the interpreter's CFLAGS (which carry -g) keeps debug info out of
        # release wheels; the link flag also drops what static objects bring along.
        compile_args += ["-O0", "-g"] if debug else ["-O3", "-g0"]
        compile_args += ["-fno-strict-aliasing", "-Wno-unused-function"]
        if sys.platform.startswith("linux") and platform.machine() in ("x86_64", "AMD64"):
            # keep jumps off 32-byte boundaries (Intel JCC erratum): without it a small
            # change elsewhere in a unit can move a kernel's loop branch onto one and
            # slow the loop down by half (measured on the SSE2 string copy)
            compile_args += ["-Wa,-mbranches-within-32B-boundaries"]
        if not (debug or sanitize):
            link_args += ["-Wl,-S"] if sys.platform == "darwin" else ["-Wl,--strip-debug"]
        if sanitize:
            san = ["-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-g"]
            compile_args += san
            link_args += san
    if debug:
        macros.append(("ZENWS_DEBUG", "1"))
    if _flag("ZENWS_COVERAGE"):
        macros.append(("CYTHON_TRACE_NOGIL", "1"))
    exts = []
    for pyx in sorted(FAST.glob("*.pyx")):
        name = pyx.stem
        if only and name not in only:
            continue
        sources = C_SOURCES.get(name, [])
        # the extension that holds the dispatcher calls it directly (zenws_cpu.h)
        owner = [("ZENWS_CPU_OWNER", "1")] if CPU_UNIT in sources else []
        exts.append(
            Extension(
                f"zenws.fast.{name}",
                [str(pyx.relative_to(ROOT)), *sources],
                include_dirs=["ext", "src/zenws/include", "src/zenws/fast"],
                depends=[str(h.relative_to(ROOT)) for h in HEADERS],
                define_macros=macros + owner,
                extra_compile_args=compile_args,
                extra_link_args=link_args,
            )
        )
    return exts


def cythonized() -> list[Extension]:
    from Cython.Build import cythonize

    directives = dict(DIRECTIVES)
    if _flag("ZENWS_COVERAGE"):
        directives["linetrace"] = True
    return cythonize(
        extensions(),
        compiler_directives=directives,
        include_path=["src", *_picows_include()],
        annotate=_flag("ZENWS_ANNOTATE"),
        # worker processes: fork on Linux only (spawn would re-run this setup.py)
        nthreads=_jobs() if sys.platform == "linux" else 0,
    )


class build_py_with_docs(build_py):
    """Also copy the documentation pages (docs/*.md, one copy in git) into the package.

    ``zenws docs TOPIC`` prints them, and every reference zenws prints with an error
    (``zenws docs errors#close-1006``) must resolve for someone who only ran pip install.
    """

    def run(self) -> None:
        super().run()
        pages = sorted((ROOT / "docs").glob("*.md"))
        if not pages:
            raise RuntimeError("docs/*.md not found: the package ships its documentation")
        dest = Path(self.build_lib) / "zenws" / "docs"
        self.mkpath(str(dest))
        for page in pages:
            self.copy_file(str(page), str(dest / page.name))


def _jobs() -> int:
    return int(os.environ.get("ZENWS_BUILD_JOBS") or os.cpu_count() or 1)


# Cythonize and compile the modules in parallel (build_ext --parallel), through pip,
# build and cibuildwheel alike.
setup(
    ext_modules=cythonized(),
    cmdclass={"build_py": build_py_with_docs},
    options={"build_ext": {"parallel": _jobs()}},
)
