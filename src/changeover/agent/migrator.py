"""The agent's migration steps: expand before a new revision, contract once it is stable.

Invariants: one migration command runs at a time (a lock), and none while a rollout
runs, nor a rollout while one runs (`busy`, checked by the agent's `_ensure_idle`). A
rollout that expands first is recorded before its expand starts; its replicas start only
after the expand exited 0 within its timeout; otherwise the rollout ends FAILED with the
stable revision untouched and the reason (exit, time, the redacted tail of the output)
in its event. Every step's start and end are stored with their `migration` event
(`store.schema_steps`), so a step the tool did not finish is reported, never silent.
Commands run through `changeover.shell` (their own process group, killed at the
timeout or a cancel) in the revision's folder with its environment; secrets reach the
command as variables and nothing that is kept or logged (`migrations.output`). When
each step may run is decided in `changeover.migrations.decide`, not here; `watch` runs
the steps that are due by themselves (a contract, the rollback of an expand left behind).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from changeover import shell
from changeover.agent.events import EventLog
from changeover.migrations.decide import Scene, contract_wait, rollback_choice, rollback_due
from changeover.migrations.output import redact, tail
from changeover.migrations.state import Step
from changeover.rollout.decision import Decision
from changeover.rollout.phase import Phase
from changeover.spec.migrations import MigrationSettings
from changeover.store import Revision, Rollout, Store
from changeover.units import format_duration

STATUS_TIMEOUT = 30.0  # seconds the status command may take after a step
WATCH = 0.5  # seconds between checks whether a contract is due


@dataclass(frozen=True)
class Outcome:
    ok: bool
    revision: int
    message: str  # the end event's text
    why: str = ""  # for a failure: exit, time and output tail, one line


class Migrator:
    def __init__(
        self,
        *,
        store: Store,
        events: EventLog,
        settings: Callable[[int], MigrationSettings],
        env: Callable[[Revision], tuple[Mapping[str, str], list[str]]],
        scene: Callable[[int | None], Scene],  # with that revision's configured steps
        log_path: Path,
        on_failed: Callable[[Rollout, str], None] = lambda rollout, reason: None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._events = events
        self._settings = settings
        self._env = env  # (variables with secrets' values, the secrets' values)
        self._scene = scene
        self._log_path = log_path
        self._on_failed = on_failed  # a rollout its expand failed: counted, notified
        self._clock = clock
        self._wall = wall
        self._lock = asyncio.Lock()
        self.busy: str | None = None  # the step running, described
        self.expanding: Rollout | None = None  # a rollout waiting for its expand
        self._task: asyncio.Task[None] | None = None

    # --- the steps ---------------------------------------------------------------------
    async def run(self, step: Step, revision: int, *, rollout_id: int | None = None) -> Outcome:
        """Run `revision`'s `step` command to its end (or its timeout); record both."""
        async with self._lock:
            settings = self._settings(revision)
            command = getattr(settings, step.value)
            assert command is not None, f"{step.value} is not configured"
            rev = self._store.revision(revision)
            env, secrets = self._env(rev)
            what = f"{step.value} of revision {revision} ({rev.version})"
            _, event = self._store.schema_start(
                revision,
                step,
                command,
                message=f"{what} started: `{command}`",
                now=self._wall(),
                rollout_id=rollout_id,
            )
            self._events.committed([event])
            self.busy = what
            started = self._clock()
            try:
                code, why, output = await self._command(command, rev.path, env, settings.timeout)
            except asyncio.CancelledError:
                self._end(
                    revision,
                    False,
                    None,
                    self._clock() - started,
                    "the agent stopped",
                    "",
                    f"{what} interrupted: the agent stopped while it ran",
                    rollout_id,
                )
                raise
            finally:
                self.busy = None
            took = self._clock() - started
            kept = tail(output, secrets)
            ended = why or "exit 0"
            if code is not None:  # a timeout says its own time
                ended += f" after {format_duration(round(took, 3))}"
            self._log(what, command, redact(output, secrets), ended)
            said = ended
            if code == 0:
                message = f"{what} succeeded in {format_duration(round(took, 3))} (exit 0)"
                self._end(revision, True, code, took, kept, "", message, rollout_id)
                await self._note_status(revision, settings, rev, env, secrets)
                return Outcome(True, revision, message)
            full = f"{said}: {kept}" if kept else said
            message = f"{what} failed: {full}"
            self._end(revision, False, code, took, kept, full, message, rollout_id)
            return Outcome(False, revision, message, full)

    async def _command(
        self, command: str, folder: str, env: Mapping[str, str], limit: float
    ) -> tuple[int | None, str, str]:
        """(exit or None, what went wrong or "", stdout then stderr as text)."""
        try:
            async with asyncio.timeout(limit):
                code, out, err = await shell.run(
                    ("/bin/sh", "-c", command), cwd=folder, env={**os.environ, **env}
                )
        except TimeoutError:
            return None, f"timed out after {format_duration(limit)} (its processes were killed)", ""
        except OSError as exc:
            return None, f"could not start in {folder}: {exc.strerror or exc}", ""
        text = (out + b"\n" + err).decode(errors="replace")
        if code == 0:
            return 0, "", text
        return code, f"killed by signal {-code}" if code < 0 else f"exit {code}", text

    def _end(
        self,
        revision: int,
        ok: bool,
        code: int | None,
        took: float,
        kept: str,
        detail: str,
        message: str,
        rollout_id: int | None,
    ) -> None:
        _, event = self._store.schema_end(
            revision,
            ok=ok,
            exit_code=code,
            duration=took,
            detail=detail or kept,
            message=message,
            now=self._wall(),
            rollout_id=rollout_id,
        )
        self._events.committed([event])

    async def _note_status(
        self,
        revision: int,
        settings: MigrationSettings,
        rev: Revision,
        env: Mapping[str, str],
        secrets: list[str],
    ) -> None:
        if settings.status is None:
            return
        code, why, output = await self._command(
            settings.status, rev.path, env, min(settings.timeout, STATUS_TIMEOUT)
        )
        said = tail(output, secrets, lines=1)
        self._store.note_schema(revision, said if code == 0 else f"status {why}: {said}")

    def _log(self, what: str, command: str, output: str, end: str) -> None:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(self._wall()))
        text = output.rstrip("\n")
        body = f"{text}\n" if text.strip() else ""
        entry = f"== {stamp} {what}: `{command}`\n{body}== {end}\n"
        fd = os.open(self._log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, entry.encode())
        finally:
            os.close(fd)

    # --- expand before a rollout -------------------------------------------------------
    def expand_first(
        self, rollout: Rollout, begin: Callable[[], asyncio.Future[Decision]]
    ) -> asyncio.Future[Decision]:
        """Run the expand of `rollout`'s target, then `begin` it; or end it FAILED."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[Decision] = loop.create_future()
        self.expanding = rollout
        self._task = loop.create_task(self._expand_then(rollout, begin, done))
        return done

    async def _expand_then(
        self,
        rollout: Rollout,
        begin: Callable[[], asyncio.Future[Decision]],
        done: asyncio.Future[Decision],
    ) -> None:
        target = rollout.to_revision
        try:
            outcome = await self.run(Step.EXPAND, target, rollout_id=rollout.id)
        except asyncio.CancelledError:
            self.expanding = None
            self._store.finish_rollout(
                rollout.id,
                phase=Phase.INTERRUPTED,
                reason=f"agent stopped during the expand of revision {target}",
                now=self._wall(),
            )
            done.cancel()
            raise
        except Exception as exc:  # the store or the spec failed: the rollout must end
            outcome = Outcome(False, target, str(exc), f"could not run: {exc}")
        self.expanding = None
        if outcome.ok:
            _chain(begin(), done)
            return
        origin = rollout.from_revision
        keeps = f"revision {origin} keeps serving" if origin else "nothing was serving"
        reason = f"expand failed: {outcome.why}; no replica of revision {target} started"
        self._store.finish_rollout(rollout.id, phase=Phase.FAILED, reason=reason, now=self._wall())
        self._events.add(
            "rollout", f"rollout {rollout.id} failed: {reason}; {keeps}", rollout_id=rollout.id
        )
        self._on_failed(self._store.rollout(rollout.id), reason)
        done.set_result(Decision(phase=Phase.FAILED, scale={}, events=(), reason=reason))

    # --- contract once stable ----------------------------------------------------------
    async def watch(self, every: float = WATCH) -> None:
        """Run the stable revision's contract when it is due, and undo the expand of a
        revision left behind when it is due (runs until cancelled)."""
        while True:
            await asyncio.sleep(every)
            if self._lock.locked() or self.expanding is not None:
                continue
            scene = self._scene(None)
            if scene.stable is not None and contract_wait(scene, manual=False) is None:
                await self.run(Step.CONTRACT, scene.stable)
                continue
            behind = rollback_choice(scene)
            if behind is not None and rollback_due(self._scene(behind), behind):
                await self.run(Step.ROLLBACK, behind)

    async def close(self) -> None:
        """At shutdown: stop an expand in progress (its rollout is recorded interrupted)."""
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def _chain(inner: asyncio.Future[Decision], outer: asyncio.Future[Decision]) -> None:
    def copy(future: asyncio.Future[Decision]) -> None:
        if outer.done():
            return
        if future.cancelled():
            outer.cancel()
        else:
            outer.set_result(future.result())

    inner.add_done_callback(copy)
