"""Rollout strategies as pure state machines: observations, events and `now` in, decisions out.

Light by contract (`.importlinter`): nothing here loads pydantic, the proxy or psutil; the
agent builds the frozen step values (`rollout.steps`) from the spec.
"""

from changeover.rollout.decision import Decision
from changeover.rollout.observe import ReplicaObs, RevisionObs
from changeover.rollout.phase import EVENT_TRIGGERED_TRANSITIONS, Phase
from changeover.rollout.rolling import RollingParams, RollingUpdate
from changeover.rollout.strategy import Strategy

__all__ = [
    "EVENT_TRIGGERED_TRANSITIONS",
    "Decision",
    "Phase",
    "ReplicaObs",
    "RevisionObs",
    "RollingParams",
    "RollingUpdate",
    "Strategy",
]
