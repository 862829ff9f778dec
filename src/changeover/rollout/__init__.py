"""Rollout strategies as pure state machines: observations and `now` in, decisions out."""

from changeover.rollout.decision import Decision
from changeover.rollout.observe import ReplicaObs, RevisionObs
from changeover.rollout.phase import TRANSITIONS, IllegalTransition, Phase, check_transition
from changeover.rollout.rolling import RollingParams, RollingUpdate

__all__ = [
    "TRANSITIONS",
    "Decision",
    "IllegalTransition",
    "Phase",
    "ReplicaObs",
    "RevisionObs",
    "RollingParams",
    "RollingUpdate",
    "check_transition",
]
