"""Where an agent keeps its files: one state directory per service.

Invariant: the CLI and the agent derive every path from the state directory alone,
so they always agree on where the control socket, store, logs and pid file are.
"""

from __future__ import annotations

import hashlib
import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

_SUN_PATH_MAX = 100  # sockaddr_un holds 108 bytes; stay clear of the limit
_HAPROXY_PATH_MAX = 97  # HAProxy's own limit (it binds "<path>.<pid>.tmp", then renames)


@dataclass(frozen=True)
class StatePaths:
    root: Path

    @classmethod
    def resolve(
        cls,
        state_dir: str | os.PathLike[str] | None,
        spec_file: Path,
        environment: str | None = None,
    ) -> StatePaths:
        """--state-dir, else $CHANGEOVER_STATE_DIR, else `.changeover/` beside the spec
        (`.changeover/<environment>/` for an environment: each has its own agent)."""
        chosen = state_dir or os.environ.get("CHANGEOVER_STATE_DIR")
        if chosen:
            return cls(Path(chosen).resolve())
        root = spec_file.resolve().parent / ".changeover"
        return cls((root / environment if environment else root).resolve())

    @property
    def store(self) -> Path:
        return self.root / "state.db"

    @property
    def lock(self) -> Path:
        return self.root / "agent.lock"

    @property
    def pid_file(self) -> Path:
        return self.root / "agent.pid"

    @property
    def agent_log(self) -> Path:
        return self.root / "agent.log"

    @property
    def migrations_log(self) -> Path:
        """Every migration command's output, redacted (`changeover logs --migrations`)."""
        return self.root / "migrations.log"

    @property
    def digest_key(self) -> Path:
        """The key of secret digests (`agent.secret_env`): back it up with the store."""
        return self.root / "digest.key"

    @property
    def releases(self) -> Path:
        """Release artifacts this agent received, unpacked (`agent.artifacts`)."""
        return self.root / "releases"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def control_socket(self) -> Path:
        """`agent.sock` in the state dir, or a short private path when that is too long."""
        direct = self.root / "agent.sock"
        if len(os.fsencode(direct)) <= _SUN_PATH_MAX:
            return direct
        digest = hashlib.sha256(os.fsencode(self.root)).hexdigest()[:20]
        return short_socket_dir() / f"{digest}.sock"

    @property
    def haproxy_config(self) -> Path:
        """The configuration the haproxy engine renders at each start (`haproxy.config`)."""
        return self.root / "haproxy.cfg"

    @property
    def haproxy_pid(self) -> Path:
        """`<pid> <start time>` of the haproxy engine's master, while it runs."""
        return self.root / "haproxy.pid"

    @property
    def haproxy_sockets(self) -> Path:
        """The haproxy engine's sockets (runtime API, master CLI, request log): `haproxy/`
        in the state dir, or a short private folder when those paths would be too long."""
        direct = self.root / "haproxy"
        # room for a reload generation in the names: "master.sock" is "master.12345.sock"
        if len(os.fsencode(direct / "master.12345.sock")) <= _HAPROXY_PATH_MAX:
            return direct
        digest = hashlib.sha256(os.fsencode(self.root)).hexdigest()[:20]
        return short_socket_dir() / f"{digest}-haproxy"

    def ensure(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.logs.mkdir(exist_ok=True, mode=0o700)
        sock_dir = self.control_socket.parent
        if sock_dir != self.root:
            private_dir(sock_dir)


def private_dir(path: Path) -> None:
    """A shared-tmp folder we own with mode 0700; anything else could let others swap
    the control socket, so refuse it."""
    path.mkdir(exist_ok=True, mode=0o700)
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid():
        raise PermissionError(
            f"{path} is not a folder owned by you; remove it, or use a shorter --state-dir"
        )
    if stat.S_IMODE(st.st_mode) != 0o700:
        os.chmod(path, 0o700)


def short_socket_dir() -> Path:
    return Path(tempfile.gettempdir()) / f"changeover-{os.getuid()}"
