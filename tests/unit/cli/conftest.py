"""Fixtures for the CLI tests: a private short folder, so unix socket paths stay bindable."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from changeover.agent.paths import StatePaths


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="co-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def paths(short_tmp: Path) -> StatePaths:
    """A state directory whose control socket is `agent.sock` inside it."""
    paths = StatePaths(short_tmp / "state")
    paths.ensure()
    assert paths.control_socket == paths.root / "agent.sock"
    return paths
