"""The supervisor on simulated processes and an injected prober, as controller tests use it."""

from __future__ import annotations

import asyncio
from pathlib import Path

from changeover.spec.models import Probe, Probes
from changeover.supervisor.backoff import Backoff
from changeover.supervisor.fakes import FakeSpawner, RecordingRouting
from changeover.supervisor.state import ReplicaState
from changeover.supervisor.supervisor import Supervisor
from tests.helpers import until
from tests.io.supervisor.supervisor_helpers import fast_probe, run

S = ReplicaState


def test_boot_failures_count_until_ready(make_template, tmp_path: Path) -> None:
    spawner, routing, healthy = FakeSpawner(), RecordingRouting(), [False]
    started, exited = [], []

    async def prober(host: str, port: int, probe: Probe) -> bool:
        return healthy[0]

    template = make_template(probes=Probes(readiness=fast_probe("/readyz")))

    async def main() -> None:
        sup = Supervisor(
            routing=routing,
            logs_dir=tmp_path,
            spawner=spawner,
            prober=prober,
            backoff=lambda: Backoff(initial=0.01, cap=0.01),
            on_started=started.append,
            on_exited=exited.append,
        )
        spawner.fail_with = 'command not found: "app"'
        sup.scale(template, 1)
        rid = sup.replicas()[0].id
        await until(lambda: sup.replica(rid).boot_failures == 2)
        assert sup.replica(rid).last_error == 'command not found: "app"'
        spawner.fail_with = ""
        await until(lambda: spawner.of(rid))
        spawner.of(rid)[0].exit(3)
        await until(lambda: sup.replica(rid).boot_failures == 3)
        assert sup.replica(rid).last_error == "exited with code 3"
        healthy[0] = True
        info = await until(lambda: sup.replica(rid).state is S.READY and sup.replica(rid))
        assert info.boot_failures == 0
        assert info.restarts >= 3
        assert info.pid == spawner.of(rid)[-1].pid
        assert info.create_time == spawner.of(rid)[-1].create_time
        assert routing.routable == {rid}
        spawner.fail_with = "workdir does not exist: /gone"
        spawner.of(rid)[-1].exit(1)  # crashes after being ready: not a boot failure...
        await until(lambda: sup.replica(rid).boot_failures == 1)  # ...but the respawn is
        assert sup.replica(rid).last_error == "workdir does not exist: /gone"
        spawner.fail_with = ""
        await until(lambda: sup.replica(rid).state is S.READY)
        await sup.stop_all()
        assert [i.pid for i in started] == [c.pid for c in spawner.of(rid)]
        assert [i.pid for i in exited] == [i.pid for i in started]
        assert spawner.of(rid)[-1].signals == [15]

    run(main())


def test_recording_routing_drain_hold_and_release() -> None:
    routing = RecordingRouting()
    routing.add_endpoint("r1-1", 1, "127.0.0.1", 1234)
    routing.set_routable("r1-1", True)

    async def main() -> tuple[bool, bool, bool]:
        quick = await routing.drain("r1-1", 1.0)
        routing.held.add("r1-1")
        timed_out = await routing.drain("r1-1", 0.01)
        waiting = asyncio.create_task(routing.drain("r1-1", 10.0))
        await until(lambda: len(routing.calls_for("r1-1")) == 5)
        routing.release("r1-1")
        return quick, timed_out, await waiting

    assert run(main()) == (True, False, True)
    routing.remove_endpoint("r1-1")
    assert routing.routable == set()
    assert routing.endpoints == {}
