"""The verdict of a verify run, decided from the failed-request count and the rollout.

Invariant: the verdict is PASSED exactly when no request failed, none was left
unaccounted for and the rollout succeeded without verify aborting it; every other verdict
exits 1 and carries at least one human reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

SUCCEEDED = "succeeded"


class Verdict(StrEnum):
    PASSED = "passed"
    REQUESTS_FAILED = "requests-failed"
    ROLLOUT_FAILED = "rollout-failed"
    BOTH_FAILED = "rollout-and-requests-failed"

    def __repr__(self) -> str:
        return f"Verdict.{self.name}"

    @property
    def exit_code(self) -> int:
        return 0 if self is Verdict.PASSED else 1


# (requests all ok, rollout succeeded) -> verdict: every combination, in one table.
TABLE: dict[tuple[bool, bool], Verdict] = {
    (True, True): Verdict.PASSED,
    (False, True): Verdict.REQUESTS_FAILED,
    (True, False): Verdict.ROLLOUT_FAILED,
    (False, False): Verdict.BOTH_FAILED,
}


@dataclass(frozen=True, slots=True)
class Decision:
    verdict: Verdict
    reasons: tuple[str, ...]


def decide(
    *,
    failed: int,
    in_flight: int,
    sent: int,
    rollout_phase: str,
    rollout_reason: str = "",
    aborted_after: float | None = None,
) -> Decision:
    """Judge a finished run: failed/in-flight requests, and the rollout's final phase;
    `aborted_after`: seconds after the deploy at which verify aborted it (`--max-wait`)."""
    reasons: list[str] = []
    if failed:
        reasons.append(f"{failed} of {sent} requests failed")
    if in_flight:
        reasons.append(f"{in_flight} requests never finished")  # a report taken too early
    if sent == 0:
        reasons.append("no request was sent, so nothing was verified")
    if aborted_after is not None:
        reasons.append(
            f"the rollout was aborted by verify after {aborted_after:.1f} s: "
            "it had not finished within --max-wait"
        )
    if rollout_phase != SUCCEEDED:
        why = f": {rollout_reason}" if rollout_reason else ""
        reasons.append(f"the rollout ended {rollout_phase}{why}")
    rollout_ok = rollout_phase == SUCCEEDED and aborted_after is None
    requests_ok = not (failed or in_flight or sent == 0)
    verdict = TABLE[(requests_ok, rollout_ok)]
    if verdict is Verdict.PASSED:
        reasons.append(f"all {sent} requests succeeded and the rollout succeeded")
    return Decision(verdict, tuple(reasons))
