"""What the rendering could not carry over to Kubernetes.

Invariant: a `Finding` names the spec key (as `Sources.key` spells it), says what is not
rendered and what to do instead. LOSSY findings change how the service behaves in the
cluster compared with the local agent (`k8s render` exits 2 on them unless
`--allow-lossy`); NOTE findings are settings that have no meaning there (the agent's own
proxy, logs, state) or values rounded to what Kubernetes takes.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any


class Level(enum.StrEnum):
    LOSSY = "lossy"
    NOTE = "note"


@dataclass(frozen=True)
class Finding:
    level: Level
    key: str
    message: str

    def line(self) -> str:
        return f"{self.level}: {self.key}: {self.message}"

    def to_json(self) -> dict[str, Any]:
        return {"level": str(self.level), "key": self.key, "message": self.message}


class Report:
    def __init__(self) -> None:
        self.findings: list[Finding] = []

    def lossy(self, key: str, message: str) -> None:
        self._add(Finding(Level.LOSSY, key, message))

    def note(self, key: str, message: str) -> None:
        self._add(Finding(Level.NOTE, key, message))

    def _add(self, finding: Finding) -> None:
        if finding not in self.findings:
            self.findings.append(finding)

    @property
    def lossy_findings(self) -> list[Finding]:
        return [f for f in self.findings if f.level is Level.LOSSY]
