"""Alerts that act, through the real controller, store and supervisor (fake processes): a
guarded deploy rolled back by the alert about its target, and every alert that must not
roll anything back recorded with the reason."""

from __future__ import annotations

from pathlib import Path

from changeover.agent.notify import Notifier
from changeover.agent.ops.alerts import AlertDesk
from changeover.agent.ops.webhook import Alert
from changeover.rollout.decision import Decision
from changeover.rollout.guard import GuardParams
from changeover.rollout.phase import Phase
from changeover.rollout.rolling import RollingParams, RollingUpdate
from changeover.spec.models import Notify
from changeover.store import Rollout, Store
from tests.helpers import until
from tests.io.agent.test_controller import Harness, new_revision, run


def alert(revision: str, status: str = "firing", starts: str = "t0") -> Alert:
    labels = {"alertname": "ChangeoverHighErrorRatio", "service": "hello", "revision": revision}
    return Alert(status, labels, {"summary": "31% 5xx"}, starts, f"fp{revision}")


def desk(h: Harness) -> AlertDesk:
    notifier = Notifier(
        service="hello",
        events=h.events,
        settings=lambda rollout: Notify(),
        wall=lambda: 1.0,
        version=lambda rev: "v",
    )
    return AlertDesk(
        labels={"service": "hello"},
        controller=h.controller,
        events=h.events,
        notifier=notifier,
        notify_settings=Notify,
        tally=h.controller.tally,
        store=h.store,
        wall=lambda: 1.0,
    )


def guarded(h: Harness, frm: int, to: int, kind: str = "deploy") -> tuple[Rollout, object]:
    rollout = h.store.start_rollout(
        from_revision=frm, to_revision=to, kind=kind, strategy="rolling", now=1.0
    )
    guard = GuardParams(window=5.0) if kind == "deploy" else None  # as `strategies.build`
    params = RollingParams(2, 1, 0, 0.0, 30.0, guard=guard)
    strategy = RollingUpdate(frm, to, params, started_at=h.clock())
    return rollout, h.controller.begin(rollout, strategy, (frm, to))


def settled(store: Store, h: Harness) -> tuple[int, int]:
    stable = new_revision(store, "v1", replicas=2)
    target = new_revision(store, "v2", replicas=2)
    return stable.id, target.id


def test_the_alert_about_the_target_rolls_back_a_guarded_deploy(
    tmp_path: Path, store: Store
) -> None:
    async def main() -> tuple[Decision, list[dict[str, str]], Rollout]:
        h = Harness(tmp_path, store)
        one, two = settled(store, h)
        _, first = h.start(None, one, "initial")
        async with h.running():
            await first  # type: ignore[misc]
            rollout, done = guarded(h, one, two)
            await until(lambda: store.rollout(rollout.id).phase is Phase.GUARDING, 5, "guard")
            answers = desk(h).receive([alert(str(one)), alert(str(two))])
            decision: Decision = await done  # type: ignore[assignment]
            later = desk(h).receive([alert(str(two), starts="t1")])
            # a new desk is a restarted agent's: the firings decided are in the store
            resent = desk(h).receive([alert(str(two)), alert(str(two), starts="t1")])
        return decision, [*answers, *later, *resent], store.rollout(rollout.id)

    decision, answers, stored = run(main())
    decided = ["recorded", "rolled-back", "recorded", "repeat", "repeat"]
    assert [a["decision"] for a in answers] == decided
    assert answers[0]["message"].endswith(
        "nothing rolled back: the alert is about revision 1; rollout 2 moves to revision 2"
    )
    assert answers[1]["message"] == (
        'alert ChangeoverHighErrorRatio{revision="2",service="hello"} firing: rollout 2 '
        "rolling back to revision 1"
    )
    assert answers[2]["message"].endswith("nothing rolled back: no rollout is in progress")
    assert decision.phase is Phase.FAILED
    assert stored.phase is Phase.FAILED
    assert stored.reason == (
        'alert ChangeoverHighErrorRatio{revision="2",service="hello"} firing: 31% 5xx'
    )
    assert store.stable_revision() is not None
    assert store.stable_revision().id == 1  # type: ignore[union-attr]


def test_a_guard_that_passes_makes_the_target_stable_and_says_so(
    tmp_path: Path, store: Store
) -> None:
    async def main() -> tuple[Decision, Harness]:
        h = Harness(tmp_path, store)
        one, two = settled(store, h)
        _, first = h.start(None, one, "initial")
        async with h.running():
            await first  # type: ignore[misc]
            rollout, done = guarded(h, one, two)
            await until(lambda: store.rollout(rollout.id).phase is Phase.GUARDING, 5, "guard")
            h.clock.advance(6.0)
            h.controller.notify()
            return await done, h  # type: ignore[misc]

    decision, h = run(main())
    assert decision.phase is Phase.SUCCEEDED
    kinds = [kind for kind, rollout_id, _ in h.notified if rollout_id == 2]
    assert kinds == ["started", "guarding", "succeeded"]
    assert h.controller.tally.outcomes["succeeded"] == 2  # the initial rollout, then this one
    assert store.stable_revision().id == 2  # type: ignore[union-attr]


def test_an_alert_never_reverses_an_undo(tmp_path: Path, store: Store) -> None:
    async def main() -> list[dict[str, str]]:
        h = Harness(tmp_path, store)
        one, two = settled(store, h)
        _, first = h.start(None, one, "initial")
        async with h.running():
            await first  # type: ignore[misc]
            _, undo = guarded(h, one, two, kind="undo")
            answers = desk(h).receive([alert(str(two))])
            await undo  # type: ignore[misc]
        return answers

    (answer,) = run(main())
    assert answer["decision"] == "recorded"
    assert answer["message"].endswith("nothing rolled back: rollout 2 is an undo")
