"""Real processes under probes: readiness gating, restarts, backoff and counters."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from changeover.spec.models import Probes
from changeover.supervisor.backoff import Backoff
from changeover.supervisor.fakes import RecordingRouting
from changeover.supervisor.model import ReplicaInfo
from changeover.supervisor.state import ReplicaState
from changeover.supervisor.supervisor import Supervisor
from tests.helpers import gone, until
from tests.io.supervisor.supervisor_helpers import (
    RecordingBackoff,
    RecordingProber,
    fast_probe,
    run,
)

READY, NOT_READY = ReplicaState.READY, ReplicaState.NOT_READY


def make_supervisor(tmp_path: Path, routing: RecordingRouting, **kwargs: Any) -> Supervisor:
    kwargs.setdefault("backoff", lambda: Backoff(initial=0.05, cap=0.2))
    return Supervisor(routing=routing, logs_dir=tmp_path / "logs", **kwargs)


def routable_calls(routing: RecordingRouting, rid: str) -> list[bool]:
    return [c[2] for c in routing.calls_for(rid) if c[0] == "set_routable"]


def test_readiness_gates_routing_and_can_fail_later(make_template, tmp_path: Path) -> None:
    unready = tmp_path / "unready"
    unready.touch()
    routing, prober = RecordingRouting(), RecordingProber()
    template = make_template(
        env={"UNREADY_FILE": str(unready)}, probes=Probes(readiness=fast_probe("/readyz"))
    )

    async def main() -> None:
        sup = make_supervisor(tmp_path, routing, prober=prober)
        sup.scale(template, 1)
        (rid,) = [i.id for i in sup.replicas()]
        await until(lambda: prober.count("/readyz", False) >= 3, what="failing readiness")
        assert sup.replica(rid).state is ReplicaState.STARTING
        info = await until(lambda: sup.replica(rid).failing and sup.replica(rid))
        assert info.failing == "readiness GET /readyz answered 503"  # the app's own answer
        assert info.last_error.startswith("readiness GET /readyz answered 503 (")
        assert routable_calls(routing, rid) == []
        unready.unlink()
        await until(lambda: sup.replica(rid).state is READY)
        assert routing.routable == {rid}
        assert sup.replica(rid).ready_since is not None
        unready.touch()  # readiness fails while running: out of routing, not restarted
        await until(lambda: sup.replica(rid).state is NOT_READY)
        assert routing.routable == set()
        assert sup.replica(rid).ready_since is None
        unready.unlink()
        await until(lambda: sup.replica(rid).state is READY)
        assert routable_calls(routing, rid) == [True, False, True]
        assert sup.replica(rid).restarts == 0
        await sup.stop_all()

    run(main())


def test_crash_at_boot_backs_off_with_growing_delays(make_template, tmp_path: Path) -> None:
    routing, started = RecordingRouting(), []
    backoffs: list[RecordingBackoff] = []

    def backoff() -> RecordingBackoff:
        backoffs.append(RecordingBackoff(initial=0.05, factor=2.0, cap=0.2))
        return backoffs[-1]

    # With no readiness probe a process is ready the moment it runs; with one, it never is.
    template = make_template(
        env={"CRASH_AT_BOOT": "3"}, probes=Probes(readiness=fast_probe("/readyz"))
    )

    async def main() -> None:
        sup = make_supervisor(tmp_path, routing, backoff=backoff, on_started=started.append)
        sup.scale(template, 1)
        info = await until(lambda: sup.replicas()[0].restarts >= 4 and sup.replicas()[0])
        assert backoffs[0].delays[:5] == [0.05, 0.1, 0.2, 0.2, 0.2][: len(backoffs[0].delays)]
        assert info.boot_failures >= 4
        assert info.last_error == "exited with code 3"
        await sup.stop_all()
        assert sup.replica(info.id).state is ReplicaState.EXITED
        assert all(gone(i.pid) for i in started if i.pid)
        assert info.log_path.read_text().count("tinyapp stderr line") >= 4

    run(main())


def test_crash_after_ready_is_a_restart_not_a_boot_failure(make_template, tmp_path: Path) -> None:
    routing, exited = RecordingRouting(), []
    template = make_template(env={"EXIT_AFTER": "0.2", "EXIT_CODE": "7"})

    async def main() -> None:
        sup = make_supervisor(tmp_path, routing, on_exited=exited.append)
        sup.scale(template, 1)
        rid = sup.replicas()[0].id
        await until(lambda: sup.replica(rid).restarts >= 1, what="one restart")
        info = sup.replica(rid)
        assert info.boot_failures == 0
        assert info.last_error == "exited with code 7"
        assert exited[0].pid is not None
        assert exited[0].create_time is not None
        assert routable_calls(routing, rid)[:2] == [True, False]  # no probes: ready at once
        await sup.stop_all()

    run(main())


def test_startup_probe_failure_restarts(make_template, tmp_path: Path) -> None:
    unhealthy = tmp_path / "unhealthy"
    unhealthy.touch()
    routing, prober, started = RecordingRouting(), RecordingProber(), []
    probes = Probes(startup=fast_probe("/healthz"), readiness=fast_probe("/readyz"))
    template = make_template(env={"UNHEALTHY_FILE": str(unhealthy)}, probes=probes)

    async def main() -> None:
        sup = make_supervisor(tmp_path, routing, prober=prober, on_started=started.append)
        sup.scale(template, 1)
        rid = sup.replicas()[0].id
        await until(lambda: sup.replica(rid).restarts >= 1, what="a restart")
        assert sup.replica(rid).last_error == "startup GET /healthz answered 500 (2 times in a row)"
        assert sup.replica(rid).boot_failures >= 1
        assert prober.count("/readyz", True) + prober.count("/readyz", False) == 0
        assert "got SIGTERM" in sup.replica(rid).log_path.read_text()
        unhealthy.unlink()
        await until(lambda: sup.replica(rid).state is READY)
        assert sup.replica(rid).boot_failures == 0
        await sup.stop_all()
        assert all(gone(i.pid) for i in started if i.pid)

    run(main())


def test_liveness_failure_restarts(make_template, tmp_path: Path) -> None:
    unhealthy = tmp_path / "unhealthy"
    routing, started = RecordingRouting(), []
    probes = Probes(readiness=fast_probe("/readyz"), liveness=fast_probe("/healthz"))
    template = make_template(env={"UNHEALTHY_FILE": str(unhealthy)}, probes=probes)

    async def main() -> None:
        sup = make_supervisor(tmp_path, routing, on_started=started.append)
        sup.scale(template, 1)
        rid = sup.replicas()[0].id
        await until(lambda: sup.replica(rid).state is READY)
        first_pid = sup.replica(rid).pid
        unhealthy.touch()
        await until(lambda: sup.replica(rid).restarts >= 1, what="a restart")
        unhealthy.unlink()
        info: ReplicaInfo = await until(
            lambda: sup.replica(rid).state is READY and sup.replica(rid)
        )
        assert info.last_error == "liveness GET /healthz answered 500 (2 times in a row)"
        assert info.pid != first_pid
        assert first_pid is not None
        assert gone(first_pid)
        assert routable_calls(routing, rid)[:3] == [True, False, True]
        await sup.stop_all()
        assert all(gone(i.pid) for i in started if i.pid)

    run(main())
