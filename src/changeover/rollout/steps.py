"""The small frozen values a canary is made of: steps, a header route, a canary scale.

Invariant: these are plain frozen dataclasses (no pydantic), built from a validated spec
by the agent (`agent.strategies`), so the rollout layer never loads the spec's models and
a step is exactly one of the five kinds below.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class HeaderRoute:
    """Requests whose `header` matches (exactly one of value, prefix, regex) go to the canary."""

    header: str
    value: str | None = None
    prefix: str | None = None
    regex: str | None = None

    def as_dict(self) -> dict[str, str]:
        """The fields that are set, in the spec's order (as `status --json` shows them)."""
        fields = {"header": self.header, "value": self.value}
        fields |= {"prefix": self.prefix, "regex": self.regex}
        return {k: v for k, v in fields.items() if v is not None}


@dataclass(frozen=True)
class CanaryScale:
    """Canary replicas independent of its weight: a count, or a share of the full size."""

    replicas: int | None = None
    weight: int | None = None
    match_traffic_weight: bool = False

    def describe(self) -> str:
        """Its non-default fields, as the spec's step reads: `{'replicas': 3}`."""
        fields: dict[str, object] = {"replicas": self.replicas, "weight": self.weight}
        shown = {k: v for k, v in fields.items() if v is not None}
        if self.match_traffic_weight:
            shown["match_traffic_weight"] = True
        return str(shown)


@dataclass(frozen=True)
class SetWeight:
    weight: int  # percent of public traffic on the canary


@dataclass(frozen=True)
class Pause:
    seconds: float | None  # None: until `changeover promote`


@dataclass(frozen=True)
class Analysis:
    template: str  # the name of an analysis template of the spec


@dataclass(frozen=True)
class SetCanaryScale:
    scale: CanaryScale


@dataclass(frozen=True)
class SetHeaderRoute:
    route: HeaderRoute


Step = SetWeight | Pause | Analysis | SetCanaryScale | SetHeaderRoute


def describe_step(step: Step) -> str:
    """One line per step, as events and `status` show it ("set_weight 10%")."""
    match step:
        case SetWeight(weight):
            return f"set_weight {weight}%"
        case Pause(None):
            return "pause until promote"
        case Pause(seconds):
            return f"pause {seconds:g}s"
        case Analysis(template):
            return f"analysis {template}"
        case SetCanaryScale(scale):
            return f"set_canary_scale {scale.describe()}"
        case SetHeaderRoute(route):
            return f"set_header_route {route.header}"
