"""What changed between two revisions, as `history` and `history --diff` show it."""

from __future__ import annotations

from typing import Any

from changeover.agent.revdiff import Change, changes, notable


def doc(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "version": "v1",
        "path": "/srv/a",
        "command": "uvicorn app:app --fd 3",
        "replicas": 2,
        "env": {"A": "1", "B": "2"},
        "spec": {"app": {"command": "uvicorn app:app --fd 3", "env": {"A": "1"}},
                 "probes": {"readiness": {"path": "/readyz", "period": 1.0}}},
    }  # fmt: skip
    return {**base, **fields}


def test_identical_revisions_have_no_changes() -> None:
    assert changes(doc(), doc()) == []


def test_release_fields_env_keys_and_spec_paths_each_once_sorted() -> None:
    new = doc(
        version="v2",
        command="gunicorn app",
        env={"A": "1", "C": "3"},
        spec={"app": {"command": "gunicorn app", "env": {"A": "1"}},
              "probes": {"readiness": {"path": "/ready", "period": 1.0}}},
    )  # fmt: skip
    assert changes(doc(), new) == [
        Change("command", "uvicorn app:app --fd 3", "gunicorn app"),
        Change("env.B", "2", None),
        Change("env.C", None, "3"),
        Change("spec.app.command", "uvicorn app:app --fd 3", "gunicorn app"),
        Change("spec.probes.readiness.path", "/readyz", "/ready"),
        Change("version", "v1", "v2"),
    ]


def test_history_leaves_out_the_version_and_spec_echoes_of_release_fields() -> None:
    new = doc(version="v2", command="gunicorn app", spec={"app": {"command": "gunicorn app"}})
    shown = [c.path for c in notable(changes(doc(), new))]
    assert "version" not in shown
    assert "spec.app.command" not in shown
    assert "command" in shown
    assert "spec.app.env.A" in shown  # a real spec change: the key left the spec's env


def test_descriptions_say_added_removed_and_changed() -> None:
    assert Change("env.C", None, "3").describe() == "env.C added: '3'"
    assert Change("env.B", "2", None).describe() == "env.B removed (was '2')"
    assert Change("replicas", 2, 3).describe() == "replicas: 2 -> 3"
    long = Change("command", "x" * 200, "y").describe()
    assert len(long) < 120
    assert long.endswith("-> 'y'")


def test_without_spec_snapshots_only_release_fields_are_compared() -> None:
    old = {k: v for k, v in doc().items() if k != "spec"}
    assert changes(old, doc(replicas=3)) == [Change("replicas", 2, 3)]
