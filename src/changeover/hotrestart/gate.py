"""Readiness in the default mode (`--ready auto`): the new generation answers HTTP on the
shared socket, and says READY=1 as well if it speaks sd_notify.

Invariant: the gate opens at most once, and only after a process of the generation has
answered HTTP (GET /readyz with 200-399 or, where /readyz is not served, GET / with any
status below 500) and, if the generation has sent any notify message by then, READY=1.
A READY=1 alone never opens it: gunicorn's arbiter sends one before any worker has
booted. Pure: the watcher feeds it answers and messages and says the notes it returns.
"""

from __future__ import annotations

from collections.abc import Mapping

READINESS_PATH = "/readyz"  # the convention of changeover.runtime, Kubernetes and the examples
ROOT = "/"
_GUNICORN = "Gunicorn arbiter booted"  # the STATUS gunicorn's arbiter sends with READY=1


def http_ready(status: int) -> bool:
    """What `--ready http:/PATH` counts as ready."""
    return 200 <= status < 400


def from_gunicorn_arbiter(fields: Mapping[str, str]) -> bool:
    return fields.get("READY") == "1" and fields.get("STATUS", "").startswith(_GUNICORN)


def waits_for(where: str) -> str:
    """What the default mode waits for, as the log says it at each spawn."""
    return (
        f"an HTTP answer from one of its processes on {where} (GET {READINESS_PATH} with"
        f" 200-399, or GET {ROOT} with any status below 500 if it does not serve"
        f" {READINESS_PATH}), and READY=1 too if it sends notify messages"
    )


def notify_mode_warning(gen: int, fields: Mapping[str, str]) -> str | None:
    """A warning for `--ready notify` when the READY=1 is gunicorn's early one."""
    if not from_gunicorn_arbiter(fields):
        return None
    return (
        f"generation {gen}: this READY=1 comes from gunicorn's arbiter, which sends it before"
        " any worker has booted; --ready notify counts it, the default (no --ready) would"
        " also wait for an HTTP answer from a worker"
    )


class Gate:
    """One generation's readiness in the default mode."""

    def __init__(self, gen: int, where: str) -> None:
        self.gen, self.where = gen, where
        self.path = READINESS_PATH  # what to ask next; ROOT once /readyz proved absent
        self.answered = ""  # how the HTTP side was satisfied, once it is
        self.spoke = False  # the generation sent a notify message
        self.notified = False  # ... and READY=1 among them
        self.opened = False
        self._said: set[str] = set()

    @property
    def http_ok(self) -> bool:
        return bool(self.answered)

    def answer(self, status: int) -> list[str]:
        """A process of the generation answered `GET self.path` with `status`."""
        if self.http_ok:
            return []
        asked = f"GET {self.path} answered {status}"
        if self.path == ROOT:
            good = status < 500
        elif 400 <= status < 500:  # not served here (404), or not to us (401): ask for /
            self.path = ROOT
            return self._once(
                f"generation {self.gen}: {asked}, so readiness is GET {ROOT} with any status"
                " below 500"
            )
        else:
            good = http_ready(status)
        if not good:
            return self._once(f"generation {self.gen}: {asked}; not ready yet")
        self.answered = asked
        return self._progress()

    def message(self, fields: Mapping[str, str]) -> list[str]:
        """A notify message from the generation (the sender was checked)."""
        if self.opened:
            return []
        self.spoke = True
        notes = []
        if fields.get("READY") == "1" and not self.notified:
            self.notified = True
            if not self.http_ok:
                notes.append(self._early(fields))
        return notes + self._progress()

    def _early(self, fields: Mapping[str, str]) -> str:
        why = " (gunicorn's arbiter sends it before any worker has booted)"
        return (
            f"generation {self.gen} sent READY=1 before any of its processes answers HTTP"
            f"{why if from_gunicorn_arbiter(fields) else ''}: waiting for an answer on"
            f" {self.where} too"
        )

    def _progress(self) -> list[str]:
        if self.opened or not self.http_ok:
            return []
        if self.spoke and not self.notified:
            return self._once(
                f"generation {self.gen}: {self.answered}, but it sends notify messages:"
                " waiting for its READY=1 too"
            )
        self.opened = True
        also = " and it sent READY=1" if self.notified else ""
        return [f"generation {self.gen} is ready: {self.answered}{also}"]

    def _once(self, note: str) -> list[str]:
        """A note is said once per generation, not at every probe."""
        if note in self._said:
            return []
        self._said.add(note)
        return [note]
