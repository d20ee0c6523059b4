"""Every ``zenws`` command stops cleanly on SIGINT and SIGTERM (docs/cli.md, exit codes).

Each command runs in a subprocess; once it has printed its first line (it is running), the
test sends the signal and checks the exit code (128 + signal: 130, 143), the message on a
line of its own, and that nothing leaked to stderr: no traceback, no "Task was destroyed",
no "Exception ignored".
"""

from __future__ import annotations

import asyncio
import json
import os
import pathlib
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator

import pytest

import zenws
from zenws.recorder import Recorder
from zenws.testing import MockServer

SRC = str(pathlib.Path(zenws.__file__).resolve().parents[1])
ENV = {
    **os.environ,
    "PYTHONPATH": os.pathsep.join(p for p in (SRC, os.environ.get("PYTHONPATH")) if p),
    "PYTHONUNBUFFERED": "1",
    "NO_COLOR": "1",
}
ENV.pop("ZENWS_DEBUG", None)

SIGNALS = [
    pytest.param(signal.SIGINT, 130, "zenws: interrupted", id="SIGINT"),
    pytest.param(signal.SIGTERM, 143, "zenws: terminated", id="SIGTERM"),
]
LEAKS = ("Traceback", "Task was destroyed", "Exception ignored", "RuntimeError", "Fatal Python")


@pytest.fixture
async def server() -> AsyncIterator[MockServer]:
    async with MockServer() as srv:  # echo
        yield srv


def slow_recording(path: pathlib.Path) -> pathlib.Path:
    """Two frames recorded an hour apart: `replay --speed 1` waits between them."""
    now = time.monotonic_ns()
    rec = Recorder(path, url="ws://127.0.0.1:9/ws")
    rec.write("out", "text", json.dumps({"jsonrpc": "2.0", "id": 1, "method": "a"}), 1, now)
    rec.write("in", "text", json.dumps({"jsonrpc": "2.0", "id": 1, "result": 1}), 1, now + 3600e9)
    rec.close()
    return path


async def run_until_signalled(args: list[str], signum: int) -> tuple[int, str, str]:
    """Start `zenws ARGS`, wait for its first line of output, send `signum`."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "zenws",
        *args,
        stdin=asyncio.subprocess.PIPE,  # kept open: `connect` waits for lines to send
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=ENV,
    )
    assert proc.stdout is not None and proc.stderr is not None and proc.stdin is not None
    try:
        first = await asyncio.wait_for(proc.stdout.readline(), 60)
        assert first, f"zenws {args} exited before printing anything"
        proc.send_signal(signum)
        out, err = await asyncio.wait_for(proc.communicate(), 60)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    return proc.returncode, (first + out).decode(), err.decode()


def commands(url: str, recording: pathlib.Path) -> dict[str, list[str]]:
    return {
        "demo": ["demo", "--duration", "60"],
        "connect": ["connect", url],
        "replay": ["replay", str(recording), "--speed", "1"],
        "bench": ["bench", "--seconds", "30", "--only", "zenws"],
    }


@pytest.mark.parametrize(("signum", "code", "message"), SIGNALS)
@pytest.mark.parametrize("command", ["demo", "connect", "replay", "bench"])
async def test_command_stops_cleanly_on_signal(
    command: str,
    signum: int,
    code: int,
    message: str,
    server: MockServer,
    tmp_path: pathlib.Path,
) -> None:
    args = commands(server.url, slow_recording(tmp_path / "slow.jsonl"))[command]
    rc, out, err = await run_until_signalled(args, signum)
    assert rc == code, (rc, out, err)
    assert message in err.splitlines(), err  # the message is a line of its own
    for leak in LEAKS:
        assert leak not in err, err
    if command == "connect":
        assert "connected to" in out


def test_every_command_is_covered() -> None:
    from zenws.cli import COMMANDS

    # a new command needs its signal test here (`docs` prints and exits: nothing to stop)
    assert set(COMMANDS) - {"docs"} == set(commands("ws://h", pathlib.Path("f")))


ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def demo_on_a_terminal(env: dict[str, str]) -> tuple[int, str]:
    """`zenws demo` with stdout and stderr on one pseudo-terminal, SIGINT once it is live."""
    pty = pytest.importorskip("pty")
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "zenws", "demo", "--duration", "60"],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        close_fds=True,
    )
    os.close(slave)
    buf, sent, deadline = b"", False, time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not chunk:
                    break
                buf += chunk
            if not sent and buf.count(b"msg/s") >= 2:  # the status line was redrawn: live
                proc.send_signal(signal.SIGINT)
                sent = True
            if sent and proc.poll() is not None and not ready:
                break
        return proc.wait(30), buf.decode(errors="replace")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)


@pytest.mark.parametrize("output", ["plain", "rich"])
def test_interrupted_message_gets_its_own_terminal_line(output: str) -> None:
    env = dict(ENV)
    if output == "rich":
        pytest.importorskip("rich")
        env.pop("NO_COLOR", None)
    rc, screen = demo_on_a_terminal(env)
    assert rc == 130, screen
    line = next(ln for ln in screen.split("\n") if "zenws: interrupted" in ln)
    # what the terminal shows on that row: the text after the last carriage return
    shown = [ANSI.sub("", seg) for seg in line.split("\r")]
    assert "zenws: interrupted" in shown, repr(line)
    for leak in LEAKS:
        assert leak not in screen, screen
