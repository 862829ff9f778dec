"""Fixtures every tier shares: a short private folder and a real store; and a Ctrl-C the
tests' children can receive; Hypothesis settings."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from changeover.store import Store

# Timing never decides a verdict: no per-example deadline (a busy CI core is not a bug),
# and no health check that fails a test for being slow to generate. In CI the examples
# are derived from each test, not drawn at random, so a run's verdict is the code's and
# another run of the same commit gives the same one; locally they are random, to explore.
settings.register_profile(
    "changeover",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=os.environ.get("CI") == "true",
)
settings.load_profile("changeover")


def pytest_configure(config: pytest.Config) -> None:
    # A suite started in the background of a non-interactive shell (`make test &`, nohup)
    # inherits SIGINT ignored (POSIX), and every child would inherit that too: the tests
    # that press Ctrl-C on a `--follow` or a deploy would wait on a child that cannot hear
    # it. A handler (not SIG_IGN) is reset to the default in a child at exec.
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """A private folder with a short path: unix socket paths must stay under 108 bytes."""
    path = Path(tempfile.mkdtemp(prefix="co-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """A real SQLite store in this test's folder."""
    with Store.open(tmp_path / "state.db") as s:
        yield s
