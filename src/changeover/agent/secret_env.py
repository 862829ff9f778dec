"""Secret variables (`[app] secret_env`): where their values come from, and the digests
that stand for them everywhere else.

Invariant: a secret's value lives only in this process's memory, on its way into the
environment of a child (replica, hook, analysis command), and is read again from its
source each time one starts; the store, the events, the agent's log and every document
hold its digest instead, and no error message quotes a value.

A value comes from the env files (`[app] env_file` < `deploy --env-file`) or, below them,
from the agent's own environment; never from the spec or `--env`, which are stored or
seen by others (`ps`, shell history). The revision records which one it came from, and a
replica reads exactly that source when it starts (docs/spec.md, "Secrets").

The digest is HMAC-SHA256 keyed with `digest.key`, 32 random bytes made once per state
directory (mode 0600): a plain hash of a weak secret (a short password) can be reversed
by trying candidates; a keyed one cannot without the key, and digests still compare
within the service, which is all `history` needs.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from changeover.spec.envfile import EnvFileError, read_env_file

ENVIRONMENT = "environment"  # the source of a secret read from the agent's environment
PREFIX = "hmac-sha256:"
HEX_DIGITS = 16  # 64 bits: a change goes unnoticed with odds of 2**-64
KEY_BYTES = 32
AGENT_ENV = "the agent's environment"


class SecretError(Exception):
    """A secret cannot be resolved; the message says which, and where it was looked for."""


def digest(key: bytes, value: str) -> str:
    """What stands for `value` in the store and in every document."""
    mac = hmac.new(key, value.encode("utf-8", "surrogateescape"), hashlib.sha256)
    return PREFIX + mac.hexdigest()[:HEX_DIGITS]


class DigestKey:
    """The state directory's digest key, read (or made) on first use only: a service
    without secrets never gets one."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._key: bytes | None = None

    def __call__(self) -> bytes:
        if self._key is None:
            self._key = load_key(self.path)
        return self._key


def load_key(path: Path) -> bytes:
    """The key in `path`, made first if there is none (atomically: two agents racing
    end up with the same key)."""
    if not path.exists():
        _make_key(path)
    if stat.S_IMODE(path.stat().st_mode) & 0o077:
        os.chmod(path, 0o600)  # with the key, digests of weak secrets can be brute-forced
    text = path.read_text(encoding="ascii", errors="replace").strip()
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) != KEY_BYTES:
        raise SecretError(
            f"{path}: expected {KEY_BYTES * 2} hex digits (the key of secret digests); "
            "restore it from a backup, or remove it to make a new one (the digests of "
            "earlier revisions then no longer match their values)"
        )
    return key


def _make_key(path: Path) -> None:
    temp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, secrets.token_hex(KEY_BYTES).encode() + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(temp, path)  # fails if another process made one first: theirs is kept
    except FileExistsError:
        pass
    finally:
        temp.unlink()


@dataclass(frozen=True)
class EnvFile:
    path: Path  # absolute
    origin: str  # how errors name it: "app.env_file" or "--env-file"


@dataclass(frozen=True)
class ReleaseEnv:
    env: dict[str, str]  # what the revision stores: plain values, a digest per secret
    sources: dict[str, str]  # secret name -> env file path or ENVIRONMENT


def release_env(
    *,
    spec_env: Mapping[str, str],
    files: Sequence[EnvFile],
    cli_env: Mapping[str, str],
    secret: Sequence[str],
    environ: Mapping[str, str],
    key: Callable[[], bytes],
) -> ReleaseEnv:
    """The environment of a new revision: spec `env` < env files in order < `--env`; each
    secret from the last env file that has it, else the agent's environment."""
    refused = [name for name in cli_env if name in secret]
    if refused:
        raise SecretError(*(refusal(name, files[0].path if files else None) for name in refused))
    loaded = [(f, _read(f)) for f in files]
    plain = {**spec_env}
    for _, values in loaded:
        plain |= values
    plain |= cli_env
    env = {k: v for k, v in plain.items() if k not in secret}
    sources: dict[str, str] = {}
    missing = []
    for name in secret:
        found = _find(name, loaded, environ)
        if found is None:
            missing.append(name)
            continue
        value, sources[name] = found
        env[name] = digest(key(), value)
    if missing:
        raise SecretError(*(_missing(name, files) for name in missing))
    return ReleaseEnv(env, sources)


def _find(
    name: str, loaded: Sequence[tuple[EnvFile, dict[str, str]]], environ: Mapping[str, str]
) -> tuple[str, str] | None:
    for env_file, values in reversed(loaded):
        if name in values:
            return values[name], str(env_file.path)
    if name in environ:
        return environ[name], ENVIRONMENT
    return None


def _read(env_file: EnvFile) -> dict[str, str]:
    try:
        return read_env_file(env_file.path)
    except EnvFileError as exc:  # names file:line, never the text
        raise SecretError(f"{env_file.origin}: {exc}") from None


def _places(files: Sequence[EnvFile]) -> str:
    return ", ".join([*(f"{f.path} ({f.origin})" for f in files), AGENT_ENV])


def refusal(name: str, env_file: Path | None) -> str:
    """Why `--env NAME=...` is refused for a secret, and where to put it instead."""
    where = f"the env file ({env_file})" if env_file else "an env file (app.env_file)"
    return (
        f"--env {name}: {name} is a secret (app.secret_env), and a command line is seen "
        f"by `ps` and kept in shell history; put it in {where}, a file given with "
        f"--env-file, or {AGENT_ENV}"
    )


def _missing(name: str, files: Sequence[EnvFile]) -> str:
    return (
        f"app.secret_env: {name} was found nowhere; looked in {_places(files)}; "
        "put it in one of them"
    )


@dataclass
class SecretReader:
    """A revision's secrets, read from where they came from at deploy each time a child
    starts; a value whose digest differs from the revision's is reported once (the name
    and both digests, never the value) and used: the deployed value is nowhere to be had."""

    revision: int
    sources: Mapping[str, str]  # name -> env file path or ENVIRONMENT
    digests: Mapping[str, str]  # name -> the digest stored with the revision
    key: Callable[[], bytes]
    on_changed: Callable[[str, str, str, str], None]  # (who, name, deployed, current)
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)
    _reported: set[tuple[str, str]] = field(default_factory=set)

    def values(self, who: str) -> dict[str, str]:
        """Every secret's current value for `who` (a replica id); SecretError if one
        cannot be read."""
        files: dict[str, dict[str, str]] = {}
        out: dict[str, str] = {}
        for name, source in self.sources.items():
            out[name] = value = self._value(name, source, files)
            now = digest(self.key(), value)
            deployed = self.digests.get(name, "")
            if now != deployed and (name, now) not in self._reported:
                self._reported.add((name, now))
                self.on_changed(who, name, deployed, now)
        return out

    def _value(self, name: str, source: str, files: dict[str, dict[str, str]]) -> str:
        if source == ENVIRONMENT:
            value, where = self.environ.get(name), AGENT_ENV
        else:
            if source not in files:
                try:
                    files[source] = read_env_file(Path(source))
                except EnvFileError as exc:
                    raise SecretError(
                        f"cannot read secret {name} of revision {self.revision}: {exc}"
                    ) from None
            value, where = files[source].get(name), source
        if value is None:
            raise SecretError(
                f"secret {name} of revision {self.revision} is no longer in {where}, where "
                "it was at deploy; put it back there, or deploy again to read it from "
                "where it is now"
            )
        return value
