"""The e2e tier: real agents under load. `service` is a fresh agent per test;
`shared_service(...)` makes a module-scoped one for tests that can share it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import Service


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    svc = Service(tmp_path)
    try:
        yield svc
    finally:
        survivors = svc.cleanup()
        assert not survivors, f"processes left behind: {survivors}"


def shared_service(**spec: Any) -> Callable[..., Iterator[Service]]:
    """A module-scoped fixture: one agent, started once with `spec`, for the tests of a
    module that can share it. Each such test must leave it serving a stable revision
    and must not assume revision numbers; mark them with one `xdist_group` so `-n`
    keeps them on one worker (`--dist loadgroup`), which starts the agent once."""

    @pytest.fixture(scope="module")
    def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
        svc = Service(tmp_path_factory.mktemp("shared"))
        try:
            if spec:
                svc.write_spec(**spec)
            svc.up()
            yield svc
        finally:
            survivors = svc.cleanup()
            assert not survivors, f"processes left behind: {survivors}"

    return shared
