"""Evaluate flags against a compiled state: pure, local, no I/O.

Invariant: a `State` is immutable once built, so any number of threads may evaluate against
it while a refresher swaps in a newer one; the answer depends only on the state, the context
and the injected effects. Evaluation order follows Unleash: the flag's own switch, then its
parents (one level, evaluated with the same context), then the first strategy that matches.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from changeover.flags.compile import CompiledFeature, compile_document
from changeover.flags.context import Fields, flatten
from changeover.flags.effects import Effects
from changeover.flags.model import StateDocument
from changeover.flags.problems import Problem
from changeover.flags.result import (
    DISABLED_VARIANT,
    NO_VARIANT,
    Evaluation,
    Reason,
    Variant,
    not_found,
)
from changeover.flags.strategies import EVERYONE, Rule

Context = Mapping[str, Any]


class State:
    """A compiled flag state document, ready to evaluate."""

    __slots__ = ("document", "features", "warnings")

    def __init__(self, document: StateDocument) -> None:
        self.document = document
        features, problems = compile_document(document)
        self.features: Mapping[str, CompiledFeature] = features
        self.warnings: tuple[Problem, ...] = tuple(problems)

    def __repr__(self) -> str:
        return f"<State {len(self.features)} flags, {len(self.warnings)} warnings>"

    def __contains__(self, name: object) -> bool:
        return name in self.features

    def is_enabled(self, name: str, context: Context | None, effects: Effects) -> bool | None:
        """Whether the flag is on for this context; None when there is no such flag."""
        feature = self.features.get(name)
        if feature is None:
            return None
        return _rule(self.features, feature, flatten(context), effects) is not None

    def evaluate(self, name: str, context: Context | None, effects: Effects) -> Evaluation:
        """The full answer: enabled, variant, reason (ERROR + FLAG_NOT_FOUND if unknown)."""
        feature = self.features.get(name)
        if feature is None:
            return not_found(name)
        if not feature.enabled:
            return Evaluation(name, False, DISABLED_VARIANT, Reason.DISABLED)
        fields = flatten(context)
        rule = _rule(self.features, feature, fields, effects)
        if rule is None:
            return Evaluation(name, False, DISABLED_VARIANT, Reason.DEFAULT)
        variant, reason = _variant(feature, rule, fields, effects)
        return Evaluation(name, True, variant, reason)

    def variant(self, name: str, context: Context | None, effects: Effects) -> Variant:
        return self.evaluate(name, context, effects).variant


def _rule(
    features: Mapping[str, CompiledFeature],
    feature: CompiledFeature,
    fields: Fields,
    effects: Effects,
) -> Rule | None:
    """The rule that turns the flag on for this context, or None when it stays off."""
    if not feature.enabled:
        return None
    if feature.dependencies and not _parents_agree(features, feature, fields, effects):
        return None
    if not feature.rules:
        return EVERYONE
    for rule in feature.rules:
        if rule.matches(fields, effects):
            return rule
    return None


def _parents_agree(
    features: Mapping[str, CompiledFeature],
    child: CompiledFeature,
    fields: Fields,
    effects: Effects,
) -> bool:
    for dep in child.dependencies:
        parent = features.get(dep.feature)
        if parent is None or parent.dependencies:
            return False  # missing parents and chains of dependencies keep the child off
        rule = _rule(features, parent, fields, effects)
        if not dep.enabled:
            if rule is not None:
                return False
            continue
        if rule is None:
            return False
        if dep.variants and _variant(parent, rule, fields, effects)[0].name not in dep.variants:
            return False
    return True


def _variant(
    feature: CompiledFeature, rule: Rule, fields: Fields, effects: Effects
) -> tuple[Variant, Reason]:
    variants = rule.variants or feature.variants
    if variants is None:
        return NO_VARIANT, rule.reason
    picked = variants.pick(fields, effects)
    if picked is None:
        return NO_VARIANT, rule.reason
    variant, overridden = picked
    if overridden:
        return variant, Reason.TARGETING_MATCH
    return variant, Reason.SPLIT if variants.split else rule.reason
