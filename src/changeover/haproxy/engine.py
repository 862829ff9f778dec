"""`HaproxyEngine`: the agent's routing carried out by HAProxy through its runtime API.

The agent (and the supervisor, through `supervisor.routing.Routing`) states what it wants
as the builtin proxy is told it: replicas added, made routable or not, drained, removed;
weights per revision. Those calls only change the wanted state and wake one reconcile
task, which sends what `plan.plan` says the difference is, one command at a time, and
records what HAProxy has after each answer; a periodic tick retries what HAProxy refused
(a `del server` while a connection is still open) and re-adds everything after HAProxy
was restarted.

Invariant: nothing a rollout does reloads HAProxy; every change is a runtime API command.
`drain` returns True only once HAProxy stopped giving the replica new requests (its state
is `drain` or `maint`) and its `scur` (requests assigned to it and not finished) read 0.
Per-revision counters never go down while the agent runs: a server's counters are read
one last time before it is deleted and kept, and when HAProxy dies its last-read counters
are kept the same way (what it served after that last read is lost with it).

Metrics: request and status counts, aborts and in-flight come from `show stat` (read
every `poll_interval`); latencies, and the 502/503/504 HAProxy answered itself, from the
request log (one datagram per request, or per `log_sample` requests, over a unix socket):
the snapshot has the shape `proxy.metrics` documents, so analysis windows, `status` and
the Prometheus collector read it as they read the builtin proxy's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from changeover.haproxy import config, logline, stopping
from changeover.haproxy.client import RuntimeClient
from changeover.haproxy.config import BACKEND, Settings
from changeover.haproxy.plan import Have, Step, Want, plan, server_weights
from changeover.haproxy.process import Haproxy, Layout, StartFailed
from changeover.haproxy.runtime import RuntimeApiError, StatRow, servers
from changeover.histogram import STATUS_CLASSES
from changeover.proxy.handoff import Send
from changeover.proxy.metrics import Metrics, RevisionStats
from changeover.proxy.policy import TrafficPolicy
from changeover.supervisor.process import ChildProcess

log = logging.getLogger("changeover.haproxy")

TICK = 1.0  # seconds between reconcile passes when nothing changed
DRAIN_POLL = 0.05  # seconds between two reads of a draining server's scur
RESTART_DELAY = 1.0  # seconds before HAProxy is started again after it died
MAX_RESTART_DELAY = 30.0  # doubling up to this while it fails to start
LOG_BATCH = 512  # datagrams read per wake-up, so a flood cannot starve the loop
REJECTED = (400, 408, 413, 414, 431, 501)  # answered without a replica: malformed


@dataclass(frozen=True)
class Counts:
    """A server's (or a revision's) cumulative counters from `show stat`, and gauges."""

    classes: tuple[int, int, int, int, int] = (0, 0, 0, 0, 0)  # hrsp_1xx .. hrsp_5xx
    aborted: int = 0  # cli_abrt + srv_abrt
    inflight: int = 0  # scur
    idle: int = 0  # srv_icur

    @classmethod
    def of(cls, row: StatRow) -> Counts:
        classes = tuple(row.number(f"hrsp_{c}") for c in STATUS_CLASSES)
        return cls(
            classes=classes,  # type: ignore[arg-type]  # five, by STATUS_CLASSES
            aborted=row.number("cli_abrt") + row.number("srv_abrt"),
            inflight=row.number("scur"),
            idle=row.number("srv_icur"),
        )

    def __add__(self, other: Counts) -> Counts:
        return Counts(
            classes=tuple(a + b for a, b in zip(self.classes, other.classes, strict=True)),  # type: ignore[arg-type]
            aborted=self.aborted + other.aborted,
            inflight=self.inflight + other.inflight,
            idle=self.idle + other.idle,
        )

    def retired(self) -> Counts:
        """What outlives the server: its counters, not its gauges."""
        return replace(self, inflight=0, idle=0)

    @property
    def requests(self) -> int:
        return sum(self.classes)


class HaproxyEngine:
    """The `agent.engine.Engine` over a supervised HAProxy (see the module)."""

    engine_name = "haproxy"

    def __init__(
        self,
        binary: str,
        layout: Layout,
        settings: Settings,
        *,
        log_socket: str,
        poll_interval: float = 0.5,
        on_event: Callable[[str], None] = lambda message: None,
    ) -> None:
        self._process = Haproxy(binary, layout)
        self._layout = layout
        self._settings = settings
        self._log_path = log_socket
        self._client = RuntimeClient(settings.stats_socket)
        self._options = settings.server_options()
        self._poll_interval = poll_interval
        self.on_event = on_event
        self._wants: dict[str, Want] = {}
        self._haves: dict[str, Have] = {}
        self._shares: Mapping[int, int] | None = None
        self._policy = TrafficPolicy()
        self._preview: int | None = None
        self._revision_of: dict[str, int] = {}  # every server ever wanted: logs and stats
        self._live: dict[str, Counts] = {}  # per server, from the last `show stat`
        self._retired: dict[int, Counts] = {}  # per revision: servers deleted, HAProxy dead
        self._log_metrics = Metrics()  # latencies and HAProxy's own errors, from the log
        self.unparsed_log_lines = 0
        self._sock: socket.socket | None = None
        self._log_sock: socket.socket | None = None
        self._dirty = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False

    # --- life -------------------------------------------------------------------------

    def initial_servers(self) -> dict[str, Have]:
        """What HAProxy starts with: the replicas wanted now (those routable enabled),
        so an agent's restart or HAProxy's never answers 503 while replicas serve."""
        weights = server_weights(self._wants, self._shares)
        return {
            name: Have(want.host, want.port, "ready" if want.routable else "maint", weights[name])
            for name, want in sorted(self._wants.items())
        }

    def config_text(self, servers: Mapping[str, Have]) -> str:
        lines = tuple(
            config.Server(name, have.host, have.port, have.weight, have.state == "ready")
            for name, have in servers.items()
        )
        return config.render(self._settings, lines)

    async def serve(self, sock: socket.socket) -> None:
        """Start HAProxy on the agent's listening socket; StartFailed if it cannot."""
        if self._sock is not None or self._closing:
            raise RuntimeError("the haproxy engine serves once")
        self._sock = sock
        self._open_log()
        try:
            await self._start()
        except BaseException:
            self._close_log()
            self._remove_socket_dir()
            raise
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._reconcile_forever(), name="haproxy reconcile"),
            loop.create_task(self._poll_forever(), name="haproxy stats"),
            loop.create_task(self._watch_forever(), name="haproxy watch"),
        ]

    async def _start(self) -> None:
        assert self._sock is not None
        servers = self.initial_servers()
        self._layout.config.write_text(self.config_text(servers))
        await self._process.start(self._sock.fileno(), self._client)
        self._haves = dict(servers)
        child = self._process.child
        pid = child.pid if child is not None else 0
        log.info("haproxy started (master pid %d)", pid)
        self.on_event(f"haproxy started (master pid {pid}, config {self._layout.config})")
        self._dirty.set()

    async def shutdown(
        self,
        timeout: float,  # noqa: ASYNC109 (the drain deadline, not a call timeout)
        idle_grace: float = 0.0,
        hand_over: Send | None = None,
    ) -> None:
        """Stop HAProxy without failing a request (`haproxy.stopping`). `hand_over` given:
        a reload, another agent's HAProxy accepts on the public socket already, so this
        one soft-stops at once and answers each idle connection's next request with
        `Connection: close` (nothing is sent over `hand_over`: HAProxy's connections are
        its own). Else (`down`): it stops accepting, requests in flight get `timeout` to
        finish, then it stops and its idle connections close. `idle_grace` is the
        builtin proxy's; HAProxy's `hard-stop-after` plays its part."""
        self._closing = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._sock is not None:
            self._sock.close()  # HAProxy holds its own copy until it stops
        if hand_over is None and self.running:
            await self._finish_in_flight(timeout)
            await self._process.kill()
        else:
            await self._process.stop(timeout + 1.0)
        self._read_log()  # the last lines
        self._close_log()
        if hand_over is not None:  # the next generation's files are the ones to read now
            with contextlib.suppress(OSError):
                self._layout.config.unlink()
        self._remove_socket_dir()

    async def _finish_in_flight(self, timeout: float) -> None:  # noqa: ASYNC109
        """Stop accepting, then wait until no stream is left or `timeout`; if the runtime
        API does not answer, a soft stop instead (it finishes what is in flight)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            await self._client.send(stopping.disable_frontend())
            while loop.time() < deadline:
                answer = await self._client.send(stopping.show_sess())
                if stopping.streams(answer) == 0:
                    return
                await asyncio.sleep(DRAIN_POLL)
        except (OSError, TimeoutError, RuntimeApiError) as exc:
            log.warning("haproxy runtime API at stop: %s; soft stop instead", exc)
            await self._process.stop(max(0.0, deadline - loop.time()) + 1.0)

    def _remove_socket_dir(self) -> None:
        with contextlib.suppress(OSError):  # the sockets' folder, once empty
            os.rmdir(os.path.dirname(self._settings.stats_socket))

    async def adopt(self, sock: socket.socket) -> object:
        """Never called on this engine: an old agent's HAProxy keeps its connections (the
        old agent sends none); one that came anyway is closed, never served half."""
        sock.close()
        raise RuntimeError("the haproxy engine takes no connections from another agent")

    @property
    def address(self) -> tuple[str, int]:
        if self._sock is None:
            raise RuntimeError("the haproxy engine is not serving yet")
        host, port = self._sock.getsockname()[:2]
        return str(host), int(port)

    @property
    def running(self) -> bool:
        return self._process.child is not None

    @property
    def master(self) -> ChildProcess | None:
        """HAProxy's master process, while it runs."""
        return self._process.child

    @property
    def stats_socket(self) -> str:
        return self._settings.stats_socket

    @property
    def settings(self) -> Settings:
        return self._settings

    @property
    def layout(self) -> Layout:
        return self._layout

    @property
    def binary(self) -> str:
        return self._process.binary

    @property
    def haves(self) -> dict[str, Have]:
        """The servers HAProxy has, as its answers said."""
        return dict(self._haves)

    @property
    def pending(self) -> int:
        """Runtime API commands HAProxy still needs for the wanted state (-1: not running)."""
        if not self.running:
            return -1
        return len(plan(self._wants, self._haves, self._shares, BACKEND, self._options))

    # --- preview: not on this engine (the spec rules refuse preview_listen) -------------

    @property
    def preview_address(self) -> tuple[str, int] | None:
        return None

    async def serve_preview(self, sock: socket.socket) -> None:
        sock.close()
        raise RuntimeError("the haproxy engine has no preview listener yet")

    async def close_preview(self) -> None:
        return None

    def set_preview(self, revision: int | None) -> None:
        self._preview = revision  # blue-green names it; nothing listens for it here

    @property
    def preview(self) -> int | None:
        return self._preview

    # --- routing (supervisor.routing.Routing) -------------------------------------------

    def add_endpoint(self, replica_id: str, revision: int, host: str, port: int) -> None:
        if replica_id in self._wants:
            raise ValueError(f"endpoint {replica_id!r} already exists")
        self._wants[replica_id] = Want(revision, host, port, routable=False)
        self._revision_of[replica_id] = revision
        self._dirty.set()

    def set_routable(self, replica_id: str, routable: bool) -> None:
        self._wants[replica_id] = replace(self._wants[replica_id], routable=routable)
        self._dirty.set()

    def remove_endpoint(self, replica_id: str) -> None:
        if self._wants.pop(replica_id, None) is not None:
            self._dirty.set()

    async def drain(self, replica_id: str, timeout: float) -> bool:  # noqa: ASYNC109 (API)
        """True once HAProxy gives the replica nothing new and its scur is 0."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            have = self._haves.get(replica_id)
            if have is None or not self.running:
                return True  # not in HAProxy (any more): nothing of it is in flight
            if have.state != "ready" and await self._inflight(replica_id) == 0:
                return True
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(DRAIN_POLL)

    async def _inflight(self, replica_id: str) -> int | None:
        try:
            rows = await self._client.stats(BACKEND)
        except (OSError, TimeoutError, RuntimeApiError, ValueError):
            return None
        for row in servers(rows, BACKEND):
            if row.name == replica_id:
                return row.number("scur") + row.number("qcur")
        return 0

    def set_weights(self, weights: dict[int, int] | None) -> None:
        self.set_traffic(TrafficPolicy(weights))

    def set_traffic(self, policy: TrafficPolicy) -> None:
        if policy.header_routes or policy.sticky is not None:
            raise ValueError(
                "the haproxy engine has no header routes or sticky users yet "
                '(the spec rules refuse them with proxy.engine = "haproxy")'
            )
        self._policy = policy
        self._shares = None if policy.weights is None else dict(policy.weights)
        self._dirty.set()

    @property
    def traffic(self) -> TrafficPolicy:
        return self._policy

    # --- reconciling ------------------------------------------------------------------

    async def _reconcile_forever(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(TICK):
                    await self._dirty.wait()
            self._dirty.clear()
            if self.running:
                try:
                    await self.reconcile()
                except Exception:  # a bug must not end reconciling: said, retried next tick
                    log.exception("haproxy reconcile pass failed")

    async def reconcile(self) -> bool:
        """One pass: send the plan's steps in order; True when every one succeeded."""
        steps = plan(self._wants, self._haves, self._shares, BACKEND, self._options)
        done = True
        for step in steps:
            try:
                await self._apply(step)
            except RuntimeApiError as exc:
                done = False
                level = logging.DEBUG if step.action == "delete" else logging.WARNING
                log.log(level, "%s (will retry)", exc)
            except (OSError, TimeoutError) as exc:
                log.warning("haproxy runtime API unreachable: %s", exc)
                return False
        return done

    async def _apply(self, step: Step) -> None:
        final: Counts | None = None
        if step.action == "delete":
            rows = await self._client.stats(BACKEND)
            row = next((r for r in servers(rows, BACKEND) if r.name == step.server), None)
            final = None if row is None else Counts.of(row)
        await self._client.send(step.command)
        if step.after is not None:
            self._haves[step.server] = step.after
            return
        self._haves.pop(step.server, None)
        self.deleted(step.server, final)

    def deleted(self, server: str, final: Counts | None) -> None:
        """HAProxy deleted `server`: its counters as last read before are kept."""
        self._live.pop(server, None)
        revision = self._revision_of.get(server)
        if final is not None and revision is not None:
            self._retire(revision, final)

    def _retire(self, revision: int, counts: Counts) -> None:
        self._retired[revision] = self._retired.get(revision, Counts()) + counts.retired()

    # --- supervision ------------------------------------------------------------------

    async def _watch_forever(self) -> None:
        delay = RESTART_DELAY
        while True:
            child = self._process.child
            if child is not None:
                status = await child.wait()
                if self._closing:
                    return
                await self._process.kill()  # the rest of its group, and its pid file
                self.lost(status)
                delay = RESTART_DELAY
            await asyncio.sleep(delay)
            if self._closing:
                return
            try:
                await self._start()
            except StartFailed as exc:
                delay = min(delay * 2, MAX_RESTART_DELAY)  # said once per try, less often
                log.error("%s", exc)
                self.on_event(f"haproxy could not be started again (next try in {delay:g}s): {exc}")

    def lost(self, status: int) -> None:
        """HAProxy died: its servers and counters went with it; keep the last counters read."""
        for server, counts in self._live.items():
            revision = self._revision_of.get(server)
            if revision is not None:
                self._retire(revision, counts)
        self._live.clear()
        self._haves.clear()
        message = f"haproxy exited unexpectedly ({status}): {self._process.tail(3)}; restarting"
        log.error("%s", message)
        self.on_event(message)

    # --- metrics ----------------------------------------------------------------------

    async def _poll_forever(self) -> None:
        while True:
            try:
                await self.poll()
            except Exception:  # as above: the next read may succeed
                log.exception("haproxy stats not read")
            await asyncio.sleep(self._poll_interval)

    async def poll(self) -> None:
        """Read every server's counters once."""
        if not self.running:
            return
        try:
            rows = await self._client.stats(BACKEND)
        except (OSError, TimeoutError, RuntimeApiError, ValueError) as exc:
            log.debug("haproxy stats not read: %s", exc)
            return
        self.take(rows, present=set(self._haves))

    def take(self, rows: list[StatRow], present: set[str]) -> None:
        """Counters of the servers HAProxy has (`present`) from `show stat` rows; a server
        deleted while they were read is in `_retired` already, so it is left out."""
        self._live = {
            row.name: Counts.of(row) for row in servers(rows, BACKEND) if row.name in present
        }
        for revision, counts in self._totals().items():
            stats = self._log_metrics.revision(revision)
            stats.inflight, stats.aborted = counts.inflight, counts.aborted

    def _totals(self) -> dict[int, Counts]:
        totals = dict(self._retired)
        for server, counts in self._live.items():
            revision = self._revision_of.get(server)
            if revision is not None:
                totals[revision] = totals.get(revision, Counts()) + counts
        return totals

    def metrics(self) -> dict[str, Any]:
        """A snapshot with the shape `proxy.metrics` documents (see the module)."""
        snapshot = self._log_metrics.snapshot()
        revisions: dict[str, Any] = snapshot["revisions"]
        for revision, counts in sorted(self._totals().items()):
            entry = revisions.setdefault(str(revision), RevisionStats().snapshot())
            entry["requests"] = counts.requests
            entry["status"] = dict(zip(STATUS_CLASSES, counts.classes, strict=True))
            entry["aborted"] = counts.aborted
            entry["inflight"] = counts.inflight
        snapshot["revisions"] = dict(sorted(revisions.items(), key=lambda kv: int(kv[0])))
        snapshot["endpoints"] = {
            name: {
                "revision": want.revision,
                "routable": want.routable,
                "inflight": self._live.get(name, Counts()).inflight,
                "tunnels": 0,
                "idle_connections": self._live.get(name, Counts()).idle,
                "haproxy_state": (self._haves[name].state if name in self._haves else None),
            }
            for name, want in sorted(self._wants.items())
        }
        return snapshot

    @property
    def stats(self) -> Metrics:
        """Per revision: latencies per status class from the log, in-flight and aborts
        from the stats (the Prometheus collector reads these)."""
        return self._log_metrics

    # --- the request log --------------------------------------------------------------

    def _open_log(self) -> None:
        path = self._log_path
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
            sock.bind(path)
            os.chmod(path, 0o600)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        self._log_sock = sock
        asyncio.get_running_loop().add_reader(sock.fileno(), self._read_log)

    def _read_log(self) -> None:
        sock = self._log_sock
        if sock is None:
            return
        for _ in range(LOG_BATCH):
            try:
                line = sock.recv(2048)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            self.record(line)

    def record(self, line: bytes) -> None:
        """One request log line into the per-revision latency histograms."""
        logged = logline.parse(line)
        if logged is None:
            self.unparsed_log_lines += 1
            return
        metrics = self._log_metrics
        if logged.server is None:
            if logged.status in REJECTED:
                metrics.rejected += 1
            elif logged.status == 503:
                metrics.unrouted += 1
            return
        revision = self._revision_of.get(logged.server)
        if revision is None:
            self.unparsed_log_lines += 1
            return
        stats = metrics.revision(revision)
        if logged.status >= 100:
            stats.completed(logged.status, logged.seconds)
        code = str(logged.status)
        if logged.by_proxy and code in stats.errors:
            stats.errors[code] += 1

    def _close_log(self) -> None:
        sock, self._log_sock = self._log_sock, None
        if sock is None:
            return
        with contextlib.suppress(ValueError, RuntimeError):
            asyncio.get_running_loop().remove_reader(sock.fileno())
        sock.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._log_path)


__all__ = ["Counts", "HaproxyEngine"]
