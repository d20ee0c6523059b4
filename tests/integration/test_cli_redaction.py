"""``zenws connect`` prints through the redaction of recordings (subprocess, real CLI).

The servers run on a background thread with their own event loop (the subprocess is the
client), so these are plain synchronous tests.
"""

from __future__ import annotations

import asyncio
import json
import os
import pathlib
import subprocess
import sys
import threading
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import pytest

from zenws._redact import NAMES, REDACTED
from zenws.testing import DeribitSimulator, MockServer

ENV = {**os.environ, "PYTHONUNBUFFERED": "1", "NO_COLOR": "1"}
ENV.pop("ZENWS_DEBUG", None)


def zenws(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "zenws", *args],
        input="",
        capture_output=True,
        text=True,
        timeout=timeout,
        env=ENV,
    )


class ThreadServe:
    """Runs ``async with make() as server`` on its own thread; ``url`` once it listens."""

    def __init__(self, make: Callable[[], AbstractAsyncContextManager[Any]]) -> None:
        self.make = make
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.url = ""
        self.stop: asyncio.Future[None] | None = None
        self.thread = threading.Thread(target=self.loop.run_until_complete, args=(self._main(),))

    async def _main(self) -> None:
        self.stop = self.loop.create_future()
        async with self.make() as server:
            self.url = server.url
            self.ready.set()
            await self.stop

    def __enter__(self) -> ThreadServe:
        self.thread.start()
        assert self.ready.wait(30), "server did not start"
        return self

    def __exit__(self, *exc: Any) -> None:
        assert self.stop is not None
        self.loop.call_soon_threadsafe(self.stop.set_result, None)
        self.thread.join(30)
        self.loop.close()


def secret(name: str) -> str:
    return f"S3CRET-{name.replace('_', '-')}"


def messages(stdout: str, arrow: str) -> list[Any]:
    """The JSON payloads of the lines printed with ``arrow`` ('<' received, '>' sent)."""
    out = []
    for line in stdout.splitlines():
        _, sep, payload = line.partition(f" {arrow} ")
        if sep and payload.startswith("{"):
            out.append(json.loads(payload))
    return out


def test_public_auth_secrets_never_printed(tmp_path: pathlib.Path) -> None:
    """The Deribit simulator's public/auth: client_secret out, access/refresh tokens in."""
    auth = json.dumps(
        {
            "jsonrpc": "2.0",
            "id": 7,
            "method": "public/auth",
            "params": {
                "grant_type": "client_credentials",
                "client_id": "sim_client",
                "client_secret": "sim_secret",
            },
        }
    )
    recording = tmp_path / "auth.jsonl"
    with ThreadServe(lambda: DeribitSimulator().serve()) as sim:
        res = zenws("connect", sim.url, "--send", auth, "--count", "1", "--record", str(recording))
    assert res.returncode == 0, res.stderr
    assert "sim_secret" not in res.stdout + res.stderr
    sent = messages(res.stdout, ">")
    assert sent[0]["params"] == {
        "grant_type": "client_credentials",
        "client_id": "sim_client",
        "client_secret": REDACTED,
    }
    result = messages(res.stdout, "<")[0]["result"]
    assert result["access_token"] == REDACTED and result["refresh_token"] == REDACTED
    assert result["token_type"] == "bearer"  # not a secret: shown
    # the recording of the same session shows the same thing
    frames = [json.loads(line) for line in recording.read_text().splitlines()]
    recorded = [json.loads(f["data"]) for f in frames if f.get("type") == "text"]
    assert recorded[0]["params"] == sent[0]["params"]
    assert recorded[1]["result"] == result


@pytest.fixture(scope="module")
def echoed() -> subprocess.CompletedProcess[str]:
    """One CLI run: every rule-set name in the URL query and in a message echoed back."""
    query = "&".join(f"{name}={secret(name)}" for name in sorted(NAMES))
    message = json.dumps({name: secret(name) for name in sorted(NAMES)} | {"token_type": "x"})
    with ThreadServe(lambda: MockServer()) as server:
        res = zenws("connect", f"{server.url}?{query}", "--send", message, "--count", "1")
    assert res.returncode == 0, res.stderr
    return res


@pytest.mark.parametrize("name", sorted(NAMES))
def test_cli_output_hides_every_name(name: str, echoed: subprocess.CompletedProcess[str]) -> None:
    out = echoed.stdout + echoed.stderr
    assert secret(name) not in out
    assert f"{name}={REDACTED}" in out  # the URL of "connected to ..."
    for printed in messages(echoed.stdout, ">") + messages(echoed.stdout, "<"):
        assert printed[name] == REDACTED
        assert printed["token_type"] == "x"
