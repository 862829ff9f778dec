"""When a migration step may run, and which undo the schema forbids: pure decisions.

Invariants:
- expand runs before the first replica of every new revision (a deploy, a promotion, a
  retry, the first revision of `up`) whose release configures it; an undo, a restore and
  an automatic rollback run no migration (the old code works on the expanded schema);
- contract runs only for the stable revision, once its expand succeeded, its rollout
  succeeded (the guard window is part of the rollout), no rollout or migration is
  running, no replica of another revision runs or is kept warm; automatically only with
  `contract_when = "stable"` and never again after it failed (a person decides);
- an expand is rolled back only for a revision newer than the stable one that does not
  run: the stable revision's code (and any newer) may need it; the agent does it by
  itself (`rollback_due`) once, for an expand that succeeded and was left behind (its
  rollout failed and rolled back, or an undo moved off it), when the revision's spec has
  a `rollback` command; a failed expand is left to a person (what it applied is unknown);
- an undo to a revision older than a contract that ran is refused, as is an undo to a
  revision whose expand is not in place.
Each refusal is a sentence saying why and what to do instead.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from changeover.migrations.state import TABLE, Move, SchemaState, Step

EXPANDING_KINDS = frozenset({"deploy", "initial"})  # rollouts that start a new revision


@dataclass(frozen=True)
class Record:
    """A revision's schema state, as the store keeps it."""

    revision: int
    state: SchemaState
    at: float  # when it reached that state
    contracted_at: float | None = None


@dataclass(frozen=True)
class Scene:
    """What the agent sees when it decides whether a step may run."""

    stable: int | None
    records: tuple[Record, ...] = ()
    configured: frozenset[Step] = frozenset()  # the steps the revision's spec sets
    when: str = "stable"  # contract_when of the stable revision's spec
    rollout: int | None = None  # the unfinished rollout, an expand before it included
    last_succeeded: bool = False  # the newest finished rollout moved to `stable`, and succeeded
    warm: tuple[int, ...] = ()  # revisions kept warm after a blue-green switch
    running: tuple[int, ...] = ()  # revisions other than `stable` with live replicas
    busy: str | None = None  # a migration command being run, described

    def state(self, revision: int | None) -> SchemaState:
        for record in self.records:
            if record.revision == revision:
                return record.state
        return SchemaState.NONE


def expands(kind: str, has_expand: bool) -> bool:
    """Whether a rollout of this kind runs the expand before its first replica."""
    return has_expand and kind in EXPANDING_KINDS


def contract_wait(scene: Scene, *, manual: bool) -> str | None:
    """None: the stable revision's contract may run now; else why not (yet)."""
    stable = scene.stable
    if stable is None:
        return "no revision is stable yet"
    state = scene.state(stable)
    if Step.CONTRACT not in scene.configured:
        return f"revision {stable}'s [migrations] has no contract command"
    if state is SchemaState.CONTRACTED:
        return f"revision {stable} is contracted already"
    if not TABLE.can(state, Move.CONTRACT):
        return (
            f"revision {stable}'s expand has not succeeded (schema state {state.value}); "
            f"run `changeover migrate expand` first"
        )
    busy = _busy(scene)
    if busy is not None:
        return busy
    if not scene.last_succeeded:
        return f"the last rollout to revision {stable} did not succeed"
    if scene.warm:
        return f"revision {_names(scene.warm)} is kept warm until its scale-down"
    if scene.running:
        return f"replicas of revision {_names(scene.running)} still run"
    if not manual and scene.when == "manual":
        return 'contract_when = "manual": run `changeover migrate contract`'
    if not manual and state is SchemaState.CONTRACT_FAILED:
        return "its contract failed; `changeover migrate contract` runs it again"
    return None


def expand_wait(scene: Scene, revision: int) -> str | None:
    """None: `migrate expand` may run `revision`'s expand now; else why not."""
    if Step.EXPAND not in scene.configured:
        return f"revision {revision}'s [migrations] has no expand command"
    state = scene.state(revision)
    if not TABLE.can(state, Move.EXPAND):
        return f"revision {revision} is {state.value}: its expand cannot run again"
    return _busy(scene)


def rollback_choice(scene: Scene) -> int | None:
    """The revision `migrate rollback` undoes by default: the newest one newer than the
    stable revision whose expand is (perhaps partly) applied."""
    undoable = [
        r.revision
        for r in scene.records
        if TABLE.can(r.state, Move.ROLLBACK) and (scene.stable is None or r.revision > scene.stable)
    ]
    return max(undoable, default=None)


def rollback_wait(scene: Scene, revision: int) -> str | None:
    """None: `migrate rollback` may undo `revision`'s expand now; else why not."""
    if Step.ROLLBACK not in scene.configured:
        return f"revision {revision}'s [migrations] has no rollback command"
    state = scene.state(revision)
    if not TABLE.can(state, Move.ROLLBACK):
        return f"revision {revision} is {state.value}: there is no expand of it to roll back"
    stable = scene.stable
    if stable is not None and revision <= stable:
        what = "is the stable revision" if revision == stable else "is older than the stable"
        return (
            f"revision {revision} {what} (revision {stable}), whose code may need its "
            "expand; roll back only the expand of a revision that no longer runs"
        )
    if revision in scene.running:
        return f"replicas of revision {revision} still run"
    return _busy(scene)


def rollback_due(scene: Scene, revision: int) -> bool:
    """Whether the agent undoes `revision`'s expand by itself now (`scene` read with the
    revision's own `configured` steps): it succeeded, no rollout moves to it, no replica of
    it runs or is kept warm, and `rollback_wait` has nothing against it."""
    return (
        scene.state(revision) is SchemaState.EXPANDED
        and scene.rollout is None
        and revision not in scene.warm
        and rollback_wait(scene, revision) is None
    )


def undo_refusal(target: int, records: Iterable[Record]) -> str | None:
    """Why undoing (or rolling back a release) to `target` would break on today's schema,
    or None. `target` is the revision whose code would run."""
    records = tuple(records)
    later = [r for r in records if r.state is SchemaState.CONTRACTED and r.revision > target]
    if later:
        newest = max(later, key=lambda r: r.revision)
        when = _when(newest.contracted_at if newest.contracted_at is not None else newest.at)
        return (
            f"revision {target} is older than revision {newest.revision}, whose contract "
            f"ran at {when}: the schema no longer has what revision {target}'s code needs. "
            "Deploy a fix forward (a new release), or, if you restored the schema "
            "yourself, repeat with --force"
        )
    own = next((r for r in records if r.revision == target), None)
    if own is not None and own.state in _NOT_IN_PLACE:
        return (
            f"revision {target}'s expand is not in place (schema state "
            f"{own.state.value}): its code needs it. Deploy it again (its expand runs "
            f"first), or run `changeover migrate expand --revision {target}`, or repeat "
            "with --force"
        )
    return None


_NOT_IN_PLACE = frozenset(
    {
        SchemaState.EXPAND_FAILED,
        SchemaState.ROLLING_BACK,
        SchemaState.ROLLED_BACK,
        SchemaState.ROLLBACK_FAILED,
        SchemaState.EXPANDING,
    }
)


def _busy(scene: Scene) -> str | None:
    if scene.busy is not None:
        return f"a migration is running ({scene.busy})"
    if scene.rollout is not None:
        return f"rollout {scene.rollout} is in progress (its guard window included)"
    return None


def _names(revisions: Sequence[int]) -> str:
    return ", ".join(str(r) for r in sorted(revisions))


def _when(at: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(at))
