"""Helpers shared by the supervisor tests: a uvloop runner, polling with deadlines,
process checks, and quick probes."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable
from pathlib import Path
from typing import Any, TypeVar

import psutil

from changeover.spec.models import Probe
from changeover.supervisor.backoff import Backoff
from changeover.supervisor.probes import ProbeOutcome, probe_http
from changeover.supervisor.state import ReplicaState
from tests.helpers import bounded

T = TypeVar("T")
TINYAPP = Path(__file__).with_name("tinyapp.py")
TOKEN_VAR = "CHANGEOVER_TEST_TOKEN"


def run(coro: Awaitable[T], timeout: float = 30.0) -> T:
    """Run `coro` on uvloop, as the agent does, failing after `timeout` seconds."""
    return bounded(coro, timeout, on_uvloop=True)


def tagged(token: str) -> list[psutil.Process]:
    """Live processes whose environment carries this test's token."""
    found = []
    for proc in psutil.process_iter():
        with contextlib.suppress(psutil.Error):
            if proc.environ().get(TOKEN_VAR) == token and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
    return found


def fast_probe(path: str, **kw: Any) -> Probe:
    """A probe that decides within a few hundred milliseconds (durations as in TOML)."""
    return Probe(path=path, **{"period": "50ms", "timeout": "500ms", "failure_threshold": 2} | kw)


def states(info_list: list[Any], state: ReplicaState) -> list[str]:
    return [i.id for i in info_list if i.state is state]


class RecordingBackoff(Backoff):
    """A Backoff that remembers every delay it handed out."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.delays: list[float] = []

    def failure(self, now: float) -> float:
        delay = super().failure(now)
        self.delays.append(delay)
        return delay


class RecordingProber:
    """The real HTTP prober, remembering (path, passed) for every probe it ran."""

    def __init__(self) -> None:
        self.results: list[tuple[str, bool]] = []

    async def __call__(self, host: str, port: int, probe: Probe) -> ProbeOutcome:
        outcome = await probe_http(host, port, probe)
        self.results.append((probe.path, outcome.ok))
        return outcome

    def count(self, path: str, ok: bool) -> int:
        return self.results.count((path, ok))
