"""Autobahn|Testsuite conformance runs against kosoku's fuzzing server.

kosoku (``kosoku -m fuzzingserver HOST:PORT -o DIR``) serves the Autobahn case files;
a client under test asks ``/getCaseCount``, opens one connection per case on
``/runCase?case=N&agent=A``, echoes every message and finally calls
``/updateReports?agent=A``.  The server then writes Autobahn-format reports into
``DIR`` (``index.json`` plus one ``<agent>_case_<id>.json`` per case, each with
``behavior``/``behaviorClose`` and kosoku's reasons ``result``/``resultClose``) and
exits.

Two clients are driven here:

- ``zenws``: the public API (``await zenws.connect()``, then an ``on_message`` echo
  with ``Client.send``), no reconnect, no heartbeat, 64 MiB messages.
- ``picows``: a careful hand-written echo client on raw picows (RSV bits,
  fragmentation sequence, incremental UTF-8, close codes checked above picows), the
  baseline for what picows itself allows.

Command line (prints the verdict table, Markdown)::

    python tests/conformance/autobahn_run.py --agent zenws --cases '1.*' '2.*' ...
"""

from __future__ import annotations

import argparse
import asyncio
import codecs
import collections
import json
import logging
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

# Case groups (kosoku has no 8.* and no 11.*).
CORE_CASES = ["1.*", "2.*", "3.*", "4.*", "5.*", "6.*", "7.*", "9.*", "10.*"]
DEFLATE_CASES = ["12.*", "13.*"]
ACCEPTED = {"OK", "INFORMATIONAL"}
MAX_MESSAGE = 64 * 1024 * 1024
# 13.2/13.5/13.6 (kosoku, like Autobahn) accept only an offer that carries
# client_no_context_takeover; every other 12.*/13.* case accepts it too.  Level 1 keeps the
# 216 cases' CPU cost down without changing any verdict.
DEFLATE_OFFER = {"client_no_context_takeover": True, "level": 1}
CASE_TIMEOUT = 90.0  # kosoku's own per-case limits are 10-60 s (9.7.x: up to 480 s unused here)

Driver = Callable[[str, bool], Awaitable[None]]


# --------------------------------------------------------------------------- server


class FuzzingServer:
    """kosoku's fuzzing server in a subprocess (its own core time, its own GIL)."""

    def __init__(self, cases: Sequence[str], outdir: Path) -> None:
        self.outdir = outdir
        args = ["-m", "fuzzingserver", "127.0.0.1:0", "-o", str(outdir)]
        for c in cases:
            args += ["-i", c]
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from kosoku._cli import main; main()", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stderr is not None
        line = self.proc.stderr.readline()
        m = re.search(r"ws://([\d.]+):(\d+)", line)
        if m is None:
            self.proc.kill()
            raise RuntimeError(f"kosoku did not start: {line!r} {self.proc.stderr.read()}")
        self.url = f"ws://{m.group(1)}:{m.group(2)}"

    def wait(self, timeout: float = 120.0) -> str:
        """Wait for kosoku to write its reports and exit; return its stdout+stderr."""
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate()
        return out + err

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


async def _control(url: str) -> str:
    """One request on kosoku's control paths (/getCaseCount, /updateReports)."""
    import websockets

    async with websockets.connect(url, max_size=None) as ws:
        try:
            return str(await asyncio.wait_for(ws.recv(), 30))
        except websockets.ConnectionClosed:
            return ""


# --------------------------------------------------------------------------- clients


async def zenws_echo(url: str, deflate: bool) -> None:
    """Echo every message of one case through zenws' public API, then close."""
    import zenws

    client: Any = None

    def echo(msg: Any) -> None:
        try:
            if msg.kind is zenws.MessageKind.BINARY:
                client.send(msg.raw)
            else:
                client.send(msg.text)
        except zenws.ConnectionLost:
            pass  # the case closed the connection; nothing left to echo

    config = zenws.Config.new(
        url,
        reconnect_on_error=False,
        retry_count=0,
        heartbeat=None,
        max_message_size=MAX_MESSAGE,
        compression=DEFLATE_OFFER if deflate else None,
        queue_size=1 << 20,
        close_timeout=2.0,
    )
    try:
        client = await zenws.connect(config)
    except (zenws.ConnectError, zenws.ConnectionLost):
        # The case's first frame already violated the protocol (or the whole case and
        # its close came with the 101 response): connect reports the closed link.
        return
    # Messages that came with the 101 response were queued: setting the callback hands
    # them over first, in order; a violation after them fails the connection only then.
    client.on_message = echo
    try:
        while client.state is zenws.State.OPEN:
            await asyncio.sleep(0.002)
    finally:
        await client.close()  # also when the case timed out (cancelled)


class _PicowsEcho:
    """Careful echo on raw picows: every check picows leaves to the layer above."""

    VALID_CODES = {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011}

    def __init__(self) -> None:
        from picows import WSCloseCode, WSListener, WSMsgType

        outer = self

        class Listener(WSListener):  # type: ignore[misc]
            def on_ws_connected(self, transport: Any) -> None:
                outer.transport = transport

            def on_ws_frame(self, transport: Any, frame: Any) -> None:
                outer.frame(frame)

            def on_ws_disconnected(self, transport: Any) -> None:
                if not outer.done.done():
                    outer.done.set_result(None)

        self.Listener = Listener
        self.T, self.CODE = WSMsgType, WSCloseCode
        self.transport: Any = None
        self.closed = False
        self.opcode = 0
        self.parts: list[bytes] = []
        self.utf8: Any = None
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def fail(self, code: int) -> None:
        if not self.closed:
            self.closed = True
            self.transport.send_close(self.CODE(code))  # never the default (code 0)
            self.transport.disconnect()

    def frame(self, f: Any) -> None:
        T = self.T
        op = f.msg_type
        if self.closed and op != T.CLOSE:
            return
        if f.rsv1 or f.rsv2 or f.rsv3:  # RFC 6455 §5.2: no extension negotiated
            return self.fail(1002)
        if op in (T.TEXT, T.BINARY, T.CONTINUATION):
            return self.data(op, f)
        if op == T.PING:
            self.transport.send_pong(f.get_payload_as_bytes())
        elif op == T.CLOSE:
            self.close(f.get_payload_as_bytes())

    def data(self, op: Any, f: Any) -> None:
        T = self.T
        payload = f.get_payload_as_bytes()
        if (op == T.CONTINUATION) != bool(self.opcode):  # §5.4 fragment sequence
            return self.fail(1002)
        if op != T.CONTINUATION:
            self.opcode, self.parts = int(op), []
            self.utf8 = codecs.getincrementaldecoder("utf-8")() if op == T.TEXT else None
        self.parts.append(payload)
        if self.utf8 is not None:
            try:  # fail fast per fragment (§8.1)
                self.utf8.decode(payload, final=bool(f.fin))
            except UnicodeDecodeError:
                return self.fail(1007)
        if f.fin:
            self.transport.send(T(self.opcode), b"".join(self.parts))
            self.opcode = 0

    def close(self, body: bytes) -> None:
        code = 1000
        if len(body) == 1:
            return self.fail(1002)
        if len(body) >= 2:
            code = int.from_bytes(body[:2], "big")
            if code not in self.VALID_CODES and not 3000 <= code <= 4999:
                return self.fail(1002)
            try:
                body[2:].decode("utf-8")
            except UnicodeDecodeError:
                return self.fail(1007)
        if not self.closed:
            self.closed = True
            self.transport.send_close(self.CODE(code))
        self.transport.disconnect()


async def picows_echo(url: str, deflate: bool) -> None:
    """Echo every message of one case with the careful raw picows client."""
    from picows import ws_connect

    if deflate:
        raise ValueError("picows has no permessage-deflate")
    echo = _PicowsEcho()
    try:
        await ws_connect(echo.Listener, url, max_frame_size=MAX_MESSAGE)
    except Exception:
        return
    await echo.done


DRIVERS: dict[str, Driver] = {"zenws": zenws_echo, "picows": picows_echo}


# --------------------------------------------------------------------------- run


async def _drive(
    url: str, agent: str, driver: Driver, deflate: bool, concurrency: int
) -> list[str]:
    count = int(await _control(f"{url}/getCaseCount"))
    problems: list[str] = []
    todo = collections.deque(range(1, count + 1))

    async def worker() -> None:
        while todo:
            n = todo.popleft()
            try:
                await asyncio.wait_for(
                    driver(f"{url}/runCase?case={n}&agent={agent}", deflate), CASE_TIMEOUT
                )
            except asyncio.TimeoutError:
                problems.append(f"case #{n}: the client did not finish within {CASE_TIMEOUT} s")
            except Exception as exc:  # the verdict is kosoku's; keep driving
                problems.append(f"case #{n}: the client raised {exc!r}")

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    await _control(f"{url}/updateReports?agent={agent}")
    return problems


def run(
    agent: str,
    cases: Sequence[str],
    outdir: Path,
    *,
    deflate: bool = False,
    concurrency: int = 4,
) -> list[dict[str, Any]]:
    """Run ``cases`` against ``agent``'s echo client; return kosoku's per-case reports."""
    import uvloop

    server = FuzzingServer(cases, outdir)
    try:
        problems = uvloop.run(_drive(server.url, agent, DRIVERS[agent], deflate, concurrency))
        log = server.wait()
    finally:
        server.kill()
    index_path = outdir / "index.json"
    if not index_path.exists():
        raise RuntimeError(f"kosoku wrote no report:\n{log[-2000:]}\n" + "\n".join(problems))
    index = json.loads(index_path.read_text())[agent]
    reports = []
    for entry in index.values():
        report = json.loads((outdir / entry["reportfile"]).read_text())
        reports.append(report)
    reports.sort(key=lambda r: [int(p) for p in r["id"].split(".")])
    for line in problems:  # case numbers are 1-based positions in the run
        reports[int(line.split("#")[1].split(":")[0]) - 1].setdefault("client", []).append(line)
    return reports


def not_ok(reports: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Cases whose verdict is not OK/INFORMATIONAL (message or close behaviour), or
    where the client hung or raised."""
    return [
        r
        for r in reports
        if r["behavior"] not in ACCEPTED or r["behaviorClose"] not in ACCEPTED or "client" in r
    ]


def describe(bad: list[dict[str, Any]]) -> str:
    """One line per non-OK case: id, verdicts, close code and kosoku's reasons."""
    return "\n".join(
        f"  {r['id']}: {r['behavior']} / close {r['behaviorClose']} "
        f"(remote close code {r['remoteCloseCode']}): {r['result']} | {r['resultClose']}"
        + "".join(f" [{p}]" for p in r.get("client", []))
        for r in bad
    )


def summary(reports: list[dict[str, Any]]) -> dict[str, int]:
    """Counts of ``behavior/behaviorClose`` pairs."""
    return dict(collections.Counter(f"{r['behavior']}/{r['behaviorClose']}" for r in reports))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Autobahn conformance run (kosoku)")
    p.add_argument("--agent", choices=sorted(DRIVERS), default="zenws")
    p.add_argument("--cases", nargs="+", default=CORE_CASES)
    p.add_argument("--deflate", action="store_true", help="negotiate permessage-deflate")
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--outdir", type=Path, default=None)
    a = p.parse_args(argv)
    outdir = a.outdir or Path(tempfile.mkdtemp(prefix=f"autobahn-{a.agent}-"))
    t0 = time.monotonic()
    reports = run(a.agent, a.cases, outdir, deflate=a.deflate, concurrency=a.concurrency)
    took = time.monotonic() - t0
    bad = not_ok(reports)
    print(f"{a.agent}: {len(reports)} cases in {took:.1f} s, reports in {outdir}")
    print(f"verdicts: {summary(reports)}")
    if bad:
        print(f"not OK ({len(bad)}):\n{describe(bad)}")
    return 1 if bad else 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    sys.exit(main())
