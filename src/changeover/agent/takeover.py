"""The new agent's side of a handover: read what it inherited, adopt the replicas, say ready.

Invariant: every inherited fd is made close-on-exec at once (no replica or later agent
gets it by accident), and `ready` is sent only after the replicas are adopted and the
proxy accepts on the inherited public socket.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from dataclasses import dataclass

from changeover.agent.control import ControlServer
from changeover.agent.core import Agent
from changeover.agent.manifest import Manifest, ManifestError, parse
from changeover.agent.reload import HANDOVER_ENV
from changeover.supervisor.adopt import Adoptee, Verdict

log = logging.getLogger("changeover.agent")

READ_TIMEOUT = 10.0
MAX_MANIFEST = 4 << 20


@dataclass(frozen=True)
class Inherited:
    manifest: Manifest
    channel: socket.socket
    public: socket.socket
    control: socket.socket


def inherited() -> Inherited | None:
    """What the previous agent handed over, or None when this agent was started by `up`."""
    raw = os.environ.pop(HANDOVER_ENV, None)
    if raw is None:
        return None
    if not raw.isdigit():
        raise ManifestError(f"{HANDOVER_ENV}: expected a file descriptor number, got {raw!r}")
    channel = socket.socket(fileno=int(raw))
    channel.set_inheritable(False)
    manifest = parse(_read_line(channel))
    for fd in manifest.fds():
        os.set_inheritable(fd, False)
    public = socket.socket(fileno=manifest.public_fd)
    control = socket.socket(fileno=manifest.control_fd)
    return Inherited(manifest, channel, public, control)


def _read_line(channel: socket.socket) -> str:
    channel.settimeout(READ_TIMEOUT)
    buf = b""
    while b"\n" not in buf:
        chunk = channel.recv(65536)
        if not chunk or len(buf) > MAX_MANIFEST:
            raise ManifestError("handover manifest: the previous agent sent no complete line")
        buf += chunk
    return buf.split(b"\n", 1)[0].decode()


def adopt_replicas(agent: Agent, manifest: Manifest) -> None:
    """Give every handed-over replica to the supervisor, routable if it was."""
    recorded = {r.id: r for r in agent.store.recorded_replicas()}
    for entry in manifest.replicas:
        sock = None if entry.fd is None else socket.socket(fileno=entry.fd)
        pid = entry.pid
        adoptee = Adoptee(entry.id, pid, entry.create_time, entry.port, sock, entry.ready)
        verdict = agent.supervisor.adopt(agent.template(entry.revision), adoptee)
        if verdict is Verdict.ADOPT and pid is not None and entry.id not in recorded:
            # keep the orphan records complete for a crash of this agent
            agent.store.record_replica(
                entry.id,
                revision=entry.revision,
                pid=pid,
                pgid=pid,
                create_time=entry.create_time,
                now=time.time(),
                port=entry.port,
            )
        elif verdict is not Verdict.ADOPT:
            agent.store.forget_replica(entry.id)
        log.info("replica %s (pid %s): %s", entry.id, pid, verdict.value)


def announce_ready(channel: socket.socket) -> None:
    """Say ready; the channel stays open for the idle client connections that follow."""
    channel.settimeout(READ_TIMEOUT)
    channel.sendall(f"ready {os.getpid()}\n".encode())


class SharedControlServer(ControlServer):
    """A control server whose socket file may belong to the next agent when it stops."""

    def keep_path(self) -> None:
        self._path = ""  # the next agent serves the same socket: never unlink it
