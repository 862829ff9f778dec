"""Wire format of the flag state document: the Unleash client API shape, checked by pydantic.

Invariant: a model instance is structurally valid (types, required keys, ranges). What a value
*means* (an operator's name, the number inside a constraint) is judged later by `compile`,
because the Unleash protocol makes such values turn a rule off rather than the document
invalid. Keys the models do not know are kept (`model_extra`) so strict loading can name them;
Unleash clients ignore changeover's own extras (`owner`, `expiresAt`).
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, StrictBool


class Wire(BaseModel):
    """Base of every wire model: frozen, camelCase on the wire, numbers accepted as text."""

    model_config = ConfigDict(
        extra="allow", frozen=True, populate_by_name=True, coerce_numbers_to_str=True
    )
    # Keys Unleash documents carry that evaluation does not use; strict loading accepts them.
    ignored: ClassVar[frozenset[str]] = frozenset()


class Payload(Wire):
    type: str = Field(min_length=1)
    value: str


class Override(Wire):
    context_name: str = Field(alias="contextName", min_length=1)
    values: list[str] = Field(default_factory=list)


class VariantDef(Wire):
    ignored: ClassVar[frozenset[str]] = frozenset({"weightType"})

    name: str = Field(min_length=1)
    weight: int = Field(default=0, ge=0, le=100_000, strict=True)
    payload: Payload | None = None
    stickiness: str | None = None
    overrides: list[Override] | None = None


class Constraint(Wire):
    context_name: str = Field(alias="contextName", min_length=1)
    operator: str = Field(min_length=1)
    values: list[str] | None = None
    value: str | None = None
    case_insensitive: StrictBool = Field(default=False, alias="caseInsensitive")
    inverted: StrictBool = False


class Strategy(Wire):
    ignored: ClassVar[frozenset[str]] = frozenset(
        {"id", "title", "sortOrder", "disabled", "featureName", "segmentIds"}
    )

    name: str = Field(min_length=1)
    parameters: dict[str, str] | None = None
    constraints: list[Constraint] | None = None
    segments: list[int] | None = None
    variants: list[VariantDef] | None = None


class Dependency(Wire):
    feature: str = Field(min_length=1)
    enabled: StrictBool = True
    variants: list[str] | None = None


class Feature(Wire):
    ignored: ClassVar[frozenset[str]] = frozenset(
        {
            "description",
            "project",
            "type",
            "stale",
            "impressionData",
            "createdAt",
            "lastSeenAt",
            "favorite",
            "archived",
        }
    )

    name: str = Field(min_length=1)
    enabled: StrictBool
    strategies: list[Strategy] | None = None
    variants: list[VariantDef] | None = None
    dependencies: list[Dependency] | None = None
    # changeover's lifecycle extras: who answers for the flag, and when it should be gone.
    owner: str | None = None
    expires_at: datetime | None = Field(
        default=None,
        validation_alias=AliasChoices("expiresAt", "expires_at"),
        serialization_alias="expiresAt",
    )


class Segment(Wire):
    ignored: ClassVar[frozenset[str]] = frozenset(
        {"name", "description", "project", "createdAt", "createdBy"}
    )

    id: int = Field(strict=True)
    constraints: list[Constraint] | None = None


class StateDocument(Wire):
    """The whole document a flag server serves: `{"version": 2, "features": [...], ...}`."""

    ignored: ClassVar[frozenset[str]] = frozenset({"query", "meta"})

    version: int = Field(ge=1, strict=True)
    features: list[Feature] = Field(default_factory=list)
    segments: list[Segment] | None = None
