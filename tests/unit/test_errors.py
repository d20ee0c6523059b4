"""categorize()/explain(): classification and explanations of every error kind."""

from __future__ import annotations

import asyncio
import pathlib
import re
import socket
import ssl

import pytest
import trustme

from zenws.errors import (
    Category,
    ClientClosed,
    ConfigError,
    ConnectError,
    ConnectionLost,
    Explanation,
    ProtocolError,
    RateLimited,
    RequestTimeout,
    RpcError,
    ZenwsError,
    categorize,
    explain,
    retry_after,
)

DOCS = pathlib.Path(__file__).resolve().parents[2] / "docs" / "errors.md"
R, F = Category.RECOVERABLE, Category.FATAL


def wrap(cause: BaseException, **kw: object) -> ConnectError:
    """Raise ``cause`` and wrap it the way the client does (``raise ... from``)."""
    try:
        try:
            raise cause
        except BaseException as inner:
            raise ConnectError("connect failed", url="wss://h/ws?token=SECRET1", **kw) from inner  # type: ignore[arg-type]
    except ConnectError as exc:
        return exc


def anchors() -> set[str]:
    text = DOCS.read_text(encoding="utf-8")
    return set(re.findall(r'<a id="([^"]+)"></a>', text))


def check(exc: BaseException, anchor: str) -> Explanation:
    exp = explain(exc)
    assert isinstance(exp, Explanation)
    assert exp.docs == f"zenws docs errors#{anchor}"
    assert exp.message and exp.suggestion
    assert anchor in anchors(), f"docs/errors.md lacks anchor {anchor}"
    for secret in ("SECRET1", "hunter2"):
        assert secret not in exp.message and secret not in exp.suggestion
    return exp


# -- real network failures on loopback ---------------------------------------------------------


async def test_connection_refused_real_socket() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(OSError) as ei:
        await asyncio.open_connection("127.0.0.1", port)
    exc = wrap(ei.value)
    assert categorize(exc) is R
    check(exc, "network-refused")
    check(ei.value, "network-refused")  # the raw OSError is explained too


async def test_dns_failure_is_recoverable() -> None:
    loop = asyncio.get_running_loop()
    with pytest.raises(socket.gaierror) as ei:
        await loop.getaddrinfo("does-not-exist.invalid", 443)
    exc = wrap(ei.value)
    assert categorize(exc) is R
    check(exc, "dns")


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


async def _tls_failure(ca: trustme.CA, cert_host: str, trust: bool) -> BaseException:
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(cert_host).configure_cert(server_ctx)

    async def on_conn(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        w.close()

    server = await asyncio.start_server(on_conn, "127.0.0.1", 0, ssl=server_ctx)
    port = server.sockets[0].getsockname()[1]
    client_ctx = ssl.create_default_context()
    if trust:
        ca.configure_trust(client_ctx)
    try:
        with pytest.raises(ssl.SSLError) as ei:
            await asyncio.open_connection(
                "127.0.0.1", port, ssl=client_ctx, server_hostname="localhost"
            )
        return ei.value
    finally:
        server.close()
        await server.wait_closed()


async def test_tls_untrusted_certificate_is_fatal(ca: trustme.CA) -> None:
    err = await _tls_failure(ca, "localhost", trust=False)
    assert isinstance(err, ssl.SSLCertVerificationError)
    exc = wrap(err)
    assert categorize(exc) is F
    check(exc, "tls-cert")


async def test_tls_hostname_mismatch_is_fatal(ca: trustme.CA) -> None:
    err = await _tls_failure(ca, "other.example", trust=True)
    exc = wrap(err)
    assert categorize(exc) is F
    check(exc, "tls-hostname")


def test_other_network_kinds() -> None:
    assert categorize(wrap(ConnectionResetError(104, "reset"))) is R
    check(wrap(ConnectionResetError(104, "reset")), "network-reset")
    check(wrap(OSError(101, "Network is unreachable")), "network-unreachable")
    check(wrap(TimeoutError()), "timeout-connect")
    assert categorize(wrap(TimeoutError())) is R
    check(wrap(ssl.SSLError(1, "wrong version number")), "tls-handshake")


# -- refused upgrades -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "category"),
    [(400, F), (401, F), (403, F), (404, F), (426, F), (429, R), (500, R), (502, R), (503, R)],
)
def test_http_status(status: int, category: Category) -> None:
    exc = ConnectError("refused", url="wss://u:hunter2@h/", status=status)
    assert categorize(exc) is category
    exp = check(exc, f"http-{status}")
    assert str(status) in exp.message


def test_http_429_retry_after_surfaces() -> None:
    exc = ConnectError("refused", status=429, retry_after=7.5)
    assert retry_after(exc) == 7.5
    assert "Retry-After 7.5 s" in explain(exc).message
    assert retry_after(ConnectError("x", status=503)) is None


@pytest.mark.parametrize(
    ("status", "anchor"), [(302, "http-3xx"), (418, "http-4xx"), (504, "http-5xx")]
)
def test_http_families(status: int, anchor: str) -> None:
    check(ConnectError("refused", status=status), anchor)


# -- close codes ------------------------------------------------------------------------------

RECOVERABLE_CLOSE = [*range(1000, 1015)]  # only 1015 (TLS handshake failure) is fatal


@pytest.mark.parametrize("code", range(1000, 1016))
def test_each_close_code_explained(code: int) -> None:
    exc = ConnectionLost(epoch=4, code=code, reason="bye")
    exp = check(exc, f"close-{code}")
    assert str(code) in exp.message and "epoch 4" in exp.message
    assert categorize(exc) is (R if code in RECOVERABLE_CLOSE else F)


@pytest.mark.parametrize(
    ("code", "anchor", "category"),
    [
        (3000, "close-3000-3999", F),
        (3003, "close-3000-3999", F),
        (3008, "close-3000-3999", R),
        (4000, "close-4000-4999", R),
        (4999, "close-4000-4999", R),
        (None, "connection-lost", R),
    ],
)
def test_close_ranges(code: int | None, anchor: str, category: Category) -> None:
    exc = ConnectionLost(code=code)
    check(exc, anchor)
    assert categorize(exc) is category


def test_close_reason_is_scrubbed() -> None:
    exp = explain(ConnectionLost(code=4001, reason="token Bearer SECRET1 expired"))
    assert "SECRET1" not in exp.message


@pytest.mark.parametrize("code", [1002, 1007, 1009])
def test_protocol_errors(code: int) -> None:
    exc = ProtocolError("bad frame", close_code=code)
    check(exc, f"close-{code}")
    assert categorize(exc) is R


def test_malformed_response_is_fatal_and_keeps_the_connection() -> None:
    exc = ProtocolError(
        "malformed response to private/buy (id 7): neither result nor error",
        None,
        reason="neither result nor error",
        method="private/buy",
        request_id=7,
    )
    assert categorize(exc) is F and exc.close_code is None
    exp = check(exc, "malformed-response")
    assert "private/buy" in exp.message and "id 7" in exp.message
    assert "neither result nor error" in exp.message and "stays open" in exp.message


@pytest.mark.parametrize("sent", [False, True])
def test_client_closed_by_the_application_is_fatal(sent: bool) -> None:
    exc = ClientClosed("closed", epoch=2, code=1000, sent=sent)
    assert isinstance(exc, ConnectionLost) and categorize(exc) is F
    exp = check(exc, "client-closed")
    assert "closed by the application" in exp.message and "peer" not in exp.message
    assert ("in flight" in exp.message) is sent


def test_not_a_websocket_endpoint_and_invalid_101() -> None:
    ok = ConnectError("not ws", url="ws://h/", status=200)
    assert categorize(ok) is F
    assert check(ok, "not-websocket").message.startswith("not a WebSocket endpoint (HTTP 200)")
    bad = ConnectError("invalid WebSocket handshake response from ws://h/: accept", status=101)
    assert categorize(bad) is F
    assert check(bad, "handshake-invalid").message == str(bad)


# -- RPC, rate limits, timeouts, config ------------------------------------------------------

RPC_CODES = {
    10000: F, 10028: R, 10040: R, 10041: R, 10047: R, 11050: F, 11051: R, 13004: F,
    13009: F, 13021: F, 13028: R, 13778: F, 13888: R, -32600: F, -32601: F, -32602: F,
}  # fmt: skip


@pytest.mark.parametrize("code", sorted(RPC_CODES))
def test_rpc_codes(code: int) -> None:
    exc = RpcError(code, "msg", method="private/buy")
    assert categorize(exc) is RPC_CODES[code]
    exp = check(exc, f"rpc-{code}")
    assert str(code) in exp.message and "private/buy" in exp.message


def test_unknown_rpc_code_is_fatal() -> None:
    exc = RpcError(99999, "weird")
    assert categorize(exc) is F
    check(exc, "rpc-other")


def test_rate_limited_timeout_config_and_other() -> None:
    rl = RateLimited("full", bucket="matching", retry_after=0.25)
    assert categorize(rl) is R and retry_after(rl) == 0.25
    assert "matching" in check(rl, "rate-limited").message
    rt = RequestTimeout("t", method="public/test", request_id=3, timeout=2.0)
    assert categorize(rt) is R
    assert "public/test" in check(rt, "request-timeout").message
    ce = ConfigError("queue_size: must be >= 1, got 0", field="queue_size")
    assert categorize(ce) is F
    assert "queue_size" in check(ce, "config").suggestion
    assert categorize(ValueError("x")) is F
    exp = check(ValueError("see wss://h/?secret=SECRET1"), "other")
    assert "ValueError" in exp.message


def test_every_core_error_kind_is_covered() -> None:
    core = {
        ConfigError: "config",
        ConnectError: "connect",
        ConnectionLost: "connection-lost",
        RequestTimeout: "request-timeout",
        RpcError: "rpc-other",
        RateLimited: "rate-limited",
        ProtocolError: "close-1002",
    }
    assert set(core) <= set(ZenwsError.__subclasses__())
    for cls, anchor in core.items():
        exc = cls(1, "x") if cls is RpcError else cls("x")  # type: ignore[call-arg]
        assert explain(exc).docs == f"zenws docs errors#{anchor}", cls


def test_docs_anchors_cover_every_documented_kind() -> None:
    needed = {f"close-{c}" for c in range(1000, 1016)} | {
        f"http-{s}" for s in (400, 401, 403, 404, 426, 429, 500, 502, 503)
    }
    assert needed <= anchors()
