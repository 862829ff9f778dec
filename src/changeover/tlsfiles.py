"""The certificate and private key `[proxy] tls` names: read, checked, described, watched.

A leaf module (the standard library and `cryptography`): `spec.rules` checks the pair
while a spec is validated, the agent loads it when it serves and again when the files
change, and both engines are given the same `Pair`.

Invariants:
- a `Pair` is a PEM certificate chain and the private key of its first certificate, the
  key read from a regular file no one but its owner may access (as `tokenfile` demands
  of a token); anything else is a `TlsFileError` naming the spec key, the file and what
  is wrong, never a byte of the key;
- the key's bytes are kept only in `Pair.key_pem` (left out of its repr) and written
  only into files or descriptors the TLS library reads (`server_context` uses an
  anonymous memory file; the haproxy engine a 0600 file in its private folder);
- `Watch` is sans-IO: it is told the files' stamps and, when asked for, their bytes, and
  answers what to do; a pair is taken only once both files read as a valid, matching
  pair whose content differs from the serving one, and a refused content is reported
  once, then retried when the files change again;
- `expiry` and `Reminder` are pure (the time is given): a certificate within
  EXPIRY_WARNING of its not-after, or past it, is said at `check`, in `status` and as an
  agent event at most once a day, never as an error (an agent restarted with an
  expired certificate still serves, and clients that do not check still connect).
"""

from __future__ import annotations

import hashlib
import os
import ssl
import stat
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

CERT_KEY, KEY_KEY = "proxy.tls.cert", "proxy.tls.key"
MIN_VERSION = ssl.TLSVersion.TLSv1_2
EXPIRY_WARNING = timedelta(days=14)  # ACME clients renew at 30 days left: 14 is late
REMIND_EVERY = timedelta(days=1)


class TlsFileError(ValueError):
    """What is wrong with the pair: `key` is the spec key to edit."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


@dataclass(frozen=True)
class Pair:
    cert_pem: bytes  # the certificate chain, PEM, leaf first
    key_pem: bytes = field(repr=False)  # secret: never shown, logged or stored
    subject: str
    not_after: datetime  # UTC
    fingerprint: str  # sha256 of the leaf's DER, hex pairs joined by ':'

    @property
    def combined(self) -> bytes:
        """The chain then the key, as HAProxy's `crt` and OpenSSL's certfile take them."""
        cert = self.cert_pem if self.cert_pem.endswith(b"\n") else self.cert_pem + b"\n"
        return cert + self.key_pem

    def describe(self) -> dict[str, str]:
        """What `status` and the events may show: no key material."""
        return {
            "subject": self.subject,
            "not_after": self.not_after.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "sha256": self.fingerprint,
        }

    def summary(self) -> str:
        d = self.describe()
        return f"subject {d['subject']}, not after {d['not_after']}, sha256 {d['sha256']}"


def expiry(pair: Pair, now: datetime) -> str | None:
    """What to say about the certificate's end at `now` (UTC), or None when it is more
    than EXPIRY_WARNING away."""
    left = pair.not_after - now
    when = pair.describe()["not_after"]
    if left <= timedelta(0):
        return (
            f"the certificate ({pair.subject}) expired at {when}: clients that check "
            "refuse the handshake; replace the files, the agent takes them at once"
        )
    if left > EXPIRY_WARNING:
        return None
    days = left.days
    within = f"{days} days" if days >= 2 else f"{int(left.total_seconds() // 3600)} hours"
    return (
        f"the certificate ({pair.subject}) expires in {within}, at {when}: replace the "
        "files, the agent takes them without a restart"
    )


class Reminder:
    """When the agent says `expiry` again (sans-IO): at once, then once a day while it
    applies; a new pair (or the same said at a new step: expiring, then expired) is said
    at once."""

    def __init__(self) -> None:
        self._said: tuple[str, str, datetime] | None = None  # (sha256, kind, when)

    def due(self, pair: Pair, now: datetime) -> str | None:
        message = expiry(pair, now)
        if message is None:
            return None
        kind = "expired" if pair.not_after <= now else "expiring"
        said = self._said
        if (
            said is not None
            and said[:2] == (pair.fingerprint, kind)
            and now - said[2] < REMIND_EVERY
        ):
            return None
        self._said = (pair.fingerprint, kind, now)
        return message


def fingerprint(der: bytes) -> str:
    return ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest())


def parse_pair(cert_pem: bytes, key_pem: bytes, cert_name: str, key_name: str) -> Pair:
    """The pair these bytes hold (pure); names are what messages call the files."""
    try:
        chain = x509.load_pem_x509_certificates(cert_pem)
    except ValueError:
        raise TlsFileError(
            CERT_KEY,
            f"{cert_name} is not a PEM certificate (expected '-----BEGIN CERTIFICATE-----' "
            "blocks, the leaf first)",
        ) from None
    leaf = chain[0]
    if b"PRIVATE KEY-----" in cert_pem:
        raise TlsFileError(
            CERT_KEY,
            f"{cert_name} holds a private key: keep it only in the file proxy.tls.key names",
        )
    try:
        key: PrivateKeyTypes = serialization.load_pem_private_key(key_pem, password=None)
    except TypeError:
        raise TlsFileError(
            KEY_KEY,
            f"{key_name} is an encrypted private key; the agent needs it unencrypted "
            "(`openssl pkey -in KEY -out KEY.plain`, mode 0600)",
        ) from None
    except Exception:
        raise TlsFileError(
            KEY_KEY,
            f"{key_name} is not a PEM private key (expected '-----BEGIN PRIVATE KEY-----' "
            "or an RSA/EC key block)",
        ) from None
    raw = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(*raw) != leaf.public_key().public_bytes(*raw):
        raise TlsFileError(
            KEY_KEY,
            f"{key_name} is not the private key of the certificate in {cert_name} "
            "(their public keys differ)",
        )
    return Pair(
        cert_pem=cert_pem,
        key_pem=key_pem,
        subject=leaf.subject.rfc4514_string(),
        not_after=leaf.not_valid_after_utc,
        fingerprint=fingerprint(leaf.public_bytes(serialization.Encoding.DER)),
    )


def read_file(path: Path, key: str, secret: bool) -> bytes:
    """The bytes of one file of the pair; `secret` (the key) must be mode 0600 or less."""
    shown = str(path)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise TlsFileError(key, f"{shown} does not exist") from None
    except OSError as exc:
        raise TlsFileError(key, f"cannot read {shown}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(info.st_mode):
        raise TlsFileError(key, f"{shown} is not a regular file")
    mode = stat.S_IMODE(info.st_mode)
    if secret and mode & 0o077:
        raise TlsFileError(
            key,
            f"{shown} is open to group or others (mode {mode:04o}), so other users could "
            f"read the private key; run `chmod 600 {shown}`",
        )
    try:
        return path.read_bytes()
    except OSError as exc:
        raise TlsFileError(key, f"cannot read {shown}: {exc.strerror or exc}") from None


def load_pair(cert: Path, key: Path) -> Pair:
    """Read and check the pair at these paths (TlsFileError says what is wrong)."""
    cert_pem = read_file(cert, CERT_KEY, secret=False)
    key_pem = read_file(key, KEY_KEY, secret=True)
    return parse_pair(cert_pem, key_pem, str(cert), str(key))


def server_context(pair: Pair, alpn: tuple[str, ...] = ("http/1.1",)) -> ssl.SSLContext:
    """A server context serving `pair`: TLS 1.2 and later, these ALPN protocols."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = MIN_VERSION
    context.set_alpn_protocols(list(alpn))
    load_into(context, pair)
    return context


def load_into(context: ssl.SSLContext, pair: Pair) -> None:
    """Make `context` serve `pair` from now on: handshakes already begun keep the pair
    they started with (OpenSSL copies it into each connection). The pair goes through an
    anonymous memory file, so the key reaches no path on disk."""
    fd = os.memfd_create("changeover-tls", os.MFD_CLOEXEC)
    try:
        os.write(fd, pair.combined)
        context.load_cert_chain(f"/proc/self/fd/{fd}")
    finally:
        os.close(fd)


# -- watching the files ------------------------------------------------------------------

Stamp = tuple[int, int, int, int]  # device, inode, mtime (ns), size: 0s when unreadable


def stamp(path: Path) -> Stamp:
    try:
        info = path.stat()
    except OSError:
        return (0, 0, 0, 0)
    return (info.st_dev, info.st_ino, info.st_mtime_ns, info.st_size)


@dataclass(frozen=True)
class Take:
    pair: Pair
    content: str  # its files' digest
    before: tuple[Pair, str]  # what served until now: `Watch.undo` goes back to it


@dataclass(frozen=True)
class Refuse:
    reason: str  # says which file and why; never key material


Verdict = Take | Refuse | None


def digest(cert_pem: bytes, key_pem: bytes) -> str:
    """What tells one content of the two files from another (not shown anywhere)."""
    h = hashlib.sha256()
    for part in (cert_pem, key_pem):
        h.update(len(part).to_bytes(8, "big"))
        h.update(part)
    return h.hexdigest()


class Watch:
    """When to read the files again and whether what they hold is taken (sans-IO)."""

    def __init__(self, serving: Pair, stamps: tuple[Stamp, Stamp], content: str) -> None:
        self.serving = serving
        self._stamps = stamps
        self._content = content  # digest of the serving pair's files
        self._refused: str | None = None  # digest of the last content refused

    def changed(self, stamps: tuple[Stamp, Stamp]) -> bool:
        """Should the files be read? Yes when either stamp moved since the last look."""
        if stamps == self._stamps:
            return False
        self._stamps = stamps
        return True

    def read(self, content: str, outcome: Pair | TlsFileError) -> Verdict:
        """The files read as `content` (their digest) and parsed into `outcome`."""
        if content == self._content:
            self._refused = None
            return None  # touched, not changed (or changed back)
        if content == self._refused:
            return None  # said already; the next change is tried again
        if isinstance(outcome, TlsFileError):
            self._refused = content
            return Refuse(f"{outcome.key}: {outcome}")
        take = Take(outcome, content, (self.serving, self._content))
        self._content, self._refused = content, None
        self.serving = outcome
        return take

    def undo(self, take: Take) -> None:
        """The engine did not take `take`: the old pair serves on, and that content is
        refused until the files change again."""
        self.serving, self._content = take.before
        self._refused = take.content


def look(watch: Watch, cert: Path, key: Path) -> Verdict:
    """One poll of the files (IO around `Watch`): what changed, read and judged."""
    if not watch.changed((stamp(cert), stamp(key))):
        return None
    try:
        cert_pem = read_file(cert, CERT_KEY, secret=False)
        key_pem = read_file(key, KEY_KEY, secret=True)
    except TlsFileError as exc:
        return watch.read(f"unreadable:{exc.key}:{exc}", exc)
    content = digest(cert_pem, key_pem)
    try:
        outcome: Pair | TlsFileError = parse_pair(cert_pem, key_pem, str(cert), str(key))
    except TlsFileError as exc:
        outcome = exc
    return watch.read(content, outcome)


def start_watch(cert: Path, key: Path) -> Watch:
    """Load the pair (TlsFileError when it is not valid) and watch from there."""
    stamps = (stamp(cert), stamp(key))
    cert_pem = read_file(cert, CERT_KEY, secret=False)
    key_pem = read_file(key, KEY_KEY, secret=True)
    pair = parse_pair(cert_pem, key_pem, str(cert), str(key))
    return Watch(pair, stamps, digest(cert_pem, key_pem))
