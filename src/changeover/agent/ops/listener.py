"""The operator TCP listener (`[ops] listen`): Prometheus' scrapes, Alertmanager's
webhook and the dashboard.

Invariant: the token file is checked and the address bound before the agent starts a
replica, so bad input fails the start with a message naming the key (and never the
token); the listener serves only what `app` allows, at most `MAX_CONNECTIONS` at once
(then 503), and `close` leaves nothing listening. It binds with SO_REUSEPORT, as the
flags listener does, so a reloading agent can bind it while the old one still serves.
"""

from __future__ import annotations

import socket
from pathlib import Path

from prometheus_client.exposition import choose_encoder

from changeover.agent.control import ControlServer
from changeover.agent.core import Agent
from changeover.agent.dashboard.app import Dashboard
from changeover.agent.flags.listener import ListenerError, address_of, bind_for, token_for
from changeover.agent.ops.alerts import AlertDesk, default_labels
from changeover.agent.ops.app import ALERTS_PATH, METRICS_PATH, ops_app
from changeover.agent.ops.collector import registry
from changeover.spec.models import Notify, OpsSettings

# a few Prometheus servers and Alertmanagers, not a crowd: a cap keeps a flood from
# costing the agent (and its proxy, on the same loop) more than this many connections
MAX_CONNECTIONS = 64

__all__ = ["ListenerError", "OpsListener"]


class OpsListener:
    def __init__(
        self,
        sock: socket.socket | None = None,
        token: str | None = None,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        self._sock = sock  # None: `[ops] listen` is not set
        self._token = token  # None: no `[ops] token_file`, alerts are not accepted
        self._max_connections = max_connections
        self._server: ControlServer | None = None
        self.desk: AlertDesk | None = None

    @classmethod
    def open(
        cls, settings: OpsSettings, spec_path: Path, max_connections: int = MAX_CONNECTIONS
    ) -> OpsListener:
        """Read the token and bind the address the spec gives (an idle listener if none)."""
        if settings.listen is None:
            return cls()
        token = None
        if settings.token_file is not None:
            token = token_for("ops.token_file", settings.token_file, spec_path)
        return cls(bind_for("ops.listen", settings.listen, spec_path), token, max_connections)

    @property
    def address(self) -> str | None:
        """`host:port` as bound (the port chosen when the spec says 0), or None."""
        return None if self._sock is None else address_of(self._sock)

    async def start(self, agent: Agent) -> None:
        if self._sock is None:
            return
        spec = agent.spec
        labels = spec.guard.alert_labels or default_labels(spec.app.name, agent.environment)
        self.desk = desk = AlertDesk(
            labels=labels,
            controller=agent.controller,
            events=agent.events,
            notifier=agent.notifier,
            notify_settings=lambda: _notify_settings(agent),
            tally=agent.tally,
            store=agent.store,
            wall=agent.wall,
        )
        metrics = registry(agent)

        def exposition(accept: str) -> tuple[bytes, str]:
            encoder, kind = choose_encoder(accept)
            return encoder(metrics), kind

        dashboard = Dashboard(agent, self._token)
        app = ops_app(exposition, desk, self._token, dashboard.respond)
        self._server = ControlServer(app, self._sock, max_connections=self._max_connections)
        await self._server.start()
        alerts = f", {ALERTS_PATH} (bearer token)" if self._token is not None else ""
        actions = "actions with the token" if dashboard.actions else "read-only"
        agent.events.add(
            "agent",
            f"ops listener on http://{self.address}: {METRICS_PATH}{alerts}, "
            f"the dashboard at / ({actions})",
        )

    async def close(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            await server.stop()  # closes the socket too
        elif self._sock is not None:
            self._sock.close()  # bound but never served (the start failed)
        self._sock = None


def _notify_settings(agent: Agent) -> Notify:
    """Where a notification about no rollout goes: as the stable revision says."""
    stable = agent.store.stable_revision()
    return agent.spec.notify if stable is None else agent.revision_spec(stable.id).notify
