"""The data plane the agent drives: `[proxy] engine = "builtin" | "haproxy"`.

`Engine` is everything the agent, the supervisor (`supervisor.routing.Routing`, a part of
it), the controller's traffic applier, analysis and the Prometheus collector ask of a data
plane. The builtin `proxy.server.Proxy` is the first implementation, `haproxy.engine.
HaproxyEngine` the second; `make` builds the one `[proxy]` names.

Invariant: the agent reaches the data plane only through this protocol, and both engines
answer `metrics()` with the snapshot shape `proxy.metrics` documents, so analysis windows,
`status`, the soak evidence and the collector do not know which engine runs. An engine
the spec cannot be served by is refused before anything starts: the spec rules list what
an engine lacks (`spec.rules.engine_lacks`), and a missing HAProxy is `HaproxyMissing`
with its install hint.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from changeover.agent.paths import StatePaths, private_dir
from changeover.proxy.handoff import Send
from changeover.proxy.metrics import Metrics
from changeover.proxy.policy import TrafficPolicy
from changeover.spec.models import ProxySettings
from changeover.supervisor.routing import Routing
from changeover.tlsfiles import Pair


class Engine(Routing, Protocol):
    engine_name: str  # "builtin" or "haproxy"

    @property
    def certificate(self) -> Pair | None:
        """The TLS pair new handshakes get (`[proxy] tls`); None: no TLS."""
        ...

    @property
    def address(self) -> tuple[str, int]:
        """Where the public listener accepts (after `serve`)."""
        ...

    @property
    def preview_address(self) -> tuple[str, int] | None: ...

    @property
    def stats(self) -> Metrics:
        """The live per-revision counters the Prometheus collector reads."""
        ...

    async def serve(self, sock: socket.socket) -> None:
        """Start serving on the agent's bound, listening public socket."""

    async def serve_preview(self, sock: socket.socket) -> None: ...

    async def close_preview(self) -> None: ...

    def set_traffic(self, policy: TrafficPolicy) -> None:
        """Weights, header routes and sticky key for the next requests."""

    def set_preview(self, revision: int | None) -> None: ...

    async def set_certificate(self, pair: Pair) -> None:
        """New TLS handshakes get `pair` (`[proxy] tls`); open connections keep theirs."""

    def metrics(self) -> dict[str, Any]:
        """A snapshot in the shape `proxy.metrics` documents (plus `endpoints`)."""
        ...

    async def adopt(self, sock: socket.socket) -> object:
        """Serve an idle client connection a previous agent handed over."""
        ...

    async def shutdown(
        self,
        timeout: float,  # noqa: ASYNC109 (the drain deadline)
        idle_grace: float = 0.0,
        hand_over: Send | None = None,
    ) -> None: ...


def make(
    settings: ProxySettings,
    paths: StatePaths,
    builtin: Callable[[], Engine],
    on_event: Callable[[str], None] = lambda message: None,
    drain_timeout: float = 30.0,
    tls: Pair | None = None,
    generation: int = 0,
) -> Engine:
    """The engine `settings.engine` names; `builtin` makes the builtin proxy. For HAProxy:
    `HaproxyMissing` (with the install hint) when it is not installed. `generation` is 0
    at `up` and one more at each reload: HAProxy's files are that generation's, so the
    old agent's HAProxy, still draining, keeps its own (`haproxy.process`)."""
    if settings.engine == "builtin":
        return builtin()
    from changeover.agent.logs import ACCESS_LOG
    from changeover.haproxy.config import Settings
    from changeover.haproxy.engine import HaproxyEngine
    from changeover.haproxy.process import LISTEN_FD, Layout, find_binary, generation_path
    from changeover.haproxy.tls import HaproxyTls

    binary = find_binary()
    sockets = paths.haproxy_sockets
    private_dir(sockets)

    def own(path: Path) -> Path:
        return generation_path(path, generation)

    layout = Layout(
        config=own(paths.haproxy_config),
        master_socket=str(own(sockets / "master.sock")),
        stats_socket=str(own(sockets / "stats.sock")),
        log=paths.logs / "haproxy.log",  # one file: each line says which process wrote it
        pid_file=own(paths.haproxy_pid),
        workdir=paths.root,
        generation=generation,
    )
    config = Settings(
        listen_fd=LISTEN_FD,
        stats_socket=layout.stats_socket,
        log_socket=str(own(sockets / "log.sock")),
        map_dir=str(sockets),  # routes, sticky users, preview (haproxy/routes.py)
        preview_fd=LISTEN_FD + 1,  # preview connections the agent accepts
        nbthread=settings.threads or cores(),
        connect_timeout=settings.connect_timeout,
        header_timeout=settings.header_timeout,
        idle_timeout=settings.idle_timeout,
        response_timeout=settings.response_timeout,
        write_timeout=settings.write_timeout,
        upstream_idle_timeout=settings.upstream_idle_timeout,
        stop_timeout=drain_timeout,
        max_header_size=settings.max_header_size,
        max_headers=settings.max_headers,
        forwarded_proto="http" if tls is None else "https",
        trusted_proxies=tuple(settings.trusted_proxies),
        tls_cert=None if tls is None else str(own(sockets / "tls.pem")),
        access_log=settings.access_log,
        access_log_query=settings.access_log_query,
        error_pages=str(paths.root / "haproxy-errors"),
        # the access log needs every request: sampled only while it is off
        log_sample=1 if settings.access_log else settings.log_sample,
        request_id_prefix=os.urandom(5).hex(),  # as the builtin proxy's ids
    )
    return HaproxyEngine(
        binary,
        layout,
        config,
        log_socket=str(own(sockets / "log.sock")),
        access_log=str(paths.logs / ACCESS_LOG),
        on_event=on_event,
        tls=None if tls is None else HaproxyTls(str(own(sockets / "tls.pem")), tls),
    )


def cores() -> int:
    """The CPUs this process may run on (HAProxy's `nbthread`), at most 64."""
    try:
        return max(1, min(64, len(os.sched_getaffinity(0))))
    except (AttributeError, OSError):
        return max(1, min(64, os.cpu_count() or 1))


__all__ = ["Engine", "cores", "make"]
