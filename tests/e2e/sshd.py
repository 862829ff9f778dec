"""A real OpenSSH server on loopback for the tests of remote environments: this machine
plays the remote host, reached as the current account with a key generated per test,
and, when asked, as other accounts too, each with its own key.

Invariant: everything sshd and ssh use lives in the test's folder (host key, authorized
keys per account, configs, log), the client trusts exactly the generated host key and
offers exactly the key of the account it logs in as, never a prompt; the server is
stopped by its pid at teardown. With other accounts the folder must be one they can
enter (sshd reads an account's authorized keys as that account).
"""

from __future__ import annotations

import contextlib
import getpass
import os
import shlex
import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence
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
AuthorizedKeysFile {dir}/authorized_keys_%u
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
  {user}UserKnownHostsFile {dir}/known_hosts
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

    def url(self, path: Path, *, user: bool = True) -> str:
        """The `host` of an environment whose service folder is `path` on this "host"
        (without `user`, the account is the client config's: `ssh_as`)."""
        who = f"{self.user}@" if user else ""
        return f"ssh://{who}127.0.0.1:{self.port}{path}"

    def ssh(self, key: str = "client_key") -> str:
        """$CHANGEOVER_SSH: ssh with a client config offering `key` (another generated
        one is `wrong_key`, which the server does not know)."""
        return shlex.join(["ssh", "-F", str(self.dir / f"{key}.config")])

    def ssh_as(self, account: str) -> str:
        """$CHANGEOVER_SSH logging in as `account` (one of `running_sshd`'s `accounts`)
        with its own key, for a `host` without a user."""
        return self.ssh(f"{account}_key")

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


def configure(folder: Path, accounts: Sequence[str] = ()) -> Sshd:
    """Keys and configs for a server on a free loopback port (not started); each of
    `accounts` gets a key of its own, authorized for it alone."""
    folder.mkdir(mode=0o755 if accounts else 0o700, exist_ok=True)
    server = Sshd(folder, free_port(), getpass.getuser())
    for name in ("host_key", "client_key", "wrong_key", *(f"{a}_key" for a in accounts)):
        _keygen(folder / name, f"changeover-test-{name}")
    for account, key in ((server.user, "client_key"), *((a, f"{a}_key") for a in accounts)):
        keys = folder / f"authorized_keys_{account}"
        keys.write_text((folder / f"{key}.pub").read_text())
        keys.chmod(0o644)
    host_key = (folder / "host_key.pub").read_text().split()
    (folder / "known_hosts").write_text(f"[127.0.0.1]:{server.port} {host_key[0]} {host_key[1]}\n")
    (folder / "sshd_config").write_text(SERVER_CONFIG.format(port=server.port, dir=folder))
    clients = [("client_key", ""), ("wrong_key", ""), *((f"{a}_key", a) for a in accounts)]
    for key, user in clients:
        login = f"User {user}\n  " if user else ""
        config = CLIENT_CONFIG.format(dir=folder, key=folder / key, user=login)
        (folder / f"{key}.config").write_text(config)
    return server


@contextlib.contextmanager
def running_sshd(folder: Path, accounts: Sequence[str] = ()) -> Iterator[Sshd]:
    """A started sshd for the test's use (`accounts` may log in too, each with its own
    key: `Sshd.ssh_as`); stopped by pid on the way out."""
    binary = require("sshd", "openssh-server")
    require("ssh", "openssh-client")
    if os.geteuid() == 0 and not PRIVSEP_DIR.exists():
        PRIVSEP_DIR.mkdir(mode=0o755, exist_ok=True)  # workers may race to it
    server = configure(folder, accounts)
    try:
        server.start(binary)
        yield server
    finally:
        server.stop()
