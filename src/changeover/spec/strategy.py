"""The name of a rollout strategy: one enum from the CLI through the API, agent, spec, store.

Invariant: the values are the strings users write (`--strategy blue-green`,
`strategy.type = "canary"`) and the ones stored in JSON and SQLite, so a member and its
string are interchangeable at every boundary; anything else is refused by `parse` with
what was given and what is expected. The standard library only: the CLI and the store
import it without loading the spec's pydantic models.
"""

from __future__ import annotations

import enum


class StrategyName(enum.StrEnum):
    ROLLING = "rolling"
    BLUE_GREEN = "blue-green"
    CANARY = "canary"

    def __repr__(self) -> str:
        return f"<StrategyName {self.value}>"

    @classmethod
    def parse(cls, text: str) -> StrategyName:
        """The strategy named `text`; ValueError saying what is expected otherwise."""
        try:
            return cls(text)
        except ValueError:
            expected = ", ".join(s.value for s in cls)
            raise ValueError(f"unknown strategy {text!r}; expected one of {expected}") from None
