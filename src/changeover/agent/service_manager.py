"""What the agent tells its service manager (systemd `Type=notify`, `NOTIFY_SOCKET`):
READY=1 once its first revision serves, STOPPING=1 when it begins to stop, and MAINPID=
of the agent it handed over to (`changeover reload`), so the manager follows the
new agent instead of treating the old one's exit as the service's end.

Invariant: telling never fails the agent: without `NOTIFY_SOCKET` nothing is sent, and a
manager that cannot be reached is logged once per message, never raised.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

from changeover.runtime.notify import NotifyError, notify

log = logging.getLogger("changeover.agent")


class ServiceManager:
    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self._socket = env.get("NOTIFY_SOCKET", "")
        self.sent: list[str] = []  # what reached the manager, for status and tests

    @property
    def present(self) -> bool:
        return bool(self._socket)

    def ready(self, status: str) -> None:
        self._tell({"READY": "1", "STATUS": status})

    def stopping(self) -> None:
        self._tell({"STOPPING": "1", "STATUS": "stopping: draining and stopping replicas"})

    def handed_over(self, pid: int) -> None:
        """The agent `pid` now serves: it is the service's main process from here on."""
        self._tell({"MAINPID": str(pid), "STATUS": f"handed over to agent pid {pid}"})

    def _tell(self, state: Mapping[str, str]) -> None:
        if not self._socket:
            return
        try:
            notify(state, environ={"NOTIFY_SOCKET": self._socket})
        except (OSError, NotifyError) as exc:
            log.warning("cannot notify the service manager at %s: %s", self._socket, exc)
            return
        self.sent.append("\n".join(f"{k}={v}" for k, v in state.items()))
