"""The proxy's counters as a revision became stable: what it served during the rollout
that made it stable (a new revision counts from zero), kept once it is no longer stable."""

from __future__ import annotations

from changeover.agent.evidence import SoakCounts


def test_the_counts_when_a_revision_became_stable_stay_what_they_were() -> None:
    counters = {1: (500, 0), 2: (0, 0)}
    soak = SoakCounts(started_at=0.0)
    soak.note(1, counters.__getitem__, now=1.0)
    assert soak.at_stable(2) is None  # never stable here
    counters[2] = (120, 1)  # served while the rollout to 2 ran
    soak.note(2, counters.__getitem__, now=5.0)
    assert soak.at_stable(2) == (5.0, 120, 1)
    counters[2] = (900, 1)
    soak.note(2, counters.__getitem__, now=6.0)  # still stable: nothing moves
    assert soak.at_stable(2) == (5.0, 120, 1)
    assert soak.since(2, counters.__getitem__) == (5.0, 780, 0)
    soak.note(None, counters.__getitem__, now=7.0)
    assert soak.at_stable(2) == (5.0, 120, 1)
