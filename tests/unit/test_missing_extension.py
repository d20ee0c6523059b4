"""A missing compiled extension names the fix that applies where zenws was imported from.

The package is copied twice into a temporary directory: once as a source checkout
(``src/zenws`` next to a ``setup.py``) and once as an installed package
(``site-packages/zenws``).  A fresh interpreter imports each copy with one compiled module
made unimportable by a finder placed first on ``sys.meta_path``.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys
import textwrap

import pytest

import zenws

PACKAGE = pathlib.Path(zenws.__file__).resolve().parent

SCRIPT = textwrap.dedent(
    """
    import importlib, importlib.abc, sys

    HIDDEN, HOW = sys.argv[1], sys.argv[2]

    class Hide(importlib.abc.MetaPathFinder):
        def find_spec(self, fullname, path=None, target=None):
            if fullname == HIDDEN:
                raise ModuleNotFoundError(f"No module named {fullname!r}", name=fullname)
            return None

    sys.meta_path.insert(0, Hide())
    try:
        import zenws
        assert zenws.__file__.startswith(sys.argv[3]), zenws.__file__
        if HOW == "fast":
            getattr(zenws.fast, "TokenBucket")
    except ImportError as exc:
        print(exc.name)
        print(exc)
    else:
        print("no error")
    """
)


AFTER_IMPORT = textwrap.dedent(
    """
    import importlib.abc, sys
    import zenws
    assert zenws.__file__.startswith(sys.argv[2]), zenws.__file__

    class Hide(importlib.abc.MetaPathFinder):
        def find_spec(self, fullname, path=None, target=None):
            if fullname == sys.argv[1]:
                raise ModuleNotFoundError(f"No module named {fullname!r}", name=fullname)
            return None

    sys.meta_path.insert(0, Hide())
    try:
        zenws.connect
    except ImportError as exc:
        print(exc.name)
        print(exc)
    else:
        print("no error")
    """
)


def copy_package(dest: pathlib.Path) -> pathlib.Path:
    shutil.copytree(
        PACKAGE, dest / "zenws", ignore=shutil.ignore_patterns("*.c", "*.html", "__pycache__")
    )
    return dest


@pytest.fixture(scope="module")
def trees(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pathlib.Path]:
    base = tmp_path_factory.mktemp("trees")
    checkout = base / "checkout"
    copy_package(checkout / "src")
    (checkout / "setup.py").write_text("# the zenws build script\n")
    (checkout / "pyproject.toml").write_text("[project]\nname = 'zenws'\n")
    installed = copy_package(base / "venv" / "lib" / "site-packages")
    return {"checkout": checkout / "src", "installed": installed}


def import_without(root: pathlib.Path, module: str, how: str) -> list[str]:
    """(exception name, message) when `root`'s zenws is used without `module`."""
    script, args = (
        (AFTER_IMPORT, [module, str(root)])
        if how == "client"
        else (
            SCRIPT,
            [module, how, str(root)],
        )
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(root)
    res = subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=root,
    )
    assert res.returncode == 0, res.stderr
    return res.stdout.splitlines()


CASES = [
    ("zenws.fast.listener", "import"),  # `import zenws` checks the core extensions
    ("zenws.fast.listener", "client"),  # the client loads on first use
    ("zenws.fast.ratelimit", "fast"),  # any other one through zenws.fast
]


@pytest.mark.parametrize(("module", "how"), CASES)
def test_in_a_source_checkout_the_fix_is_build_ext(
    trees: dict[str, pathlib.Path], module: str, how: str
) -> None:
    name, message = import_without(trees["checkout"], module, how)
    assert name == module
    assert "python setup.py build_ext --inplace" in message
    assert str(trees["checkout"].parent) in message  # where to run it
    assert "pip install --force-reinstall" not in message


@pytest.mark.parametrize(("module", "how"), CASES)
def test_in_an_installed_package_the_fix_is_a_reinstall(
    trees: dict[str, pathlib.Path], module: str, how: str
) -> None:
    name, message = import_without(trees["installed"], module, how)
    assert name == module
    assert f"pip install --force-reinstall zenws=={zenws.__version__}" in message
    assert "build_ext" not in message and "setup.py" not in message
