"""The choices `k8s render` takes besides the spec: target version, mode, router, image.

Invariant: an `Options` is valid once made: `KubeVersion.parse` and `Router.parse` refuse
what the rendering cannot target with what is expected, so the mapping never meets an
unsupported version or router.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from changeover.spec.strategy import StrategyName

# The versions whose OpenAPI schemas the tests validate every manifest against (the
# schemas kubernetes-validate bundles); outside them nothing is checked, so refused.
OLDEST_MINOR, NEWEST_MINOR = 25, 37
DEFAULT_KUBE_VERSION = "1.30"
# lifecycle.preStop.sleep: alpha in 1.29 (off by default), beta and on by default in 1.30,
# GA in 1.34 (KEP-3960). Before 1.30 the hook is an exec of `sleep`.
SLEEP_ACTION_MINOR = 30


@dataclass(frozen=True, order=True)
class KubeVersion:
    major: int
    minor: int

    @classmethod
    def parse(cls, text: str) -> KubeVersion:
        m = re.fullmatch(r"v?(\d+)\.(\d+)(?:\.\d+)?", text.strip())
        if m is None or int(m.group(1)) != 1:
            raise ValueError(f"--kube-version: expected a version like 1.30, got {text!r}")
        version = cls(1, int(m.group(2)))
        if not OLDEST_MINOR <= version.minor <= NEWEST_MINOR:
            raise ValueError(
                f"--kube-version: {text} is not supported; expected 1.{OLDEST_MINOR} to "
                f"1.{NEWEST_MINOR}, the versions the manifests are validated against"
            )
        return version

    @property
    def has_sleep_action(self) -> bool:
        return self.minor >= SLEEP_ACTION_MINOR

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"


class Router(enum.StrEnum):
    """The traffic router Argo Rollouts drives, whose metrics the analysis queries read."""

    NGINX = "nginx"  # ingress-nginx: canary Ingress, nginx_ingress_controller_* metrics
    ISTIO = "istio"  # a VirtualService, istio_* metrics (header routes supported)
    NONE = "none"  # weights approximated by replica counts; no request metrics

    @classmethod
    def parse(cls, text: str) -> Router:
        try:
            return cls(text)
        except ValueError:
            expected = ", ".join(r.value for r in cls)
            raise ValueError(
                f"--traffic-router: expected one of {expected}, got {text!r}"
            ) from None


@dataclass(frozen=True)
class Options:
    kube_version: KubeVersion = field(default_factory=lambda: KubeVersion.parse("1.30"))
    rollouts: bool = False
    router: Router = Router.NGINX
    image: str | None = None  # default: "<name>:latest"
    container_port: int = 8000
    endpoint_delay: float = 5.0  # seconds the preStop hook waits for endpoint removal
    prometheus: str = "http://prometheus.monitoring:9090"
    metrics_window: float = 60.0  # shortest range of a builtin query (two scrapes at 30 s)
    strategy: StrategyName | None = None  # overrides strategy.type, as `deploy --strategy`
    environment: str | None = None
    overlay: Mapping[str, Any] = field(default_factory=dict)  # the environment's raw overlay
    env_file: Mapping[str, str] = field(default_factory=dict)  # values read from app.env_file
    flags: Mapping[str, Any] | None = None  # a flag document (`--flags FILE`)
