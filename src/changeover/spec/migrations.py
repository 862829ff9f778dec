"""The `[migrations]` section: the schema commands the agent runs around its rollouts.

Invariant: a valid section that sets `contract` or `rollback` sets `expand` too (both
undo or finish what an expand started, so neither means anything alone), every command
is a non-empty command line, and `timeout` is above zero. The agent decides when each
runs (`changeover.migrations.decide`); this only says what they are.
"""

from __future__ import annotations

from typing import Literal

from pydantic import field_validator, model_validator

from changeover.spec.types import CommandLine, Duration, StrictModel

ContractWhen = Literal["stable", "manual"]


class MigrationSettings(StrictModel):
    """Run by /bin/sh in the release's folder with its environment (secrets included)."""

    expand: CommandLine | None = None  # before the first replica of a new revision starts
    contract: CommandLine | None = None  # once no older code can run again
    rollback: CommandLine | None = None  # undoes an expand that was not contracted
    status: CommandLine | None = None  # its last line is recorded after each step
    timeout: Duration = 300.0  # per command; past it its process group is killed
    contract_when: ContractWhen = "stable"

    @field_validator("timeout")
    @classmethod
    def _positive(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("must be greater than 0s")
        return value

    @model_validator(mode="after")
    def _needs_expand(self) -> MigrationSettings:
        for key in ("contract", "rollback"):
            if getattr(self, key) is not None and self.expand is None:
                raise ValueError(
                    f"{key} needs expand: it finishes or undoes what an expand started "
                    '(set expand, e.g. expand = "alembic upgrade expand@head")'
                )
        return self

    @property
    def configured(self) -> bool:
        return self.expand is not None
