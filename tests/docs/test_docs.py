"""Every Python code block of README.md and docs/*.md runs as written.

- A block that defines ``test_...`` functions is a pytest example: it runs with pytest
  (``-W error``) in a temporary project that has no configuration, only zenws installed.
- Any other block runs in a subprocess (tests/docs/_harness.py) against the embedded Deribit
  simulator: venue and placeholder URLs point at it, top-level ``await`` works, ``>>>`` blocks
  are doctests, and an endless loop is stopped after a time bound once it printed something.
  The blocks of one page run in order in one directory (a later block may read the file an
  earlier one recorded), pages run side by side.
- A block opts out with ``<!-- docs-test: skip (reason) -->`` on the line before its fence.
  Cython blocks (```cython) are built by tests/unit/test_packaging.py instead.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import functools
import os
import pathlib
import re
import subprocess
import sys

import pytest

import zenws

REPO = pathlib.Path(__file__).resolve().parents[2]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
HARNESS = pathlib.Path(__file__).with_name("_harness.py")
SRC = str(pathlib.Path(zenws.__file__).resolve().parents[1])
TIME_BOUND = 3.0  # seconds before an endless block gets SIGINT
SKIP = re.compile(r"<!--\s*docs-test:\s*skip\s*\((.+)\)\s*-->")
FENCE = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)


@dataclasses.dataclass(frozen=True)
class Block:
    page: pathlib.Path
    line: int
    code: str
    skip: str | None

    @property
    def id(self) -> str:
        return f"{self.page.relative_to(REPO)}:{self.line}"

    @property
    def is_pytest(self) -> bool:
        return re.search(r"^(async )?def test_", self.code, re.M) is not None


def blocks() -> list[Block]:
    out = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for m in FENCE.finditer(text):
            line = text.count("\n", 0, m.start()) + 1
            before = text[: m.start()].rstrip("\n").rsplit("\n", 1)[-1]
            skip = SKIP.search(before)
            out.append(Block(page, line, m.group(1), skip.group(1) if skip else None))
    return out


BLOCKS = blocks()


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "ZENWS_"))}
    env["PYTHONPATH"] = SRC
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run_page(page: pathlib.Path, workdir: pathlib.Path) -> dict[str, tuple[int, str, str]]:
    """Run a page's script blocks in order, in one directory."""
    results = {}
    directory = workdir / page.stem
    directory.mkdir()
    for block in BLOCKS:
        if block.page != page or block.skip or block.is_pytest:
            continue
        path = directory / f"block_{block.line}.py"
        path.write_text(block.code, encoding="utf-8")
        res = subprocess.run(
            [sys.executable, str(HARNESS), str(path), str(TIME_BOUND)],
            capture_output=True,
            text=True,
            cwd=directory,
            env=clean_env(),
            timeout=120,
        )
        results[block.id] = (res.returncode, res.stdout, res.stderr)
    return results


@pytest.fixture(scope="module")
def script_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[int, str, str]]:
    workdir = tmp_path_factory.mktemp("docs")
    results: dict[str, tuple[int, str, str]] = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        for page_results in pool.map(functools.partial(run_page, workdir=workdir), PAGES):
            results.update(page_results)
    return results


@pytest.fixture(scope="module")
def pytest_results(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Every pytest example in one new project (the README's pytest.ini line, no conftest)."""
    project = tmp_path_factory.mktemp("project")
    (project / "pytest.ini").write_text("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    for block in BLOCKS:
        if block.is_pytest and not block.skip:
            name = re.sub(r"\W", "_", f"test_{block.page.stem}_{block.line}") + ".py"
            (project / name).write_text(block.code, encoding="utf-8")
    res = subprocess.run(
        [sys.executable, "-m", "pytest", "-W", "error", "-p", "no:cacheprovider", "-rA", "-q"],
        capture_output=True,
        text=True,
        cwd=project,
        env=clean_env(),
        timeout=300,
    )
    return res.stdout + res.stderr


RUN = [b for b in BLOCKS if not b.skip]  # opt-outs: test_opt_outs_are_rare_and_give_a_reason


@pytest.mark.parametrize("block", [b for b in RUN if not b.is_pytest], ids=lambda b: b.id)
def test_script_block_runs(block: Block, script_results: dict[str, tuple[int, str, str]]) -> None:
    rc, out, err = script_results[block.id]
    assert rc in (0, 3), f"{block.id} failed:\n{block.code}\n--- stdout\n{out}\n--- stderr\n{err}"
    if rc == 3:  # stopped at the time bound: it must have been doing something visible
        assert out.strip(), f"{block.id} printed nothing in {TIME_BOUND} s:\n{err}"
    assert "Traceback" not in err, f"{block.id}:\n{err}"


@pytest.mark.parametrize("block", [b for b in RUN if b.is_pytest], ids=lambda b: b.id)
def test_pytest_example_passes_in_an_empty_project(block: Block, pytest_results: str) -> None:
    name = re.sub(r"\W", "_", f"test_{block.page.stem}_{block.line}") + ".py"
    tests = re.findall(r"^(?:async )?def (test_\w+)", block.code, re.M)
    for test in tests:
        assert f"PASSED {name}::{test}" in pytest_results, pytest_results
    assert "warning" not in pytest_results.lower(), pytest_results


def test_opt_outs_are_rare_and_give_a_reason() -> None:
    skipped = [b for b in BLOCKS if b.skip]
    assert all(b.skip and b.skip.strip() for b in skipped)
    assert len(skipped) <= max(3, len(BLOCKS) // 8), [b.id for b in skipped]
    assert len(BLOCKS) >= 30  # the extraction found the blocks
