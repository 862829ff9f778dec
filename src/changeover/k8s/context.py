"""What every part of one rendering shares: the spec, its sources, options, names, report.

Invariant: one `Context` per rendering; parts add findings to its report and read
everything else, so two parts never disagree on a name or a port.
"""

from __future__ import annotations

from dataclasses import dataclass

from changeover.k8s.names import Names
from changeover.k8s.options import Options
from changeover.k8s.report import Report
from changeover.k8s.sources import Sources
from changeover.spec.models import Spec
from changeover.spec.strategy import StrategyName
from changeover.spec.types import parse_address

DEFAULT_SERVICE_PORT = 80  # when proxy.listen has port 0 ("any free port")
PORT_NAME = "http"


@dataclass
class Context:
    spec: Spec
    options: Options
    sources: Sources
    names: Names
    report: Report

    @classmethod
    def of(cls, spec: Spec, options: Options) -> Context:
        return cls(
            spec,
            options,
            Sources(spec, options.environment, options.overlay),
            Names.of(spec.app.name, options.environment),
            Report(),
        )

    @property
    def strategy(self) -> StrategyName:
        return self.options.strategy or self.spec.strategy.type

    @property
    def image(self) -> str:
        return self.options.image or f"{self.names.base}:latest"

    @property
    def version(self) -> str:
        """The image's tag, as CHANGEOVER_VERSION (the release's version locally)."""
        ref = self.image.split("@", 1)[0]
        tail = ref.rsplit("/", 1)[-1]
        return tail.rsplit(":", 1)[1] if ":" in tail else "latest"

    def service_port(self, listen: str) -> int:
        port = parse_address(listen)[1]
        return port or DEFAULT_SERVICE_PORT

    def key(self, path: str) -> str:
        return self.sources.key(path)
