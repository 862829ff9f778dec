"""Phases of a hot-restarting service, the events that move them, and the one table.

Invariant: the phase changes only through `TABLE.transition(phase, event)`; EXITED takes
nothing, and every phase with two generations alive (upgrading, retiring, aborting,
recovering) is left only towards one generation serving, towards another of those
phases, or towards stopping, so at most one upgrade runs at a time. A reload is taken in
SERVING alone (`busy` reads the table). Once the old generation was told to stop, the
only way to STOPPING without a stop request is a restart of its command that failed too.
"""

from __future__ import annotations

import enum

from changeover.machine import Table


class Phase(enum.Enum):
    STARTING = "starting"  # first generation spawned, not ready yet
    SERVING = "serving"  # one generation serving, nothing else alive
    UPGRADING = "upgrading"  # a candidate is starting next to the serving generation
    RETIRING = "retiring"  # the candidate serves; the old generation drains and stops
    ABORTING = "aborting"  # the candidate failed and is being stopped; the old one serves
    # the successor died after the old generation was told to stop: the old generation's
    # command starts again (the candidate) while the old one may still drain
    RECOVERING = "recovering"
    STOPPING = "stopping"  # every generation is being stopped; exit follows
    EXITED = "exited"  # nothing alive; the exit code is decided

    def __repr__(self) -> str:
        return f"<Phase {self.value}>"

    @property
    def busy(self) -> bool:
        """True while a reload would have to be refused."""
        return not TABLE.can(self, PhaseEvent.RELOAD_REQUESTED)


class PhaseEvent(enum.Enum):
    """What happened, as the core sorts the raw `events` by the generation they concern."""

    RELOAD_REQUESTED = "reload-requested"  # SIGHUP or --reload
    CANDIDATE_READY = "candidate-ready"  # the candidate is ready and the only one alive
    SUCCESSOR_READY = "successor-ready"  # the candidate is ready; an older one is still alive
    CANDIDATE_EXITED = "candidate-exited"  # before it was ready; the old one serves on
    CANDIDATE_LATE = "candidate-late"  # not ready in time; the old one serves on
    LONE_CANDIDATE_FAILED = "lone-candidate-failed"  # exited or late, and nothing else serves
    SERVING_EXITED = "serving-exited"  # the serving generation's process ended
    SUCCESSOR_EXITED = "successor-exited"  # it took over, and ended while the old one drains
    LEAVER_EXITED = "leaver-exited"  # a generation told to stop has exited
    STOP_REQUESTED = "stop-requested"  # SIGTERM or SIGINT
    ALL_EXITED = "all-exited"  # while stopping, the last generation is gone

    def __repr__(self) -> str:
        return f"<PhaseEvent {self.value}>"


_P, _E = Phase, PhaseEvent
TABLE: Table[Phase, PhaseEvent] = Table(
    "hot restart",
    Phase,
    {
        _P.STARTING: {
            _E.CANDIDATE_READY: _P.SERVING,
            _E.LONE_CANDIDATE_FAILED: _P.STOPPING,
            _E.STOP_REQUESTED: _P.STOPPING,
        },
        _P.SERVING: {
            _E.RELOAD_REQUESTED: _P.UPGRADING,
            _E.SERVING_EXITED: _P.STOPPING,
            _E.STOP_REQUESTED: _P.STOPPING,
        },
        _P.UPGRADING: {
            _E.SUCCESSOR_READY: _P.RETIRING,
            _E.CANDIDATE_READY: _P.SERVING,  # the old one had exited meanwhile
            _E.CANDIDATE_EXITED: _P.SERVING,  # nothing is left to abort
            _E.CANDIDATE_LATE: _P.ABORTING,
            _E.LONE_CANDIDATE_FAILED: _P.STOPPING,
            _E.SERVING_EXITED: _P.UPGRADING,  # the candidate may still take over
            _E.STOP_REQUESTED: _P.STOPPING,
        },
        _P.RETIRING: {
            _E.LEAVER_EXITED: _P.SERVING,  # the old generation is gone: upgraded
            _E.SUCCESSOR_EXITED: _P.RECOVERING,  # never exit with nothing serving
            _E.STOP_REQUESTED: _P.STOPPING,
        },
        _P.ABORTING: {
            _E.LEAVER_EXITED: _P.SERVING,  # the failed candidate is gone: not upgraded
            _E.SERVING_EXITED: _P.STOPPING,
            _E.STOP_REQUESTED: _P.STOPPING,
        },
        _P.RECOVERING: {
            _E.CANDIDATE_READY: _P.SERVING,  # the old generation finished draining meanwhile
            _E.SUCCESSOR_READY: _P.RETIRING,  # it still drains; the restarted one serves
            _E.LONE_CANDIDATE_FAILED: _P.STOPPING,  # the restart failed too: nothing can serve
            _E.LEAVER_EXITED: _P.RECOVERING,
            _E.STOP_REQUESTED: _P.STOPPING,
        },
        # Asked again to stop: the leavers are killed; exits are only reported.
        _P.STOPPING: {
            _E.STOP_REQUESTED: _P.STOPPING,
            _E.LEAVER_EXITED: _P.STOPPING,
            _E.ALL_EXITED: _P.EXITED,
        },
        _P.EXITED: {},
    },
)
