"""A template's secrets are read at each start of the app and of its pre_stop hook, and a
secret that cannot be read fails the start like a missing command does."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from changeover.spec.models import Probe, Termination
from changeover.supervisor.backoff import Backoff
from changeover.supervisor.fakes import FakeSpawner, RecordingRouting
from changeover.supervisor.spawn import SpawnError
from changeover.supervisor.state import ReplicaState
from changeover.supervisor.supervisor import Supervisor
from tests.helpers import until
from tests.io.supervisor.supervisor_helpers import run


def test_each_start_reads_the_secrets_again(make_template, tmp_path: Path) -> None:
    current = {"DATABASE_URL": "pw-1"}
    calls: list[str] = []

    def secrets(who: str) -> dict[str, str]:
        calls.append(who)
        if not current:
            raise SpawnError("secret DATABASE_URL of revision 1 is no longer in /srv/.env")
        return dict(current)

    template = replace(
        make_template(termination=Termination(pre_stop="true", grace_period="1s")),
        secrets=secrets,
    )
    spawner = FakeSpawner()

    async def ready(host: str, port: int, probe: Probe) -> bool:
        return True

    async def main() -> None:
        sup = Supervisor(
            routing=RecordingRouting(),
            logs_dir=tmp_path,
            spawner=spawner,
            prober=ready,
            backoff=lambda: Backoff(initial=0.01, cap=0.01),
        )
        sup.scale(template, 1)
        rid = sup.replicas()[0].id
        await until(lambda: spawner.of(rid))
        assert spawner.of(rid)[0].spec.env["DATABASE_URL"] == "pw-1"
        assert "DATABASE_URL" not in template.env
        current["DATABASE_URL"] = "pw-2"  # rotated while it ran
        spawner.of(rid)[0].exit(1)
        await until(lambda: len(spawner.of(rid)) == 2)
        assert spawner.of(rid)[1].spec.env["DATABASE_URL"] == "pw-2"
        current.clear()  # gone from its source: the next start fails, saying why
        spawner.of(rid)[1].exit(1)
        await until(lambda: sup.replica(rid).boot_failures >= 2)
        assert sup.replica(rid).last_error == (
            "secret DATABASE_URL of revision 1 is no longer in /srv/.env"
        )
        assert len(spawner.of(rid)) == 2  # no process was started without it
        current["DATABASE_URL"] = "pw-3"
        await until(lambda: sup.replica(rid).state is ReplicaState.READY)
        await sup.stop_all()
        hooks = [s for s in spawner.specs if s.argv[:2] == ["/bin/sh", "-c"]]
        assert [h.env["DATABASE_URL"] for h in hooks] == ["pw-3"]  # pre_stop gets it too
        assert calls[:2] == [rid, rid]

    run(main())
