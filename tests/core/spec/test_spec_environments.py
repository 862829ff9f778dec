"""Environments in the spec: overlays merged over the base, and the pipeline's rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from changeover.agent.paths import StatePaths
from changeover.cli.release_store import releases_dir
from changeover.spec.environments import GATES, RESERVED
from changeover.spec.load import SpecError, load_every_environment, load_spec

BASE = """
[app]
name = "hello"
command = "uvicorn app:app --fd 3"
replicas = 3
env = { A = "1", B = "2" }

[strategy]
steps = [{ set_weight = 10 }, { set_weight = 50 }]

[analysis.slo]
metrics = [{ name = "ok", provider = "builtin", query = "success_rate", min = 0.99 }]
"""
PIPELINE = """
[environments.dev]
[environments.dev.spec.proxy]
listen = "127.0.0.1:9001"

[environments.staging]
promote_from = "dev"
soak = "10m"
soak_requests = 1000
soak_analysis = "slo"
[environments.staging.spec.app]
replicas = 2
env = { B = "staging" }

[environments.prod]
promote_from = "staging"
host = "ssh://deploy@prod-1:22/srv/hello"
approvals = 1
approvers = ["alice", "bob"]
windows = [{ deny = "Fri 16:00 - Mon 08:00", timezone = "Europe/Paris" }]
checklist = [{ name = "backup taken", command = "./check-backup" },
             { name = "support told", manual = true }]
hotfix_skips = ["soak"]
[environments.prod.spec.strategy]
type = "canary"
steps = [{ set_weight = 5 }]
"""


def spec_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "changeover.toml"
    path.write_text(text)
    return path


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(SpecError) as raised:
        load_every_environment(spec_file(tmp_path, text))
    return raised.value.lines()


def test_an_environment_is_the_base_with_its_overlay_merged_in(tmp_path: Path) -> None:
    path = spec_file(tmp_path, BASE + PIPELINE)
    base, staging, prod = (load_spec(path, e) for e in (None, "staging", "prod"))
    assert (base.app.replicas, staging.app.replicas, prod.app.replicas) == (3, 2, 3)
    assert staging.app.env == {"A": "1", "B": "staging"}  # tables merge key by key
    assert [s.set_weight for s in prod.strategy.steps] == [5]  # arrays replace
    assert prod.strategy.type.value == "canary"
    assert load_spec(path, "dev").proxy.listen == "127.0.0.1:9001"
    assert base.proxy.listen != "127.0.0.1:9001"
    assert set(prod.environments) == {"dev", "staging", "prod"}  # each knows the pipeline
    assert prod.environments["prod"].approvers == ["alice", "bob"]


def test_every_environment_loads_at_once(tmp_path: Path) -> None:
    specs = load_every_environment(spec_file(tmp_path, BASE + PIPELINE))
    assert set(specs) == {None, "dev", "staging", "prod"}


def test_an_unknown_environment_names_the_defined_ones(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="unknown environment 'qa'; the spec defines: dev, prod"):
        load_spec(spec_file(tmp_path, BASE + PIPELINE), "qa")


def test_a_bad_overlay_value_points_into_the_overlay(tmp_path: Path) -> None:
    bad = PIPELINE.replace("replicas = 2", "replicas = 0")
    lines = problems(tmp_path, BASE + bad)
    assert any(
        "environments.staging.spec.app.replicas: input should be greater than or equal to 1" in line
        for line in lines
    ), lines


def test_a_base_problem_is_reported_once_not_per_environment(tmp_path: Path) -> None:
    lines = problems(tmp_path, BASE.replace("replicas = 3", "replicas = -1") + PIPELINE)
    assert len([line for line in lines if ": app.replicas:" in line]) == 1, lines


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (('promote_from = "dev"', 'promote_from = "qa"'),
         "environments.staging.promote_from: unknown environment 'qa'; defined: dev, prod"),
        (("[environments.dev]", '[environments.dev]\npromote_from = "prod"'),
         "the pipeline has a cycle"),
        (('promote_from = "dev"\n', ""),
         "environments.staging.soak: a soak is measured where a release is promoted from"),
        (('soak_analysis = "slo"', 'soak_analysis = "fast"'),
         "environments.staging.soak_analysis: unknown analysis 'fast'; defined: slo"),
        (("approvals = 1", "approvals = 0"),
         "environments.prod.approvers: approvers are listed but approvals is 0"),
        (("approvals = 1", "approvals = 3"),
         "environments.prod.approvals: 3 approvals needed but only 2 approver(s) listed"),
        (('name = "support told"', 'name = "backup taken"'),
         "two items are named 'backup taken'"),
        (('{ name = "support told", manual = true }', '{ name = "support told" }'),
         'expected either "command" or "manual = true"'),
        (('deny = "Fri 16:00 - Mon 08:00"', 'deny = "weekends"'),
         "expected a weekly range like"),
        (('timezone = "Europe/Paris"', 'timezone = "Paris"'),
         "unknown time zone 'Paris'"),
        (('"ssh://deploy@prod-1:22/srv/hello"', '"deploy@prod-1"'),
         'expected "ssh://[user@]host[:port]/path/to/service"'),
        (('hotfix_skips = ["soak"]', 'hotfix_skips = ["tests"]'),
         "environments.prod.hotfix_skips[0]"),
        (("[environments.dev]\n", "[environments.Dev]\n"),
         "environment names are 1-32 lowercase letters"),
        (("[environments.dev]\n", "[environments.releases]\n"),
         "'releases' cannot name an environment: its agent's folder .changeover/releases/"),
    ],
)  # fmt: skip
def test_pipeline_mistakes_name_the_key_and_what_is_expected(
    tmp_path: Path, change: tuple[str, str], expected: str
) -> None:
    old, new = change
    assert old in PIPELINE
    lines = problems(tmp_path, BASE + PIPELINE.replace(old, new, 1))
    assert any(expected in line for line in lines), lines
    assert all(line.startswith(str(tmp_path / "changeover.toml") + ": ") for line in lines)


def test_the_gates_a_hotfix_may_skip_are_the_gates_there_are() -> None:
    assert GATES == ("soak", "approvals", "windows", "freezes", "checklist")


def test_every_folder_name_the_default_agent_uses_is_reserved(tmp_path: Path) -> None:
    paths = StatePaths(tmp_path)
    names = {
        getattr(paths, attr).name
        for attr in dir(StatePaths)
        if isinstance(getattr(StatePaths, attr), property)
        and getattr(paths, attr).parent == tmp_path
    }
    folder_like = {name for name in names if "." not in name}  # env names have no dot
    assert "logs" in folder_like  # the listing found them
    assert folder_like <= RESERVED
    assert releases_dir(tmp_path / "changeover.toml").name in RESERVED  # the CLI's releases
