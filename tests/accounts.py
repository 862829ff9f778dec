"""Two real accounts and a group for the identity tests: the agent learns who calls from
the kernel (SO_PEERCRED), so only a process that runs as another account is another
caller; an argument could never be.

Invariant: the accounts and their group exist only during the test that asked for them
(created with `useradd --system --no-create-home`, removed at teardown, names unique per
test so parallel workers never share one); they need root: outside CI a test without it
skips, in CI (CI=true) it fails. What an account runs is this checkout's changeover on
the system's Python of the same version (the venv's interpreter may sit in a folder
other accounts cannot enter), with PYTHONPATH on copies they can read when the
originals are out of their reach (hard links when the file system allows).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import stat
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.parts import require

SRC = Path(__file__).resolve().parents[1] / "src"
SYSTEM_PYTHON = "/usr/bin/python3"


@dataclass(frozen=True)
class Accounts:
    group: str
    alice: str
    bob: str
    python: list[str]  # argv prefix: `env PYTHONPATH=... python3` any account can run
    folder: Path  # a world-traversable folder of the test's (0755), removed at teardown

    def changeover(self) -> list[str]:
        return [*self.python, "-m", "changeover"]

    def remote(self) -> str:
        """$CHANGEOVER_REMOTE for a host where these accounts log in."""
        import shlex

        return shlex.join(self.changeover())

    def run_as(
        self, account: str, argv: Sequence[str], cwd: Path, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """`argv` run as `account` (its groups too), like a person logged in as it."""
        setpriv = require("setpriv", "util-linux")
        env = {"PATH": "/usr/bin:/bin", "HOME": str(self.folder), "COLUMNS": "200",
               "NO_COLOR": "1", "LANG": "C.UTF-8"}  # fmt: skip
        return subprocess.run(
            [setpriv, f"--reuid={account}", f"--regid={self.group}", "--init-groups", *argv],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )


def _need_root() -> None:
    if os.geteuid() == 0:
        return
    message = "two real accounts need root (useradd, setpriv); CI runs as root"
    if os.environ.get("CI") == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def _reachable(path: Path) -> bool:
    """Whether an account that is neither owner nor in the group can read `path`."""
    for step in [path, *path.parents]:
        mode = os.stat(step).st_mode
        if not mode & stat.S_IXOTH or (step == path and not mode & stat.S_IROTH):
            return False
    return True


def _readable_copy(source: Path, into: Path) -> Path:
    """`source` itself if others can read it, else a copy in `into` they can (hard links
    when possible: instant, and the files keep their modes)."""
    if _reachable(source):
        return source
    target = into / source.name
    done = subprocess.run(["cp", "-al", str(source), str(target)], capture_output=True, check=False)
    if done.returncode != 0:
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(source, target, symlinks=True)
    for root, dirs, _ in os.walk(target):
        for d in dirs:
            os.chmod(os.path.join(root, d), 0o755)
    return target


def _system_python() -> str:
    """The system's python3, of this interpreter's version (the venv's packages' ABI)."""
    found = require("python3", "python3") if not os.path.exists(SYSTEM_PYTHON) else SYSTEM_PYTHON
    version = subprocess.run(
        [found, "-c", "import sys; print(*sys.version_info[:2])"],
        capture_output=True, text=True, check=True, timeout=30,
    ).stdout.split()  # fmt: skip
    if tuple(map(int, version)) != sys.version_info[:2]:
        message = f"{found} is Python {'.'.join(version)}, the venv's is {sys.version_info[:2]}"
        if os.environ.get("CI") == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return found


def _run(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True, timeout=60)


@contextlib.contextmanager
def two_accounts() -> Iterator[Accounts]:
    """co-alice-XXXX and co-bob-XXXX in group co-deploy-XXXX, for the test's duration."""
    _need_root()
    for tool, package in (("useradd", "passwd"), ("groupadd", "passwd"), ("setpriv", "util-linux")):
        require(tool, package)
    python = _system_python()
    tag = secrets.token_hex(3)
    group, alice, bob = f"co-deploy-{tag}", f"co-alice-{tag}", f"co-bob-{tag}"
    folder = Path(tempfile.mkdtemp(prefix="co-accounts-"))
    os.chmod(folder, 0o755)
    made: list[str] = []
    try:
        _run("groupadd", "--system", group)
        for name in (alice, bob):
            # '*': no password, yet not locked ('!'), so sshd (without PAM) lets a key in
            _run("useradd", "--system", "--no-create-home", "--home-dir", str(folder),
                 "--shell", "/bin/sh", "--password", "*", "--groups", group, name)  # fmt: skip
            made.append(name)
        site = Path(sysconfig.get_paths()["purelib"])
        copies = folder / "python"
        copies.mkdir(mode=0o755)
        paths = [_readable_copy(SRC, copies), _readable_copy(site, copies)]
        pythonpath = ":".join(str(p) for p in paths)
        yield Accounts(group, alice, bob, ["env", f"PYTHONPATH={pythonpath}", python], folder)
    finally:
        for name in made:
            subprocess.run(["userdel", name], capture_output=True, check=False, timeout=60)
        subprocess.run(["groupdel", group], capture_output=True, check=False, timeout=60)
        shutil.rmtree(folder, ignore_errors=True)
