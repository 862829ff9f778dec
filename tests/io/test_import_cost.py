"""What an import loads: the app-side runtime and the pure cores stay light.

Each check runs in a fresh interpreter, so modules an earlier test imported cannot hide
a heavy import. The layer contract itself is `.importlinter` (run by `make lint`).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("pydantic", "httptools", "uvloop", "starlette", "httpx", "psutil", "typer", "rich")


def loaded_after(module: str) -> tuple[list[str], list[str]]:
    """(heavy third-party packages, changeover modules) loaded by `import module`."""
    code = f"import json, sys; import {module}; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    modules = json.loads(out.stdout)
    heavy = [h for h in HEAVY if h in modules]
    ours = [m for m in modules if m == "changeover" or m.startswith("changeover.")]
    return heavy, ours


@pytest.mark.parametrize(
    "module",
    [
        "changeover.runtime",
        "changeover.units",
        "changeover.machine",
        "changeover.histogram",
        "changeover.spec.queries",
        "changeover.supervisor.state",
        "changeover.analysis.model",
        "changeover.proxy.metrics",
        "changeover.rollout",
        "changeover.rollout.canary",
        "changeover.rollout.bluegreen",
        "changeover.rollout.strategy",
        "changeover.spec.strategy",
        "changeover.versioning.bump",
        "changeover.versioning.notes",
        "changeover.versioning.train",
        "changeover.versioning.git",
    ],
)
def test_light_modules_load_nothing_heavy(module: str) -> None:
    heavy, _ = loaded_after(module)
    assert heavy == [], f"import {module} loads {heavy}"


def test_the_runtime_loads_only_itself_and_the_leaves() -> None:
    _, ours = loaded_after("changeover.runtime")
    outside = [
        m
        for m in ours
        if not m.startswith("changeover.runtime")
        and m not in ("changeover", "changeover.units", "changeover.machine")
    ]
    assert outside == []


def test_versioning_loads_only_itself_and_the_units() -> None:
    everything = ", ".join(
        f"changeover.versioning.{m}"
        for m in ("bump", "notes", "evidence", "changelog", "train", "git", "remote")
    )
    _, ours = loaded_after(everything)
    outside = [m for m in ours if not m.startswith("changeover.versioning")]
    assert outside == ["changeover", "changeover.units"]


@pytest.mark.parametrize(
    "leaf", ["units", "machine", "histogram", "tokenfile", "shell", "tlsfiles", "networks"]
)
def test_leaves_import_no_other_changeover_module(leaf: str) -> None:
    _, ours = loaded_after(f"changeover.{leaf}")
    assert sorted(ours) == ["changeover", f"changeover.{leaf}"]


def test_the_rollout_machines_load_no_spec_models() -> None:
    _, ours = loaded_after("changeover.rollout")
    assert "changeover.spec.models" not in ours
    assert [m for m in ours if m.startswith(("changeover.spec", "changeover.proxy"))] == []
