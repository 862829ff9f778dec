"""Fixtures for the agent tests: spec files (the store is in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from changeover.spec.load import load_spec
from changeover.spec.models import Spec

SPEC = """\
[app]
name = "svc"
command = "python -m app"
replicas = {replicas}
workdir = "{workdir}"
env = {{ A = "from-spec", B = "from-spec" }}

[strategy]
max_surge = "{surge}"
max_unavailable = "{unavailable}"
min_ready = "2s"
progress_deadline = "45s"
"""


@pytest.fixture
def write_spec(tmp_path: Path) -> Callable[..., tuple[Spec, Path]]:
    """Write `svc.toml` in a fresh folder (creating its workdir) and load it."""

    def write(
        *,
        replicas: int = 3,
        workdir: str = ".",
        surge: str = "1",
        unavailable: str = "0",
        folder: str = "service",
    ) -> tuple[Spec, Path]:
        base = tmp_path / folder
        (base / workdir).mkdir(parents=True, exist_ok=True)
        path = base / "svc.toml"
        path.write_text(
            SPEC.format(replicas=replicas, workdir=workdir, surge=surge, unavailable=unavailable)
        )
        return load_spec(path), path

    return write
