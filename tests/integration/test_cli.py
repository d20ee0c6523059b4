"""The ``zenws`` command, run in subprocesses against loopback servers.

Servers run on a background thread with their own event loop, so these tests are plain
synchronous tests (each subprocess runs once, not once per event loop).
"""

from __future__ import annotations

import asyncio
import json
import os
import pathlib
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http import HTTPStatus
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Request, Response

from zenws.recorder import Recorder

ENV = {**os.environ, "PYTHONUNBUFFERED": "1", "NO_COLOR": "1"}
ENV.pop("ZENWS_DEBUG", None)


def zenws(
    *args: str, stdin: str | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "zenws", *args],
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        timeout=timeout,
        env=ENV,
    )


class ThreadServer:
    """A python-websockets server on 127.0.0.1 running on its own thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.port = 0
        self.stop: asyncio.Future[None] | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    async def handler(self, ws: ServerConnection) -> None:
        async for message in ws:
            if message == "bye":
                await ws.close(4001, "bye from server")
                return
            if message == "json-rpc":
                await ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "result": "ok"}))
                continue
            await ws.send(message)

    @staticmethod
    def process_request(conn: ServerConnection, request: Request) -> Response | None:
        if request.path == "/unauthorized":
            return conn.respond(HTTPStatus.UNAUTHORIZED, "no token\n")
        if request.path == "/busy":
            resp = conn.respond(HTTPStatus.SERVICE_UNAVAILABLE, "busy\n")
            resp.headers["Retry-After"] = "1"
            return resp
        return None

    async def _main(self) -> None:
        self.stop = self.loop.create_future()
        async with serve(self.handler, "127.0.0.1", 0, process_request=self.process_request) as srv:
            self.port = next(iter(srv.sockets)).getsockname()[1]
            self.ready.set()
            await self.stop

    def _run(self) -> None:
        self.loop.run_until_complete(self._main())
        self.loop.close()

    def __enter__(self) -> ThreadServer:
        self.thread.start()
        assert self.ready.wait(10)
        return self

    def __exit__(self, *exc: Any) -> None:
        assert self.stop is not None
        self.loop.call_soon_threadsafe(self.stop.set_result, None)
        self.thread.join(10)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"


@pytest.fixture(scope="module")
def server() -> Iterator[ThreadServer]:
    with ThreadServer() as srv:
        yield srv


def make_recording(path: pathlib.Path, n: int = 20, gap: float = 0.0) -> None:
    rec = Recorder(path, url="wss://example.test/ws?access_token=SECRETTOKEN")
    for i in range(n):
        rec.write(
            "out", "text", json.dumps({"jsonrpc": "2.0", "id": i, "method": "public/test"}), 1
        )
        if gap:
            time.sleep(gap)
        rec.write("in", "text", json.dumps({"jsonrpc": "2.0", "id": i, "result": {"v": 1}}), 1)
    rec.write("in", "close", b"", 1, code=1000, reason="done")
    rec.close()


# -- usage -----------------------------------------------------------------------------------


@pytest.mark.parametrize("command", [[], ["demo"], ["connect"], ["replay"], ["bench"]])
def test_help(command: list[str]) -> None:
    res = zenws(*command, "--help")
    assert res.returncode == 0
    assert "usage: zenws" in res.stdout


def test_no_command_is_a_usage_error() -> None:
    res = zenws()
    assert res.returncode == 2
    assert "demo" in res.stderr and "replay" in res.stderr


def test_bad_arguments_exit_2() -> None:
    assert zenws("replay", "x.jsonl", "--speed", "-1").returncode == 2
    assert zenws("connect", "ws://h", "--header", "novalue").returncode == 2
    res = zenws("bench", "--only", "nosuchclient", "--seconds", "0.1")
    assert res.returncode == 2 and "nosuchclient" in res.stderr


def test_console_script_entry_point_and_version() -> None:
    from importlib.metadata import entry_points

    from zenws.cli import main

    (ep,) = entry_points(group="console_scripts", name="zenws")
    assert ep.value == "zenws.cli:main" and ep.load() is main
    res = zenws("--version")
    assert res.returncode == 0 and res.stdout.startswith("zenws ")


# -- replay ------------------------------------------------------------------------------------


def test_replay_prints_frames_without_secrets(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "s.jsonl"
    make_recording(path, n=5)
    res = zenws("replay", str(path))
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert sum(" -> text" in ln for ln in lines) == 5
    assert sum(" <- text" in ln for ln in lines) == 5
    assert any("<- close" in ln and "code=1000" in ln for ln in lines)
    assert "-- 11 frames, 1 session(s)" in res.stdout
    assert "SECRETTOKEN" not in res.stdout


def test_replay_stats(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "s.jsonl"
    make_recording(path, n=20, gap=0.002)
    res = zenws("replay", str(path), "--stats")
    assert res.returncode == 0, res.stderr
    out = dict((ln[:14].strip(), ln[14:].strip()) for ln in res.stdout.splitlines() if ln.strip())
    assert out["frames"] == "41"
    assert out["requests"] == "20 answered, 0 unanswered"
    assert out["complete"] == "yes"
    p50 = float(out["rtt p50"].split()[0])
    assert p50 >= 1500  # each round trip spans a >= 2 ms sleep; us
    assert "SECRETTOKEN" not in res.stdout and "access_token=***" in res.stdout


def test_replay_speed_follows_recorded_timing(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "s.jsonl"
    make_recording(path, n=3, gap=0.15)  # ~0.45 s of recorded time
    t0 = time.monotonic()
    res = zenws("replay", str(path), "--speed", "1")
    elapsed = time.monotonic() - t0
    assert res.returncode == 0
    assert elapsed >= 0.4
    t0 = time.monotonic()
    fast = zenws("replay", str(path), "--speed", "1000")
    assert fast.returncode == 0 and fast.stdout.count("<- text") == 3


def test_replay_plot(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "s.jsonl"
    make_recording(path, n=30)
    out = tmp_path / "lat.png"
    res = zenws("replay", str(path), "--plot", str(out))
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert res.returncode == 4
        assert "matplotlib" in res.stderr and "zenws[plot]" in res.stderr
        assert not out.exists()
    else:
        assert res.returncode == 0, res.stderr
        assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert "30 round trips" in res.stdout


def test_replay_prints_every_frame_also_with_stats_and_plot(tmp_path: pathlib.Path) -> None:
    # docs/cli.md: replay prints every frame, one per line, unless --quiet
    path = tmp_path / "s.jsonl"
    make_recording(path, n=4)
    for extra in (["--stats"], ["--plot", str(tmp_path / "p.png")], []):
        res = zenws("replay", str(path), *extra)
        assert res.returncode in (0, 4), res.stderr  # 4: matplotlib not installed
        if res.returncode == 0:
            lines = res.stdout.splitlines()
            assert sum(" -> text" in ln for ln in lines) == 4, (extra, res.stdout)
            assert sum(" <- text" in ln for ln in lines) == 4
        quiet = zenws("replay", str(path), "--quiet", *extra)
        assert "-> text" not in quiet.stdout and "<- text" not in quiet.stdout
    assert zenws("replay", str(path), "--log-x").returncode == 2  # needs --plot


def test_replay_redacts_frames_of_an_unredacted_recording(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "raw.jsonl"
    rec = Recorder(path, url="ws://127.0.0.1:1/ws", redact=False)
    auth = {"jsonrpc": "2.0", "id": 9, "method": "public/auth"}
    auth["params"] = {"client_id": "me", "client_secret": "SECRETVALUE"}
    rec.write("out", "text", json.dumps(auth), 1)
    rec.write("in", "text", '{"id":9,"result":{"access_token":"TOKENVALUE"', 1)  # not JSON
    rec.close()
    assert "SECRETVALUE" in path.read_text()  # the file itself holds it
    res = zenws("replay", str(path))
    assert res.returncode == 0, res.stderr
    assert "SECRETVALUE" not in res.stdout and "TOKENVALUE" not in res.stdout
    assert '"client_id":"me"' in res.stdout.replace(" ", "") and "***" in res.stdout


def test_replay_plot_labels_stay_clear_of_the_lines() -> None:
    pytest.importorskip("matplotlib")
    from zenws.cli.replay import figure

    rtts = [50_000 + 1000 * (i % 40) for i in range(2000)] + [4_000_000] * 40  # long tail
    for log_x in (False, True):
        fig, tail = figure(rtts, log_x=log_x)
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        assert tail > 10
        (legend,) = fig.legends
        labels = [t.get_text() for t in legend.get_texts()]
        assert any(t.startswith("p50 ") for t in labels) and any(
            t.startswith("p99 ") for t in labels
        )
        box = legend.get_window_extent(renderer)
        for ax in fig.axes:
            assert ax.get_legend() is None and not ax.texts  # no label inside the plots
            assert not box.overlaps(ax.get_window_extent(renderer))
            assert (ax.get_xscale() == "log") is log_x


def test_replay_missing_and_corrupt_files(tmp_path: pathlib.Path) -> None:
    res = zenws("replay", str(tmp_path / "nope.jsonl"))
    assert res.returncode == 1 and "no such recording" in res.stderr
    assert "Traceback" not in res.stderr
    path = tmp_path / "s.jsonl"
    make_recording(path, n=2)
    with path.open("a") as f:
        f.write("{not json\n")
    res = zenws("replay", str(path))
    assert res.returncode == 1
    assert "corrupt line" in res.stdout and res.stdout.count("-> text") == 2


# -- connect -----------------------------------------------------------------------------------


def test_connect_pipes_stdin_and_prints_replies(server: ThreadServer) -> None:
    res = zenws("connect", server.url, "--wait", "1", stdin='hello\n{"a": 1}\n')
    assert res.returncode == 0, res.stderr
    assert "connected to ws://127.0.0.1" in res.stdout
    assert "> hello" in res.stdout and "< hello" in res.stdout
    assert '< {"a": 1}' in res.stdout


def test_connect_interactive_terminal(server: ThreadServer) -> None:
    import pty

    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "zenws", "connect", server.url],
        stdin=slave, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV,
    )  # fmt: skip
    os.close(slave)
    try:
        assert proc.stdout is not None
        assert "connected to" in proc.stdout.readline()
        os.write(master, b"typed line\n")
        lines = [proc.stdout.readline(), proc.stdout.readline()]
        assert any("> typed line" in ln for ln in lines)
        assert any("< typed line" in ln for ln in lines)
        os.write(master, b"/quit\n")
        assert proc.wait(timeout=20) == 0
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_connect_send_count_and_record(server: ThreadServer, tmp_path: pathlib.Path) -> None:
    rec = tmp_path / "c.jsonl"
    res = zenws(
        "connect", server.url, "--send", "one", "--send", "json-rpc", "--count", "2",
        "--record", str(rec), "--header", "X-Api-Key: SECRETKEY",
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert "< one" in res.stdout and '"result": "ok"' in res.stdout
    stats = zenws("replay", str(rec), "--stats")
    assert stats.returncode == 0
    assert "frames out" in stats.stdout
    assert "SECRETKEY" not in rec.read_text()


def test_connect_with_heartbeat_pings(server: ThreadServer, tmp_path: pathlib.Path) -> None:
    # ping_pong every 0.1 s for ~1 s: pings go out, the server's pongs keep the connection up
    rec = tmp_path / "hb.jsonl"
    res = zenws(
        "connect", server.url, "--heartbeat", "ping_pong", "--heartbeat-interval", "0.1",
        "--send", "still here", "--wait", "1", "--record", str(rec),
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert "< still here" in res.stdout
    frames = [json.loads(line) for line in rec.read_text().splitlines()]
    pings = sum(1 for f in frames if f.get("type") == "ping" and f.get("dir") == "out")
    pongs = sum(1 for f in frames if f.get("type") == "pong" and f.get("dir") == "in")
    assert pings >= 3 and pongs >= 3


def test_connect_server_close_is_explained(server: ThreadServer) -> None:
    res = zenws("connect", server.url, "--send", "bye", "--wait", "3")
    assert res.returncode == 1
    assert "4001" in res.stderr and "Traceback" not in res.stderr


def test_connect_refused(server: ThreadServer) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    res = zenws("connect", f"ws://127.0.0.1:{port}/")
    assert res.returncode == 1
    assert (
        "connection refused" in res.stderr
        and "see: zenws docs errors#network-refused" in res.stderr
    )
    assert "Traceback" not in res.stderr


def test_connect_refused_upgrade_401_is_fatal(server: ThreadServer) -> None:
    res = zenws("connect", server.url + "/unauthorized")
    assert res.returncode == 3
    assert "HTTP 401" in res.stderr and "Traceback" not in res.stderr


def test_connect_bad_url_is_usage_error() -> None:
    res = zenws("connect", "http://example.com/")
    assert res.returncode == 2
    assert "ws or wss" in res.stderr and "Traceback" not in res.stderr


# -- demo --------------------------------------------------------------------------------------


def _summary(stdout: str) -> dict[str, str]:
    lines = stdout.split("summary\n", 1)[1].splitlines()
    pairs = [re.split(r"\s{2,}", ln.strip(), maxsplit=1) for ln in lines if ln.startswith("  ")]
    return {p[0]: p[1] for p in pairs if len(p) == 2}


def test_demo_runs_offline_against_the_embedded_simulator() -> None:
    res = zenws("demo", "--duration", "2")
    assert res.returncode == 0, res.stderr
    assert "Deribit simulator on ws://127.0.0.1:" in res.stdout
    assert "msg/s" in res.stdout and "rtt p50" in res.stdout  # status lines
    summary = _summary(res.stdout)
    placed, cancelled = map(int, summary["orders placed / cancelled"].split(" / "))
    assert placed >= 1 and cancelled >= 1
    assert summary["state"] == "open, authenticated: yes"
    assert summary["cancel-on-disconnect"] == "connection"
    assert int(summary["messages received"].split()[0]) > 0
    assert res.stdout.rstrip().endswith("result: OK")


def test_demo_chaos_shows_recovery() -> None:
    res = zenws("demo", "--duration", "4", "--chaos")
    assert res.returncode == 0, res.stdout + res.stderr
    for event in ("resets the TCP connection", "goes silent", "skips a change_id"):
        assert event in res.stdout
    summary = _summary(res.stdout)
    assert int(summary["reconnects"]) >= 2
    gaps, resyncs = map(int, summary["book gaps / resyncs"].split(" / "))
    assert gaps >= 1 and resyncs >= 1
    assert int(summary["authentications"].split()[0]) >= 3  # re-auth on every reconnect
    assert summary["state"] == "open, authenticated: yes"
    assert "Traceback" not in res.stderr


# -- bench -------------------------------------------------------------------------------------


def test_bench_prints_ratio_table() -> None:
    res = zenws("bench", "--seconds", "0.2", "--only", "picows", "--only", "zenws")
    assert res.returncode == 0, res.stderr
    rows = {ln.split()[0]: ln for ln in res.stdout.splitlines()[2:] if ln.strip()}
    assert set(rows) == {"picows", "zenws"}
    assert rows["picows"].rstrip().endswith("1.00x")
    assert rows["zenws"].rstrip().endswith("x")
