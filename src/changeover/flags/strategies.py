"""Activation strategies, compiled into `Rule`s: constraints and segments, then the strategy.

Invariant: a rule matches only if every constraint (its own, then its segments') holds and
the strategy itself says yes; a strategy that cannot be understood (unknown name, a missing
or malformed parameter, a missing segment) compiles to a rule that never matches, with a
`Problem` saying where, so broken definitions fail closed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from changeover.flags import bucket
from changeover.flags.context import Fields
from changeover.flags.effects import Effects
from changeover.flags.model import Strategy
from changeover.flags.operators import Check, compile_constraint, never
from changeover.flags.problems import Problem
from changeover.flags.result import Reason
from changeover.flags.targets import (
    hostname_test,
    percent,
    remote_address_test,
    user_ids_test,
)
from changeover.flags.variants import VariantSet, compile_variants

Test = Callable[[Fields, Effects], bool]


def always(fields: Fields, effects: Effects) -> bool:
    return True


@dataclass(frozen=True, slots=True)
class Rule:
    checks: tuple[Check, ...]
    test: Test
    reason: Reason  # the reason to report when this rule turns the flag on
    variants: VariantSet | None  # strategy variants; None falls back to the feature's

    def matches(self, fields: Fields, effects: Effects) -> bool:
        for check in self.checks:
            if not check(fields, effects):
                return False
        return self.test(fields, effects)


EVERYONE = Rule(checks=(), test=always, reason=Reason.STATIC, variants=None)
NOBODY = Rule(checks=(), test=never, reason=Reason.DEFAULT, variants=None)


def compile_strategy(
    s: Strategy,
    feature: str,
    segments: Mapping[int, tuple[Check, ...]],
    path: str,
    problems: list[Problem],
) -> Rule:
    params = s.parameters or {}
    checks = [
        compile_constraint(c, f"{path}.constraints[{i}]", problems)
        for i, c in enumerate(s.constraints or ())
    ]
    for i, segment_id in enumerate(s.segments or ()):
        found = segments.get(segment_id)
        if found is None:
            problems.append(Problem(f"{path}.segments[{i}]", f"no segment with id {segment_id}"))
            return NOBODY
        checks.extend(found)
    test, reason = _strategy(s.name, params, feature, path, problems)
    if checks and reason is Reason.STATIC:
        reason = Reason.TARGETING_MATCH
    group = params.get("groupId") or feature
    variants = compile_variants(
        s.variants, group, params.get("stickiness"), f"{path}.variants", problems
    )
    return Rule(tuple(checks), test, reason, variants)


def _strategy(
    name: str, params: Mapping[str, str], feature: str, path: str, problems: list[Problem]
) -> tuple[Test, Reason]:
    at = f"{path}.parameters"
    if name == "default":
        return always, Reason.STATIC
    if name == "userWithId":
        return user_ids_test(params, at, problems), Reason.TARGETING_MATCH
    if name == "remoteAddress":
        return remote_address_test(params, at, problems), Reason.TARGETING_MATCH
    if name == "applicationHostname":
        return hostname_test(params), Reason.TARGETING_MATCH
    if name == "gradualRolloutRandom":
        share = percent(params, "percentage", at, problems)
        return _random(share), _split(share)
    if name in ("gradualRolloutUserId", "gradualRolloutSessionId"):
        share = percent(params, "percentage", at, problems)
        if "groupId" not in params:
            problems.append(Problem(f"{at}.groupId", "required for this strategy"))
            return never, Reason.DEFAULT
        field = "userId" if name == "gradualRolloutUserId" else "sessionId"
        return _rollout(share, field, params["groupId"]), _split(share)
    if name == "flexibleRollout":
        share = percent(params, "rollout", at, problems)
        group = params.get("groupId") or feature
        return _rollout(share, params.get("stickiness"), group), _split(share)
    problems.append(Problem(f"{path}.name", f"unknown strategy {name!r}; expected one of {KNOWN}"))
    return never, Reason.DEFAULT


KNOWN = (
    "default, userWithId, gradualRolloutUserId, gradualRolloutSessionId, "
    "gradualRolloutRandom, flexibleRollout, remoteAddress, applicationHostname"
)


def _split(share: int | None) -> Reason:
    return Reason.SPLIT if share is not None and 0 < share < 100 else Reason.STATIC


def _random(share: int | None) -> Test:
    if share is None:
        return never
    return lambda fields, effects: effects.randint(1, 100) <= share


def _rollout(share: int | None, stickiness: str | None, group: str) -> Test:
    """Percentage rollout: on when the identifier's bucket (1..100) is <= the percentage."""
    if share is None or share <= 0:
        return never
    read = bucket.reader(stickiness)
    draw = bucket.falls_back_to_random(stickiness)
    normalized = bucket.normalized

    def test(fields: Fields, effects: Effects) -> bool:
        identifier = read(fields)
        if identifier is None:
            return draw and effects.randint(1, 100) <= share
        return share >= 100 or normalized(identifier, group) <= share

    return test
