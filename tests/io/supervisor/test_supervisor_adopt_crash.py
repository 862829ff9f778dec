"""A replica adopted after an agent crash: no socket was handed over (the process held the
only one), so its next process gets a listener again: on the same port, else a new one."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
from collections.abc import Callable
from pathlib import Path

from changeover.spec.models import Probes
from changeover.supervisor.adopt import Adoptee, Verdict
from changeover.supervisor.backoff import Backoff
from changeover.supervisor.fakes import RecordingRouting
from changeover.supervisor.model import ReplicaInfo, ReplicaTemplate
from changeover.supervisor.state import ReplicaState
from changeover.supervisor.supervisor import Supervisor
from tests.helpers import until
from tests.io.supervisor.supervisor_helpers import fast_probe, run

READY = ReplicaState.READY


async def crashed_agent_replica(
    template: ReplicaTemplate, tmp_path: Path
) -> tuple[ReplicaInfo, Supervisor]:
    """A ready replica whose agent went away: the supervisor lets go of it (as a dead
    agent does: its copy of the listening socket closed), the process serves on."""
    first = Supervisor(routing=RecordingRouting(), logs_dir=tmp_path)
    first.scale(template, 1)
    await until(lambda: first.replica("r1-1").state is READY, 20, "r1-1 ready")
    info = first.replica("r1-1")
    await first.detach()
    return info, first


def adopt_sockless(sup: Supervisor, template: ReplicaTemplate, info: ReplicaInfo) -> Verdict:
    assert info.pid is not None
    assert info.create_time is not None
    entry = Adoptee(info.id, info.pid, info.create_time, info.port, None, True)
    return sup.adopt(template, entry)


def reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)  # the first supervisor spawned it: ours to reap


def test_the_next_process_listens_on_the_same_port(
    make_template: Callable[..., ReplicaTemplate], tmp_path: Path
) -> None:
    template = make_template(probes=Probes(readiness=fast_probe("/readyz")))

    async def main() -> None:
        info, _ = await crashed_agent_replica(template, tmp_path)
        assert info.pid is not None
        routing = RecordingRouting()
        sup = Supervisor(routing=routing, logs_dir=tmp_path, backoff=lambda: Backoff(0.05))
        try:
            assert adopt_sockless(sup, template, info) is Verdict.ADOPT
            assert sup.replica("r1-1").state is READY
            assert routing.routable == {"r1-1"}
            os.kill(info.pid, signal.SIGKILL)
            await until(
                lambda: (
                    sup.replica("r1-1").pid not in (None, info.pid)
                    and sup.replica("r1-1").state is READY
                ),
                20,
                "r1-1 running again",
            )
            assert sup.replica("r1-1").port == info.port
            assert ("remove_endpoint", "r1-1") not in routing.calls  # routing unchanged
        finally:
            await sup.stop_all()
            reap(info.pid)

    run(main())


def test_a_taken_port_moves_the_replica_to_a_new_one(
    make_template: Callable[..., ReplicaTemplate], tmp_path: Path
) -> None:
    template = make_template(probes=Probes(readiness=fast_probe("/readyz")))
    squatter = socket.socket()
    # the probes' connections leave TIME_WAIT entries on the port: bind like an agent does
    squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)

    async def main() -> None:
        info, _ = await crashed_agent_replica(template, tmp_path)
        assert info.pid is not None
        routing = RecordingRouting()

        def take_the_port() -> None:  # the moment the process is gone, before the restart
            replicas = sup.replicas()
            if replicas and replicas[0].state is ReplicaState.BACKOFF and squatter.fileno() >= 0:
                with contextlib.suppress(OSError):
                    squatter.bind(("127.0.0.1", info.port))
                    squatter.listen()

        sup = Supervisor(
            routing=routing,
            logs_dir=tmp_path,
            backoff=lambda: Backoff(0.05),
            on_change=take_the_port,
        )
        try:
            assert adopt_sockless(sup, template, info) is Verdict.ADOPT
            os.kill(info.pid, signal.SIGKILL)
            await until(lambda: sup.replica("r1-1").state is ReplicaState.BACKOFF, 20, "backoff")
            assert squatter.getsockname()[1] == info.port
            await until(lambda: sup.replica("r1-1").state is READY, 20, "r1-1 ready again")
            port = sup.replica("r1-1").port
            assert port != info.port
            assert routing.endpoints["r1-1"][-1] == port  # routed to where it listens now
        finally:
            await sup.stop_all()
            reap(info.pid)
            squatter.close()

    run(main())
