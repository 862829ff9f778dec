"""Fixtures for the flags-over-TCP tests: a token file, a flag service."""

from __future__ import annotations

from pathlib import Path

import pytest

from changeover.agent.events import EventLog
from changeover.agent.flags import FlagService
from changeover.store import Store

from ._net import TOKEN


@pytest.fixture
def service(store: Store) -> FlagService:
    return FlagService(store, EventLog(store))


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    """`token` beside a spec file `svc.toml` (which need not exist), mode 0600."""
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    path.chmod(0o600)
    return path
