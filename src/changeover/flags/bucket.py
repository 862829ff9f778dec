"""Unleash-compatible bucketing: murmur3 of `groupId:identifier`, modulo N, plus 1.

Invariant: the same identifier, group and seed always land in the same bucket in 1..N, on
every host and in every Unleash SDK (murmur3 x86 32-bit over the UTF-8 bytes, unsigned).
Raising a rollout percentage therefore only adds identifiers: a bucket <= 10 is <= 50.
Rollouts hash with seed 0 into 100 buckets; variants use their own seed and the total
weight, so which variant a user gets does not follow from whether the flag is on.
"""

from __future__ import annotations

from collections.abc import Callable

import mmh3

from changeover.flags.context import Fields, text

ROLLOUT_SEED = 0
VARIANT_SEED = 86028157

Reader = Callable[[Fields], str | None]


def normalized(identifier: str, group: str, modulus: int = 100, seed: int = ROLLOUT_SEED) -> int:
    return mmh3.hash(f"{group}:{identifier}", seed, signed=False) % modulus + 1


def _default(fields: Fields) -> str | None:
    value = fields.get("userId") or fields.get("sessionId")
    return None if value is None else text(value)


def _nothing(fields: Fields) -> str | None:
    return None


def reader(stickiness: str | None) -> Reader:
    """How to find the identifier a rollout or variant hashes; None means 'draw at random'.

    `default` (or unset) is userId, else sessionId; `random` never reads one; any other name
    reads that context field.
    """
    if stickiness is None or stickiness == "default":
        return _default
    if stickiness == "random":
        return _nothing

    def field(fields: Fields) -> str | None:
        value = fields.get(stickiness)
        return None if value is None else text(value)

    return field


def falls_back_to_random(stickiness: str | None) -> bool:
    """Whether a rollout draws at random when the identifier is missing (else it is off)."""
    return stickiness is None or stickiness in ("default", "random")
