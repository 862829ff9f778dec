"""`follow()` carries out what `next_action` decides, against a scripted fake agent: each
pause promoted once (consecutive pauses too), a refused promote not repeated, an abort
sent once and followed to the end of its rollback."""

from __future__ import annotations

import io
import time
from typing import Any, cast

from rich.console import Console

from changeover.cli.client import AgentClient, Refused
from changeover.cli.verify import follow
from changeover.loadgen import BackgroundLoad, Report
from changeover.verify import Action, WaitOptions
from changeover.verify.progress import new_progress


class FakeAgent:
    """A canary that pauses at the given (1-based) steps; each GET of the rollout is a tick."""

    def __init__(self, pauses: list[int], *, refuse_promote: bool = False) -> None:
        self.pauses, self.refuse_promote = list(pauses), refuse_promote
        self.phase = "progressing"
        self.finished_at: float | None = None
        self.step: int | None = None
        self.posts: list[str] = []
        self.events: list[dict[str, Any]] = []
        self.ticks_paused = 0
        self.gets = 0

    def doc(self) -> dict[str, Any]:
        return {"id": 3, "from_revision": 1, "to_revision": 2, "phase": self.phase,
                "reason": "", "started_at": 1000.0, "finished_at": self.finished_at}  # fmt: skip

    def event(self, message: str) -> None:
        self.events.append({"id": len(self.events) + 1, "ts": time.time(), "kind": "rollout",
                            "message": message, "rollout_id": 3, "revision": 2})  # fmt: skip

    def tick(self) -> None:
        if self.phase == "progressing" and self.pauses:
            self.step = self.pauses.pop(0)
            self.phase = "paused"
            self.event(f"step {self.step}: paused until promote")
        elif self.phase == "progressing":
            self.phase, self.finished_at = "succeeded", time.time()
        elif self.phase == "rolling-back":
            self.phase, self.finished_at = "aborted", time.time()
        elif self.phase == "paused" and self.refuse_promote:
            self.ticks_paused += 1
            if self.ticks_paused == 5:  # as if an operator resumed it
                self.phase, self.pauses = "progressing", []

    def get(self, path: str, **params: Any) -> Any:
        if path == "/v1/rollouts/3":
            self.gets += 1
            assert self.gets < 1000, "follow() never ended"  # fails a broken loop, not CI's clock
            self.tick()
            return self.doc()
        if path == "/v1/events":
            return {"events": [e for e in self.events if e["id"] > params["after"]]}
        assert path == "/v1/status"
        step = None if self.step is None else self.step - 1
        return {"rollout": self.doc(), "progress": {"step": step}}

    def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        self.posts.append(path)
        path, _, query = path.partition("?")
        assert query.startswith("by=verify")  # the agent's events name verify as the sender
        if path == "/v1/promote" and not self.refuse_promote and self.phase == "paused":
            self.phase = "progressing"
        elif path == "/v1/abort" and self.phase in ("progressing", "paused"):
            self.phase = "rolling-back"
        else:
            raise Refused(400, [f"cannot {path[4:]} a rollout that is {self.phase}"])
        return {"message": "ok", "rollout": self.doc()}


class IdleLoad:
    def snapshot(self) -> Report:
        return Report()


def run(agent: FakeAgent, options: WaitOptions, elapsed: float = 0.0) -> Any:
    progress = new_progress(Console(file=io.StringIO()), disable=True)
    with progress:
        return follow(
            cast(AgentClient, agent), agent.doc(), 0, progress,
            cast(BackgroundLoad, IdleLoad()), options, time.monotonic() - elapsed,
        )  # fmt: skip


def test_consecutive_pauses_are_each_promoted_once() -> None:
    agent = FakeAgent([2, 3])
    final, events, actions = run(agent, WaitOptions(promote=True))
    assert final["phase"] == "succeeded"
    assert agent.posts == ["/v1/promote?by=verify", "/v1/promote?by=verify"]
    assert [a.message for a in actions] == ["verify promoted step 2", "verify promoted step 3"]
    assert [e.message for e in events] == [
        "step 2: paused until promote",
        "step 3: paused until promote",
    ]


def test_a_refused_promote_is_recorded_once_and_not_repeated() -> None:
    agent = FakeAgent([2], refuse_promote=True)
    final, _, actions = run(agent, WaitOptions(promote=True))
    assert final["phase"] == "succeeded"
    assert agent.posts == ["/v1/promote?by=verify"]
    assert [(a.action, a.accepted) for a in actions] == [(Action.PROMOTE, False)]
    assert "cannot promote a rollout that is paused" in actions[0].message


def test_past_max_wait_the_rollout_is_aborted_once_and_followed_to_its_end() -> None:
    agent = FakeAgent([2])
    final, _, actions = run(agent, WaitOptions(max_wait=3.0), elapsed=3.5)
    assert final["phase"] == "aborted"
    assert agent.posts == ["/v1/abort?by=verify%20%28--max-wait%203s%29"]
    assert [(a.action, a.accepted) for a in actions] == [(Action.ABORT, True)]
    assert actions[0].elapsed >= 3.5


def test_a_rollout_that_never_pauses_nor_overstays_is_left_alone() -> None:
    agent = FakeAgent([])
    final, _, actions = run(agent, WaitOptions(max_wait=60.0, promote=True))
    assert (final["phase"], agent.posts, actions) == ("succeeded", [], [])
