"""Build bench/fast_client.pyx (zenws.fast Cython subclasses) at run time.

The module is compiled with Cython against the zenws ``.pxd`` files of the zenws
that is imported (in-place tree or installed package) and picows' ``.pxd``, into a
cache directory keyed by the source, the zenws location and its .pxd files; ``load()`` imports it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from types import ModuleType

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "fast_client.pyx"


def build_dir() -> Path:
    """Build (once) and return the directory holding the compiled module."""
    import picows

    import zenws

    pkg = Path(zenws.__file__).resolve().parent
    h = hashlib.sha256(SOURCE.read_bytes() + str(pkg).encode())
    for pxd in sorted((pkg / "fast").glob("*.pxd")):  # a layout change needs a rebuild
        h.update(pxd.read_bytes())
    key = h.hexdigest()[:16]
    out = Path(tempfile.gettempdir()) / f"zenws-bench-fast-{key}"
    if list(out.glob("fast_client*.so")):
        return out
    out.mkdir(parents=True, exist_ok=True)
    (out / "fast_client.pyx").write_bytes(SOURCE.read_bytes())
    # C headers the .pxd files name: shipped in zenws/include, or ext/ in a checkout
    dirs = [pkg / "include", pkg / "fast", pkg.parent.parent / "ext"]
    includes = [str(d) for d in dirs if d.is_dir()]
    inc = [str(pkg.parent), str(Path(picows.__file__).parent.parent)]
    script = f"""
INC = {inc!r}
from setuptools import Extension, setup
from Cython.Build import cythonize
ext = Extension("fast_client", ["fast_client.pyx"], include_dirs={includes!r},
                extra_compile_args=["-O3"])
setup(script_args=["build_ext", "--inplace", "-q"],
      ext_modules=cythonize([ext], language_level=3, quiet=True, include_path=INC))

"""
    subprocess.run([sys.executable, "-c", script], cwd=out, check=True, capture_output=True)
    return out


def load() -> ModuleType:
    """Import the compiled module (building it first if needed)."""
    d = Path(os.environ.get("ZENWS_BENCH_FAST_DIR") or build_dir())
    so = next(d.glob("fast_client*.so"))
    spec = importlib.util.spec_from_file_location("fast_client", so)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


if __name__ == "__main__":
    print(build_dir())
