"""Where a remote environment's agent is and the ssh command lines that reach it.

Invariant: every command line sent to a host is built here, from the environment's
`host = "ssh://[user@]host[:port]/path"`, $CHANGEOVER_SSH (the local ssh command) and
$CHANGEOVER_REMOTE (the `changeover` program on the host), with every word quoted by
`shlex`, so no path or name is ever read by a shell as anything but itself. Nothing here
runs a process.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from changeover.agent.paths import StatePaths
from changeover.spec.environments import SSH_HOST

SSH_VAR = "CHANGEOVER_SSH"  # the ssh command and its options, e.g. "ssh -F ~/.ssh/deploy"
REMOTE_VAR = "CHANGEOVER_REMOTE"  # the changeover program on the host
CONNECT_TIMEOUT = 10  # seconds for ssh's TCP connect and handshake
# ssh options every call uses: never a prompt (no person may be there), no tty (the pipe
# carries bytes), and a link that died ends ssh within ~45 s instead of hanging a stream
SSH_OPTIONS = (
    "-T",
    "-o", "BatchMode=yes",
    "-o", f"ConnectTimeout={CONNECT_TIMEOUT}",
    "-o", "ServerAliveInterval=15",
    "-o", "ServerAliveCountMax=3",
)  # fmt: skip


@dataclass(frozen=True)
class SshHost:
    """`ssh://[user@]host[:port]/path`: an account on a host and the service folder there."""

    url: str
    user: str | None
    host: str
    port: int | None
    path: str

    @classmethod
    def parse(cls, url: str) -> SshHost:
        match = SSH_HOST.fullmatch(url)
        if not match:
            raise ValueError(f'expected "ssh://[user@]host[:port]/path/to/service", got {url!r}')
        port = int(match["port"]) if match["port"] else None
        return cls(url, match["user"], match["host"], port, match["path"])

    @property
    def destination(self) -> str:
        return f"{self.user}@{self.host}" if self.user else self.host


@dataclass(frozen=True)
class Remote:
    """Environment `environment`, whose agent runs on `host`, reached with `ssh` running
    `program` there (both lists of words)."""

    environment: str
    host: SshHost
    ssh: tuple[str, ...] = ("ssh",)
    program: tuple[str, ...] = ("changeover",)

    @classmethod
    def of(cls, environment: str, host: SshHost, environ: Mapping[str, str]) -> Remote:
        """With the ssh command and remote program `environ` sets; ValueError says which
        of them cannot be read as a command line."""
        ssh = _words(environ, SSH_VAR, "ssh")
        return cls(environment, host, ssh, _words(environ, REMOTE_VAR, "changeover"))

    def line(self, *args: str) -> str:
        """The shell line run on the host: `changeover -E ENV ARGS` in the service folder."""
        command = shlex.join([*self.program, "-E", self.environment, *args])
        return f"{shlex.join(['cd', self.host.path])} && {command}"

    def command(self, *args: str) -> list[str]:
        """The local argv running `line(*args)` on the host."""
        port = ["-p", str(self.host.port)] if self.host.port else []
        return [*self.ssh, *SSH_OPTIONS, *port, self.host.destination, "--", self.line(*args)]

    def dial(self) -> list[str]:
        """The argv whose stdin and stdout are a connection to the agent's control socket."""
        return self.command("dial")

    @property
    def state_dir(self) -> PurePosixPath:
        """Where the agent keeps its state on the host (its default for the environment)."""
        return PurePosixPath(self.host.path) / ".changeover" / self.environment

    def on_host(self, path: str | Path) -> str:
        """A path as given for the host: absolute as is, relative to the service folder."""
        return str(PurePosixPath(self.host.path) / path)

    def __str__(self) -> str:
        return f"environment {self.environment} on {self.host.url}"


@dataclass(frozen=True)
class RemotePaths(StatePaths):
    """The state directory of an agent on another host: `root` names a folder there, for
    messages; the CLI reaches that agent only through `remote`."""

    remote: Remote

    @classmethod
    def of(cls, remote: Remote) -> RemotePaths:
        return cls(Path(remote.state_dir), remote)


def _words(environ: Mapping[str, str], name: str, default: str) -> tuple[str, ...]:
    raw = environ.get(name, "").strip() or default
    try:
        return tuple(shlex.split(raw))
    except ValueError as exc:
        raise ValueError(f"${name}: {exc} in {raw!r}; expected a command line") from None
