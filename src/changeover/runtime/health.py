"""Liveness and readiness answers as data: status code, JSON body, headers.

Invariant: readiness passes only while serving and with every registered check passing;
liveness passes in every phase the process can still answer in, draining included, so a
platform never kills a process that is finishing its requests.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from changeover.runtime.calls import Failure
from changeover.runtime.phase import Phase


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    content_type: str = "application/json"

    @property
    def reason(self) -> str:
        return "OK" if self.status == 200 else "Service Unavailable"


def _json(status: int, document: Mapping[str, object]) -> Answer:
    return Answer(status, json.dumps(document, sort_keys=True).encode() + b"\n")


def liveness(phase: Phase, in_flight: int) -> Answer:
    return _json(200, {"status": "alive", "phase": phase.value, "in_flight": in_flight})


def readiness(phase: Phase, results: Mapping[str, Failure]) -> Answer:
    """503 unless serving and every check passed; each check's verdict is in the body."""
    checks = {name: failure or "ok" for name, failure in results.items()}
    if not phase.ready:
        return _json(503, {"status": phase.value, "phase": phase.value, "checks": checks})
    failing = any(failure is not None for failure in results.values())
    status = "failing" if failing else "ready"
    return _json(
        503 if failing else 200, {"status": status, "phase": phase.value, "checks": checks}
    )
