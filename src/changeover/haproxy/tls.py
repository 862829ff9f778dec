"""TLS on the haproxy engine: the pair's one PEM file, and a new pair without a reload.

HAProxy reads the certificate chain and its key from one file (`bind ... ssl crt FILE`),
which the agent writes, mode 0600, in the engine's private folder at each start. A new
pair goes through the runtime API (HAProxy 2.6): `set ssl cert FILE <<` with the PEM as
the payload opens a transaction, `commit ssl cert FILE` makes new handshakes use it
(open connections keep theirs), and `show ssl cert FILE` must then show the new leaf's
SHA-1 fingerprint; only then is the file rewritten, so a restarted HAProxy serves it too.

Invariant: the key's bytes go only into that file and into the command's payload on the
0600 stats socket; no command text, error or event carries them (`PayloadCommand` keeps
the payload out of its text and repr). A pair HAProxy refuses is aborted (`abort ssl
cert`): the serving one stays, and `update` raises `RuntimeApiError` saying why.
"""

from __future__ import annotations

import hashlib
import os
import ssl
from dataclasses import dataclass, field
from pathlib import Path

from changeover.haproxy.client import RuntimeClient
from changeover.haproxy.runtime import Command, RuntimeApiError
from changeover.tlsfiles import Pair


@dataclass(frozen=True)
class PayloadCommand(Command):
    """A command followed by a multi-line payload (`<<`), ended by an empty line."""

    payload: bytes = field(default=b"", repr=False)

    def line(self) -> bytes:
        return self.text.encode("ascii") + b" <<\n" + self.payload + b"\n"


def payload(pem: bytes) -> bytes:
    """PEM as a payload: no empty line inside (it would end the payload), one final LF."""
    lines = [line.rstrip(b"\r") for line in pem.splitlines()]
    return b"".join(line + b"\n" for line in lines if line.strip())


def set_cert(path: str, pair: Pair) -> PayloadCommand:
    return PayloadCommand(
        f"set ssl cert {path}",
        lambda text: text.startswith(("Transaction created", "Transaction updated")),
        payload(pair.combined),
    )


def commit_cert(path: str) -> Command:
    return Command(f"commit ssl cert {path}", lambda text: "Success!" in text)


def abort_cert(path: str) -> Command:
    return Command(f"abort ssl cert {path}", lambda text: True)


def show_cert(path: str) -> Command:
    return Command(f"show ssl cert {path}", lambda text: "Filename:" in text)


def sha1(pair: Pair) -> str:
    """The leaf's SHA-1 as `show ssl cert` prints it (`SHA1 FingerPrint: 9F0A...`)."""
    block = pair.cert_pem.split(b"-----END CERTIFICATE-----")[0] + b"-----END CERTIFICATE-----"
    der = ssl.PEM_cert_to_DER_cert(block[block.index(b"-----BEGIN") :].decode("ascii"))
    return hashlib.sha1(der).hexdigest().upper()


def shows(answer: str, pair: Pair) -> bool:
    """Does `show ssl cert`'s answer describe `pair`'s leaf?"""
    return f"SHA1 FingerPrint: {sha1(pair)}" in answer


class HaproxyTls:
    """The pair HAProxy serves, its file, and how a new one reaches HAProxy."""

    def __init__(self, path: str, pair: Pair) -> None:
        self.path = path
        self.pair = pair

    def write(self) -> None:
        """The pair's file, replaced whole (a reader never sees half of it), mode 0600."""
        target = Path(self.path)
        temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            os.fchmod(fd, 0o600)
            os.write(fd, self.pair.combined)
        finally:
            os.close(fd)
        os.replace(temporary, target)

    async def update(self, client: RuntimeClient, pair: Pair) -> None:
        """New handshakes get `pair`: RuntimeApiError (nothing changed) when HAProxy
        refuses it, OSError when HAProxy is not there."""
        try:
            await client.send(set_cert(self.path, pair))
            await client.send(commit_cert(self.path))
        except RuntimeApiError:
            await client.send(abort_cert(self.path))
            raise
        answer = await client.send(show_cert(self.path))
        if not shows(answer, pair):
            raise RuntimeApiError(f"show ssl cert {self.path}", answer)
        self.pair = pair
        self.write()

    def remove(self) -> None:
        Path(self.path).unlink(missing_ok=True)
