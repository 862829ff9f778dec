"""`Supervisor.scale`, `stop_all` and the status views, mostly on simulated processes."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import pytest

from changeover.spec.models import Probes, Termination
from changeover.supervisor.backoff import Backoff
from changeover.supervisor.fakes import FakeSpawner, RecordingRouting
from changeover.supervisor.state import ReplicaState
from changeover.supervisor.supervisor import KEEP_EXITED, Supervisor
from tests.helpers import FakeClock, gone, until
from tests.io.supervisor.supervisor_helpers import fast_probe, run, tagged

S = ReplicaState


def slow_backoff() -> Backoff:
    return Backoff(initial=100, cap=100)


def fake_supervisor(
    tmp_path: Path, **kwargs: Any
) -> tuple[Supervisor, FakeSpawner, RecordingRouting]:
    spawner = kwargs.pop("spawner", FakeSpawner())
    routing = RecordingRouting()
    sup = Supervisor(routing=routing, logs_dir=tmp_path, spawner=spawner, **kwargs)
    return sup, spawner, routing


def by_state(sup: Supervisor) -> dict[str, S]:
    return {info.id: info.state for info in sup.replicas()}


def test_scale_up_down_is_idempotent_and_picks_victims(make_template, tmp_path: Path) -> None:
    clock, changes = FakeClock(100.0), []
    template = make_template()
    sup, spawner, routing = fake_supervisor(
        tmp_path, clock=clock, backoff=slow_backoff, on_change=lambda: changes.append(1)
    )

    async def main() -> None:
        for count, now in ((1, 1.0), (2, 2.0), (3, 3.0)):
            clock.now = now
            sup.scale(template, count)
            await until(lambda n=count: list(by_state(sup).values()) == [S.READY] * n)
        sup.scale(template, 3)
        assert len(sup.replicas()) == 3
        assert [i.ready_since for i in sup.replicas()] == [1.0, 2.0, 3.0]
        spawner.of("r1-2")[0].exit(1)  # r1-2 crashes and waits 100 s in BACKOFF
        await until(lambda: by_state(sup)["r1-2"] is S.BACKOFF)
        sup.scale(template, 1)
        # Not serving goes first, then the newest ready; the oldest ready stays.
        assert by_state(sup) == {"r1-1": S.READY, "r1-2": S.BACKOFF, "r1-3": S.DRAINING}
        await sup.wait_terminated(1)
        assert by_state(sup) == {"r1-1": S.READY, "r1-2": S.EXITED, "r1-3": S.EXITED}
        sup.scale(template, 1)
        sup.scale(template, 2)
        assert [i.id for i in sup.replicas() if not i.state.terminating] == ["r1-1", "r1-4"]
        assert routing.endpoints.keys() == {"r1-1", "r1-4"}
        assert changes
        await sup.stop_all()
        assert all(c.returncode is not None for c in spawner.children)

    run(main())


def test_scale_stops_exactly_the_replicas_a_rollout_names(make_template, tmp_path: Path) -> None:
    clock, template = FakeClock(100.0), make_template()
    sup, _, _ = fake_supervisor(tmp_path, clock=clock)

    async def main() -> None:
        sup.scale(template, 3)
        await until(lambda: list(by_state(sup).values()) == [S.READY] * 3)
        # its own order would keep the oldest ready, r1-1; the decision keeps r1-2
        sup.scale(template, 1, remove=["r1-1", "r1-3"])
        assert by_state(sup) == {"r1-1": S.DRAINING, "r1-2": S.READY, "r1-3": S.DRAINING}
        sup.scale(template, 1, remove=["r1-1", "r1-3"])  # applied again: nothing more
        assert by_state(sup) == {"r1-1": S.DRAINING, "r1-2": S.READY, "r1-3": S.DRAINING}
        sup.scale(template, 2, remove=[])
        assert by_state(sup)["r1-4"] is S.STARTING
        with pytest.raises(ValueError, match=r"\(r1-9\) would leave r1-2, r1-4 live"):
            sup.scale(template, 1, remove=["r1-9"])
        assert [i.id for i in sup.replicas() if not i.state.terminating] == ["r1-2", "r1-4"]
        await sup.stop_all()

    run(main())


def test_scale_down_keeps_other_revisions(make_template, tmp_path: Path) -> None:
    v1, v2 = make_template(revision=1), make_template(revision=2)
    sup, _, _ = fake_supervisor(tmp_path)

    async def main() -> None:
        sup.scale(v1, 2)
        sup.scale(v2, 2)
        await until(lambda: all(s is S.READY for s in by_state(sup).values()))
        sup.scale(v2, 0)
        assert by_state(sup) == {
            "r1-1": S.READY,
            "r1-2": S.READY,
            "r2-1": S.DRAINING,
            "r2-2": S.DRAINING,
        }
        await sup.wait_terminated(2)
        sup.scale(v1, 3)  # the new one is STARTING until its first loop turn
        assert by_state(sup)["r1-3"] is S.STARTING
        sup.scale(v1, 2)
        assert by_state(sup)["r1-3"] is S.DRAINING
        await sup.stop_all()
        assert set(by_state(sup).values()) == {S.EXITED}
        with pytest.raises(RuntimeError, match="stopped"):
            sup.scale(v1, 1)

    run(main())


def test_exited_replicas_are_dropped_after_a_while(make_template, tmp_path: Path) -> None:
    template = make_template()
    sup, _, _ = fake_supervisor(tmp_path)

    async def main() -> None:
        for _ in range(KEEP_EXITED + 3):
            sup.scale(template, 1)
            sup.scale(template, 0)
        await sup.wait_terminated()
        ids = [i.id for i in sup.replicas()]
        assert len(ids) == KEEP_EXITED
        assert ids[-1] == f"r1-{KEEP_EXITED + 3}"
        with pytest.raises(KeyError, match="no replica 'r1-1' \\(known: r1-4, "):
            sup.replica("r1-1")

    run(main())


def test_termination_of_backoff_and_kill_when_signal_ignored(make_template, tmp_path: Path) -> None:
    term = Termination(drain_timeout="1s", grace_period="100ms", stop_signal="SIGINT")
    template = make_template(termination=term)
    spawner = FakeSpawner(ignore_signals=(signal.SIGINT,))
    sup, _, routing = fake_supervisor(tmp_path, spawner=spawner, backoff=slow_backoff)

    async def main() -> None:
        sup.scale(template, 2)
        await until(lambda: list(by_state(sup).values()) == [S.READY, S.READY])
        spawner.of("r1-1")[0].exit(0)
        await until(lambda: by_state(sup)["r1-1"] is S.BACKOFF)
        await sup.stop_all()
        assert [c[0] for c in routing.calls_for("r1-1")][-2:] == ["set_routable", "remove_endpoint"]
        r1 = spawner.of("r1-2")[0]
        assert r1.signals == [signal.SIGINT]
        assert r1.returncode == -signal.SIGKILL
        assert sup.replica("r1-2").last_error == "did not exit within grace period 0.1s; killed"
        assert sup.replica("r1-1").last_error == "exited with code 0"

    run(main())


def test_stop_all_leaves_no_process(make_template, tmp_path: Path, token: str) -> None:
    routing, pids = RecordingRouting(), []
    template = make_template(probes=Probes(readiness=fast_probe("/readyz")))

    async def main() -> None:
        sup = Supervisor(
            routing=routing, logs_dir=tmp_path / "logs", on_started=lambda i: pids.append(i.pid)
        )
        sup.scale(template, 3)
        await until(lambda: [i.state for i in sup.replicas()] == [S.READY] * 3)
        assert len(tagged(token)) == 3
        await sup.stop_all()
        assert tagged(token) == []
        assert len(pids) == 3
        assert all(gone(pid) for pid in pids)
        assert routing.endpoints == {}

    run(main())


def test_scale_needs_a_running_loop(make_template, tmp_path: Path) -> None:
    sup, _, _ = fake_supervisor(tmp_path)
    with pytest.raises(RuntimeError, match="no running event loop"):
        sup.scale(make_template(), 1)
    assert sup.replicas() == []
    with pytest.raises(ValueError, match=">= 0"):
        sup.scale(make_template(), -1)
