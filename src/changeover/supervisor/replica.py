"""One replica: its socket, its current process and the counters status shows.

Invariant: `state` changes only through `move(event)`, whose next state is the entry of
`state.TABLE` (an event the state does not take raises); `ready_since` is set exactly
while READY, `failing` only while a process runs (it is cleared in BACKOFF and on the
way out), and the listening socket is bound at creation (for a replica adopted after
an agent crash, whose process kept the only one: before its next process) and closed only
on the way to EXITED.
"""

from __future__ import annotations

import logging
import shlex
import socket
from collections.abc import Callable
from pathlib import Path

from changeover.supervisor.backoff import Backoff
from changeover.supervisor.model import Hooks, ReplicaInfo, ReplicaTemplate
from changeover.supervisor.sockets import HOST, bind_listener, free_port, port_of
from changeover.supervisor.spawn import Child, SpawnSpec
from changeover.supervisor.state import TABLE, ReplicaEvent, ReplicaState

log = logging.getLogger(__name__)

_LISTEN_VARS = ("LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES")


class Replica:
    """Mutable record of one replica, owned by its run task, then by its termination.

    STARTING lasts from each spawn until the first READY of that process; NOT_READY means
    the process was ready and its readiness probe has since failed.
    """

    def __init__(
        self,
        template: ReplicaTemplate,
        index: int,
        logs_dir: Path,
        hooks: Hooks,
        backoff: Backoff,
        adopted: tuple[int, socket.socket | None] | None = None,
    ) -> None:
        self.template = template
        self.id = f"r{template.revision}-{index}"
        self.index = index
        self.hooks = hooks
        self.backoff = backoff
        self.host = HOST
        self.sock: socket.socket | None = None
        if adopted is not None:  # (port, listening socket) handed over by a previous agent
            self.port, self.sock = adopted
        elif "{port}" in template.command:
            self.port = free_port(HOST)
        else:
            self.sock = bind_listener(HOST)
            self.port = port_of(self.sock)
        self.log_path = logs_dir / f"{self.id}.log"
        self.state = ReplicaState.STARTING
        self.child: Child | None = None
        self.restarts = 0
        self.boot_failures = 0
        self.ready_since: float | None = None
        self.started_at: float | None = None
        self.ready_this_run = False
        self.last_error = ""
        self.failing = ""  # the probe failure reported now (`reports.ProbeReports.failing`)

    def move(self, event: ReplicaEvent) -> ReplicaState:
        """Apply `event` through the table; on a change, keep the books and tell the agent."""
        old = self.state
        self.state = new = TABLE.transition(old, event)
        if new is old:
            return new
        now = self.hooks.clock()
        if new is ReplicaState.READY:
            self.ready_since, self.boot_failures, self.ready_this_run = now, 0, True
            self.backoff.ready(now)
        elif old is ReplicaState.READY:
            self.ready_since = None
            self.backoff.unready(now)
        if new is ReplicaState.BACKOFF or new.terminating:
            self.failing = ""  # no process of it is probed any more
        notify(self.hooks.on_change)
        return new

    def set_failing(self, failing: str) -> None:
        """The reported probe failure changed (`reports`): the agent makes it an event."""
        if failing != self.failing:
            self.failing = failing
            notify(self.hooks.on_change)

    def set_routable(self, routable: bool) -> None:
        self.hooks.routing.set_routable(self.id, routable)

    def spawn(self) -> Child:
        """Start the app (SpawnError if it cannot be); the caller watches it."""
        self._ensure_listener()
        child = self.hooks.spawner.spawn(self.app_spec())
        self.child, self.started_at = child, self.hooks.clock()
        notify(self.hooks.on_started, self.info())
        return child

    def process_gone(self) -> None:
        """The process exited: kill what is left of its group, and the descendants that
        left the group, then report it once."""
        if self.child is None:
            return
        # Grandchildren may still hold the listening socket and serve from it.
        self.child.kill_group()
        self.hooks.escapes.kill(self.id, self.child)
        info = self.info()
        self.child, self.started_at = None, None
        notify(self.hooks.on_exited, info)

    def new_port_after_failed_start(self) -> int | None:
        """Port mode: a run that never got ready may have lost the race for its port
        (`free_port` can only say it was free a moment ago), so the next run gets a
        fresh one. Safe now: a replica that never got ready is not routable."""
        if self.sock is not None or "{port}" not in self.template.command:
            return None
        routing = self.hooks.routing
        routing.remove_endpoint(self.id)
        self.port = free_port(self.host)
        routing.add_endpoint(self.id, self.template.revision, self.host, self.port)
        return self.port

    def _ensure_listener(self) -> None:
        """A replica adopted after an agent crash had no socket handed over (its process
        held the only one); its next process gets a new one, on the same port when it is
        free, so routing is unchanged, else on a fresh port. Safe: without a process, the
        replica is not routable."""
        if self.sock is not None or "{port}" in self.template.command:
            return
        try:
            self.sock = bind_listener(self.host, self.port)
            return
        except OSError as exc:
            log.info("replica %s: port %d is taken (%s); moving", self.id, self.port, exc)
        self.sock = bind_listener(self.host)
        routing = self.hooks.routing
        routing.remove_endpoint(self.id)
        self.port = port_of(self.sock)
        routing.add_endpoint(self.id, self.template.revision, self.host, self.port)

    def close_socket(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def app_spec(self) -> SpawnSpec:
        argv = [arg.replace("{port}", str(self.port)) for arg in shlex.split(self.template.command)]
        listen_fd = None if self.sock is None else self.sock.fileno()
        env = self.env()
        if listen_fd is not None:
            env |= {"LISTEN_FDS": "1", "LISTEN_FDNAMES": "http"}
        return SpawnSpec(argv, self.template.workdir, env, self.log_path, listen_fd)

    def hook_spec(self, command: str) -> SpawnSpec:
        """A shell command run like the app (workdir, env, log) but without the socket."""
        argv = ["/bin/sh", "-c", command]
        return SpawnSpec(argv, self.template.workdir, self.env(), self.log_path)

    def env(self) -> dict[str, str]:
        """The environment of a start of the app or of a hook; secrets are read now, so
        a restart sees their current value (SpawnError if one cannot be read)."""
        env = {k: v for k, v in self.template.env.items() if k not in _LISTEN_VARS}
        if self.template.secrets is not None:
            env |= self.template.secrets(self.id)
        return env | {
            "PORT": str(self.port),
            "CHANGEOVER_REPLICA": self.id,
            "CHANGEOVER_REVISION": str(self.template.revision),
            "CHANGEOVER_VERSION": self.template.version,
        }

    def info(self) -> ReplicaInfo:
        child = self.child
        return ReplicaInfo(
            id=self.id,
            revision=self.template.revision,
            version=self.template.version,
            state=self.state,
            pid=None if child is None else child.pid,
            port=self.port,
            restarts=self.restarts,
            boot_failures=self.boot_failures,
            ready_since=self.ready_since,
            started_at=self.started_at,
            last_error=self.last_error,
            log_path=self.log_path,
            create_time=None if child is None else child.create_time,
            failing=self.failing,
        )


def notify(callback: Callable[..., None], *args: object) -> None:
    """Run an agent callback; its failure is logged, never allowed to stop a replica."""
    try:
        callback(*args)
    except Exception:
        log.exception("supervisor callback %r failed", callback)
