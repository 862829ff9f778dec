"""A per-test token in the environment of every process a test starts; leftovers are
killed by pid and reported."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Iterator

import psutil
import pytest

from tests.io.supervisor_escape.escape_kit import tagged


@pytest.fixture
def token() -> Iterator[str]:
    value = uuid.uuid4().hex
    yield value
    deadline = time.monotonic() + 2.0
    # A SIGKILL sent just before the end is delivered asynchronously.
    while (leftovers := tagged(value)) and time.monotonic() < deadline:
        time.sleep(0.02)
    for proc in leftovers:
        with contextlib.suppress(psutil.Error):
            proc.kill()  # psutil checks the pid still names that process
    for proc in leftovers:
        with contextlib.suppress(psutil.Error):
            proc.wait(5)
    assert not leftovers, f"test left processes running: {[p.pid for p in leftovers]}"
