"""`changeover systemd` through the real entry point: files written with -o, the --json
document, bad input exits 2, and the units pass `systemd-analyze verify` where it exists."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SPEC = """\
[app]
name = "svc"
command = "python -m app"

[proxy]
listen = "{listen}"
"""


def changeover(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHANGEOVER_")}
    return subprocess.run(
        [sys.executable, "-m", "changeover", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env | {"COLUMNS": "250", "NO_COLOR": "1"},
        cwd=cwd,
        check=False,
    )


def service(tmp_path: Path, listen: str = "127.0.0.1:18080") -> Path:
    (tmp_path / "changeover.toml").write_text(SPEC.format(listen=listen))
    return tmp_path


def test_o_writes_both_units_and_says_how_to_enable_them(tmp_path: Path) -> None:
    folder = service(tmp_path)
    units = tmp_path / "units"
    units.mkdir()
    result = changeover("systemd", "-o", str(units), "--name", "svc", cwd=folder)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in units.iterdir()) == ["svc.service", "svc.socket"]
    assert "ListenStream=127.0.0.1:18080\n" in (units / "svc.socket").read_text()
    text = (units / "svc.service").read_text()
    assert f"--state-dir {folder / '.changeover'}" in text
    assert f"ExecStart={sys.executable} -m changeover up -f {folder / 'changeover.toml'}" in text
    assert f"wrote {units / 'svc.socket'}" in result.stdout
    assert "enable --now svc.socket svc.service" in result.stdout


def test_json_holds_names_paths_and_texts(tmp_path: Path) -> None:
    folder = service(tmp_path)
    result = changeover("systemd", "--json", "--state-dir", str(tmp_path / "st"), cwd=folder)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert {k: (v["name"], v["path"]) for k, v in doc.items()} == {
        "socket": ("changeover-svc.socket", None),
        "service": ("changeover-svc.service", None),
    }
    assert f"--state-dir {tmp_path / 'st'}" in doc["service"]["text"]
    assert "FileDescriptorName=public\n" in doc["socket"]["text"]


@pytest.mark.parametrize(
    ("listen", "args", "message"),
    [
        ("127.0.0.1:0", [], "proxy.listen: '127.0.0.1:0': port 0 cannot be held by systemd"),
        ("127.0.0.1:8080", ["-o", "/nonexistent/units"], "-o: /nonexistent/units is not a dir"),
    ],
)
def test_bad_input_exits_2(tmp_path: Path, listen: str, args: list[str], message: str) -> None:
    result = changeover("systemd", *args, cwd=service(tmp_path, listen))
    assert result.returncode == 2, result.stdout
    assert message in result.stderr


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")
def test_systemd_accepts_the_units(tmp_path: Path) -> None:
    folder = service(tmp_path)
    units = tmp_path / "units"
    units.mkdir()
    assert changeover("systemd", "-o", str(units), cwd=folder).returncode == 0
    paths = [str(units / "changeover-svc.socket"), str(units / "changeover-svc.service")]
    verified = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *paths],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    # a setting it cannot parse is only a warning on stderr, with exit code 0
    assert verified.returncode == 0, verified.stderr
    assert verified.stdout + verified.stderr == ""
