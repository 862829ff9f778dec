"""`[control] group`: a group of the machine the agent runs on, checked only there."""

from __future__ import annotations

import grp
from pathlib import Path

import pytest

from changeover.spec.load import SpecError, load_every_environment, load_spec

BASE = """
[app]
name = "hello"
command = "uvicorn app:app --fd 3"
"""
EXISTING = grp.getgrgid(0).gr_name  # the superuser's group exists everywhere
MISSING = "co-no-such-group"


def write(tmp_path: Path, text: str) -> Path:
    spec = tmp_path / "changeover.toml"
    spec.write_text(BASE + text)
    return spec


def test_an_existing_group_is_accepted_and_the_default_is_none(tmp_path: Path) -> None:
    assert load_spec(write(tmp_path, "")).control.group is None
    spec = load_spec(write(tmp_path, f'[control]\ngroup = "{EXISTING}"\n'))
    assert spec.control.group == EXISTING


def test_a_group_missing_here_is_a_problem_naming_the_fix(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as refused:
        load_spec(write(tmp_path, f'[control]\ngroup = "{MISSING}"\n'))
    (line,) = refused.value.lines()
    assert line.endswith(
        f"control.group: no group '{MISSING}' on this machine: create it (groupadd {MISSING}) "
        "and add the accounts that may use the agent, or remove the key (socket 0600)"
    )


def test_a_malformed_group_name_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as refused:
        load_spec(write(tmp_path, '[control]\ngroup = "a b"\n'))
    assert "control.group" in refused.value.lines()[0]


def test_the_group_of_an_environment_on_another_host_is_not_checked_here(tmp_path: Path) -> None:
    remote = f"""
[environments.prod]
host = "ssh://deploy@prod-1/srv/hello"
[environments.prod.spec.control]
group = "{MISSING}"
[environments.local]
[environments.local.spec.control]
group = "{MISSING}"
"""
    with pytest.raises(SpecError) as refused:
        load_every_environment(write(tmp_path, remote))
    lines = refused.value.lines()
    assert any("environments.local.spec.control.group: no group" in line for line in lines)
    assert not any("environments.prod" in line for line in lines)
    # on the host itself (the spec in the host's folder), prod is local: checked there
    on_host = remote.replace("/srv/hello", str(tmp_path))
    with pytest.raises(SpecError) as there:
        load_spec(write(tmp_path, on_host), "prod")
    assert "environments.prod.spec.control.group: no group" in there.value.lines()[0]
