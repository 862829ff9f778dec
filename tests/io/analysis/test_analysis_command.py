"""The command provider with a real /bin/sh: exits, printed values, timeouts, cleanup."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest

from changeover.analysis.model import Measurement, Outcome
from changeover.analysis.providers import Context, measure
from changeover.analysis.window import Window
from tests.helpers import wait_gone
from tests.io.analysis.fake_proxy import FakeProxy

from ._helpers import metric

PASS, FAIL, INC, ERR = Outcome.PASSED, Outcome.FAILED, Outcome.INCONCLUSIVE, Outcome.ERROR


def run_command(
    command: str, workdir: Path | str = ".", timeout: float = 20.0, **bounds: Any
) -> Measurement:
    async def main() -> Measurement:
        empty = Window.between(1, None, FakeProxy().sample(), 1.0)
        env = {**os.environ, "ANALYSIS_TEST": "yes"}
        context = Context(empty, None, 0.0, workdir=workdir, env=env, timeout=timeout)
        return await measure(metric(provider="command", command=command, **bounds), context)

    return asyncio.run(main())


@pytest.mark.parametrize(
    ("command", "bounds", "outcome", "value", "message"),
    [
        ("true", {}, PASS, None, "command 'true' exited 0"),
        ("echo a >&2; echo 'last words' >&2; exit 3", {}, FAIL, None, "exited 3: last words"),
        ("echo 0.5", {"max": 1}, PASS, 0.5, "command 'echo 0.5' printed 0.5 <= max 1"),
        ("echo x; echo 3", {"max": 1}, FAIL, 3.0, "printed 3 > max 1"),
        ("echo 3; exit 1", {"max": 5}, FAIL, None, "exited 1"),
        ("echo ok", {"min": 1}, ERR, None, "the last line of its output is not a number: 'ok'"),
        ("no-such-command-here", {}, ERR, None, "exited 127 (not found or not executable): "),
        ("kill -TERM $$", {}, ERR, None, "command 'kill -TERM $$' killed by SIGTERM"),
    ],
)
def test_exit_status_and_printed_value(
    command: str, bounds: dict[str, Any], outcome: Outcome, value: float | None, message: str
) -> None:
    got = run_command(command, **bounds)
    assert (got.outcome, got.value) == (outcome, value)
    assert message in got.message


def test_runs_in_the_workdir_with_the_environment(tmp_path: Path) -> None:
    check = f'test "$(pwd -P)" = "{tmp_path.resolve()}" && test "$ANALYSIS_TEST" = yes'
    assert run_command(check, workdir=tmp_path).outcome is PASS
    missing = run_command("true", workdir=tmp_path / "nope")
    assert missing.outcome is ERR
    assert "cannot start" in missing.message


def test_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    got = run_command(f"sleep 60 & echo $! > {pidfile}; wait", timeout=0.3)
    assert got.outcome is ERR
    assert got.message.startswith("command 'sleep 60 & echo $! > /")
    assert got.message.endswith("...': timed out after 300ms")  # long commands are shortened
    assert wait_gone(int(pidfile.read_text()))


def test_a_background_grandchild_does_not_outlive_a_clean_exit(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    got = run_command(f"sleep 60 >/dev/null 2>&1 & echo $! > {pidfile}")
    assert got.outcome is PASS
    assert wait_gone(int(pidfile.read_text()))
