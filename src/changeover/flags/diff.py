"""Which flags a new state changes, for change events.

Invariant: a flag is reported when its own definition differs, when it appears or goes, when
a segment it uses changes, or when a flag it depends on is reported (its answer may follow);
a flag whose evaluation cannot differ between the two states is never reported.
"""

from __future__ import annotations

from changeover.flags.engine import State
from changeover.flags.model import Feature


def changed_flags(old: State | None, new: State) -> frozenset[str]:
    if old is None:
        return frozenset(new.features)
    before = {s.id: s for s in old.document.segments or ()}
    after = {s.id: s for s in new.document.segments or ()}
    segments = {i for i in before.keys() | after.keys() if before.get(i) != after.get(i)}
    names = set(old.features) ^ set(new.features)
    for name in set(old.features) & set(new.features):
        a, b = old.features[name].definition, new.features[name].definition
        if a != b or _uses(b, segments):
            names.add(name)
    for name, feature in new.features.items():
        if any(dep.feature in names for dep in feature.dependencies):
            names.add(name)
    return frozenset(names)


def _uses(feature: Feature, segments: set[int]) -> bool:
    if not segments:
        return False
    return any(i in segments for s in feature.strategies or () for i in s.segments or ())
