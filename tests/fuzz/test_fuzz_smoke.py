"""Bounded CI run of every atheris harness in tests/fuzz (each in its own process).

Each ``fuzz_*.py`` runs for ``ZENWS_FUZZ_SECONDS`` (default 6) seconds of libFuzzer
time and must exit 0: no crash, no failed property, no Python exception, no
timeout.  The run starts from libFuzzer seed ``ZENWS_FUZZ_SEED`` (default 1), so
CI explores the same sequence of inputs every time (a slower machine explores a
shorter prefix of it) and a red run reproduces; exploration with fresh seeds is
what the longer local runs are for:
``python tests/fuzz/fuzz_frame.py -max_total_time=600``.

Every input a run once failed on is kept in ``regressions/<harness>/`` (named
for what it found) and replayed by ``test_fuzz_regression``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
HARNESSES = sorted(p.name for p in HERE.glob("fuzz_*.py"))
SECONDS = int(os.environ.get("ZENWS_FUZZ_SECONDS", "6"))
SEED = int(os.environ.get("ZENWS_FUZZ_SEED", "1"))
REGRESSIONS = sorted(
    (d.name + ".py", f.name) for d in (HERE / "regressions").iterdir() for f in d.iterdir()
)
# serial: each harness is a CPU-bound process on a wall-clock budget
pytestmark = pytest.mark.serial


def test_harnesses_present() -> None:
    assert {"fuzz_frame.py", "fuzz_assembler.py", "fuzz_recorder.py", "fuzz_guard.py"} <= set(
        HARNESSES
    )


@pytest.mark.parametrize("harness", HARNESSES)
def test_fuzz_harness(harness: str, tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            str(HERE / harness),
            f"-max_total_time={SECONDS}",
            f"-seed={SEED}",
            "-timeout=20",  # one input taking > 20 s is a hang
            "-rss_limit_mb=2048",
            f"-artifact_prefix={tmp_path}/",
            "-print_final_stats=1",
        ],
        capture_output=True,
        text=True,
        timeout=SECONDS + 120,
        check=False,
        cwd=tmp_path,
    )
    tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-40:])
    assert proc.returncode == 0, f"{harness} exited {proc.returncode}:\n{tail}"
    assert "Done" in proc.stderr and "stat::number_of_executed_units" in proc.stderr, tail
    assert not list(tmp_path.glob("crash-*")) and not list(tmp_path.glob("timeout-*"))


def test_regressions_name_a_harness() -> None:
    assert REGRESSIONS, "tests/fuzz/regressions holds no input"
    assert {h for h, _ in REGRESSIONS} <= set(HARNESSES)


@pytest.mark.parametrize(("harness", "name"), REGRESSIONS)
def test_fuzz_regression(harness: str, name: str, tmp_path: Path) -> None:
    """The harness passes on an input it once failed on (libFuzzer runs a file argument once)."""
    proc = subprocess.run(
        [sys.executable, str(HERE / harness), str(HERE / "regressions" / harness[:-3] / name)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
    )
    tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-40:])
    assert proc.returncode == 0, f"{harness} on {name} exited {proc.returncode}:\n{tail}"
    assert "Running: " in proc.stderr and "Executed " in proc.stderr, tail
