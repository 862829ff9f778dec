"""Turn a validated `StateDocument` into compiled features, collecting every problem.

Invariant: compiling never raises on content; every rule is compiled exactly once per state
(regexes, networks, numbers, segment constraints), and each problem carries the document
path to fix. The caller decides whether problems are errors (strict) or warnings.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel

from changeover.flags.model import Feature, StateDocument
from changeover.flags.operators import Check, compile_constraint
from changeover.flags.problems import Problem
from changeover.flags.strategies import Rule, compile_strategy
from changeover.flags.variants import VariantSet, compile_variants


@dataclass(frozen=True, slots=True)
class Dependency:
    feature: str
    enabled: bool
    variants: frozenset[str]  # empty: any variant will do


@dataclass(frozen=True, slots=True)
class CompiledFeature:
    name: str
    enabled: bool
    rules: tuple[Rule, ...]  # empty: on for everyone
    variants: VariantSet | None
    dependencies: tuple[Dependency, ...]
    definition: Feature


def compile_document(doc: StateDocument) -> tuple[dict[str, CompiledFeature], list[Problem]]:
    problems: list[Problem] = []
    segments: dict[int, tuple[Check, ...]] = {}
    for i, seg in enumerate(doc.segments or ()):
        path = f"segments[{i}]"
        if seg.id in segments:
            problems.append(Problem(f"{path}.id", f"duplicate segment id {seg.id}"))
        segments[seg.id] = tuple(
            compile_constraint(c, f"{path}.constraints[{j}]", problems)
            for j, c in enumerate(seg.constraints or ())
        )
    features: dict[str, CompiledFeature] = {}
    for i, feature in enumerate(doc.features):
        path = f"features[{i}]"
        if feature.name in features:
            problems.append(Problem(f"{path}.name", f"duplicate flag name {feature.name!r}"))
        features[feature.name] = _feature(feature, segments, path, problems)
    problems += _dependency_problems(doc, features)
    return features, problems


def _feature(
    f: Feature, segments: dict[int, tuple[Check, ...]], path: str, problems: list[Problem]
) -> CompiledFeature:
    rules = tuple(
        compile_strategy(s, f.name, segments, f"{path}.strategies[{i}]", problems)
        for i, s in enumerate(f.strategies or ())
    )
    first = f.variants[0].stickiness if f.variants else None
    variants = compile_variants(f.variants, f.name, first, f"{path}.variants", problems)
    deps = tuple(
        Dependency(d.feature, d.enabled, frozenset(d.variants or ())) for d in f.dependencies or ()
    )
    return CompiledFeature(f.name, f.enabled, rules, variants, deps, f)


def _dependency_problems(doc: StateDocument, features: dict[str, CompiledFeature]) -> list[Problem]:
    out = []
    for i, f in enumerate(doc.features):
        for j, d in enumerate(f.dependencies or ()):
            at = f"features[{i}].dependencies[{j}].feature"
            parent = features.get(d.feature)
            if parent is None:
                out.append(Problem(at, f"no flag named {d.feature!r}; this flag stays off"))
            elif parent.dependencies:
                why = "depends on other flags itself; dependencies are one level deep"
                out.append(Problem(at, f"{d.feature!r} {why}, so this flag stays off"))
    return out


def unknown_keys(model: BaseModel, path: str = "") -> list[Problem]:
    """Keys the wire models do not know (strict loading reports them; Unleash ignores them)."""
    out = []
    fields = type(model).model_fields
    names = {name: f.serialization_alias or f.alias or name for name, f in fields.items()}
    ignored: frozenset[str] = getattr(model, "ignored", frozenset())
    for key in model.model_extra or {}:
        if key not in ignored:
            where = f"{path}.{key}" if path else key
            out.append(Problem(where, f"unknown key; expected one of: {', '.join(names.values())}"))
    for name, alias in names.items():
        value = getattr(model, name)
        here = f"{path}.{alias}" if path else alias
        if isinstance(value, BaseModel):
            out += unknown_keys(value, here)
        elif isinstance(value, list):
            for k, item in enumerate(value):
                if isinstance(item, BaseModel):
                    out += unknown_keys(item, f"{here}[{k}]")
    return out
