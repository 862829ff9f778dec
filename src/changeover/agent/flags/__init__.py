"""The agent's feature flags: `FlagService` (the served document and changes), the routes
of the control socket, and the optional TCP listener (`listener.FlagsListener`).

Invariant: the served document always passes strict validation, and a change is stored
with its audit events in one transaction (see `service`); this package only re-exports.
"""

from changeover.agent.flags.routes import admin_routes, document_handler, flag_routes
from changeover.agent.flags.service import FlagService
from changeover.agent.flags.summary import rollout_summary, stale_reasons, state_text
from changeover.agent.flags.wire import MAX_WAIT, encode, etag_matches, etag_of, parse_wait

__all__ = [
    "MAX_WAIT",
    "FlagService",
    "admin_routes",
    "document_handler",
    "encode",
    "etag_matches",
    "etag_of",
    "flag_routes",
    "parse_wait",
    "rollout_summary",
    "stale_reasons",
    "state_text",
]
