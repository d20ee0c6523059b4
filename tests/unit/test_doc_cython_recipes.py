"""Every Cython recipe in docs/ compiles against the installed package, and imports.

Each ```cython (or ```pyx) block of ``docs/*.md`` becomes its own extension module, built
the way docs/packaging.md tells a user to: ``include_dirs=[zenws.get_include()]`` for the
headers, and the folders holding the *imported* ``zenws`` and ``picows`` packages on
Cython's include path for the ``.pxd`` files (site-packages under ``make test``).  Nothing
from the checkout's ``ext/`` or ``src/`` is on any path, so a recipe that needs a file the
wheel does not ship (``cdef extern from "zenws_scan.c"``) fails to compile, and one that
calls a C kernel linked privately into zenws' extensions fails to import (``undefined
symbol``).
"""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import zenws

DOCS = Path(__file__).resolve().parents[2] / "docs"
_BLOCK = re.compile(r"^```(?:cython|pyx)[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)

SETUP_PY = """
from setuptools import Extension, setup
from Cython.Build import cythonize

exts = [Extension(name, [name + ".pyx"], include_dirs={include_dirs!r}) for name in {names!r}]
setup(
    ext_modules=cythonize(exts, language_level=3, include_path={include_path!r}, quiet=True),
    script_args=["build_ext", "--inplace", "-q"],
)
"""


def _recipes() -> dict[str, str]:
    """Module name -> source, for every Cython block of docs/*.md (in file order)."""
    found = {}
    for page in sorted(DOCS.glob("*.md")):
        text = page.read_text()
        for m in _BLOCK.finditer(text):
            line = text.count("\n", 0, m.start()) + 1
            found[f"doc_{page.stem.replace('-', '_')}_l{line}"] = m.group(1)
    return found


RECIPES = _recipes()


def _include_path() -> list[str]:
    import picows

    return [str(Path(m.__file__).resolve().parent.parent) for m in (zenws, picows)]


def test_the_docs_have_cython_recipes() -> None:
    # the extraction itself works: the pages that show Cython are all found
    pages = {name.rsplit("_l", 1)[0] for name in RECIPES}
    assert {"doc_packaging", "doc_jsonrpc", "doc_client"} <= pages, sorted(RECIPES)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("doc_recipes")
    for name, source in RECIPES.items():
        (tmp / f"{name}.pyx").write_text(source)
    (tmp / "setup.py").write_text(
        SETUP_PY.format(
            include_dirs=[zenws.get_include()], names=sorted(RECIPES), include_path=_include_path()
        )
    )
    env = {**os.environ, "CFLAGS": "-O0 -g0"}
    env.pop("PYTHONPATH", None)  # only the imported package's own folders, set above
    proc = subprocess.run(
        [sys.executable, "setup.py"],
        cwd=tmp,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, f"a docs/ Cython recipe failed to build:\n{proc.stderr[-6000:]}"
    return tmp


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_recipe_compiles_and_imports(built: Path, name: str) -> None:
    sys.path.insert(0, str(built))
    try:
        module = importlib.import_module(name)
    finally:
        sys.path.remove(str(built))
        sys.modules.pop(name, None)
    assert Path(module.__file__ or "").parent == built
