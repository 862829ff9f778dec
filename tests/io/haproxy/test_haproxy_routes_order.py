"""The order the haproxy engine sends routing changes in, against a recording stand-in
for the runtime API (no HAProxy): a map entry is written only once its slot has a server
enabled, and removed before that server is drained, so no request is routed to a slot
that would answer 503."""

from __future__ import annotations

from pathlib import Path

from changeover.haproxy.config import Settings
from changeover.haproxy.engine import HaproxyEngine
from changeover.haproxy.process import Layout
from changeover.haproxy.runtime import Command, StatRow
from changeover.proxy.policy import HeaderRoute, TrafficPolicy
from tests.helpers import bounded


class Recorder:
    """Answers every command as HAProxy 2.6 does on success, and records it."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.versions: dict[str, int] = {}  # per map, as HAProxy counts them

    async def send(self, command: Command) -> str:
        self.sent.append(command.text)
        if command.text.startswith("prepare map"):
            path = command.text.split()[-1]
            self.versions[path] = version = self.versions.get(path, 0) + 1
            return command.check(f"New version created: {version}\n\n".encode())
        if command.text.startswith("add server"):
            return command.check(b"New server registered.\n")
        if command.text.startswith("del server"):
            return command.check(b"Server deleted.\n")
        return command.check(b"\n")

    async def stats(self, proxy: str | None = None) -> list[StatRow]:
        return []


def engine(tmp: Path) -> tuple[HaproxyEngine, Recorder]:
    layout = Layout(
        config=tmp / "haproxy.cfg",
        master_socket=str(tmp / "master.sock"),
        stats_socket=str(tmp / "stats.sock"),
        log=tmp / "haproxy.log",
        pid_file=tmp / "haproxy.pid",
        workdir=tmp,
    )
    settings = Settings(listen_fd=3, stats_socket=layout.stats_socket, map_dir=str(tmp))
    eng = HaproxyEngine("/usr/sbin/haproxy", layout, settings, log_socket=str(tmp / "log"))
    recorder = Recorder()
    eng._client = recorder  # type: ignore[assignment]  # the seam: no socket here
    eng._process.child = object()  # type: ignore[assignment]  # "running"
    return eng, recorder


def test_a_route_is_written_after_its_slot_is_enabled_and_removed_before_the_drain(
    tmp_path: Path,
) -> None:
    async def go() -> None:
        eng, recorder = engine(tmp_path)
        routes = str(tmp_path / "routes.map")
        eng.add_endpoint("r1-1", 1, "127.0.0.1", 4001)
        eng.set_routable("r1-1", True)
        eng.add_endpoint("r2-1", 2, "127.0.0.1", 4002)
        eng.set_routable("r2-1", True)
        route = HeaderRoute("x-canary", 2, value="yes")
        eng.set_traffic(TrafficPolicy({1: 100, 2: 0}, header_routes=(route,)))
        assert await eng.reconcile()
        sent = recorder.sent
        enable = sent.index("set server slot0/r2-1 state ready")  # revision 2: the newest
        entry = next(i for i, c in enumerate(sent) if c.startswith(f"add map @1 {routes}"))
        assert enable < entry < sent.index(f"commit map @1 {routes}")
        assert eng.pending == 0
        recorder.sent.clear()
        eng.set_routable("r2-1", False)  # its last routable replica: the route goes first
        assert await eng.reconcile()
        sent = recorder.sent
        commit = sent.index(f"commit map @{recorder.versions[routes]} {routes}")
        drains = [i for i, c in enumerate(sent) if c.endswith("r2-1 state drain")]
        assert len(drains) == 2  # in `replicas` and in its slot
        assert commit < min(drains)
        assert eng.map_haves[routes] == ()  # the request falls through to the weights
        recorder.sent.clear()
        assert await eng.reconcile()
        assert recorder.sent == []  # a reached state sends nothing

    bounded(go(), 10)


def test_an_unchanged_map_is_not_rewritten_and_a_switch_raises_before_it_lowers(
    tmp_path: Path,
) -> None:
    async def go() -> None:
        eng, recorder = engine(tmp_path)
        for name, revision, port in (("r1-1", 1, 4001), ("r2-1", 2, 4002)):
            eng.add_endpoint(name, revision, "127.0.0.1", port)
            eng.set_routable(name, True)
        eng.set_traffic(TrafficPolicy({1: 100, 2: 0}))
        assert await eng.reconcile()
        recorder.sent.clear()
        eng.set_traffic(TrafficPolicy({1: 0, 2: 100}))
        assert await eng.reconcile()
        assert recorder.sent == [
            "set server replicas/r2-1 weight 256",
            "set server replicas/r1-1 weight 0",
        ]

    bounded(go(), 10)


def test_set_preview_points_the_preview_entry_at_the_slot_once_ready(tmp_path: Path) -> None:
    async def go() -> None:
        eng, recorder = engine(tmp_path)
        switch = str(tmp_path / "switch.map")
        eng.add_endpoint("r2-1", 2, "127.0.0.1", 4002)
        eng.set_preview(2)
        assert await eng.reconcile()
        assert eng.map_haves[switch] == ()  # not routable yet: the preview answers 503
        eng.set_routable("r2-1", True)
        assert await eng.reconcile()
        assert eng.map_haves[switch] == (("preview", "slot0"),)
        assert f"add map @{recorder.versions[switch]} {switch} preview slot0" in recorder.sent

    bounded(go(), 10)
