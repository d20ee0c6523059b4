"""Autobahn|Testsuite conformance of the zenws client (kosoku fuzzing server).

Required verdicts (issue 7): every case OK or INFORMATIONAL, close behaviour OK
(or INFORMATIONAL where the case itself is informational) everywhere; no FAILED,
no NON-STRICT, no UNIMPLEMENTED, nothing excluded.  The failure message lists each
non-OK case with its verdicts, the close code zenws sent and kosoku's reasons;
the full reports (JSON + HTML) stay in pytest's tmp_path.

Run: ``python -m pytest tests/conformance -m conformance``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from autobahn_run import CORE_CASES, DEFLATE_CASES, describe, not_ok, run, summary

pytestmark = pytest.mark.conformance


def _check(reports: list[dict[str, object]], expected_min: int, outdir: Path) -> None:
    assert len(reports) >= expected_min, f"only {len(reports)} case reports in {outdir}"
    bad = not_ok(reports)
    assert not bad, (
        f"{len(bad)} of {len(reports)} Autobahn cases not OK ({summary(reports)}); "
        f"reports in {outdir}:\n{describe(bad)}"
    )


def test_autobahn_core_cases(tmp_path: Path) -> None:
    """Cases 1.* - 10.* (framing, pings, reserved bits, opcodes, fragmentation,
    UTF-8, close handling, limits/performance, auto-fragmentation): ~5 s."""
    reports = run("zenws", CORE_CASES, tmp_path)
    _check(reports, 301, tmp_path)


@pytest.mark.slow
def test_autobahn_permessage_deflate(tmp_path: Path) -> None:
    """Cases 12.* and 13.* with ``compression="deflate"`` (RFC 7692): ~4.5 min on
    the 2-core CI machine, most of it kosoku compressing in Python."""
    reports = run("zenws", DEFLATE_CASES, tmp_path, deflate=True)
    _check(reports, 216, tmp_path)


def test_picows_baseline_runs(tmp_path: Path) -> None:
    """The careful raw picows echo client runs the same cases; its non-OK verdicts
    are exactly the ones picows' read-ahead causes (DESIGN §6), so a change in
    picows (or in kosoku) shows up here first."""
    reports = run("picows", CORE_CASES, tmp_path)
    ids = {r["id"] for r in not_ok(reports)}
    assert ids <= {"4.1.3", "4.1.4", "4.1.5", "4.2.3", "4.2.4", "4.2.5"} | {
        "6.4.3",
        "6.4.4",
        "7.1.2",
    }, describe(not_ok(reports))
