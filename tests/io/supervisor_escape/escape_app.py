"""A replica whose processes leave its process group; stdlib only.

    escape_app.py setsid-child DIR    a child calls setsid() and sleeps; main sleeps
    escape_app.py double-fork DIR     child: setsid, fork, exit (grandchild orphaned)
    escape_app.py daemons DIR N       N double-forked daemons and N that setsid() after
                                      their parent left; each exits once DIR/go exists
    escape_app.py exit-on DIR         like setsid-child, but main exits 3 once DIR/exit exists

Each escaped process writes its pid to DIR/<name>.pid (atomically) as soon as it runs.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

POLL = 0.02


def write_pid(folder: Path, name: str) -> None:
    tmp = folder / f".{name}.tmp"
    tmp.write_text(str(os.getpid()))
    tmp.rename(folder / f"{name}.pid")


def wait_for(path: Path) -> None:
    while not path.exists():
        time.sleep(POLL)


def sleep_forever() -> None:
    while True:
        time.sleep(3600)


def in_child(body: Callable[[], None]) -> int:
    """fork; the child runs `body()` and never returns."""
    pid = os.fork()
    if pid == 0:
        try:
            body()
        finally:
            os._exit(0)
    return pid


def setsid_child(folder: Path, name: str = "escaped") -> None:
    def child() -> None:
        os.setsid()
        write_pid(folder, name)
        sleep_forever()

    in_child(child)


def double_fork(folder: Path, name: str, until: Path | None) -> None:
    def grandchild() -> None:
        write_pid(folder, name)
        if until is None:
            sleep_forever()
        wait_for(until)

    def intermediate() -> None:
        os.setsid()
        in_child(grandchild)

    os.waitpid(in_child(intermediate), 0)


def late_setsid(folder: Path, name: str, until: Path) -> None:
    """The grandchild leads its own session only after its parent left it."""

    def grandchild() -> None:
        while os.getppid() == parent:
            time.sleep(POLL)
        os.setsid()
        write_pid(folder, name)
        wait_for(until)

    def intermediate() -> None:
        nonlocal parent
        parent = os.getpid()
        in_child(grandchild)

    parent = 0
    os.waitpid(in_child(intermediate), 0)


def main(mode: str, folder: Path, *rest: str) -> None:
    if mode == "setsid-child":
        setsid_child(folder)
    elif mode == "double-fork":
        double_fork(folder, "escaped", None)
    elif mode == "daemons":
        for i in range(int(rest[0])):
            double_fork(folder, f"forked-{i}", folder / "go")
            late_setsid(folder, f"leader-{i}", folder / "go")
    elif mode == "exit-on":
        setsid_child(folder)
        wait_for(folder / "exit")
        sys.exit(3)
    sleep_forever()


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]), *sys.argv[3:])
