"""Finding HAProxy, and what is left of a crashed agent's (nothing is started here)."""

from __future__ import annotations

import os
from pathlib import Path

import psutil
import pytest

from changeover.haproxy.process import (
    Haproxy,
    HaproxyMissing,
    Layout,
    find_binary,
    generation_path,
    pid_files,
    stop_leftover,
    stop_leftovers,
)


def test_an_own_build_is_named_by_its_variable(tmp_path: Path) -> None:
    program = tmp_path / "haproxy"
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    assert find_binary(env={"CHANGEOVER_HAPROXY": str(program)}) == str(program)
    program.chmod(0o644)
    with pytest.raises(HaproxyMissing, match="is not an executable file; apt-get install haproxy"):
        find_binary(env={"CHANGEOVER_HAPROXY": str(program)})


def test_a_missing_haproxy_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("changeover.haproxy.process.SBIN", "/nonexistent")
    with pytest.raises(HaproxyMissing) as raised:
        find_binary(path="/nonexistent", env={})
    assert str(raised.value) == (
        'proxy.engine = "haproxy" needs the haproxy program: not installed (not on PATH nor '
        'in /nonexistent); apt-get install haproxy (Debian, Ubuntu), or use engine = "builtin"'
    )


def test_a_leftover_is_killed_only_if_its_pid_still_has_its_start_time(tmp_path: Path) -> None:
    pid_file = tmp_path / "haproxy.pid"
    assert stop_leftover(pid_file) is None  # no file: nothing was left
    mine = psutil.Process(os.getpid()).create_time()
    pid_file.write_text(f"{os.getpid()} {mine - 3600}\n")  # the pid was reused since
    assert stop_leftover(pid_file) is None
    assert not pid_file.exists()
    pid_file.write_text("garbage\n")
    assert stop_leftover(pid_file) is None


def test_the_master_is_started_in_master_worker_mode_with_its_cli(tmp_path: Path) -> None:
    layout = Layout(
        config=tmp_path / "haproxy.cfg",
        master_socket=str(tmp_path / "master.sock"),
        stats_socket=str(tmp_path / "stats.sock"),
        log=tmp_path / "haproxy.log",
        pid_file=tmp_path / "haproxy.pid",
        workdir=tmp_path,
    )
    argv = Haproxy("/usr/sbin/haproxy", layout).argv()
    command = argv[argv.index("--") + 1 :] if "--" in argv else argv
    assert command == [
        "/usr/sbin/haproxy",
        "-W",
        "-S",
        f"{tmp_path / 'master.sock'},mode,600",
        "-f",
        str(tmp_path / "haproxy.cfg"),
    ]
    if "--" in argv:  # util-linux's setpriv: HAProxy dies with the agent
        assert argv[1:4] == ["--pdeathsig", "KILL", "--"]


def test_each_generation_has_its_own_files() -> None:
    """A reload's HAProxy runs beside the old one: no file of one is the other's."""
    assert generation_path(Path("/s/haproxy.cfg"), 0) == Path("/s/haproxy.cfg")
    assert generation_path(Path("/s/haproxy.cfg"), 2) == Path("/s/haproxy.2.cfg")
    assert generation_path(Path("/s/h/stats.sock"), 12) == Path("/s/h/stats.12.sock")
    with pytest.raises(ValueError, match="generation must be an integer >= 0"):
        generation_path(Path("/s/haproxy.pid"), -1)


def test_the_pid_files_of_every_generation_are_found(tmp_path: Path) -> None:
    base = tmp_path / "haproxy.pid"
    assert pid_files(base) == []
    for name in ("haproxy.pid", "haproxy.3.pid", "haproxy.12.pid", "haproxy.x.pid", "other.pid"):
        (tmp_path / name).write_text("garbage\n")
    assert pid_files(base) == [base, tmp_path / "haproxy.12.pid", tmp_path / "haproxy.3.pid"]


def test_leftovers_of_every_generation_are_cleared(tmp_path: Path) -> None:
    mine = psutil.Process(os.getpid()).create_time()
    for name in ("haproxy.pid", "haproxy.1.pid"):  # reused pids: never killed
        (tmp_path / name).write_text(f"{os.getpid()} {mine - 3600}\n")
    assert stop_leftovers(tmp_path / "haproxy.pid") == []
    assert pid_files(tmp_path / "haproxy.pid") == []
