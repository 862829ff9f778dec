"""`changeover run` bad input, through the command's own entry point in a subprocess: exit 2."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "changeover", "run", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=os.environ | {"COLUMNS": "250"},
        cwd=cwd,
        check=False,
    )


def test_every_problem_is_listed_at_once() -> None:
    result = run("--ready", "tcp", "--ready-timeout", "5 s", "--stop-signal", "SIGNOPE")
    assert result.returncode == 2
    err = result.stderr
    assert "error: --listen: at least one address is required, like --listen :8080" in err
    assert "COMMAND: missing; put the service's command after --" in err
    assert '--ready: expected "auto", "notify"' in err
    assert "--ready-timeout: expected a duration with a unit" in err
    assert "--stop-signal: expected a signal name like \"SIGTERM\", got 'SIGNOPE'" in err


def test_durations_take_the_cli_grammar_units_or_plain_seconds() -> None:
    result = run("--ready-timeout", "5", "--grace-period", "2m", "--stop-signal", "SIGNOPE")
    assert result.returncode == 2  # only for the signal: both durations were read
    assert "--ready-timeout" not in result.stderr
    assert "--grace-period" not in result.stderr
    assert "--stop-signal" in result.stderr


def test_bad_listen_address_names_the_option() -> None:
    result = run("--listen", "localhost:80", "--", "true")
    assert result.returncode == 2
    assert "--listen: 'localhost' is not an IP address" in result.stderr


def test_unknown_command_is_bad_input(tmp_path: Path) -> None:
    result = run("--listen", "127.0.0.1:0", "--", "no-such-server", "--fd", "3", cwd=tmp_path)
    assert result.returncode == 2
    assert 'COMMAND: command not found: "no-such-server"' in result.stderr


def test_busy_port_is_bad_input() -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        result = run("--listen", f"127.0.0.1:{port}", "--", sys.executable, "-c", "pass")
    assert result.returncode == 2
    assert f"--listen: cannot listen on 127.0.0.1:{port}: Address already in use" in result.stderr


def test_reload_needs_a_pid_file_of_a_running_instance(tmp_path: Path) -> None:
    result = run("--reload")
    assert result.returncode == 2
    assert "--reload needs --pid-file F" in result.stderr
    result = run("--reload", "--pid-file", str(tmp_path / "nope.pid"))
    assert result.returncode == 2
    assert "no such pid file" in result.stderr
    result = run("--reload", "--pid-file", str(tmp_path / "x.pid"), "--", "true")
    assert result.returncode == 2
    assert "--reload takes no COMMAND" in result.stderr


def test_pid_file_of_a_live_process_is_refused(tmp_path: Path) -> None:
    (tmp_path / "x.pid").write_text(f"{os.getpid()}\n")
    result = run("--listen", "127.0.0.1:0", "--pid-file", str(tmp_path / "x.pid"), "--", "true")
    assert result.returncode == 2
    assert f"--pid-file: {tmp_path / 'x.pid'}: process {os.getpid()} is running" in result.stderr
