"""What the agent hands the migration rules (`migrations.decide`), and their verdicts
turned into refusals: the scene it sees, which revision a `migrate` step is for, and
whether an undo may move to older code.

Invariant: a refusal raises BadRequest (400, exit 2; GateRefused, 412 and exit 1, for
a move to code the schema no longer fits) before anything runs or changes;
the only write is the event an `undo --force` past the schema leaves behind.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from changeover.agent.releases import BadRequest, GateRefused
from changeover.migrations.decide import (
    Scene,
    contract_wait,
    expand_wait,
    rollback_choice,
    rollback_wait,
    undo_refusal,
)
from changeover.migrations.state import Step
from changeover.rollout.phase import Phase
from changeover.supervisor.state import ReplicaState

if TYPE_CHECKING:
    from changeover.agent.core import Agent

RECENT = 20  # finished rollouts looked through for the newest one that was not a restore


def scene(agent: Agent, revision: int | None = None) -> Scene:
    """What the rules read now; `configured`: the steps `revision`'s spec sets (default:
    the stable revision's)."""
    stable = agent.store.stable_revision()
    stable_id = None if stable is None else stable.id
    spec_of = revision if revision is not None else stable_id
    settings = None if spec_of is None else agent.revision_spec(spec_of).migrations
    configured = frozenset(
        step for step in Step if settings is not None and getattr(settings, step.value)
    )
    # an agent restart restores the stable revision: that says nothing of how it came
    finished = [
        r
        for r in agent.store.rollouts(limit=RECENT)
        if r.finished_at is not None and r.kind.value != "restore"
    ]
    last = next(iter(finished), None)
    active = agent.store.active_rollout()
    when = agent.revision_spec(stable_id).migrations.contract_when if stable_id else "stable"
    return Scene(
        stable=stable_id,
        records=tuple(r.record() for r in agent.store.schema_records()),
        configured=configured,
        when=when,
        rollout=None if active is None else active.id,
        last_succeeded=last is not None
        and last.to_revision == stable_id
        and last.phase is Phase.SUCCEEDED,
        warm=tuple(agent.controller.linger),
        running=tuple(
            {
                i.revision
                for i in agent.supervisor.replicas()
                if i.revision != stable_id and i.state is not ReplicaState.EXITED
            }
        ),
        busy=agent.migrator.busy,
    )


def allowed(agent: Agent, step: Step, revision: int | None) -> int:
    """The revision `changeover migrate STEP` runs for, if the rules let it run now."""
    stable = agent.store.stable_revision()
    if stable is None:
        raise BadRequest("no stable revision yet; wait for `up` to finish")
    if step is Step.ROLLBACK and revision is None:
        revision = rollback_choice(scene(agent))
        if revision is None:
            raise BadRequest(
                "migrate rollback: no expand to roll back: no revision newer than the "
                f"stable one (revision {stable.id}) is expanded"
            )
    target = stable.id if revision is None else revision
    try:
        agent.store.revision(target)
    except KeyError:
        raise BadRequest(f"revision {target} does not exist") from None
    if step is Step.CONTRACT and target != stable.id:
        raise BadRequest(f"migrate contract: only the stable revision ({stable.id}) is contracted")
    seen = scene(agent, target)
    if step is Step.EXPAND:
        wait = expand_wait(seen, target)
    elif step is Step.CONTRACT:
        wait = contract_wait(seen, manual=True)
    else:
        wait = rollback_wait(seen, target)
    if wait is None and agent.migrator.expanding is not None:
        wait = f"rollout {agent.migrator.expanding.id} is expanding"
    if wait is not None:
        raise BadRequest(f"migrate {step.value} of revision {target} refused: {wait}")
    return target


def check_move(agent: Agent, target: int, force: bool, what: str) -> None:
    """Refuse (412, exit 1, nothing changed) a move to code the schema no longer fits;
    with `force`, go on and say so in an event."""
    records = [r.record() for r in agent.store.schema_records()]
    refusal = undo_refusal(target, records)
    if refusal is None:
        return
    if not force:
        raise GateRefused(f"{what} refused: {refusal}")
    agent.events.add("migration", f"{what} forced past the schema: {refusal}")
