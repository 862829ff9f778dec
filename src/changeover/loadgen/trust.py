"""The trust of an https:// load: a CA bundle given as `--cacert FILE`, and what a failed
handshake says.

Shared by the load generator's command line and `changeover verify`, so both read the
file the same way and say the same things about it; `handshake` is verify's check,
before it deploys, that the load's handshakes can succeed at all.

Invariant: `ca_context` returns a context that trusts only the certificates in the file
(hostnames checked, as `ssl.create_default_context` does), or raises a ValueError that
starts with the option and the file and says what is wrong with it; `handshake_problem`
describes a failed handshake by its cause (`certificate verify failed: IP address
mismatch, ...`), never as an error code alone.
"""

from __future__ import annotations

import socket
import ssl
import stat
from pathlib import Path

from changeover.loadgen.target import parse_url

PEM_CERTIFICATE = b"-----BEGIN CERTIFICATE-----"


def ca_context(cafile: str | Path, option: str = "--cacert") -> ssl.SSLContext:
    """A client context trusting the PEM CA certificates in `cafile` instead of the
    system's store; ValueError (`--cacert FILE: ...`) when the file cannot be that."""
    where = f"{option} {cafile}"
    path = Path(cafile)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise ValueError(f"{where}: no such file") from None
    except OSError as exc:
        raise ValueError(f"{where}: cannot read it: {exc.strerror or exc}") from None
    if not stat.S_ISREG(info.st_mode):
        raise ValueError(f"{where}: not a regular file")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"{where}: cannot read it: {exc.strerror or exc}") from None
    if PEM_CERTIFICATE not in data:
        raise ValueError(
            f"{where}: holds no PEM certificate (expected '-----BEGIN CERTIFICATE-----' "
            "blocks: the CA that issued the server's certificate)"
        )
    try:
        return ssl.create_default_context(cafile=str(path))
    except (OSError, ssl.SSLError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise ValueError(f"{where}: a certificate in it cannot be read ({reason})") from None


def handshake(
    url: str, context: ssl.SSLContext | None, timeout: float, server_name: str | None = None
) -> str | None:
    """Why one TLS handshake with the https:// `url` fails, trusting `context` (None: the
    system's store) and checking `server_name` (else the URL's host) as the load does;
    None when it succeeds, or when the listener cannot be reached at all (the load counts
    that itself)."""
    target = parse_url(url)
    trust = context if context is not None else ssl.create_default_context()
    try:
        with (
            socket.create_connection((target.host, target.port), timeout=timeout) as raw,
            trust.wrap_socket(raw, server_hostname=server_name or target.host),
        ):
            return None
    except ssl.SSLError as exc:
        return handshake_problem(exc)
    except OSError:
        return None


def handshake_problem(exc: BaseException) -> str:
    """Why a TLS handshake failed, in words: the verification's own message when the
    server's certificate was refused (its issuer, its name), else OpenSSL's reason."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        message = (exc.verify_message or "").rstrip(".")
        return f"certificate verify failed: {message}" if message else str(exc)
    if isinstance(exc, ssl.SSLError):
        return str(exc.reason or exc).replace("_", " ").lower()
    if isinstance(exc, OSError):
        return exc.strerror or str(exc) or type(exc).__name__
    return str(exc) or type(exc).__name__


__all__ = ["ca_context", "handshake", "handshake_problem"]
