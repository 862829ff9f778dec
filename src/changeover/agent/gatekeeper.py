"""The agent's side of the gates: it gathers what `gates.evaluate` reads, runs the
checklist commands when they are all that is left, records approvals, rejections, ticks
and freezes with who and when, and keeps each promotion's latest evaluation.

Invariant: identities come only from the control connection (`Peer`, SO_PEERCRED), never
from a request's body; a refused approval, tick or freeze writes nothing; every change
is a `gate` event written with it. The settings are the agent's own spec's, read at each
evaluation, never the artifact's.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from changeover.agent import gates
from changeover.agent.checklist import run_item
from changeover.agent.events import EventLog
from changeover.agent.evidence import SoakEvidence
from changeover.agent.gates import GateResult, Inputs, stamp
from changeover.agent.peer import Peer
from changeover.agent.releases import BadRequest
from changeover.spec.environments import EnvironmentSettings
from changeover.store import Conflict, Store
from changeover.store.gates import Freeze, Verdict
from changeover.store.promotions import Promotion

MAX_FREEZE = 366 * 86400.0  # a freeze longer than a year is a typo


class Gatekeeper:
    def __init__(
        self,
        *,
        store: Store,
        events: EventLog,
        settings: Callable[[], EnvironmentSettings],
        environment: str,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.events = events
        self.settings = settings
        self.environment = environment
        self.wall = wall

    # --- evaluation ------------------------------------------------------------------
    def inputs(self, promotion: Promotion, commands_at: float | None = None) -> Inputs:
        evidence = None
        if promotion.evidence is not None:
            evidence = SoakEvidence.model_validate(promotion.evidence)
        return Inputs(
            evidence=evidence,
            approvals=self.store.approvals(promotion.id),
            freezes=self.store.freezes(),
            checklist=self.store.checklist(promotion.id),
            commands_at=commands_at,
        )

    def evaluate(self, promotion: Promotion, commands_at: float | None = None) -> list[GateResult]:
        """The gates of `promotion` now (no I/O but reading the store)."""
        return gates.evaluate(
            self.settings(),
            self.environment,
            promotion,
            self.inputs(promotion, commands_at),
            self.wall(),
        )

    async def decide(
        self, promotion: Promotion, folder: Path, evidence: SoakEvidence | None
    ) -> list[GateResult]:
        """Evaluate `promotion`'s gates with the evidence brought (kept when new); run the
        checklist commands when every other gate is met; note the result and an event per
        gate that changed since the last evaluation."""
        settings = self.settings()
        doc = None if evidence is None else evidence.model_dump()
        if doc is not None:
            promotion = _with_evidence(promotion, doc)
        results = self.evaluate(promotion)
        if gates.commands_due(results, settings):
            started = self.wall()
            await self._run_commands(promotion, settings, folder)
            results = self.evaluate(promotion, commands_at=started)
        changed = _changes(promotion, results)
        events = self.store.note_evaluation(
            promotion.id,
            evidence=doc,
            gates=[r.doc() for r in results],
            messages=changed,
            now=self.wall(),
        )
        self.events.committed(events)
        return results

    async def _run_commands(
        self, promotion: Promotion, settings: EnvironmentSettings, folder: Path
    ) -> None:
        env = {
            "CHANGEOVER_ENVIRONMENT": self.environment,
            "CHANGEOVER_RELEASE_VERSION": promotion.version,
            "CHANGEOVER_RELEASE_SHA256": promotion.sha256,
        }
        for item in settings.checklist:
            if item.command is None:
                continue
            ok, detail = await run_item(item.command, folder, item.timeout, env)
            verdict = "passed" if ok else "FAILED"
            message = (
                f"checklist of promotion #{promotion.id} ({promotion.version}): "
                f"{item.name!r} {verdict}: `{item.command}` {detail}"
            )
            self.events.committed(
                self.store.add_checklist(
                    promotion.id,
                    item=item.name,
                    kind="command",
                    ok=ok,
                    detail=detail,
                    by="agent",
                    uid=None,
                    message=message,
                    now=self.wall(),
                )
            )

    # --- approvals, ticks ------------------------------------------------------------
    def verdict(self, version: str, verdict: Verdict, note: str, peer: Peer | None) -> Promotion:
        """Approve or reject the promotion of `version` waiting here, as `peer`."""
        who = _identity(peer, "approve" if verdict == "approve" else "reject")
        promotion = self.waiting(version)
        if verdict == "approve":
            why = gates.may_approve(self.settings(), promotion, who.account, who.uid)
            if why is not None:
                raise BadRequest(f"approval refused, nothing recorded: {why}")
            if self.settings().approvals == 0:
                raise BadRequest(
                    f"environment {self.environment} asks for no approval "
                    f"(approvals = 0): nothing to approve"
                )
        elif not self._may_reject(promotion, who):
            listed = ", ".join(self.settings().approvers)
            raise BadRequest(
                f"rejection refused, nothing recorded: {who.account} is neither an approver "
                f"(approvers: {listed}) nor the requester ({promotion.requested_by})"
            )
        said = _verdict_message(promotion, verdict, who.account, note)
        try:
            events = self.store.add_verdict(
                promotion.id,
                verdict=verdict,
                by=who.account,
                uid=who.uid,
                note=note,
                message=said,
                now=self.wall(),
            )
        except Conflict as exc:
            raise BadRequest(f"{exc}: nothing recorded") from None
        self.events.committed(events)
        return self.store.promotion(promotion.id)

    def _may_reject(self, promotion: Promotion, who: Peer) -> bool:
        approvers = self.settings().approvers
        return not approvers or who.account in approvers or who.account == promotion.requested_by

    def tick(self, version: str, item: str, peer: Peer | None) -> Promotion:
        """Tick the manual checklist item `item` of the promotion of `version` waiting here."""
        who = _identity(peer, "tick a checklist item")
        promotion = self.waiting(version)
        items = {i.name: i for i in self.settings().checklist}
        found = items.get(item)
        if found is None or not found.manual:
            manual = [f"{n!r}" for n, i in items.items() if i.manual]
            what = "is a command the agent runs" if found is not None else "is no item"
            raise BadRequest(
                f"{item!r} {what} of the checklist of environment {self.environment}: "
                f"nothing ticked (manual items: {', '.join(manual) or 'none'})"
            )
        message = (
            f"checklist of promotion #{promotion.id} ({promotion.version}): {item!r} "
            f"ticked by {who.account}"
        )
        self.events.committed(
            self.store.add_checklist(
                promotion.id,
                item=item,
                kind="manual",
                ok=True,
                detail="",
                by=who.account,
                uid=who.uid,
                message=message,
                now=self.wall(),
            )
        )
        return self.store.promotion(promotion.id)

    def waiting(self, version: str) -> Promotion:
        promotion = self.store.waiting_of(version)
        if promotion is None:
            raise BadRequest(
                f"no promotion of release {version} is waiting in environment "
                f"{self.environment}: nothing changed",
                f"`changeover release promote {version} --to {self.environment}` asks for one",
            )
        return promotion

    # --- plain deploys ---------------------------------------------------------------
    def deploy_bypasses(self) -> list[str]:
        """What a plain `deploy` here would skip: the route in (`promote_from`), each gate
        the settings configure, and a freeze in force. Empty: deploys are not gated."""
        settings = self.settings()
        skipped = []
        if settings.promote_from:
            skipped.append(f"promotion from {settings.promote_from}")
        if settings.soak or settings.soak_requests or settings.soak_analysis:
            skipped.append("soak")
        if settings.approvals:
            skipped.append(f"{settings.approvals} approval(s)")
        if settings.windows:
            skipped.append("windows")
        if settings.checklist:
            skipped.append("checklist")
        if any(f.active(self.wall()) for f in self.store.freezes()):
            skipped.append("a freeze in force")
        return skipped

    def check_deploy(self, version: str, force: bool, peer: Peer | None) -> str | None:
        """Refuse a plain deploy that would skip this environment's gates; for a forced
        one, the `gate` event's message saying who skipped what (written by the caller
        once the deploy is accepted, so a refused one leaves no trace)."""
        skipped = self.deploy_bypasses()
        if not skipped:
            return None
        where = f"environment {self.environment}" if self.environment else "this agent"
        if not force:
            raise BadRequest(
                f"{where} is gated ({', '.join(skipped)}): a plain deploy would skip it; "
                "nothing changed",
                f"`changeover release promote VERSION --to {self.environment}` goes through "
                "the gates; `deploy --force` skips them and records who did",
            )
        who = _identity(peer, "force a deploy past the gates")
        return (
            f"deploy of {version} FORCED past the gates of {where} by {who.account}: "
            f"skipped {', '.join(skipped)}"
        )

    # --- freezes ---------------------------------------------------------------------
    def freeze(
        self, until: float | None, duration: float | None, reason: str, peer: Peer | None
    ) -> Freeze:
        who = _identity(peer, "freeze")
        now = self.wall()
        end = until if until is not None else now + (duration or 0.0)
        if end <= now:
            raise BadRequest(f"until: {stamp(end)} is not in the future (now {stamp(now)})")
        if end - now > MAX_FREEZE:
            raise BadRequest(f"until: {stamp(end)} is more than a year away; expected less")
        if not reason.strip():
            raise BadRequest("reason: say why the environment is frozen")
        message = (
            f"environment {self.environment} frozen by {who.account} until {stamp(end)}: {reason}"
        )
        freeze, events = self.store.add_freeze(
            until=end, reason=reason, by=who.account, uid=who.uid, message=message, now=now
        )
        self.events.committed(events)
        return freeze

    def unfreeze(self, peer: Peer | None) -> list[Freeze]:
        who = _identity(peer, "unfreeze")
        message = f"environment {self.environment} unfrozen by {who.account}"
        lifted, events = self.store.lift_freezes(by=who.account, message=message, now=self.wall())
        if not lifted:
            raise BadRequest(f"environment {self.environment} is not frozen: nothing changed")
        self.events.committed(events)
        return lifted


def _identity(peer: Peer | None, what: str) -> Peer:
    if peer is None:
        raise BadRequest(
            f"cannot {what}: the connection has no account (only the control socket says who calls)"
        )
    return peer


def _with_evidence(promotion: Promotion, doc: dict[str, Any]) -> Promotion:
    return replace(promotion, evidence=doc)


def _verdict_message(promotion: Promotion, verdict: Verdict, who: str, note: str) -> str:
    what = "approved" if verdict == "approve" else "REJECTED"
    said = f" ({note})" if note else ""
    return f"promotion #{promotion.id} of {promotion.version} {what} by {who}{said}"


def _changes(promotion: Promotion, results: list[GateResult]) -> list[str]:
    """One message per gate whose state differs from the last evaluation's."""
    before = {(g["gate"], g.get("item")): g["state"] for g in promotion.gates or []}
    out = []
    for r in results:
        if before.get((r.gate, r.item)) == r.state:
            continue
        head = f"promotion #{promotion.id} of {promotion.version}: {r.name} {r.state}"
        if r.state == "skipped":
            out.append(f"{head}: {r.summary}")
        else:
            out.append(f"{head}: {r.summary}" + (f" (needs {r.needs})" if r.needs else ""))
    return out
