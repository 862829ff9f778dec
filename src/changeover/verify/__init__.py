"""Pure logic of `changeover verify`: what to request, which release to deploy, and the
report (windows, timeline, verdict) of a deploy run under generated load.

Invariant kept by the package: nothing here opens a socket or reads a clock, except
`recorder`, which only adds sample recording to a load generator the caller runs; every
report is computed from finished inputs by pure functions, and what verify does while it
follows a rollout (wait, promote, abort) is decided by the pure `next_action`.
"""

from changeover.verify.actions import VerifyAction, abort_action, promote_action
from changeover.verify.recorder import RecordingTally, recorded_load
from changeover.verify.release import NothingToRedeploy, ReleaseOptions, deploy_body
from changeover.verify.report import Settings, VerifyReport, build_report
from changeover.verify.requests import (
    RequestSpecError,
    format_request,
    parse_request,
    parse_requests,
)
from changeover.verify.timeline import RolloutEvent
from changeover.verify.verdict import Verdict, decide
from changeover.verify.wait import Action, Seen, WaitOptions, next_action
from changeover.verify.windows import Samples, Window

__all__ = [
    "Action",
    "NothingToRedeploy",
    "RecordingTally",
    "ReleaseOptions",
    "RequestSpecError",
    "RolloutEvent",
    "Samples",
    "Seen",
    "Settings",
    "Verdict",
    "VerifyAction",
    "VerifyReport",
    "WaitOptions",
    "Window",
    "abort_action",
    "build_report",
    "decide",
    "deploy_body",
    "format_request",
    "next_action",
    "parse_request",
    "parse_requests",
    "promote_action",
    "recorded_load",
]
