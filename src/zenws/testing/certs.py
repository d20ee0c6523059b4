"""Throw-away TLS certificates for ``MockServer(ssl=True)``.

A private CA is generated per call and issues a leaf certificate for ``127.0.0.1``, ``::1``
and ``localhost``; the server context presents the leaf and the client context trusts only that
CA, so a test exercises real certificate verification (hostname included).

The certificate is produced by ``trustme`` when it is installed, else directly with
``cryptography``.  Neither is a core dependency of zenws: install the ``testing`` extra
(``pip install "zenws[testing]"``) to get them.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
import tempfile
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["TLSPair", "self_signed"]

HOSTS = ("127.0.0.1", "::1", "localhost")

_MISSING = (
    "MockServer(ssl=True) needs the 'cryptography' package (or 'trustme') to generate a "
    'certificate: pip install "zenws[testing]"'
)


@dataclass(frozen=True)
class TLSPair:
    """A server context and the client context that trusts it.

    Attributes:
        server: ``ssl.SSLContext`` for the listening socket.
        client: ``ssl.SSLContext`` a client passes to trust the server.
        ca_pem: the CA certificate (PEM) for clients configured from files.
        backend: ``"trustme"`` or ``"cryptography"``.
    """

    server: ssl.SSLContext
    client: ssl.SSLContext
    ca_pem: bytes
    backend: str


def self_signed(
    backend: Literal["auto", "trustme", "cryptography"] = "auto",
) -> TLSPair:
    """Generate a CA and a loopback certificate and return matching SSL contexts.

    Args:
        backend: ``"auto"`` prefers trustme and falls back to cryptography.

    Returns:
        The server/client contexts.

    Raises:
        ImportError: neither package is installed (the message names the extra to install).
    """
    if backend in ("auto", "trustme"):
        try:
            import trustme  # noqa: F401
        except ImportError:
            if backend == "trustme":
                raise ImportError(_MISSING) from None
        else:
            return _with_trustme()
    try:
        import cryptography  # noqa: F401
    except ImportError:
        raise ImportError(_MISSING) from None
    return _with_cryptography()


def _client_context(ca_pem: bytes) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    ctx.load_verify_locations(cadata=ca_pem.decode("ascii"))
    return ctx


def _with_trustme() -> TLSPair:
    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert(*HOSTS)
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server)
    ca_pem = ca.cert_pem.bytes()
    return TLSPair(server, _client_context(ca_pem), ca_pem, "trustme")


def _with_cryptography() -> TLSPair:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    start, end = now - datetime.timedelta(hours=1), now + datetime.timedelta(days=30)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "zenws testing CA")])
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca_cert = (
        _builder(x509, ca_name, ca_name, ca_key.public_key(), start, end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(x509, ca=True), critical=True)
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    san = x509.SubjectAlternativeName(
        [x509.DNSName("localhost")]
        + [x509.IPAddress(ipaddress.ip_address(h)) for h in HOSTS if h != "localhost"]
    )
    aki = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski)
    leaf = (
        _builder(x509, leaf_name, ca_name, leaf_key.public_key(), start, end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(x509, ca=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(san, critical=False)
        .add_extension(aki, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    ca_pem = ca_cert.public_bytes(pem)
    key_pem = leaf_key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    # load_cert_chain reads files only; the key lives on disk for the duration of this call.
    fd, path = tempfile.mkstemp(suffix=".pem")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(key_pem + leaf.public_bytes(pem))
        server.load_cert_chain(path)
    finally:
        os.unlink(path)
    return TLSPair(server, _client_context(ca_pem), ca_pem, "cryptography")


def _builder(x509: Any, subject: Any, issuer: Any, key: Any, start: Any, end: Any) -> Any:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
    )


def _key_usage(x509: Any, *, ca: bool) -> Any:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=not ca,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )
