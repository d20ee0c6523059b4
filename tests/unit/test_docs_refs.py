"""Every documentation reference zenws prints resolves for someone who only ran pip install.

References have the form ``zenws docs TOPIC#ANCHOR``; the pages ship inside the package
(copied from docs/ at build time) and ``zenws docs`` prints them.
"""

from __future__ import annotations

import ast
import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest

import zenws
from zenws._error_texts import CLOSE_TEXT, HTTP_TEXT, RPC_TEXT
from zenws.cli import docs as _docs
from zenws.errors import (
    ConfigError,
    ConnectError,
    ConnectionLost,
    ProtocolError,
    RateLimited,
    RequestTimeout,
    RpcError,
    explain,
)

PACKAGE = pathlib.Path(zenws.__file__).resolve().parent
REPO = pathlib.Path(__file__).resolve().parents[2]
INSTALLED = os.environ.get("ZENWS_TEST_INSTALLED") == "1"
REF = re.compile(r"zenws docs ([a-z][\w.-]*)(#[\w-]+)?")  # TOPIC: a placeholder
REPO_PATH = re.compile(r"docs/[\w-]+\.md")


def resolve(reference: str) -> None:
    assert reference.startswith("zenws docs "), reference
    _docs.find(reference.removeprefix("zenws docs "))  # raises DocsError when dangling


def _runtime_strings(path: pathlib.Path) -> list[str]:
    """String constants of a module that can reach output (docstrings excluded)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                docstrings.add(id(body[0].value))
    return [
        n.value
        for n in ast.walk(tree)
        if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docstrings
    ]


def test_no_printed_string_points_into_the_repository() -> None:
    # `docs/errors.md#...` exists only in a clone; `zenws docs errors#...` works everywhere.
    offenders = []
    refs = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for text in _runtime_strings(path):
            if REPO_PATH.search(text):
                offenders.append(f"{path.relative_to(PACKAGE)}: {text!r}")
            refs += [m.group(0) for m in REF.finditer(text)]
    for path in sorted([*PACKAGE.rglob("*.pyx"), *PACKAGE.rglob("*.pxi")]):
        for line in path.read_text(encoding="utf-8").splitlines():
            code = line.split("#", 1)[0] if not line.lstrip().startswith(("'", '"')) else line
            if REPO_PATH.search(code) and ('"' in code or "'" in code):
                offenders.append(f"{path.relative_to(PACKAGE)}: {line.strip()}")
    assert offenders == []
    assert refs, "no `zenws docs` reference found in the sources"
    for reference in refs:
        resolve(reference)


def _explained() -> list[BaseException]:
    excs: list[BaseException] = [
        ConfigError("bad", field="queue_size"),
        ConnectError("refused", url="ws://h"),
        RequestTimeout("t", method="m", request_id=1, timeout=1.0),
        RateLimited("r", bucket="b", retry_after=1.0),
        ProtocolError("p", close_code=1002),
        ConnectionLost("lost", epoch=1),
        ValueError("anything else"),
        TimeoutError(),
        ConnectionRefusedError(),
        ConnectionResetError(),
    ]
    excs += [ConnectionLost("c", code=code, epoch=1) for code in CLOSE_TEXT]
    excs += [ConnectionLost("c", code=code, epoch=1) for code in (3000, 4000, 4999, 1999)]
    excs += [ConnectError("u", url="ws://h", status=s) for s in (*HTTP_TEXT, 302, 418, 599, 99)]
    excs += [RpcError(code, "m", None) for code in (*RPC_TEXT, 424242)]
    return excs


@pytest.mark.parametrize("exc", _explained(), ids=lambda e: f"{type(e).__name__}-{e}")
def test_every_explanation_points_at_a_shipped_section(exc: BaseException) -> None:
    why = explain(exc)
    resolve(why.docs)
    topic, anchor = _docs.find(why.docs.removeprefix("zenws docs "))
    assert anchor and _docs.section(topic, anchor).strip()
    for m in REF.finditer(why.suggestion):
        resolve(m.group(0))
    assert not REPO_PATH.search(why.message + why.suggestion)


def test_the_pages_are_every_page_of_docs() -> None:
    assert set(_docs.topics()) == {p.stem for p in (REPO / "docs").glob("*.md")}
    if INSTALLED:  # the wheel carries them inside the package
        where = _docs.docs_dir()
        assert where is not None and where.resolve().is_relative_to(PACKAGE), where


def zenws_cli(*args: str, root: pathlib.Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "ZENWS_DEBUG"}
    if root is not None:
        env["PYTHONPATH"] = str(root)
    return subprocess.run(
        [sys.executable, "-m", "zenws", "docs", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=root or REPO,
    )


def test_docs_command_lists_prints_and_explains_misses() -> None:
    listing = zenws_cli()
    assert listing.returncode == 0 and "errors" in listing.stdout and "testing" in listing.stdout
    page = zenws_cli("errors")
    assert page.returncode == 0 and page.stdout.startswith("# Errors")
    part = zenws_cli("errors#close-1006")
    assert part.returncode == 0 and part.stdout.startswith("### 1006 Abnormal closure")
    assert "1007" not in part.stdout  # only that section
    assert zenws_cli("docs/errors.md#close-1006").stdout == part.stdout
    miss = zenws_cli("errors#close-106")
    assert miss.returncode == 2 and "did you mean close-1006" in miss.stderr
    assert "Traceback" not in miss.stderr
    assert zenws_cli("nosuchpage").returncode == 2


@pytest.mark.skipif(INSTALLED, reason="builds from the source tree (the wheel is tested above)")
def test_built_package_ships_the_pages_and_reads_them_outside_a_checkout(
    tmp_path: pathlib.Path,
) -> None:
    # What a pip user gets: the build's package, away from any source tree.
    lib = tmp_path / "site-packages"
    res = subprocess.run(
        [sys.executable, "setup.py", "-q", "build_py", "--build-lib", str(lib)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert res.returncode == 0, res.stderr
    shipped = {p.name for p in (lib / "zenws" / "docs").glob("*.md")}
    assert shipped == {p.name for p in (REPO / "docs").glob("*.md")}
    for so in (PACKAGE / "fast").iterdir():  # the compiled modules of the tree under test
        if so.suffix in (".so", ".pyd"):
            shutil.copy2(so, lib / "zenws" / "fast" / so.name)
    part = zenws_cli("errors#network-refused", root=lib)
    assert part.returncode == 0, part.stderr
    assert part.stdout.startswith("### Connection refused")
