"""`changeover verify` on bad input (exit 2) and with no agent (exit 3), before any load."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from changeover.cli.verify import public_url, verify
from changeover.loadgen import Report
from changeover.verify.progress import counts, paused_line, rollout_line

ROOT = Path(__file__).resolve().parents[3]
APP = typer.Typer()
APP.command()(verify)
APP.command()(lambda: None)  # a second command, so `verify` is invoked by name as in the CLI


@pytest.fixture
def spec(short_tmp: Path) -> Path:
    shutil.copy(ROOT / "examples" / "hello" / "changeover.toml", short_tmp / "changeover.toml")
    return short_tmp / "changeover.toml"


def invoke(spec: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(APP, ["verify", "-f", str(spec), *args])
    return result.exit_code, result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--rate", "0"], "error: --rate 0: expected a positive number"),
        (["--connections", "0"], "error: --connections 0: expected from 1 to 10000"),
        (["--warmup", "-1"], "expected a duration >= 0, got '-1'"),
        (["--request", "GET nowhere"], "error: --request 'GET nowhere': a path starting"),
        (["--env", "NOEQUALS"], "error: --env 'NOEQUALS': expected KEY=VALUE"),
        (["--max-wait", "0"], "error: --max-wait 0: expected seconds > 0"),
        (["--max-wait", "-5"], "expected a duration >= 0, got '-5'"),
        (["--max-wait", "nan"], "expected a duration >= 0, got 'nan'"),
        (["--max-wait", "soon"], "Invalid value for '--max-wait'"),
        (["--warmup", "2 s"], "expected a duration with a unit"),
    ],
)
def test_bad_options_exit_2_with_a_clear_message(spec: Path, args: list[str], message: str) -> None:
    code, output = invoke(spec, *args)
    assert code == 2
    assert message in output


def test_a_missing_or_invalid_spec_exits_2(spec: Path) -> None:
    code, output = invoke(spec.parent / "absent.toml")
    assert code == 2
    assert "absent.toml: no such spec file" in output
    spec.write_text(spec.read_text() + "\n[surprise]\n")
    code, output = invoke(spec)
    assert code == 2
    assert "surprise" in output


def test_a_cacert_that_is_no_ca_bundle_exits_2_naming_it_before_any_agent(spec: Path) -> None:
    """Checked before the agent is asked anything: no agent runs here, which would be 3."""
    junk = spec.parent / "junk.pem"
    junk.write_text("not a certificate\n")
    for cacert, message in (
        (spec.parent / "absent.pem", "no such file"),
        (spec.parent, "not a regular file"),
        (junk, "holds no PEM certificate"),
    ):
        code, output = invoke(spec, "--cacert", str(cacert))
        assert code == 2, output
        assert f"error: --cacert {cacert}: {message}" in " ".join(output.split())


def test_no_agent_exits_3_through_the_command_line(spec: Path) -> None:
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
    result = subprocess.run(
        [sys.executable, "-m", "changeover", "verify", "-f", str(spec), "--rate", "10"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert result.returncode == 3, result.stderr
    assert "no agent is running for" in result.stderr


def test_public_url_brackets_ipv6_hosts() -> None:
    assert public_url("127.0.0.1:8080") == "http://127.0.0.1:8080"
    assert public_url("::1:8080") == "http://[::1]:8080"
    assert public_url("127.0.0.1:8443", tls=True) == "https://127.0.0.1:8443"
    assert public_url("::1:8443", tls=True) == "https://[::1]:8443"


def test_progress_lines_are_short_and_literal() -> None:
    assert rollout_line(3, "progressing", None) == "rollout 3 progressing"
    line = rollout_line(3, "progressing", "r3-1 [red]ready " + "x" * 100)
    assert line.startswith("rollout 3 progressing: r3-1 \\[red]ready")
    assert line.endswith("…")
    assert "failed 0" in counts(Report(sent=5))
    assert "[red]failed 2[/red]" in counts(Report(sent=5, failed=2))


def test_a_paused_line_tells_the_watcher_what_ends_the_pause() -> None:
    assert paused_line(3, None, 12.0) == (
        "rollout 3 paused: waiting for `changeover promote` (or use --max-wait)"
    )
    assert paused_line(3, 10.0, 2.6) == (
        "rollout 3 paused: waiting for `changeover promote` or --max-wait (abort in 7s)"
    )
    assert paused_line(3, 10.0, 12.0).endswith("(abort in 0s)")
