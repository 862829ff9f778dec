"""A real OpenSSH server on loopback for the tests of remote environments: this machine
plays the remote host, reached as the current account with a key generated per test.

Invariant: everything sshd and ssh use lives in the test's folder (host key, authorized
keys, configs, log), the client trusts exactly the generated host key and offers exactly
the generated client key, never a prompt; the server is stopped by its pid at teardown.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import shlex
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.helpers import free_port, wait_for
from tests.parts import require

PRIVSEP_DIR = Path("/run/sshd")  # sshd run by root wants it (Debian's unit creates it)
SERVER_CONFIG = """\
ListenAddress 127.0.0.1
Port {port}
HostKey {dir}/host_key
PidFile none
AuthorizedKeysFile {dir}/authorized_keys
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
PrintMotd no
LogLevel VERBOSE
"""
CLIENT_CONFIG = """\
Host *
  UserKnownHostsFile {dir}/known_hosts
  StrictHostKeyChecking yes
  IdentityFile {key}
  IdentitiesOnly yes
  BatchMode yes
  LogLevel ERROR
"""


@dataclass
class Sshd:
    dir: Path
    port: int
    user: str
    proc: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> Path:
        return self.dir / "sshd.log"

    def url(self, path: Path) -> str:
        """The `host` of an environment whose service folder is `path` on this "host"."""
        return f"ssh://{self.user}@127.0.0.1:{self.port}{path}"

    def ssh(self, key: str = "client_key") -> str:
        """$CHANGEOVER_SSH: ssh with a client config offering `key` (another generated
        one is `wrong_key`, which the server does not know)."""
        return shlex.join(["ssh", "-F", str(self.dir / f"{key}.config")])

    def start(self, sshd: str) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sshd, "-D", "-e", "-f", str(self.dir / "sshd_config")],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_for(self._listening, 10, f"sshd listening on 127.0.0.1:{self.port}", detail=self.said)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def said(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def _listening(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"sshd exited with {self.proc.returncode}:\n{self.said()}")
        return f"listening on 127.0.0.1 port {self.port}" in self.said()


def remote_program() -> str:
    """$CHANGEOVER_REMOTE: this interpreter's `changeover`, importing what this test run
    imports (its PYTHONPATH, when one is set)."""
    program = str(Path(sys.executable).parent / "changeover")
    path = os.environ.get("PYTHONPATH")
    return shlex.join(["env", f"PYTHONPATH={path}", program]) if path else program


def _keygen(path: Path, comment: str) -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        check=True,
        capture_output=True,
        timeout=30,
    )


def configure(folder: Path) -> Sshd:
    """Keys and configs for a server on a free loopback port (not started)."""
    folder.mkdir(mode=0o700, exist_ok=True)
    server = Sshd(folder, free_port(), getpass.getuser())
    for name in ("host_key", "client_key", "wrong_key"):
        _keygen(folder / name, f"changeover-test-{name}")
    (folder / "authorized_keys").write_text((folder / "client_key.pub").read_text())
    host_key = (folder / "host_key.pub").read_text().split()
    (folder / "known_hosts").write_text(f"[127.0.0.1]:{server.port} {host_key[0]} {host_key[1]}\n")
    (folder / "sshd_config").write_text(SERVER_CONFIG.format(port=server.port, dir=folder))
    for key in ("client_key", "wrong_key"):
        config = CLIENT_CONFIG.format(dir=folder, key=folder / key)
        (folder / f"{key}.config").write_text(config)
    return server


@contextlib.contextmanager
def running_sshd(folder: Path) -> Iterator[Sshd]:
    """A started sshd for the test's use; stopped by pid on the way out."""
    binary = require("sshd", "openssh-server")
    require("ssh", "openssh-client")
    if os.geteuid() == 0 and not PRIVSEP_DIR.exists():
        PRIVSEP_DIR.mkdir(mode=0o755, exist_ok=True)  # workers may race to it
    server = configure(folder)
    try:
        server.start(binary)
        yield server
    finally:
        server.stop()
