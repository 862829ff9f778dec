"""Rollout notifications: a JSON POST to a webhook and/or a shell command, per event.

Invariant: a notification never delays or fails a rollout. Each one runs as its own task
with a timeout; a failure becomes an event in the log and nothing else.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable
from typing import Any

import httpx

from changeover import shell
from changeover.agent.events import EventLog
from changeover.spec.models import Notify
from changeover.store import Rollout


class Notifier:
    def __init__(
        self,
        *,
        service: str,
        events: EventLog,
        settings: Callable[[Rollout], Notify],
        wall: Callable[[], float],
        version: Callable[[int], str],
    ) -> None:
        self._service = service
        self._events = events
        self._settings = settings
        self._wall = wall
        self._version = version
        self._tasks: set[asyncio.Task[None]] = set()

    def __call__(self, kind: str, rollout: Rollout, message: str) -> None:
        notify = self._settings(rollout)
        if kind in notify.events and (notify.webhook or notify.command):
            self._start(notify, self.body(kind, rollout, message), rollout.id)

    def outside(self, kind: str, notify: Notify, message: str, **extra: Any) -> None:
        """A notification about no rollout (an alert recorded while none runs): the body
        has no rollout fields, and `extra` (JSON values) instead."""
        if kind in notify.events and (notify.webhook or notify.command):
            body = {"service": self._service, "event": kind, "rollout": None, **extra}
            self._start(notify, {**body, "message": message, "at": self._wall()}, None)

    def _start(self, notify: Notify, body: dict[str, Any], rollout_id: int | None) -> None:
        task = asyncio.get_running_loop().create_task(self._send(notify, body, rollout_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def body(self, kind: str, rollout: Rollout, message: str) -> dict[str, Any]:
        return {
            "service": self._service,
            "event": kind,
            "rollout": rollout.id,
            "kind": rollout.kind.value,
            "strategy": rollout.strategy,
            "from_revision": rollout.from_revision,
            "to_revision": rollout.to_revision,
            "version": self._version(rollout.to_revision),
            "message": message,
            "at": self._wall(),
        }

    async def close(self) -> None:
        """Give pending notifications their own timeouts to finish (agent shutdown)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _send(self, notify: Notify, body: dict[str, Any], rollout_id: int | None) -> None:
        jobs = []
        if notify.webhook:
            jobs.append(("webhook " + notify.webhook, _post(notify.webhook, body, notify.timeout)))
        if notify.command:
            jobs.append(("command", _run(notify.command, body, notify.timeout)))
        results = await asyncio.gather(*(job for _, job in jobs), return_exceptions=True)
        for (what, _), result in zip(jobs, results, strict=True):
            if isinstance(result, BaseException):
                why = str(result) or type(result).__name__
                self._events.add(
                    "notify",
                    f"notification {body['event']} to {what} failed: {why}",
                    rollout_id=rollout_id,
                )


async def _post(url: str, body: dict[str, Any], limit: float) -> None:
    async with httpx.AsyncClient(timeout=limit) as client:
        response = await client.post(url, json=body)
    if response.status_code >= 300:
        raise RuntimeError(f"HTTP {response.status_code}")


async def _run(command: str, body: dict[str, Any], limit: float) -> None:
    env = {**os.environ, **{f"CHANGEOVER_{k.upper()}": str(v) for k, v in body.items()}}
    argv, data = ("/bin/sh", "-c", command), json.dumps(body).encode()
    try:
        async with asyncio.timeout(limit):  # the hook's process group dies on the timeout
            code, _, err = await shell.run(argv, env=env, stdin=data, stdout=shell.DEVNULL)
    except TimeoutError:
        raise RuntimeError(f"timed out after {limit:g}s") from None
    if code:
        last = err.decode(errors="replace").strip().splitlines()[-1:] or [""]
        raise RuntimeError(f"exit {code} {last[0]}".strip())
