"""The ``.pyi`` stubs of the compiled modules match what the extensions export at run time.

Runs ``mypy.stubtest`` over every ``zenws.fast`` extension of the imported package.  The
allowlist holds only Cython introspection artifacts (see ``stubtest-allowlist.txt``).
Names only in the compiled module (``__pyx_capi__``, pickling helpers) are not checked.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import zenws
from zenws._build import FAST_MODULES

HERE = Path(__file__).parent


def _modules() -> list[str]:
    fast = Path(zenws.__file__).resolve().parent / "fast"
    names = set(FAST_MODULES) | {p.stem for p in fast.glob("*.pyx")}
    return [f"zenws.fast.{name}" for name in sorted(names)]


def _flags() -> list[str]:
    help_text = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    # PEP 800 @disjoint_base (mypy >= 1.18): every cdef class with C fields is one, and
    # typing_extensions.disjoint_base is too new to require in the stubs.
    return ["--ignore-disjoint-bases"] if "--ignore-disjoint-bases" in help_text else []


def _env() -> dict[str, str]:
    # stubtest runs in tmp_path: a relative PYTHONPATH (``PYTHONPATH=src``) would not reach
    # the imported package from there, and another installed zenws would be checked instead.
    src = str(Path(zenws.__file__).resolve().parent.parent)
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": os.pathsep.join([src, path] if path else [src])}


def test_stubs_match_the_compiled_modules(tmp_path: Path) -> None:
    config = tmp_path / "mypy.ini"
    config.write_text("[mypy]\n")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy.stubtest",
            "--concise",
            "--ignore-missing-stub",
            *_flags(),
            "--allowlist",
            str(HERE / "stubtest-allowlist.txt"),
            "--mypy-config-file",
            str(config),
            *_modules(),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=_env(),
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
