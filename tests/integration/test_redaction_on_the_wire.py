"""Every name of the redaction rule set on the surfaces that need a server: logs at level 1
(zenws' loggers and the picows logger zenws hands the transport, client and mock server),
telemetry metadata, and the exceptions of a real connect (redirect, refused upgrade).

Parametrized over ``zenws._redact.NAMES`` (see tests/unit/test_redaction_surfaces.py for the
serverless surfaces and tests/integration/test_cli_redaction.py for the CLI).
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

import zenws
from zenws._redact import NAMES, REDACTED
from zenws.errors import Category, ConnectError, categorize, explain
from zenws.testing import MockServer

ALL = sorted(NAMES)


def secret(name: str, where: str) -> str:
    return f"S3CRET-{where}-{name.replace('_', '-')}"


class Capture(logging.Handler):
    """Formats every record of every logger, down to level 1."""

    def __init__(self) -> None:
        super().__init__(level=1)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelno)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def all_logs() -> Any:
    root = logging.getLogger()
    handler = Capture()
    old = root.level
    root.addHandler(handler)
    root.setLevel(1)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(old)


@pytest.mark.asyncio
@pytest.mark.parametrize("name", ALL)
async def test_logs_at_level_1_and_telemetry(name: str, all_logs: Capture) -> None:
    def reply(conn: Any, msg: Any) -> None:
        doc = msg.json()
        result = {name: secret(name, "result"), "token_type": "bearer"}
        conn.send({"jsonrpc": "2.0", "id": doc["id"], "result": result})

    events: list[str] = []

    def on_event(event: str, measurements: dict[str, Any], meta: dict[str, Any]) -> None:
        events.append(f"{event} {measurements!r} {meta!r}")

    handle = zenws.telemetry.attach("", on_event)
    try:
        async with MockServer(reply) as server:
            url = server.url.replace("ws://", f"ws://trader:{secret(name, 'userinfo')}@")
            url += f"?{name}={secret(name, 'query')}"
            async with await zenws.connect(
                url, headers={name: secret(name, "header")}, debug=True
            ) as client:
                result = await client.request("private/x", {name: secret(name, "param")})
                assert result[name] == secret(name, "result")
                assert name in repr(server.upgrade_requests[-1])
                shown = f"{client!r} {client.config!r} {server.upgrade_requests[-1]!r}"
                received = repr(server.received)
    finally:
        handle.detach()
    text = "\n".join(all_logs.lines)
    assert "Send upgrade request" in text  # picows' trace line was enabled and captured
    for where, out in (("logs", text), ("telemetry", "\n".join(events))):
        assert "S3CRET" not in out, f"{where}: {out}"
    assert any(e.startswith("connection.open") for e in events)
    assert "S3CRET" not in shown and "S3CRET" not in received


@pytest.mark.asyncio
@pytest.mark.parametrize("name", ALL)
async def test_connect_error_texts(name: str, all_logs: Capture) -> None:
    async with MockServer() as server:
        url = f"{server.url}?{name}={secret(name, 'query')}"
        headers = {name: secret(name, "header")}
        server.redirect_next(f"ws://127.0.0.1:1/next?{name}={secret(name, 'location')}", 307)
        with pytest.raises(ConnectError) as redirected:
            await zenws.connect(url, headers=headers)
        server.refuse_next(
            status=401,
            headers={name: secret(name, "response-header")},
            body=json.dumps({"error": {name: secret(name, "body")}}),
        )
        with pytest.raises(ConnectError) as refused:
            await zenws.connect(url, headers=headers)
    assert redirected.value.status == 307 and categorize(redirected.value) is Category.FATAL
    assert redirected.value.location == f"ws://127.0.0.1:1/next?{name}={REDACTED}"
    assert refused.value.status == 401
    for exc in (redirected.value, refused.value):
        text = " ".join(
            [str(exc), repr(exc), repr(exc.headers), repr(exc.body), exc.url, *explain(exc)]
        )
        assert "S3CRET" not in text, text
    assert "S3CRET" not in "\n".join(all_logs.lines)
