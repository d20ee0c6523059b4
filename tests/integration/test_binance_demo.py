"""``zenws demo --venue binance`` runs offline against the embedded Binance simulator."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import zenws

SRC = str(pathlib.Path(zenws.__file__).resolve().parents[1])
ENV = {**os.environ, "PYTHONPATH": SRC}


def test_demo_venue_binance_with_chaos() -> None:
    res = subprocess.run(
        [sys.executable, "-m", "zenws", "demo", "--venue", "binance", "--duration", "2",
         "--chaos", "--plain"],
        capture_output=True, text=True, timeout=120, env=ENV, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Binance simulator" in res.stdout and "result: OK" in res.stdout
    assert "stream connection epoch       2" in res.stdout
