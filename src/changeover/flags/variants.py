"""Weighted variants with payloads, overrides and their own stickiness.

Invariant: `pick` is a pure function of the context (and a random draw only when the context
has no identifier to hash): overrides win first, in document order; otherwise the variant
whose cumulative weight first reaches `normalized(identifier, group, total, VARIANT_SEED)`.
A set whose weights sum to zero picks nothing.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from changeover.flags import bucket
from changeover.flags.context import Fields, text
from changeover.flags.effects import Effects
from changeover.flags.model import VariantDef
from changeover.flags.parse import parse_number
from changeover.flags.problems import Problem
from changeover.flags.result import Payload, Variant

PAYLOAD_TYPES = ("string", "json", "csv", "number")


@dataclass(frozen=True, slots=True)
class VariantSet:
    choices: tuple[tuple[int, Variant], ...]  # (weight, the answer to give)
    total: int
    group: str
    read: bucket.Reader
    overrides: tuple[tuple[str, frozenset[str], Variant], ...]
    split: bool  # more than one variant can be drawn, so a draw is a SPLIT

    def pick(self, fields: Fields, effects: Effects) -> tuple[Variant, bool] | None:
        """The variant for this context, and whether an override chose it."""
        for name, values, variant in self.overrides:
            value = fields.get(name)
            if value is not None and text(value) in values:
                return variant, True
        if self.total <= 0:
            return None
        seed = self.read(fields)
        target = (
            bucket.normalized(seed, self.group, self.total, bucket.VARIANT_SEED)
            if seed is not None
            else effects.randint(1, self.total)
        )
        reached = 0
        for weight, variant in self.choices:
            reached += weight
            if reached >= target:
                return variant, False
        return None


def compile_variants(
    defs: Sequence[VariantDef] | None,
    group: str,
    stickiness: str | None,
    path: str,
    problems: list[Problem],
) -> VariantSet | None:
    """A VariantSet, or None when there are no variants (the caller falls back)."""
    if not defs:
        return None
    choices, overrides = [], []
    for i, d in enumerate(defs):
        variant = Variant(d.name, True, True, _payload(d, f"{path}[{i}].payload", problems))
        choices.append((d.weight, variant))
        for o in d.overrides or ():
            overrides.append((o.context_name, frozenset(o.values), variant))
    total = sum(w for w, _ in choices)
    if total == 0 and not overrides:
        problems.append(Problem(path, "every variant has weight 0, so none can be chosen"))
    return VariantSet(
        choices=tuple(choices),
        total=total,
        group=group,
        read=bucket.reader(stickiness),
        overrides=tuple(overrides),
        split=sum(1 for w, _ in choices if w > 0) > 1,
    )


def _payload(d: VariantDef, path: str, problems: list[Problem]) -> Payload | None:
    if d.payload is None:
        return None
    kind, value = d.payload.type, d.payload.value
    if kind not in PAYLOAD_TYPES:
        problems.append(Problem(f"{path}.type", f"expected one of {', '.join(PAYLOAD_TYPES)}"))
    elif kind == "json" and not _is_json(value):
        problems.append(Problem(f"{path}.value", "expected JSON text for a json payload"))
    elif kind == "number" and parse_number(value) is None:
        problems.append(Problem(f"{path}.value", f"expected a number (got {value!r})"))
    return Payload(kind, value)


def _is_json(value: str) -> bool:
    try:
        json.loads(value)
    except ValueError:
        return False
    return True
