"""A throwaway PostgreSQL cluster for the tests that need a real database (Debian's
`postgresql`, found with `tests.parts`).

Invariant: the cluster lives in a fresh temporary folder, listens on loopback only (an
ephemeral port, its unix socket in that folder), trusts local connections, and is one
process tracked by pid: `Cluster.stop` ends it (SIGINT: PostgreSQL's fast shutdown, then
SIGKILL of its group), reaps it and removes the folder. PostgreSQL refuses to run as
root, so as root it runs as the `postgres` account the package creates (`setpriv`
execs, so the pid is the server's own).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests import parts
from tests.helpers import free_port, wait_for

ACCOUNT = "postgres"  # made by Debian's package; the server's owner when tests run as root


@dataclass
class Cluster:
    proc: subprocess.Popen[bytes]
    folder: Path
    port: int

    def url(self, password: str = "") -> str:
        """A libpq URL; trust authentication ignores the password (a stand-in secret)."""
        secret = f":{password}" if password else ""
        return f"postgresql://{ACCOUNT}{secret}@127.0.0.1:{self.port}/postgres"

    def columns(self, table: str) -> list[str]:
        """`table`'s columns, in order: what a schema step changed."""
        import psycopg

        with psycopg.connect(self.url()) as conn:
            rows = conn.execute(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_name = %s ORDER BY ordinal_position",
                (table,),
            ).fetchall()
        return [r[0] for r in rows]

    def log(self) -> str:
        with contextlib.suppress(OSError):
            return (self.folder / "server.log").read_text(errors="replace")[-4000:]
        return ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


def _as_owner(argv: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return argv
    setpriv = parts.require("setpriv", "util-linux")
    return [setpriv, f"--reuid={ACCOUNT}", f"--regid={ACCOUNT}", "--clear-groups", "--", *argv]


@contextlib.contextmanager
def cluster() -> Iterator[Cluster]:
    initdb = parts.require("initdb", "postgresql")
    postgres = parts.require("postgres", "postgresql")
    folder = Path(tempfile.mkdtemp(prefix="changeover-pg-"))
    data = folder / "data"
    if os.geteuid() == 0:
        owner = pwd.getpwnam(ACCOUNT)
        os.chown(folder, owner.pw_uid, owner.pw_gid)
    try:
        subprocess.run(
            _as_owner([initdb, "-D", str(data), "-U", ACCOUNT, "--auth=trust", "-E", "UTF8",
                       "--no-sync"]),
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    port = free_port()
    with (folder / "server.log").open("wb") as log:
        os.chmod(folder / "server.log", 0o666)
        proc = subprocess.Popen(
            _as_owner([postgres, "-D", str(data), "-p", str(port), "-h", "127.0.0.1",
                       "-k", str(folder), "-c", "fsync=off", "-c", "max_connections=200"]),
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    server = Cluster(proc, folder, port)
    try:
        wait_for(lambda: _accepts(server) or proc.poll() is not None, 60, "postgres ready",
                 detail=server.log)  # fmt: skip
        assert proc.poll() is None, server.log()
        yield server
    finally:
        server.stop()


def _accepts(server: Cluster) -> bool:
    import psycopg

    try:
        with psycopg.connect(server.url(), connect_timeout=2):
            return True
    except psycopg.OperationalError:
        return False
