"""Feature flags: Unleash-compatible model and evaluation, and a client that keeps them fresh.

Invariant: evaluation is local and pure (state + context + injected effects), so a flag
check never waits on the network; the wire format is the Unleash client API document.
"""

from changeover.flags.client import Client
from changeover.flags.context import STANDARD_FIELDS
from changeover.flags.effects import Effects, FixedEffects, SystemEffects
from changeover.flags.engine import State
from changeover.flags.events import FlagsChanged
from changeover.flags.load import load_state_file, parse_state
from changeover.flags.problems import FlagStateError, Problem
from changeover.flags.result import ErrorCode, Evaluation, Payload, Reason, Variant

__all__ = [
    "STANDARD_FIELDS",
    "Client",
    "Effects",
    "ErrorCode",
    "Evaluation",
    "FixedEffects",
    "FlagStateError",
    "FlagsChanged",
    "Payload",
    "Problem",
    "Reason",
    "State",
    "SystemEffects",
    "Variant",
    "load_state_file",
    "parse_state",
]
