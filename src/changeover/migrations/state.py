"""A revision's schema state: which of its migration steps ran and how they ended.

Invariant: the state changes only through `TABLE` (a step starts, then succeeds or
fails); CONTRACTED is final, because a contract removes what older code needed and no
command of changeover puts it back. A step that was running when its agent died counts
as failed (`Move.FAILED`), so a state is never left "running" with nobody running it.
"""

from __future__ import annotations

import enum

from changeover.machine import Table


class Step(enum.Enum):
    EXPAND = "expand"
    CONTRACT = "contract"
    ROLLBACK = "rollback"


class SchemaState(enum.Enum):
    NONE = "none"  # no step ran for this revision
    EXPANDING = "expanding"
    EXPANDED = "expanded"
    EXPAND_FAILED = "expand-failed"  # maybe partly applied: reported until dealt with
    CONTRACTING = "contracting"
    CONTRACTED = "contracted"
    CONTRACT_FAILED = "contract-failed"
    ROLLING_BACK = "rolling-back"
    ROLLED_BACK = "rolled-back"  # the expand was undone
    ROLLBACK_FAILED = "rollback-failed"

    @property
    def running(self) -> bool:
        return self in RUNNING


class Move(enum.Enum):
    EXPAND = "expand"
    CONTRACT = "contract"
    ROLLBACK = "rollback"
    SUCCEEDED = "succeeded"
    FAILED = "failed"

    @classmethod
    def start(cls, step: Step) -> Move:
        return cls(step.value)


S = SchemaState
RUNNING = frozenset({S.EXPANDING, S.CONTRACTING, S.ROLLING_BACK})
TABLE: Table[SchemaState, Move] = Table(
    "schema state",
    SchemaState,
    {
        S.NONE: {Move.EXPAND: S.EXPANDING},
        S.EXPANDING: {Move.SUCCEEDED: S.EXPANDED, Move.FAILED: S.EXPAND_FAILED},
        # an expand runs again before a retry; tools like Alembic skip what is applied
        S.EXPANDED: {
            Move.EXPAND: S.EXPANDING,
            Move.CONTRACT: S.CONTRACTING,
            Move.ROLLBACK: S.ROLLING_BACK,
        },
        S.EXPAND_FAILED: {Move.EXPAND: S.EXPANDING, Move.ROLLBACK: S.ROLLING_BACK},
        S.CONTRACTING: {Move.SUCCEEDED: S.CONTRACTED, Move.FAILED: S.CONTRACT_FAILED},
        S.CONTRACT_FAILED: {Move.CONTRACT: S.CONTRACTING},
        S.CONTRACTED: {},
        S.ROLLING_BACK: {Move.SUCCEEDED: S.ROLLED_BACK, Move.FAILED: S.ROLLBACK_FAILED},
        S.ROLLBACK_FAILED: {Move.ROLLBACK: S.ROLLING_BACK, Move.EXPAND: S.EXPANDING},
        S.ROLLED_BACK: {Move.EXPAND: S.EXPANDING},
    },
)

# what each state says of the schema a revision's code needs
SCHEMA_PRESENT = frozenset({S.EXPANDED, S.CONTRACTING, S.CONTRACTED, S.CONTRACT_FAILED})
