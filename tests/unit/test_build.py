"""Guard tests: the compiled extensions really loaded, and nothing falls back silently.

In the spirit of aiohttp's ``test_c_parser_loaded``: if a build step is skipped or a new
``fast/*.pyx`` is forgotten in ``zenws._build.FAST_MODULES``, these fail loudly instead of
the suite quietly testing something else.  With ``ZENWS_TEST_INSTALLED=1`` (set by
``make test``, which installs the wheel into a fresh virtualenv) they also check that the
tests import the installed wheel and not the source tree.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.metadata
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from types import ModuleType

import pytest

import zenws
import zenws.fast
from zenws._build import FAST_MODULES

REPO = Path(__file__).resolve().parents[2]
REPO_FAST = REPO / "src" / "zenws" / "fast"
INSTALLED = os.environ.get("ZENWS_TEST_INSTALLED") == "1"
SUFFIXES = tuple(importlib.machinery.EXTENSION_SUFFIXES)
KERNELS = {"avx2", "sse2", "neon", "scalar64"}


def _package_dir() -> Path:
    return Path(zenws.__file__).resolve().parent


def _pyx_modules() -> set[str]:
    # Both the source tree (checkout / sdist) and the installed package (the wheel ships
    # the .pyx next to its .pxd) name the compiled modules that must exist.
    found = {p.stem for p in REPO_FAST.glob("*.pyx")}
    found |= {p.stem for p in (_package_dir() / "fast").glob("*.pyx")}
    return found


ALL_MODULES = sorted(set(FAST_MODULES) | _pyx_modules())


def test_fast_modules_lists_every_pyx() -> None:
    pyx = _pyx_modules()
    assert pyx, f"no .pyx found in {REPO_FAST} nor in {_package_dir() / 'fast'}"
    missing = sorted(pyx - set(FAST_MODULES))
    stale = sorted(set(FAST_MODULES) - pyx)
    assert not missing, f"fast/*.pyx not listed in zenws._build.FAST_MODULES: {missing}"
    assert not stale, f"FAST_MODULES names modules without a .pyx: {stale}"
    assert len(FAST_MODULES) == len(set(FAST_MODULES))


def test_no_stray_compiled_module_in_the_package() -> None:
    # A shared object nobody lists is a leftover from an old build (or a forgotten module).
    fast_dir = _package_dir() / "fast"
    compiled = {p.name.split(".")[0] for p in fast_dir.iterdir() if p.name.endswith(SUFFIXES)}
    assert compiled == set(ALL_MODULES), sorted(compiled ^ set(ALL_MODULES))


@pytest.mark.parametrize("name", ALL_MODULES)
def test_module_is_a_compiled_extension(name: str) -> None:
    module = importlib.import_module(f"zenws.fast.{name}")
    path = getattr(module, "__file__", None)
    assert path is not None and path.endswith(SUFFIXES), (name, path, SUFFIXES)
    spec = module.__spec__
    assert spec is not None and isinstance(spec.loader, importlib.machinery.ExtensionFileLoader)
    # Loaded from the same package as zenws itself (no stale build shadowing the install).
    assert Path(path).resolve().parent == _package_dir() / "fast"


def test_build_info_reports_every_extension_and_the_simd_kernel() -> None:
    from zenws.fast import frame

    info = zenws.build_info()
    assert info["version"] == zenws.__version__ == importlib.metadata.version("zenws")
    extensions = info["extensions"]
    assert sorted(extensions) == ALL_MODULES
    for name, path in extensions.items():
        module: ModuleType = importlib.import_module(f"zenws.fast.{name}")
        assert path == module.__file__ and path.endswith(SUFFIXES)
        assert Path(path).is_file()
    assert info["picows"] == importlib.metadata.version("picows")
    assert info["aiofastnet"] == importlib.metadata.version("aiofastnet")
    from zenws.fast import jsonrpc

    assert info["kernels"] == {
        "mask": frame.mask_kernel(),
        "utf8": frame.utf8_kernel(),
        "scan": jsonrpc.scan_kernel(),
        "json": jsonrpc.loads_kernel(),
    }
    assert info["kernels"]["mask"] in KERNELS
    assert info["kernels"]["json"] in ("avx2", "sse2", "swar")


def test_build_info_gives_one_view_of_the_cpu_and_the_kernels() -> None:
    from zenws.fast import frame, jsonrpc

    info = zenws.build_info()
    kernels, available = info["kernels"], info["kernels_available"]
    assert available["mask"] == frame.mask_kernels()
    assert available["utf8"] == frame._utf8_kernels()
    assert available["json"] == jsonrpc._json_kernels()
    assert set(available) == set(kernels)
    for name, chosen in kernels.items():
        assert chosen in available[name], (name, chosen, available[name])
        forced = (
            os.environ.get(f"ZENWS_{name.upper()}_KERNEL")
            or os.environ.get(f"ZENWS_KERNEL_{name.upper()}")
            or os.environ.get("ZENWS_CPU")
        )
        if not forced:  # the dispatcher picks the widest kernel it has for this CPU
            assert chosen == available[name][-1], (name, chosen, available[name])
    levels = ("sse2", "neon", "avx2", "avx512")
    offered = {k for names in available.values() for k in names if k in levels}
    assert info["cpu"] == tuple(lv for lv in levels if lv in offered)
    used = [lv for lv in levels if lv in kernels.values()]
    assert info["simd"] == (used[-1] if used else "none")
    assert info["simd"] == "none" or info["simd"] in info["cpu"]
    # probing the scan kernels leaves the chosen one in place
    assert jsonrpc.scan_kernel() == kernels["scan"]


def test_tests_import_the_package_under_test() -> None:
    package = _package_dir()
    assert package.name == "zenws" and (package / "py.typed").is_file()
    if INSTALLED:
        # `make test` runs against the wheel installed in a fresh venv: importing the
        # source tree instead would hide every packaging bug.
        src = (REPO / "src").resolve()
        assert not package.is_relative_to(src), f"zenws imported from the checkout: {package}"
        assert package.parent.name in ("site-packages", "dist-packages"), package
        for path in zenws.build_info()["extensions"].values():
            assert not Path(path).resolve().is_relative_to(src), path


# Runs in a fresh interpreter: a finder placed first on sys.meta_path makes one compiled
# module unimportable, as if the build had skipped it.
_HIDE = textwrap.dedent(
    """
    import importlib, importlib.abc, sys

    HIDDEN = sys.argv[1]

    class Hide(importlib.abc.MetaPathFinder):
        def find_spec(self, fullname, path=None, target=None):
            if fullname == HIDDEN:
                raise ModuleNotFoundError(f"hidden for the test: {fullname}", name=fullname)
            return None

    def outcome(fn):
        try:
            fn()
        except ImportError as exc:
            return "ImportError"
        except BaseException as exc:
            return f"{type(exc).__name__}: {exc}"
        return "ok"

    mode = sys.argv[2]
    if mode == "cold":
        # Hidden before anything of zenws is imported.
        sys.meta_path.insert(0, Hide())
        print("zenws", outcome(lambda: importlib.import_module("zenws")))
    else:
        # zenws imported fine, then the module vanishes (a later import must not fall back).
        import zenws

        sys.modules.pop(HIDDEN, None)
        sys.meta_path.insert(0, Hide())
        print("zenws", "ok")
    print("module", outcome(lambda: importlib.import_module(HIDDEN)))
    if "zenws" in sys.modules:
        print("build_info", outcome(lambda: sys.modules["zenws"].build_info()))
    else:
        print("build_info", "ImportError")
    """
)


def _hidden(name: str, mode: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "ZENWS_NO_EXTENSIONS"}
    proc = subprocess.run(
        [sys.executable, "-c", _HIDE, f"zenws.fast.{name}", mode],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=str(Path(__file__).parent),
    )
    assert proc.returncode == 0, proc.stderr
    return dict(line.split(" ", 1) for line in proc.stdout.splitlines())


@pytest.mark.parametrize("name", ALL_MODULES)
def test_missing_extension_is_an_import_error(name: str) -> None:
    got = _hidden(name, "warm")
    assert got == {"zenws": "ok", "module": "ImportError", "build_info": "ImportError"}


@pytest.mark.parametrize("name", ["frame", "jsonrpc", "latency", "listener"])
def test_import_zenws_fails_without_a_core_extension(name: str) -> None:
    # The client's hot path needs these: no pure-Python twin may stand in silently.
    got = _hidden(name, "cold")
    assert got == {"zenws": "ImportError", "module": "ImportError", "build_info": "ImportError"}


# ---- one CPU detector, one environment scheme (src/zenws/include/zenws_cpu.h)

_KERNEL_LEVEL = {"scalar": 0, "scalar64": 0, "swar": 0, "sse2": 1, "neon": 1, "avx2": 2}
_KERNEL_LEVEL["avx512"] = 3
_PROBE = (
    "import ctypes, json\n"
    "from zenws.fast import frame, jsonrpc\n"
    "lib = ctypes.CDLL(frame.__file__)\n"
    "lib.zenws_utf8_kernel.restype = ctypes.c_char_p\n"
    "print(json.dumps({'mask': frame.mask_kernel(), 'utf8': lib.zenws_utf8_kernel().decode(),\n"
    "    'scan': jsonrpc.scan_kernel(), 'json': jsonrpc.loads_kernel()}))\n"
)


def _kernels_with(**env: str) -> dict[str, str]:
    """The kernel each dispatcher picks in a fresh interpreter under exactly this scheme."""
    clean = {
        k: v
        for k, v in os.environ.items()
        if k != "ZENWS_CPU" and not k.startswith("ZENWS_KERNEL_") and not k.endswith("_KERNEL")
    }
    out = subprocess.run(
        [sys.executable, "-c", _PROBE],
        env={**clean, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    import json

    result: dict[str, str] = json.loads(out.stdout)
    return result


def _available() -> dict[str, tuple[str, ...]]:
    import ctypes

    from zenws._build import _scan_kernels
    from zenws.fast import frame, jsonrpc

    lib = ctypes.CDLL(frame.__file__)
    lib.zenws_utf8_kernel.restype = ctypes.c_char_p
    lib.zenws_utf8_set_kernel.argtypes = [ctypes.c_char_p]
    before = lib.zenws_utf8_kernel()
    try:
        utf8 = tuple(
            k for k in ("swar", "sse2", "avx2") if lib.zenws_utf8_set_kernel(k.encode()) == 0
        )
    finally:
        lib.zenws_utf8_set_kernel(before)
    return {
        "mask": tuple(frame.mask_kernels()),
        "utf8": utf8,
        "scan": _scan_kernels(jsonrpc),
        "json": tuple(jsonrpc._json_kernels()),
    }


def _widest(names: tuple[str, ...], cap: int) -> str:
    return max((n for n in names if _KERNEL_LEVEL[n] <= cap), key=_KERNEL_LEVEL.__getitem__)


@pytest.mark.parametrize("cap", ["none", "sse2", "avx2", "avx512"])
def test_zenws_cpu_caps_every_kernel(cap: str) -> None:
    available = _available()
    level = {"none": 0, "sse2": 1, "avx2": 2, "avx512": 3}[cap]
    want = {name: _widest(names, level) for name, names in available.items()}
    assert _kernels_with(ZENWS_CPU=cap) == want


def test_no_cap_picks_the_widest_kernel_of_each() -> None:
    available = _available()
    assert _kernels_with() == {name: _widest(names, 3) for name, names in available.items()}


@pytest.mark.parametrize("spelling", ["ZENWS_KERNEL_{}", "ZENWS_{}_KERNEL"])
def test_per_kernel_variable_forces_one_kernel(spelling: str) -> None:
    available = _available()
    for name, names in available.items():
        for kernel in names:
            var = spelling.format(name.upper())
            # the per-kernel choice wins over the cap; the others keep the capped choice
            got = _kernels_with(**{var: kernel, "ZENWS_CPU": "none"})
            assert got[name] == kernel, (var, kernel, got)
            for other, other_names in available.items():
                if other != name:
                    assert got[other] == _widest(other_names, 0), (var, other, got)


def test_unknown_values_keep_the_automatic_choice() -> None:
    auto = _kernels_with()
    assert _kernels_with(ZENWS_CPU="avx1024", ZENWS_KERNEL_SCAN="bogus") == auto


def test_every_extension_sees_the_same_cpu() -> None:
    from zenws.fast import frame, jsonrpc

    assert frame._cpu_features() == jsonrpc._cpu_features()
    info = zenws.build_info()
    # the view build_info reports agrees with the detector's feature bits
    bits = frame._cpu_features()
    assert ("avx2" in info["cpu"]) == bool(bits & 0x04)
    assert ("avx512" in info["cpu"]) == bool(bits & 0x08 and bits & 0x10)


def test_each_c_unit_is_compiled_into_one_extension() -> None:
    """A second copy of a kernel unit would carry its own kernel choice."""
    import ast

    tree = ast.parse((REPO / "setup.py").read_text())
    sources: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", "") == "C_SOURCES":
            value = ast.literal_eval(node.value)  # type: ignore[arg-type]
            sources = [s for unit in value.values() for s in unit]
    assert sources and len(sources) == len(set(sources)), sources
    for path in sorted(REPO_FAST.glob("*.p*")):
        text = path.read_text()
        for line in text.splitlines():
            assert not (line.startswith("cdef extern from") and '.c"' in line), (path, line)
