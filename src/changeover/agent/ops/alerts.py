"""What the agent does with each alert Alertmanager sends: roll back, record, or ignore.

Invariant: decide first (`classify`, pure), then act (`AlertDesk.receive`). Every alert
seen for the first time gets exactly one event naming it and the decision; a repeat (the
same firing of the same alert, which Alertmanager resends) gets nothing, so delivering a
payload twice does what delivering it once did, also after the agent restarted (the
firings decided are in the store, remembered once decided and acted on: a crash in
between acts again, which the controller's own refusals make harmless). A resolved alert
changes nothing. A firing alert of this service (its labels hold every `alert_labels`
pair) rolls back only through `Controller.alert`, which refuses what an alert may not
reverse (no rollout, an undo, another revision than the one the alert names); a refusal
is recorded with its reason and notified. An alert labelled `changeover_action="notify"`
(the rules `changeover alerts rules` writes put it on the failed-rollout and agent-down
alerts) is recorded and notified, never acted on.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from changeover.agent.controller import Controller, NoRollout
from changeover.agent.events import EventLog
from changeover.agent.notify import Notifier
from changeover.agent.ops.tally import Tally
from changeover.agent.ops.webhook import ACTION_LABEL, NOTIFY_ONLY, Alert
from changeover.rollout.decision import CommandRefused
from changeover.rollout.events import AlertFired
from changeover.spec.models import Notify
from changeover.store import Store

REMEMBERED = 10_000  # alert firings remembered for idempotence, oldest forgotten first


class Verdict(enum.Enum):
    ROLL_BACK = "rolled-back"  # classify: try to; receive: done
    RECORDED = "recorded"  # this service's, nothing rolled back: recorded and notified
    IGNORED = "ignored"  # another service's: recorded
    RESOLVED = "resolved"  # nothing to do
    REPEAT = "repeat"  # already decided: nothing at all

    def __repr__(self) -> str:
        return f"<Verdict {self.value}>"


def matches(labels: Mapping[str, str], wanted: Mapping[str, str]) -> bool:
    return all(labels.get(name) == value for name, value in wanted.items())


def classify(alert: Alert, wanted: Mapping[str, str], seen: bool) -> Verdict:
    """What to do with `alert` (`seen`: decided before) before asking the rollout;
    ROLL_BACK means "ask it"."""
    if seen:
        return Verdict.REPEAT
    if not alert.firing:
        return Verdict.RESOLVED
    if not matches(alert.labels, wanted):
        return Verdict.IGNORED
    if alert.labels.get(ACTION_LABEL) == NOTIFY_ONLY:
        return Verdict.RECORDED
    return Verdict.ROLL_BACK


def about_revision(alert: Alert) -> int | None:
    """The revision a `revision` label names, if it names one (else any rollout's)."""
    raw = alert.labels.get("revision", "")
    return int(raw) if raw.isdigit() else None


def default_labels(service: str, environment: str | None) -> dict[str, str]:
    """The labels `changeover alerts rules` gives this service's alerts."""
    labels = {"service": service}
    if environment:
        labels["environment"] = environment
    return labels


class AlertDesk:
    def __init__(
        self,
        *,
        labels: Mapping[str, str],
        controller: Controller,
        events: EventLog,
        notifier: Notifier,
        notify_settings: Callable[[], Notify],
        tally: Tally,
        store: Store,
        wall: Callable[[], float],
    ) -> None:
        self.labels = dict(labels)
        self._controller = controller
        self._events = events
        self._notifier = notifier
        self._notify_settings = notify_settings
        self._tally = tally
        self._store = store
        self._wall = wall

    def receive(self, alerts: Iterable[Alert]) -> list[dict[str, Any]]:
        """Decide and act on each alert, in order; what was decided, for the response."""
        out = []
        for alert in alerts:
            verdict, said = self._one(alert)
            self._tally.alerts[verdict.value] += 1
            out.append({"alert": alert.describe(), "status": alert.status,
                        "decision": verdict.value, "message": said})  # fmt: skip
        return out

    def _one(self, alert: Alert) -> tuple[Verdict, str]:
        verdict = classify(alert, self.labels, self._store.alert_seen(alert.key))
        if verdict is Verdict.REPEAT:
            return verdict, "already decided"
        shown = f"alert {alert.describe()} {alert.status}"
        rollout_id = None
        if verdict is Verdict.RESOLVED:
            said = f"{shown}: nothing to do"
        elif verdict is Verdict.IGNORED:
            wanted = ", ".join(f"{k}={json.dumps(v)}" for k, v in sorted(self.labels.items()))
            said = f"{shown}: ignored, not this service's (it lacks {wanted})"
        elif verdict is Verdict.RECORDED:
            said = f"{shown}: recorded ({ACTION_LABEL}={NOTIFY_ONLY}); nothing rolled back"
        else:
            verdict, said, rollout_id = self._roll_back(alert, shown)
        self._events.add("alert", said, rollout_id=rollout_id)
        self._store.remember_alert(alert.key, now=self._wall(), keep=REMEMBERED)
        if verdict is Verdict.RECORDED:
            self._notifier.outside(
                "alert", self._notify_settings(), said, alert=alert.name,
                labels=dict(alert.labels), status=alert.status,
            )  # fmt: skip
        return verdict, said

    def _roll_back(self, alert: Alert, shown: str) -> tuple[Verdict, str, int | None]:
        summary = alert.annotations.get("summary", "")
        reason = f"alert {alert.describe()} firing" + (f": {summary}" if summary else "")
        try:
            reply = self._controller.alert(
                AlertFired(alert.describe(), reason), about_revision(alert)
            )
        except (NoRollout, CommandRefused) as exc:
            return Verdict.RECORDED, f"{shown}: recorded; nothing rolled back: {exc}", None
        active = self._controller.active
        rollout_id = None if active is None else active.rollout.id
        return Verdict.ROLL_BACK, f"{shown}: rollout {rollout_id} {reply}", rollout_id
