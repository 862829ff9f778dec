"""The supervisor on simulated processes and an injected prober, as controller tests use it."""

from __future__ import annotations

import asyncio
from pathlib import Path

from changeover.spec.models import Probe, Probes
from changeover.supervisor.backoff import Backoff
from changeover.supervisor.fakes import FakeSpawner, RecordingRouting, ScriptedProber
from changeover.supervisor.probes import ProbeOutcome
from changeover.supervisor.state import ReplicaState
from changeover.supervisor.supervisor import Supervisor
from tests.helpers import until
from tests.io.supervisor.supervisor_helpers import fast_probe, run

S = ReplicaState


def test_boot_failures_count_until_ready(make_template, tmp_path: Path) -> None:
    spawner, routing, healthy = FakeSpawner(), RecordingRouting(), [False]
    started, exited = [], []

    async def prober(host: str, port: int, probe: Probe) -> ProbeOutcome:
        return (
            ProbeOutcome(True, "answered 200")
            if healthy[0]
            else ProbeOutcome(False, "answered 503")
        )

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


OK = ProbeOutcome(True, "answered 200")
E503 = ProbeOutcome(False, "answered 503")
SLOW = ProbeOutcome(False, "timed out after 1s")


def test_probe_failures_are_recorded_and_reported_once(make_template, tmp_path: Path) -> None:
    spawner, prober, failing = FakeSpawner(), ScriptedProber(), []
    template = make_template(probes=Probes(readiness=fast_probe("/readyz")))  # threshold 2

    async def main() -> None:
        sup = Supervisor(
            routing=RecordingRouting(),
            logs_dir=tmp_path,
            spawner=spawner,
            prober=prober,
            backoff=lambda: Backoff(initial=30.0),  # stays in BACKOFF once it exits
            on_change=lambda: failing.append([i.failing for i in sup.replicas()]),
        )
        sup.scale(template, 1)
        rid = sup.replicas()[0].id
        await prober.answer(E503)
        assert (sup.replica(rid).last_error, sup.replica(rid).failing) == ("", "")
        await prober.answer(E503)
        info = sup.replica(rid)
        assert info.failing == "readiness GET /readyz answered 503"
        assert info.last_error == "readiness GET /readyz answered 503 (2 times in a row)"
        await prober.answer(E503, E503, E503)
        assert sup.replica(rid).last_error.endswith("answered 503 (5 times in a row)")
        await prober.answer(SLOW)  # shown at once, reported once it repeats
        info = sup.replica(rid)
        assert info.last_error == "readiness GET /readyz timed out after 1s (once)"
        assert info.failing == "readiness GET /readyz answered 503"
        await prober.answer(SLOW)
        assert sup.replica(rid).failing == "readiness GET /readyz timed out after 1s"
        await prober.answer(OK)
        info = sup.replica(rid)
        assert (info.state, info.failing) == (S.READY, "")
        assert info.last_error.endswith("timed out after 1s (2 times in a row)")  # kept
        await prober.answer(E503, E503)
        assert sup.replica(rid).state is S.NOT_READY
        spawner.of(rid)[0].exit(3)
        info = await until(lambda: sup.replica(rid).state is S.BACKOFF and sup.replica(rid))
        assert (info.failing, info.last_error) == ("", "exited with code 3")
        await sup.stop_all()
        assert prober.paths == ["/readyz"] * 11  # the 11th was waiting when the app exited

    run(main())
    changes = [f for f, before in zip(failing, [None, *failing], strict=False) if f != before]
    assert changes == [
        [""],
        ["readiness GET /readyz answered 503"],
        ["readiness GET /readyz timed out after 1s"],
        [""],
        ["readiness GET /readyz answered 503"],
        [""],
    ]
