"""`HaproxyEngine`: the agent's routing carried out by HAProxy through its runtime API.

The agent (and the supervisor, through `supervisor.routing.Routing`) states what it wants
as the builtin proxy is told it: replicas added, made routable or not, drained, removed;
weights per revision. Those calls only change the wanted state and wake one reconcile
task, which sends what `plan.plan` says the difference is, one command at a time, and
records what HAProxy has after each answer; a periodic tick retries what HAProxy refused
(a `del server` while a connection is still open). Each start of HAProxy (the first, or
again after it died) is seeded (seed.py): its configuration and map files hold the wanted
servers, their slot twins and the maps, and what HAProxy has is set to that, so routes,
sticky users and the preview hold from its first request and the reconcile redoes nothing.

Invariant: nothing a rollout does reloads HAProxy; every change is a runtime API command.
`drain` returns True only once HAProxy stopped giving the replica new requests (its state
is `drain` or `maint`) and its `scur` (requests assigned to it and not finished) read 0.
Per-revision counters never go down while the agent runs: a server's counters are read
one last time before it is deleted and kept, and when HAProxy dies its last-read counters
are kept the same way (what it served after that last read is lost with it): counting.py.

Header routes, sticky users and the preview (routes.py, preview.py): a revision with
replicas gets a slot backend, where its replicas are servers again (twins of those in
`replicas`, planned by the same `plan`); the maps are rewritten after servers are added
and enabled and before any is drained, from what HAProxy then has ready, so no entry
points at a slot without a ready server. `drain` waits for both twins; their counters
are summed (HAProxy counts a request only in the backend that served it).

Metrics: request and status counts, aborts and in-flight come from `show stat` (read
every `poll_interval`; `counting`); latencies, and the 502/503/504 HAProxy answered
itself, from the request log (a line per request, or per `log_sample` requests, through
HAProxy's ring buffer and a unix stream socket the agent reads at most once a LOG_TICK,
and not at all while no line comes: `logreader`; counted, and with `log_sample = "auto"`
the level of one in 2^level decided and written into the sample map like any other map:
`logmetrics`): the snapshot has the shape `proxy.metrics` documents, so analysis
windows, `status` and the Prometheus collector read it as they read the builtin proxy's.
With the access log on, the same lines are longer (`logline.ACCESS_FORMAT`, every
request) and each is also written to `access_log` as the builtin's JSON line
(`haproxy.access`).

"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from changeover.haproxy import (
    errorpages,
    maps,
    preview,
    routes,
    seed,
    stopping,
)
from changeover.haproxy.access import HaproxyAccessLog
from changeover.haproxy.client import RuntimeClient
from changeover.haproxy.config import BACKEND, Settings
from changeover.haproxy.counting import Counters, Counts
from changeover.haproxy.logmetrics import LogMetrics
from changeover.haproxy.logreader import LogReader
from changeover.haproxy.plan import DRAIN, Have, Step, Want, plan_all
from changeover.haproxy.preview import PreviewPass
from changeover.haproxy.process import Haproxy, Layout, StartFailed
from changeover.haproxy.routes import Entries, MapFiles
from changeover.haproxy.runtime import RuntimeApiError, StatRow
from changeover.haproxy.seed import Seed
from changeover.haproxy.tls import HaproxyTls
from changeover.proxy.handoff import Send
from changeover.proxy.metrics import Metrics
from changeover.proxy.policy import TrafficPolicy
from changeover.supervisor.process import ChildProcess
from changeover.tlsfiles import Pair

log = logging.getLogger("changeover.haproxy")

TICK = 1.0  # seconds between reconcile passes when nothing changed
DRAIN_POLL = 0.05  # seconds between two reads of a draining server's scur
RESTART_DELAY = 1.0  # seconds before HAProxy is started again after it died
MAX_RESTART_DELAY = 30.0  # doubling up to this while it fails to start


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
        access_log: str | None = None,
        poll_interval: float = 0.5,
        on_event: Callable[[str], None] = lambda message: None,
        tls: HaproxyTls | None = None,  # `[proxy] tls` (haproxy/tls.py)
        clock: Callable[[], float] = time.monotonic,  # what the sampling rate is measured by
        draw: Callable[[], float] = random.random,  # samples HAProxy's own answers (record)
    ) -> None:
        self._tls = tls
        self._process = Haproxy(binary, layout)
        self._layout = layout
        self._settings = settings
        self._access_path = access_log if settings.access_log else None
        self._client = RuntimeClient(settings.stats_socket)
        self._options = settings.server_options()
        self._poll_interval = poll_interval
        self.on_event = on_event
        self._wants: dict[str, Want] = {}
        self._haves: dict[str, Have] = {}  # the weighted backend's servers
        self._slot_haves: dict[str, dict[str, Have]] = {}  # per slot backend (routes.py)
        self._slots: dict[int, int] = {}  # revision -> slot
        self._files = None if settings.map_dir is None else MapFiles.under(settings.map_dir)
        self._map_haves: dict[str, Entries] = {}  # what each map holds in HAProxy
        self._unslotted: list[int] = []  # said once per change
        self._previews = PreviewPass()
        self._shares: Mapping[int, int] | None = None
        self._policy = TrafficPolicy()
        self._preview: int | None = None
        self._revision_of: dict[str, int] = {}  # every server ever wanted: logs and stats
        self.counters = Counters(self._revision_of)  # from `show stat` (counting.py)
        self._sock: socket.socket | None = None
        self._dirty = asyncio.Event()
        self.log_metrics = LogMetrics(  # the request log's lines (logmetrics.py)
            settings, self._revision_of, lambda: self._map_haves, self._dirty.set, clock, draw
        )
        self.log_reader = LogReader(log_socket, self.record, self.log_metrics.check_surge)
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False

    # --- life -------------------------------------------------------------------------

    def start_seed(self) -> Seed:
        """What HAProxy starts with (haproxy/seed.py): the replicas wanted now (those
        routable enabled), their slot twins and the maps for the policy and preview, so
        an agent's restart or HAProxy's never answers 503 while replicas serve, nor
        sends a route's, a sticky user's or the preview's request elsewhere."""
        return seed.seed(
            self._wants,
            self._shares,
            self._slots,
            self._files,
            self._policy,
            self._preview,
            self.log_metrics.sample_map(),
        )

    def config_text(self, start: Seed) -> str:
        """The configuration HAProxy starts with, for `start` (bench/ edits it)."""
        return seed.config_text(self._settings, start)

    async def serve(self, sock: socket.socket) -> None:
        """Start HAProxy on the agent's listening socket; StartFailed if it cannot."""
        if self._sock is not None or self._closing:
            raise RuntimeError("the haproxy engine serves once")
        self._sock = sock
        self._open_log()
        try:
            await self._start()
        except BaseException:
            self._previews.shutdown()
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
        start = self.start_seed()
        if self._tls is not None:
            self._tls.write()  # the pair serving now, at each start
        self.write_error_pages()
        self._layout.config.write_text(self.config_text(start))
        held = self._write_map_files(start.maps)
        # What HAProxy has from its first answer on: a reconcile pass while it starts
        # plans from this, not from an empty HAProxy (it would add servers twice).
        self._slots = dict(start.slots)
        self._haves = dict(start.servers)
        self._slot_haves = {backend: dict(haves) for backend, haves in start.slot_servers.items()}
        self._map_haves = held
        theirs = self._previews.new_pair() if self._settings.preview_fd is not None else None
        try:
            more = () if theirs is None else (theirs.fileno(),)
            await self._process.start(self._sock.fileno(), self._client, more_fds=more)
        except BaseException:
            self._forget_haves()  # no HAProxy holds them
            raise
        finally:
            if theirs is not None:
                theirs.close()  # HAProxy has its own copy
        self._previews.started()
        child = self._process.child
        pid = child.pid if child is not None else 0
        log.info("haproxy started (master pid %d)", pid)
        self.on_event(f"haproxy started (master pid {pid}, config {self._layout.config})")
        self._dirty.set()

    def _write_map_files(self, wanted: Mapping[str, Entries]) -> dict[str, Entries]:
        """Each map's file as HAProxy should start with it; what each holds. A map a file
        cannot hold (a key with a blank: a verbose regex) starts empty, and the
        reconcile writes it through the runtime API, whose words have escapes."""
        held = {}
        for path, entries in wanted.items():
            try:
                text = maps.file_text(entries)
            except ValueError as exc:
                log.warning("haproxy map %s starts empty, then the runtime API: %s", path, exc)
                text, entries = maps.file_text(()), ()
            Path(path).write_text(text, encoding="utf-8")
            held[path] = entries
        return held

    def _forget_haves(self) -> None:
        self._haves.clear()
        self._slot_haves.clear()
        self._map_haves.clear()

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
        self._previews.shutdown()
        if self._sock is not None:
            self._sock.close()  # HAProxy holds its own copy until it stops
        if hand_over is None and self.running:
            await self._finish_in_flight(timeout)
            await self._process.kill()
        else:
            await self._process.stop(timeout + 1.0)
        self.log_reader.read()  # the last lines
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
        files = self._files.all() if self._files is not None else ()
        sample_file = self.log_metrics.sample_file
        sample = (sample_file,) if sample_file is not None else ()
        for path in (*files, *sample):
            with contextlib.suppress(OSError):
                os.unlink(path)
        if self._tls is not None:
            self._tls.remove()
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
    def certificate(self) -> Pair | None:
        return None if self._tls is None else self._tls.pair

    async def set_certificate(self, pair: Pair) -> None:
        """New handshakes get `pair`, through the runtime API (no reload)."""
        if self._tls is None:
            raise RuntimeError("the haproxy engine serves no TLS")
        await self._tls.update(self._client, pair)

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
    def slot_haves(self) -> dict[str, dict[str, Have]]:
        """The slot backends' servers, as HAProxy's answers said."""
        return {backend: dict(haves) for backend, haves in self._slot_haves.items()}

    @property
    def slots(self) -> dict[int, int]:
        """Revision -> slot (routes.py)."""
        return dict(self._slots)

    @property
    def map_haves(self) -> dict[str, Entries]:
        return dict(self._map_haves)

    @property
    def pending(self) -> int:
        """Runtime API changes HAProxy still needs for the wanted state (-1: not running):
        server commands, and maps whose content differs."""
        if not self.running:
            return -1
        slots = self._assign(say=False)
        steps = len(self._plan(slots))
        wanted = self._wanted_maps(slots)
        return steps + sum(1 for path, e in wanted.items() if self._map_haves.get(path) != e)

    # --- preview: the agent accepts, HAProxy serves (haproxy/preview.py) ---------------

    @property
    def preview_address(self) -> tuple[str, int] | None:
        return self._previews.address

    async def serve_preview(self, sock: socket.socket) -> None:
        if self._settings.preview_fd is None:
            sock.close()
            raise RuntimeError("this haproxy configuration has no preview listener")
        self._previews.open(sock)

    async def close_preview(self) -> None:
        """Stop accepting previews; idle preview connections close now, busy ones after
        their answer (`_end_previews`), as on the builtin proxy."""
        self._previews.close()
        self._previews.retire()
        self._dirty.set()

    def set_preview(self, revision: int | None) -> None:
        """The revision the preview listener serves (None: 503). When a preview revision
        ends, its connections close as at `close_preview` (a keep-alive one would
        otherwise send its next request to whatever the preview is then)."""
        if revision != self._preview:
            if self._preview is not None:
                self._previews.retire()
            self._preview = revision
            self._dirty.set()

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
        """True once HAProxy gives the replica nothing new, in the weighted backend and
        in its slot, and its scur + qcur, summed over both, is 0."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            twins = [have for have in self._twins(replica_id) if have is not None]
            if not twins or not self.running:
                return True  # not in HAProxy (any more): nothing of it is in flight
            if all(h.state != "ready" for h in twins) and await self._inflight(replica_id) == 0:
                return True
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(DRAIN_POLL)

    def _twins(self, replica_id: str) -> list[Have | None]:
        return [self._haves.get(replica_id)] + [
            haves.get(replica_id) for haves in self._slot_haves.values()
        ]

    async def _inflight(self, replica_id: str) -> int | None:
        try:
            rows = await self._client.stats()
        except (OSError, TimeoutError, RuntimeApiError, ValueError):
            return None
        return sum(
            row.number("scur") + row.number("qcur")
            for row in self._server_rows(rows)
            if row.name == replica_id
        )

    def _server_rows(self, rows: list[StatRow]) -> list[StatRow]:
        backends = {BACKEND, *routes.SLOT_BACKENDS}
        return [row for row in rows if row.kind == "server" and row.proxy in backends]

    def set_weights(self, weights: dict[int, int] | None) -> None:
        self.set_traffic(TrafficPolicy(weights))

    def set_traffic(self, policy: TrafficPolicy) -> None:
        if policy.reads_headers and self._files is None:
            raise ValueError("this haproxy configuration has no routing maps (map_dir)")
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
                    await self._end_previews()
                except Exception:  # a bug must not end reconciling: said, retried next tick
                    log.exception("haproxy reconcile pass failed")

    async def _end_previews(self) -> None:
        """Shut the retiring preview connections HAProxy has no stream on (preview.py);
        after the maps were written, so a busy one's answer says `Connection: close` if
        the preview revision is gone. Again at each pass while busy ones are left."""
        retiring = set(self._previews.retiring)  # more may retire while this awaits
        if not retiring:
            return
        try:
            answer = await self._client.send(stopping.show_sess())
            pid = int((await self._client.info()).get("Pid", "0"))
        except (OSError, TimeoutError, RuntimeApiError, ValueError) as exc:
            log.debug("haproxy sessions not read: %s", exc)
            return
        try:
            left = preview.shut_idle(pid, retiring, preview.stream_fds(answer))
        except OSError as exc:  # they finish on their own (keep-alive: idle_timeout)
            log.warning("haproxy preview connections not closed at the preview's end: %s", exc)
            left = set()
        self._previews.retiring -= retiring - left

    async def reconcile(self) -> bool:
        """One pass; True when every change succeeded. Servers are added and enabled
        first, then the maps are written from what HAProxy then has ready (so no entry
        points at a slot that would answer 503), then servers are drained and removed
        (a map entry that pointed at one went before)."""
        self._slots = self._assign()
        steps = self._plan(self._slots)
        done = True
        try:
            done &= await self._steps([s for s in steps if s.phase < DRAIN])
            done &= await self._write_maps()
            done &= await self._steps([s for s in steps if s.phase >= DRAIN])
        except (OSError, TimeoutError) as exc:
            log.warning("haproxy runtime API unreachable: %s", exc)
            return False
        return done

    def _plan(self, slots: Mapping[int, int]) -> list[Step]:
        haves = {BACKEND: self._haves, **self._slot_haves}
        backends = {revision: routes.slot_name(slot) for revision, slot in slots.items()}
        return plan_all(self._wants, haves, self._shares, BACKEND, backends, self._options)

    def _assign(self, say: bool = True) -> dict[int, int]:
        """The slots the revisions with replicas get (routes.assign); an event (`say`)
        when one the policy names gets none."""
        if self._files is None:
            return {}
        revisions = {want.revision for want in self._wants.values()}
        kept = {rev: slot for rev, slot in self._slots.items() if rev in revisions}
        held = {routes.slot_name(slot) for slot in kept.values()}
        occupied = [
            index
            for index, backend in enumerate(routes.SLOT_BACKENDS)
            if self._slot_haves.get(backend) and backend not in held
        ]
        named = routes.named(self._policy, self._preview, self._available())
        slots = routes.assign(self._slots, revisions, occupied, named)
        missing = routes.unslotted(slots, named & revisions)
        if say and missing != self._unslotted:
            self._unslotted = missing
            if missing:
                message = (
                    f"haproxy: no free slot for revision(s) {', '.join(map(str, missing))} "
                    f"({routes.SLOTS} in use): their header routes, sticky users and preview "
                    "use the weights (the preview answers 503) until a slot frees"
                )
                log.error("%s", message)
                self.on_event(message)
        return slots

    def _available(self) -> dict[int, int]:
        return seed.available(self._wants)

    def _wanted_maps(self, slots: Mapping[int, int]) -> dict[str, Entries]:
        if self._files is None:
            return self.log_metrics.sample_map()
        usable = seed.usable(slots, self._slot_haves, self._wants)
        wanted = routes.maps(
            self._files, self._policy, self._preview, slots, usable, self._available()
        )
        return {**wanted, **self.log_metrics.sample_map()}

    async def _steps(self, steps: list[Step]) -> bool:
        done = True
        for step in steps:
            try:
                await self._apply(step)
            except RuntimeApiError as exc:
                done = False
                level = logging.DEBUG if step.action == "delete" else logging.WARNING
                log.log(level, "%s (will retry)", exc)
        return done

    async def _write_maps(self) -> bool:
        done = True
        for path, entries in self._wanted_maps(self._slots).items():
            if self._map_haves.get(path) == entries:
                continue
            try:
                await self._replace_map(path, entries)
            except (RuntimeApiError, ValueError) as exc:
                done = False
                log.warning("haproxy map %s not written: %s (will retry)", path, exc)
        return done

    async def _replace_map(self, path: str, entries: Entries) -> None:
        """The map's whole content, atomically (maps.py)."""
        at = maps.version(await self._client.send(maps.prepare(path)))
        for key, value in entries:
            await self._client.send(maps.add(path, at, key, value))
        await self._client.send(maps.commit(path, at))
        self._map_haves[path] = entries

    def _haves_of(self, backend: str) -> dict[str, Have]:
        if backend == BACKEND:
            return self._haves
        return self._slot_haves.setdefault(backend, {})

    async def _apply(self, step: Step) -> None:
        final: Counts | None = None
        backend = step.backend
        if step.action == "delete":
            rows = await self._client.stats(backend)
            row = next(
                (r for r in self._server_rows(rows) if (r.proxy, r.name) == (backend, step.server)),
                None,
            )
            final = None if row is None else Counts.of(row)
        await self._client.send(step.command)
        haves = self._haves_of(backend)
        if step.after is not None:
            haves[step.server] = step.after
            return
        haves.pop(step.server, None)
        if not haves and backend != BACKEND:
            self._slot_haves.pop(backend, None)  # the slot is free once empty
        self.deleted(step.server, final, backend)

    def deleted(self, server: str, final: Counts | None, backend: str = BACKEND) -> None:
        """HAProxy deleted `server` of `backend`: its counters as last read are kept."""
        self.counters.deleted(server, final, backend)

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
        self.counters.lost()
        self._forget_haves()
        self._previews.lost()
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
            rows = await self._client.stats()
        except (OSError, TimeoutError, RuntimeApiError, ValueError) as exc:
            log.debug("haproxy stats not read: %s", exc)
            return
        present = {(BACKEND, name) for name in self._haves}
        for backend, haves in self._slot_haves.items():
            present |= {(backend, name) for name in haves}
        self.take(rows, present)

    def take(self, rows: list[StatRow], present: set[tuple[str, str]]) -> None:
        """Counters of the servers HAProxy has (`present`: backend, server) from `show
        stat` rows (`Counters.take`); their in-flight and aborts into the stats."""
        totals = self.counters.take(self._server_rows(rows), present)
        for revision, counts in totals.items():
            stats = self.log_metrics.metrics.revision(revision)
            stats.inflight, stats.aborted = counts.inflight, counts.aborted
        self.observe_rate(sum(counts.requests for counts in totals.values()))

    def observe_rate(self, requests: int) -> None:
        """`log_sample = "auto"`: the level for the requests the stats counted so far."""
        self.log_metrics.observe_rate(requests)

    @property
    def log_sample(self) -> dict[str, Any]:
        """How many replica responses the request log holds (`LogMetrics.log_sample`)."""
        return self.log_metrics.log_sample

    def metrics(self) -> dict[str, Any]:
        """A snapshot with the shape `proxy.metrics` documents (see the module)."""
        snapshot = self.log_metrics.metrics.snapshot()
        revisions: dict[str, Any] = snapshot["revisions"]
        self.counters.fill(revisions)
        snapshot["revisions"] = dict(sorted(revisions.items(), key=lambda kv: int(kv[0])))
        snapshot["log_sample"] = self.log_sample
        live = self.counters.per_server()
        snapshot["endpoints"] = {
            name: {
                "revision": want.revision,
                "routable": want.routable,
                "inflight": live.get(name, Counts()).inflight,
                # not counted apart: HAProxy's scur counts an open WebSocket tunnel as a
                # session in flight (so `inflight` includes it, and drain waits for it)
                "tunnels": None,
                "idle_connections": live.get(name, Counts()).idle,
                "haproxy_state": (self._haves[name].state if name in self._haves else None),
            }
            for name, want in sorted(self._wants.items())
        }
        return snapshot

    @property
    def stats(self) -> Metrics:
        """Per revision: latencies per status class from the log, in-flight and aborts
        from the stats (the Prometheus collector reads these)."""
        return self.log_metrics.metrics

    @property
    def unparsed_log_lines(self) -> int:
        """Request log lines read but not counted: unparsable, or naming no server."""
        return self.log_metrics.unparsed

    # --- the request log --------------------------------------------------------------

    def write_error_pages(self) -> None:
        """changeover's 502/503/504 pages, which the configuration names (`errorpages`)."""
        folder = self._settings.error_pages
        if folder is not None:
            errorpages.write(Path(folder), self._settings.response_timeout)

    def _open_log(self) -> None:
        self.log_reader.open()
        if self._access_path is not None:
            self.log_metrics.access = HaproxyAccessLog(
                self._access_path,
                self._settings.access_log_query,
                self._settings.response_timeout,
                asyncio.get_running_loop().call_later,
            )

    def record(self, line: bytes) -> None:
        """One request log line into the metrics (`LogMetrics.record`)."""
        self.log_metrics.record(line)

    def _close_log(self) -> None:
        self.log_reader.close()  # the lines sent since the last read count too
        access, self.log_metrics.access = self.log_metrics.access, None
        if access is not None:
            access.close()  # the lines still waiting for their batch


__all__ = ["Counts", "HaproxyEngine"]
