"""Run ``mypy --strict`` over the typed-API examples, as a user's CI would.

``check_api.py``: no error, and every ``reveal_type(...)  # revealed: T`` line reveals
exactly ``T``.  ``MISUSE`` (written to a temporary file, so that ``mypy tests/typing`` stays
clean): exactly the ``# E: <code>`` errors, on those lines -- the public API is not
silently ``Any``; a stub that lost its types would let these through.
mypy resolves ``zenws`` like any user project does: the imported package with its
``py.typed`` and ``.pyi`` stubs (the installed wheel under ``make test``).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from mypy import api

import zenws

HERE = Path(__file__).parent
REVEALED = re.compile(r'^(?P<file>[^:]+):(?P<line>\d+): note: Revealed type is "(?P<type>.*)"$')
ERROR = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+): error: .*\[(?P<code>[a-z-]+)\]$")


MISUSE = """\
from __future__ import annotations

import zenws
from zenws.fast.jsonrpc import scan
from zenws.fast.latency import LatencyBuffer
from zenws.fast.ratelimit import TokenBucket


async def misuse() -> None:
    await zenws.connect(9000)  # E: arg-type
    client = await zenws.connect("ws://127.0.0.1:9000")
    await client.request(42)  # E: arg-type
    client.sned(b"typo")  # E: attr-defined
    TokenBucket(10, 1.0).try_acquire("one")  # E: arg-type
    LatencyBuffer().add("1500")  # E: arg-type
    scan("not bytes")  # E: arg-type
    p99: str = LatencyBuffer().summary().p99  # E: assignment
    zenws.Config.new()  # E: call-arg
    print(p99)


def misuse_fault_proxy() -> None:
    from zenws.testing import FaultProxy

    proxy = FaultProxy(("127.0.0.1", 9))
    proxy.set("sideways", latency=0.1)  # E: arg-type
    proxy.set(latency="50ms")  # E: arg-type
"""


def _normalize(type_: str) -> str:
    # mypy < 1.11 spells builtins with their module ("builtins.int").
    return type_.replace("builtins.", "")


def _run_mypy(path: Path, cache_dir: Path) -> tuple[list[str], int]:
    stdout, stderr, status = api.run(
        [
            "--strict",
            "--show-error-codes",
            "--no-error-summary",
            "--hide-error-context",
            "--no-pretty",
            "--python-version",
            "3.10",
            "--cache-dir",
            str(cache_dir),
            "--config-file",
            "",
            str(path),
        ]
    )
    assert not stderr, stderr
    return stdout.splitlines(), status


def _expected(path: Path, marker: str) -> dict[int, str]:
    # Only trailing comments on code lines count (docstrings mention the markers too).
    pattern = re.compile(rf"^\s+\S.*  {re.escape(marker)} (?P<want>.+)$")
    out = {}
    for lineno, line in enumerate(path.read_text().splitlines(), start=1):
        m = pattern.match(line)
        if m:
            out[lineno] = m["want"].strip()
    return out


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("mypy_cache")


def test_mypy_sees_the_package_under_test() -> None:
    # The stubs checked below must be the ones of the imported package.
    package = Path(zenws.__file__).resolve().parent
    assert (package / "py.typed").is_file()
    for name in ("frame", "jsonrpc", "latency", "listener", "ratelimit"):
        assert (package / "fast" / f"{name}.pyi").is_file(), name


def test_public_api_types(cache_dir: Path) -> None:
    path = HERE / "check_api.py"
    lines, status = _run_mypy(path, cache_dir)
    errors = [line for line in lines if ": error:" in line]
    assert not errors, "\n".join(errors)
    revealed = {}
    for line in lines:
        m = REVEALED.match(line)
        if m and Path(m["file"]).name == path.name:
            revealed[int(m["line"])] = _normalize(m["type"])
    expected = _expected(path, "# revealed:")
    assert len(expected) >= 15
    assert revealed == expected
    assert status == 0


def test_misuse_is_flagged(cache_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "check_misuse.py"
    path.write_text(MISUSE)
    lines, status = _run_mypy(path, cache_dir)
    found: dict[int, str] = {}
    for line in lines:
        m = ERROR.match(line)
        if m and Path(m["file"]).name == path.name:
            assert int(m["line"]) not in found, line
            found[int(m["line"])] = m["code"]
    assert found == _expected(path, "# E:"), "\n".join(lines)
    assert status == 1
