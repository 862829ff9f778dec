"""Real processes through the termination sequence: order, pre_stop, grace, group kill."""

from __future__ import annotations

import re
from pathlib import Path

from changeover.spec.models import Probes, Termination
from changeover.supervisor.fakes import RecordingRouting
from changeover.supervisor.model import ReplicaInfo
from changeover.supervisor.state import ReplicaState
from changeover.supervisor.supervisor import Supervisor
from tests.helpers import gone, until
from tests.io.supervisor.supervisor_helpers import fast_probe, run

S = ReplicaState


class JournalRouting(RecordingRouting):
    """Writes each call into the replica's log, so one file shows the whole order."""

    def __init__(self, logs_dir: Path) -> None:
        super().__init__()
        self.logs_dir = logs_dir

    def note(self, replica_id: str, text: str) -> None:
        with open(self.logs_dir / f"{replica_id}.log", "a") as log:
            log.write(f"routing: {text}\n")

    def set_routable(self, replica_id: str, routable: bool) -> None:
        super().set_routable(replica_id, routable)
        self.note(replica_id, f"set_routable {routable}")

    async def drain(self, replica_id: str, timeout: float) -> bool:  # noqa: ASYNC109
        self.note(replica_id, "drain")
        return await super().drain(replica_id, timeout)

    def remove_endpoint(self, replica_id: str) -> None:
        super().remove_endpoint(replica_id)
        self.note(replica_id, "remove_endpoint")


def journal(info: ReplicaInfo) -> list[str]:
    wanted = re.compile(r"routing: .*|pre_stop ran for r\d+-\d+|got SIGTERM")
    return [line for line in info.log_path.read_text().splitlines() if wanted.fullmatch(line)]


def test_termination_runs_in_order(make_template, tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    routing, seen = JournalRouting(logs), []
    term = Termination(
        drain_timeout="5s",
        grace_period="5s",
        pre_stop='echo "pre_stop ran for $CHANGEOVER_REPLICA"',
    )
    # Readiness proves the app runs its SIGTERM handler before we terminate it.
    template = make_template(termination=term, probes=Probes(readiness=fast_probe("/readyz")))

    async def main() -> None:
        sup = Supervisor(routing=routing, logs_dir=logs)
        sup.scale(template, 1)
        rid = sup.replicas()[0].id
        routing.held.add(rid)
        await until(lambda: sup.replica(rid).state is S.READY)
        seen.append(sup.replica(rid))
        sup.scale(template, 0)
        assert sup.replica(rid).state is S.DRAINING  # synchronously
        await until(lambda: ("drain", rid, 5.0) in routing.calls)
        assert "pre_stop ran" not in sup.replica(rid).log_path.read_text()
        assert sup.replica(rid).pid is not None  # still serving in-flight requests
        routing.release(rid)
        await sup.wait_terminated(revision=1)
        info = sup.replica(rid)
        assert info.state is S.EXITED
        assert journal(info) == [
            "routing: set_routable True",
            "routing: set_routable False",
            "routing: drain",
            "routing: remove_endpoint",
            f"pre_stop ran for {rid}",
            "got SIGTERM",
        ]
        assert seen[0].pid is not None
        assert gone(seen[0].pid)
        assert info.last_error == ""

    run(main())


def test_ignored_sigterm_gets_sigkill_after_grace(make_template, tmp_path: Path) -> None:
    routing = RecordingRouting()
    term = Termination(drain_timeout="1s", grace_period="300ms")
    template = make_template(env={"IGNORE_SIGTERM": "1", "SPAWN_GRANDCHILD": "1"}, termination=term)

    async def main() -> None:
        sup = Supervisor(routing=routing, logs_dir=tmp_path / "logs")
        sup.scale(template, 1)
        rid = sup.replicas()[0].id
        grandchild = int(await until(lambda: grandchild_pid(sup.replica(rid))))
        pid = sup.replica(rid).pid
        assert pid is not None
        await sup.stop_all()
        info = sup.replica(rid)
        assert info.state is S.EXITED
        assert info.last_error == "did not exit within grace period 0.3s; killed"
        assert gone(pid)
        await until(lambda: gone(grandchild), within=5, what="grandchild killed")

    run(main())


def test_grandchild_killed_after_a_clean_exit(make_template, tmp_path: Path) -> None:
    routing = RecordingRouting()
    template = make_template(env={"SPAWN_GRANDCHILD": "1"})

    async def main() -> None:
        sup = Supervisor(routing=routing, logs_dir=tmp_path / "logs")
        sup.scale(template, 1)
        rid = sup.replicas()[0].id
        grandchild = int(await until(lambda: grandchild_pid(sup.replica(rid))))
        await sup.stop_all()
        assert "got SIGTERM" in sup.replica(rid).log_path.read_text()
        assert sup.replica(rid).last_error == ""
        # SIGKILL to the group was sent before stop_all returned; delivery is asynchronous.
        await until(lambda: gone(grandchild), within=5, what="grandchild killed")

    run(main())


def grandchild_pid(info: ReplicaInfo) -> str | None:
    text = info.log_path.read_text() if info.log_path.exists() else ""
    match = re.search(r"grandchild=(\d+)", text)
    return match.group(1) if match else None


def test_starting_replica_is_terminated_the_same_way(make_template, tmp_path: Path) -> None:
    routing, history = RecordingRouting(), []
    probes = Probes(readiness=fast_probe("/readyz"))
    template = make_template(env={"NEVER_READY": "1"}, probes=probes)

    async def main() -> None:
        sup = Supervisor(
            routing=routing,
            logs_dir=tmp_path / "logs",
            on_change=lambda: history.extend(i.state for i in sup.replicas()),
        )
        sup.scale(template, 1)
        rid = sup.replicas()[0].id
        # its failing readiness probe is reported too, with no change of state
        await until(lambda: sup.replica(rid).failing, what="a failure reported")
        await until(lambda: "pid=" in log_text(sup.replica(rid)), what="app running")
        pid = sup.replica(rid).pid
        assert pid is not None
        await sup.stop_all()
        assert gone(pid)
        assert history == [S.STARTING, S.STARTING, S.DRAINING, S.STOPPING, S.EXITED]
        assert [c[0] for c in routing.calls_for(rid)] == [
            "add_endpoint",
            "set_routable",
            "drain",
            "remove_endpoint",
        ]

    run(main())


def test_slow_pre_stop_and_drain_are_cut_short(make_template, tmp_path: Path) -> None:
    routing = RecordingRouting()
    term = Termination(drain_timeout="100ms", grace_period="300ms", pre_stop="sleep 600")
    probes = Probes(readiness=fast_probe("/readyz"))
    template = make_template(termination=term, probes=probes)

    async def main() -> None:
        sup = Supervisor(routing=routing, logs_dir=tmp_path / "logs")
        sup.scale(template, 1)
        rid = sup.replicas()[0].id
        routing.held.add(rid)  # the proxy never reports the replica drained
        await until(lambda: sup.replica(rid).state is S.READY)
        await sup.stop_all()
        info = sup.replica(rid)
        assert info.state is S.EXITED
        # pre_stop used the whole grace period, so the app had none left to exit by itself.
        assert info.last_error == "did not exit within grace period 0.3s; killed"

    run(main())


def log_text(info: ReplicaInfo) -> str:
    return info.log_path.read_text() if info.log_path.exists() else ""
