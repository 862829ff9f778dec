"""`changeover check` through the real console entry point, in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

VALID = """\
[app]
name = "svc"
command = "python -m app"
replicas = 2
"""


def check(
    spec: Path, cwd: Path | None = None, *more: str, extra: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHANGEOVER_")}
    return subprocess.run(
        [sys.executable, "-m", "changeover", "check", "-f", str(spec), *more],
        capture_output=True,
        text=True,
        timeout=60,
        env=env | {"COLUMNS": "250"} | (extra or {}),
        cwd=cwd,
        check=False,
    )


def write(tmp_path: Path, text: str, name: str = "svc.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path.resolve()


def test_a_valid_spec_is_ok(tmp_path: Path) -> None:
    spec = write(tmp_path, VALID)
    result = check(spec)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        f"{spec}: ok (svc: 2 replica(s), strategy rolling, listening on 127.0.0.1:8080)"
    )
    assert result.stderr == ""


def test_every_schema_problem_is_listed_with_file_and_key(tmp_path: Path) -> None:
    spec = write(
        tmp_path,
        VALID + 'colour = "blue"\n[termination]\ndrain_timeout = "30"\n',
    )
    result = check(spec)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"{spec}: app.colour: unknown key; expected one of: name, command, replicas, workdir, env, "
        "env_file, secret_env",
        f"{spec}: termination.drain_timeout: expected a duration with a unit, like "
        '"250ms", "5s", "2m", "1m30s" or "7d", got \'30\'',
    ]


def test_surge_and_unavailable_both_zero_is_a_problem(tmp_path: Path) -> None:
    spec = write(tmp_path, VALID + "[strategy]\nmax_surge = 0\nmax_unavailable = 0\n")
    result = check(spec)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"{spec}: strategy.max_surge: max_surge (0) and max_unavailable (0) both resolve to 0 "
        "for 2 replica(s), so a rolling deploy could never replace a replica; set max_surge "
        "to at least 1"
    ]


def test_rule_problems_are_listed_with_schema_problems(tmp_path: Path) -> None:
    spec = write(
        tmp_path,
        VALID
        + 'colour = "blue"\n[termination]\ndrain_timeout = "30"\n'
        + "[strategy]\nmax_surge = 0\nmax_unavailable = 0\n",
    )
    result = check(spec)
    assert result.returncode == 2
    keys = [line.split(": ")[1] for line in result.stderr.splitlines()]
    assert keys == ["app.colour", "termination.drain_timeout", "strategy.max_surge"]


def test_a_missing_file_exits_2_with_a_clear_message(tmp_path: Path) -> None:
    result = check(tmp_path / "nope.toml")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.strip() == f"error: {tmp_path / 'nope.toml'}: no such spec file"


def test_the_default_spec_missing_hints_at_f(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "changeover", "check"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 2
    assert "changeover.toml: no such spec file (run in the service's folder, or pass -f FILE)" in (
        " ".join(result.stderr.split())
    )


def test_invalid_toml_exits_2(tmp_path: Path) -> None:
    spec = write(tmp_path, "[app\nname = 1\n")
    result = check(spec)
    assert result.returncode == 2
    assert result.stderr.startswith(f"{spec}: (toml): invalid TOML: ")


def test_the_haproxy_engine_is_checked_on_this_machine(tmp_path: Path) -> None:
    spec = write(tmp_path, VALID + '[proxy]\nengine = "haproxy"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHANGEOVER_")}
    missing = subprocess.run(
        [sys.executable, "-m", "changeover", "check", "-f", str(spec)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env | {"COLUMNS": "250", "CHANGEOVER_HAPROXY": str(tmp_path / "haproxy")},
        check=False,
    )
    assert missing.returncode == 2
    assert missing.stderr.strip() == (
        f'proxy.engine (the base spec): proxy.engine = "haproxy" needs the haproxy program: '
        f"CHANGEOVER_HAPROXY={tmp_path / 'haproxy'} is not an executable file; apt-get install "
        'haproxy (Debian, Ubuntu), or use engine = "builtin"'
    )
    from tests.parts import require

    require("haproxy", "haproxy")
    found = check(spec)
    assert found.returncode == 0, found.stderr
    summary, engine = found.stdout.strip().splitlines()
    assert summary.endswith("listening on 127.0.0.1:8080, engine haproxy)")
    assert engine.startswith("engine haproxy: HAProxy 2.")


ENVIRONMENTS = """
[environments.staging]
[environments.staging.spec.app]
replicas = 3
[environments.prod]
promote_from = "staging"
host = "ssh://deploy@prod-1/srv/svc"
[environments.prod.spec.control]
group = "deployers"
"""


def test_json_describes_every_spec_checked(tmp_path: Path) -> None:
    spec = write(tmp_path, VALID + ENVIRONMENTS)
    result = check(spec, None, "--json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert (doc["ok"], doc["spec"], doc["environment"]) == (True, str(spec), None)
    assert (doc["problems"], doc["haproxy"]) == ([], None)
    base, staging, prod = doc["environments"]
    assert base == {
        "name": None, "service": "svc", "replicas": 2, "strategy": "rolling",
        "listen": "127.0.0.1:8080", "engine": "builtin", "promote_from": None, "host": None,
        "notes": [],
    }  # fmt: skip
    assert (staging["name"], staging["replicas"], staging["notes"]) == ("staging", 3, [])
    assert (prod["promote_from"], prod["host"]) == ("staging", "ssh://deploy@prod-1/srv/svc")
    assert prod["notes"] == [
        "control.group 'deployers' not checked: it must exist on ssh://deploy@prod-1/srv/svc"
    ]
    text = check(spec)  # says the same
    assert text.stdout.splitlines()[2].endswith("promoted from staging; " + prod["notes"][0]), (
        text.stdout
    )
    one = check(spec, None, "--json", extra={"CHANGEOVER_ENVIRONMENT": "staging"})
    assert one.returncode == 0, one.stderr
    selected = json.loads(one.stdout)
    assert selected["environment"] == "staging"
    assert [(e["name"], e["replicas"]) for e in selected["environments"]] == [("staging", 3)]


def test_json_lists_the_problems_and_exits_2(tmp_path: Path) -> None:
    rules = "[strategy]\nmax_surge = 0\nmax_unavailable = 0\n"
    spec = write(tmp_path, VALID + 'colour = "blue"\n' + rules)
    result = check(spec, None, "--json")
    assert result.returncode == 2
    assert result.stderr == ""
    doc = json.loads(result.stdout)
    assert (doc["ok"], doc["environments"]) == (False, [])
    assert [(p["file"], p["where"]) for p in doc["problems"]] == [
        (str(spec), "app.colour"), (str(spec), "strategy.max_surge")
    ]  # fmt: skip
    text = check(spec)
    assert text.stderr.splitlines() == [
        f"{p['file']}: {p['where']}: {p['message']}" for p in doc["problems"]
    ]


def test_json_names_a_missing_haproxy_as_a_problem(tmp_path: Path) -> None:
    spec = write(tmp_path, VALID + '[proxy]\nengine = "haproxy"\n')
    missing = check(spec, None, "--json", extra={"CHANGEOVER_HAPROXY": str(tmp_path / "no")})
    assert missing.returncode == 2, missing.stderr
    doc = json.loads(missing.stdout)
    assert (doc["ok"], doc["haproxy"]) == (False, None)
    assert doc["environments"][0]["engine"] == "haproxy"
    [problem] = doc["problems"]
    assert (problem["where"], problem["file"]) == ("proxy.engine", str(spec))
    assert problem["message"].startswith('(the base spec): proxy.engine = "haproxy" needs')
    fake = tmp_path / "haproxy"  # a program answering `-v` as HAProxy does
    fake.write_text("#!/bin/sh\necho 'HAProxy version 2.8.5-1 2024/01/01'\n")
    fake.chmod(0o755)
    found = check(spec, None, "--json", extra={"CHANGEOVER_HAPROXY": str(fake)})
    assert found.returncode == 0, found.stderr
    assert json.loads(found.stdout)["haproxy"] == {
        "binary": str(fake), "version": "2.8.5-1", "used_by": ["the base spec"]
    }  # fmt: skip
