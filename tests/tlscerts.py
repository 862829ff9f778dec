"""Test certificates made by the tests (trustme): a CA, and pairs it issues as files.

The key file is written mode 0600, as `[proxy] tls` demands; `issue` writes each file
whole then renames it into place, as an operator's tooling (certbot, cert-manager) does.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import ssl
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import trustme


@dataclass(frozen=True)
class Issued:
    cert: Path
    key: Path
    sha256: str  # the leaf's fingerprint as changeover.tlsfiles writes it

    @property
    def der_sha256(self) -> bytes:
        return bytes.fromhex(self.sha256.replace(":", ""))


def write(path: Path, data: bytes, mode: int = 0o644) -> None:
    temporary = path.with_name(f".{path.name}.new")
    temporary.write_bytes(data)
    temporary.chmod(mode)
    os.replace(temporary, path)


def fingerprint_of(pem: bytes) -> str:
    der = ssl.PEM_cert_to_DER_cert(pem.decode("ascii"))
    return ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest())


def issue(
    ca: trustme.CA,
    folder: Path,
    name: str = "",
    *,
    cert: str = "cert.pem",
    key: str = "key.pem",
    hosts: tuple[str, ...] = ("localhost", "127.0.0.1"),
    not_after: datetime | None = None,
) -> Issued:
    """A leaf for `hosts`, localhost and 127.0.0.1 by default (`name` in its organisation
    unit, so two leaves differ visibly), written to `folder/cert` and `folder/key`; valid
    until `not_after` (trustme's default: years)."""
    leaf = ca.issue_cert(*hosts, organization_unit_name=name or None, not_after=not_after)
    chain = b"".join(blob.bytes() for blob in leaf.cert_chain_pems)
    folder.mkdir(parents=True, exist_ok=True)
    write(folder / cert, chain)
    write(folder / key, leaf.private_key_pem.bytes(), 0o600)
    return Issued(folder / cert, folder / key, fingerprint_of(leaf.cert_chain_pems[0].bytes()))


def client_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


async def plain_answer(host: str, port: int) -> bytes:
    """What a TLS listener answers to a plain HTTP request: never an HTTP response."""
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
    try:
        return await reader.read()
    except ConnectionError:
        return b""
    finally:
        writer.close()
