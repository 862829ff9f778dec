"""Fixtures for the CLI tests: a private short folder, so unix socket paths stay bindable."""

from __future__ import annotations

from pathlib import Path

import pytest

from changeover.agent.paths import StatePaths


@pytest.fixture
def paths(short_tmp: Path) -> StatePaths:
    """A state directory whose control socket is `agent.sock` inside it."""
    paths = StatePaths(short_tmp / "state")
    paths.ensure()
    assert paths.control_socket == paths.root / "agent.sock"
    return paths
