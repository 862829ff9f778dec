"""Recovery after an agent crash, on real processes: the stable revision's replicas that
serve are adopted, the unfit and the other revisions' are stopped, a reused pid is never
touched, and each fate is a stored event."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from changeover.agent.recovery import recover
from changeover.rollout.phase import Phase
from changeover.spec.load import load_spec_text
from changeover.store import Store
from changeover.supervisor.process import ChildProcess
from changeover.supervisor.sockets import bind_listener, port_of
from changeover.supervisor.spawn import PosixSpawner, SpawnSpec
from tests.helpers import gone, until
from tests.io.supervisor.conftest import token
from tests.io.supervisor.supervisor_helpers import TINYAPP, TOKEN_VAR, run

__all__ = ["token"]

SPEC = """\
[app]
name = "svc"
command = "python tinyapp.py"

[probes.readiness]
path = "/readyz"
period = "50ms"
timeout = "2s"
failure_threshold = 2
"""
NOW = 1_763_700_000.0


def stable_and_target(store: Store, folder: Path) -> tuple[int, int]:
    """Revision 1 stable, revision 2 the target of a rollout the crash interrupted."""
    spec = load_spec_text(SPEC, str(folder / "svc.toml"), base=folder)
    ids = []
    for version in ("v1", "v2"):
        rev = store.create_revision(
            version=version,
            path=str(folder),
            command="-",
            env={},
            spec=spec.model_dump(mode="json"),
            replicas=2,
            now=NOW,
        )
        ids.append(rev.id)
    first = store.start_rollout(
        from_revision=None, to_revision=ids[0], kind="initial", strategy="rolling", now=NOW
    )
    store.finish_rollout(first.id, phase=Phase.SUCCEEDED, reason="", now=NOW)
    return ids[0], ids[1]


class DeadAgentsReplicas:
    """tinyapp processes started as an agent starts replicas (fd 3, own group), then
    left behind: the agent's copy of each listening socket is closed."""

    def __init__(self, folder: Path, token: str, store: Store) -> None:
        self.folder, self.token, self.store = folder, token, store
        self.children: dict[str, ChildProcess] = {}

    def start(self, rid: str, revision: int, *, skew: float = 0.0, **env: str) -> ChildProcess:
        sock = bind_listener()
        port = port_of(sock)
        full = {**os.environ, TOKEN_VAR: self.token, "LISTEN_FDS": "1", **env}
        log = self.folder / f"{rid}.log"
        spec = SpawnSpec([sys.executable, str(TINYAPP)], self.folder, full, log, sock.fileno())
        try:
            child = PosixSpawner().spawn(spec)
        finally:
            sock.close()
        assert child.create_time is not None
        self.store.record_replica(
            rid,
            revision=revision,
            pid=child.pid,
            pgid=child.pid,
            create_time=child.create_time + skew,
            now=NOW,
            port=port,
        )
        self.children[rid] = child
        return child

    def started(self) -> bool:
        logs = [self.folder / f"{rid}.log" for rid in self.children]
        return all(log.exists() and "pid=" in log.read_text() for log in logs)

    async def kill_all(self) -> None:
        for child in self.children.values():
            child.kill_group(signal.SIGKILL)
        for child in self.children.values():
            await child.wait()


def test_survivors_are_adopted_and_the_rest_stopped(
    tmp_path: Path, store: Store, token: str
) -> None:
    stable, target = stable_and_target(store, tmp_path)
    replicas = DeadAgentsReplicas(tmp_path, token, store)

    async def main() -> None:
        try:
            serving = replicas.start("r1-1", stable)
            unready = replicas.start("r1-2", stable, NEVER_READY="1")
            interrupted = replicas.start("r2-1", target)
            stranger = replicas.start("r1-3", stable, skew=-3600.0)  # the pid was reused
            store.record_replica(
                "r1-4", revision=stable, pid=4_000_001, pgid=4_000_001, create_time=1.0, now=NOW
            )
            await until(replicas.started, 20, "every process to start")
            recovered = await recover(store, grace=2.0)
            assert [r.replica_id for r in recovered.survivors] == ["r1-1"]
            assert recovered.survivors[0].pid == serving.pid
            assert sorted(recovered.ids) == ["r1-1", "r1-2", "r1-3", "r1-4", "r2-1"]
            for rid, child in (("r1-2", unready), ("r2-1", interrupted)):
                await child.wait()  # replaced or stopped: politely, with SIGTERM first
                assert "got SIGTERM" in (tmp_path / f"{rid}.log").read_text()
            assert not gone(serving.pid)
            assert not gone(stranger.pid)  # never signalled
            assert [r.id for r in store.recorded_replicas()] == ["r1-1"]
        finally:
            await replicas.kill_all()
        messages = [e.message for e in store.events()]
        assert messages == [
            "r1-3 is not adopted after an agent restart: pid "
            f"{stranger.pid} now names another process",
            "r1-4 (pid 4000001) is not adopted after an agent restart: it had exited",
            f"stopped r2-1 (pid {interrupted.pid}) after an agent restart: "
            "revision 2 is not the stable revision",
            f"replaced r1-2 (pid {unready.pid}) after an agent restart: "
            "probe /readyz failed 2 times",
        ]

    run(main(), timeout=60)


def test_without_a_stable_revision_nothing_is_adopted(
    tmp_path: Path, store: Store, token: str
) -> None:
    spec = load_spec_text(SPEC, str(tmp_path / "svc.toml"), base=tmp_path)
    first = store.create_revision(
        version="v1",
        path=str(tmp_path),
        command="-",
        env={},
        spec=spec.model_dump(mode="json"),
        replicas=1,
        now=NOW,
    )
    replicas = DeadAgentsReplicas(tmp_path, token, store)

    async def main() -> None:
        try:
            booting = replicas.start("r1-1", first.id)  # revision 1 never became stable
            await until(replicas.started, 20, "the process to start")
            recovered = await recover(store, grace=2.0)
            assert recovered.survivors == ()
            await booting.wait()
            assert "got SIGTERM" in (tmp_path / "r1-1.log").read_text()
            assert store.recorded_replicas() == []
        finally:
            await replicas.kill_all()

    run(main(), timeout=60)
