"""Pydantic models of `changeover.toml`, the user-facing contract of the design brief.

Invariant: a `Spec` instance is fully valid: unknown keys are rejected, every duration
has a unit, and cross-field rules (surge/unavailable, analysis references) hold.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, cast, get_args

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from changeover.spec.environments import EnvironmentSettings, EnvName
from changeover.spec.migrations import MigrationSettings
from changeover.spec.releases import ReleaseSettings
from changeover.spec.strategy import StrategyName
from changeover.spec.types import (
    ENV_NAME,
    Address,
    CommandLine,
    Duration,
    Network,
    QuantityField,
    SignalName,
    StrictModel,
)
from changeover.units import Quantity


def _var_name(name: str) -> str:
    if not ENV_NAME.fullmatch(name):
        raise ValueError(
            f"invalid environment variable name {name!r}; expected letters, digits and _, "
            "not starting with a digit"
        )
    return name


VarName = Annotated[str, AfterValidator(_var_name)]


class App(StrictModel):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=63)
    command: CommandLine
    replicas: int = Field(default=1, ge=1, le=256)
    workdir: str = "."
    env: dict[str, str] = Field(default_factory=dict)
    # relative to the spec file; read by the agent at deploy, and for secrets at each start
    env_file: str | None = Field(default=None, min_length=1)
    # values never stored nor shown: a digest stands for each (docs/spec.md, "Secrets")
    secret_env: list[VarName] = Field(default_factory=list)

    @field_validator("env")
    @classmethod
    def _env_names(cls, env: dict[str, str]) -> dict[str, str]:
        for key in env:
            if not ENV_NAME.fullmatch(key):
                raise ValueError(f"invalid environment variable name {key!r}")
        return env

    @field_validator("secret_env")
    @classmethod
    def _once(cls, names: list[str]) -> list[str]:
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"listed more than once: {', '.join(twice)}")
        return names


# the haproxy engine logs every response below about 500 a second, 500 a second above
# (haproxy/sampling.py); an integer N: one in N, whatever the traffic
LOG_SAMPLE: Literal["auto"] = "auto"
MAX_LOG_SAMPLE = 1_000_000


class TlsFiles(StrictModel):
    """`[proxy] tls`: PEM files, relative to the spec file's folder (changeover.tlsfiles)."""

    cert: str = Field(min_length=1)  # the certificate chain, leaf first
    key: str = Field(min_length=1)  # its private key, unencrypted, mode 0600


class ProxySettings(StrictModel):
    listen: Address = "127.0.0.1:8080"
    # the data plane: changeover's own proxy, or HAProxy driven through its runtime API
    # (docs/haproxy.md); spec.rules.engine_lacks says what a spec uses that one lacks
    engine: Literal["builtin", "haproxy"] = "builtin"
    connect_timeout: Duration = 5.0
    header_timeout: Duration = 10.0
    idle_timeout: Duration = 60.0
    response_timeout: Duration = 60.0
    upstream_idle_timeout: Duration = 1.0
    write_timeout: Duration = 30.0
    # 16 KiB: as Node.js and h11 (uvicorn), HAProxy 15 KiB; the haproxy engine sizes its
    # buffers from it (bigger heads cost every request there: docs/benchmarks.md)
    max_header_size: int = Field(default=16384, ge=1024, le=1048576)
    # strict: a TOML integer, not 100.0 or "100" (HAProxy's own default limit is 101)
    max_headers: int = Field(default=100, ge=1, strict=True)
    # the haproxy engine logs 1 response of a replica in this many for latencies (counts
    # come from HAProxy's stats, whatever it is), or "auto"; no effect on the builtin
    # proxy, which measures every request (docs/spec.md: its cost and what analysis does
    # with few)
    log_sample: int | Literal["auto"] = LOG_SAMPLE
    # HAProxy's nbthread on the haproxy engine; None: the CPUs the agent may run on (at
    # most 64). On a host whose replicas share those CPUs fewer can be faster
    # (docs/benchmarks.md); no effect on the builtin proxy, one thread by design
    threads: int | None = Field(default=None, ge=1, le=64, strict=True)
    # one JSON line per request in <state dir>/logs/access.log (docs/spec.md)
    access_log: bool = False
    access_log_query: bool = False  # query strings in its paths: they may hold secrets
    # TLS termination on the public listener, reloaded when the files change (docs/spec.md)
    tls: TlsFiles | None = None
    # peers (a load balancer) whose X-Forwarded-Proto and X-Forwarded-Host reach the
    # replicas as they sent them; anyone else's are overwritten (docs/spec.md)
    trusted_proxies: list[Network] = Field(default_factory=list)

    @field_validator("access_log", "access_log_query", mode="before")
    @classmethod
    def _boolean(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, bool):
            return value
        where = " (the log is logs/access.log in the state directory)"
        hint = where if info.field_name == "access_log" else ""
        raise ValueError(f"expected true or false{hint}, got {value!r}")

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _list_of_networks(cls, value: Any) -> Any:
        if isinstance(value, list):
            return value
        raise ValueError(f'expected a list such as ["10.0.0.0/8", "::1"], got {value!r}')

    @field_validator("log_sample", mode="before")
    @classmethod
    def _log_sample(cls, value: Any) -> Any:
        if value == "auto" and isinstance(value, str):
            return value
        if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_LOG_SAMPLE:
            return value
        shown = str(value).lower() if isinstance(value, bool) else repr(value)  # as TOML
        raise ValueError(
            f'expected "auto" or an integer from 1 to {MAX_LOG_SAMPLE} (log 1 response in N), '
            f"got {shown}"
        )

    @field_validator(
        "connect_timeout",
        "header_timeout",
        "idle_timeout",
        "response_timeout",
        "upstream_idle_timeout",
        "write_timeout",
    )
    @classmethod
    def _positive(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("must be greater than 0s")
        return value


class Probe(StrictModel):
    path: str = Field(pattern=r"^/", description="request path, starting with /")
    period: Duration = 1.0
    timeout: Duration = 1.0
    initial_delay: Duration = 0.0
    success_threshold: int = Field(default=1, ge=1)
    failure_threshold: int = Field(default=3, ge=1)

    @field_validator("period", "timeout")
    @classmethod
    def _positive(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("must be greater than 0s")
        return value


class Probes(StrictModel):
    startup: Probe | None = None
    readiness: Probe | None = None
    liveness: Probe | None = None

    @field_validator("startup", "liveness")
    @classmethod
    def _once(cls, probe: Probe | None) -> Probe | None:
        # Kubernetes rule: a startup or liveness probe "succeeds" once, by definition.
        if probe is not None and probe.success_threshold != 1:
            raise ValueError("success_threshold must be 1 for startup and liveness probes")
        return probe


class Termination(StrictModel):
    drain_timeout: Duration = 30.0
    pre_stop: str = ""
    stop_signal: SignalName = "SIGTERM"
    grace_period: Duration = 30.0


_STICKY = re.compile(r"(cookie|header):[!#$%&'*+.^_`|~0-9A-Za-z-]+")


class CanaryScale(StrictModel):
    replicas: int | None = Field(default=None, ge=0)
    weight: int | None = Field(default=None, ge=0, le=100)
    match_traffic_weight: bool = False


class HeaderRoute(StrictModel):
    header: str = Field(min_length=1)
    value: str | None = None
    prefix: str | None = None
    regex: str | None = None


class Step(StrictModel):
    """One canary step: exactly one of its keys is set."""

    set_weight: int | None = Field(default=None, ge=0, le=100)
    pause: Duration | dict[str, str] | None = None
    analysis: str | None = None
    set_canary_scale: CanaryScale | None = None
    set_header_route: HeaderRoute | None = None

    @field_validator("pause")
    @classmethod
    def _pause_form(cls, value: float | dict[str, str] | None) -> float | dict[str, str] | None:
        if isinstance(value, dict) and value:
            raise ValueError('expected a duration like "30s", or {} to wait for promote')
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> Step:
        keys = [k for k in type(self).model_fields if getattr(self, k) is not None]
        if len(keys) != 1:
            expected = ", ".join(type(self).model_fields)
            got = ", ".join(keys) or "nothing"
            raise ValueError(f"a step needs exactly one of {expected}; got {got}")
        return self


class Strategy(StrictModel):
    type: StrategyName = StrategyName.ROLLING
    max_surge: QuantityField = Quantity(1)
    max_unavailable: QuantityField = Quantity(0)
    min_ready: Duration = 0.0
    progress_deadline: Duration = 300.0
    # how long a rollback waits for the stable revision to be back; None: progress_deadline
    rollback_deadline: Duration | None = None
    steps: list[Step] = Field(default_factory=list)
    background_analysis: str | None = None
    sticky: str | None = None
    auto_promote: bool = True
    auto_promote_delay: Duration = 0.0
    scale_down_delay: Duration = 30.0
    pre_promotion_analysis: str | None = None
    post_promotion_analysis: str | None = None
    preview_listen: Address | None = None

    @field_validator("rollback_deadline")
    @classmethod
    def _positive(cls, value: float | None) -> float | None:
        if value is not None and value <= 0:
            raise ValueError("must be greater than 0s (the stable revision needs time to start)")
        return value

    @field_validator("sticky")
    @classmethod
    def _sticky(cls, value: str | None) -> str | None:
        if value is not None and not _STICKY.fullmatch(value):
            raise ValueError(f'expected "cookie:NAME" or "header:NAME", got {value!r}')
        return value


class Metric(StrictModel):
    name: str = Field(min_length=1)
    provider: Literal["builtin", "prometheus", "web", "command"]
    query: str | None = None
    address: str | None = None
    url: str | None = None
    json_path: str | None = None
    command: str | None = None
    min: float | Duration | None = None
    max: float | Duration | None = None
    min_requests: int | None = Field(default=None, ge=0)
    # latency ratios: both latencies are raised to this floor first, so that 0.6ms against
    # 4ms (noise on an idle machine) is not a regression; only latency_*_ratio reads it
    floor: Duration | None = None


class AnalysisTemplate(StrictModel):
    interval: Duration = 10.0
    count: int = Field(default=1, ge=1)
    initial_delay: Duration = 0.0
    failure_limit: int = Field(default=0, ge=0)
    inconclusive_limit: int = Field(default=0, ge=0)
    consecutive_error_limit: int = Field(default=4, ge=0)
    metrics: list[Metric] = Field(min_length=1)


NotifyEvent = Literal[
    "started",
    "step",
    "paused",
    "promoted",
    "guarding",
    "aborted",
    "rolled-back",
    "succeeded",
    "failed",
    "alert",
]
NOTIFY_EVENTS: tuple[str, ...] = get_args(NotifyEvent)


class Notify(StrictModel):
    """Where rollout events are sent: a webhook (JSON POST) and/or a shell command."""

    webhook: str | None = None
    command: str | None = Field(default=None, min_length=1)
    events: list[NotifyEvent] = Field(
        default_factory=lambda: cast(list[NotifyEvent], list(NOTIFY_EVENTS))
    )
    timeout: Duration = 5.0

    @field_validator("webhook")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(f"expected an http:// or https:// URL, got {value!r}")
        return value


_SIZE_UNITS = {"": 1, "B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3}
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(B|KB|MB|GB)?\s*", re.IGNORECASE)
SIZE_HINT = 'a number of bytes, or a size like "512KB", "10MB" or "1GB" (1KB = 1024 bytes)'


def parse_size(raw: Any) -> int:
    """Bytes in `raw` (an int, or a string with an optional B/KB/MB/GB unit); at least 1."""
    if isinstance(raw, int) and not isinstance(raw, bool):
        size = raw
    elif isinstance(raw, str) and (m := _SIZE.fullmatch(raw)):
        size = int(float(m.group(1)) * _SIZE_UNITS[(m.group(2) or "").upper()])
    else:
        raise ValueError(f"expected {SIZE_HINT}, got {raw!r}")
    if size < 1:
        raise ValueError(f"expected a size of at least 1 byte, got {raw!r}")
    return size


ByteSize = Annotated[int, BeforeValidator(parse_size)]


class LogSettings(StrictModel):
    """Replica log files: rotated by size, removed a while after their replica is gone."""

    max_size: ByteSize = 10 * 1024**2
    keep: int = Field(default=3, ge=0, le=1000)
    retain_stopped: Duration = 7 * 86400.0


class EventSettings(StrictModel):
    keep: int = Field(default=100_000, ge=1)


class FlagsSettings(StrictModel):
    """The `[flags]` section: an optional TCP listener serving the flag document to other
    services, with the bearer token they must send (read at agent start)."""

    listen: Address | None = None
    # relative to the spec file; checked (exists, 0600, not empty) when the agent starts
    token_file: str | None = Field(default=None, min_length=1, validate_default=True)

    @field_validator("token_file")
    @classmethod
    def _required_with_listen(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None and info.data.get("listen") is not None:
            raise ValueError(
                "required when listen is set: a file (mode 0600) holding the token "
                "clients send as `Authorization: Bearer <token>`"
            )
        return value


class OpsSettings(StrictModel):
    """The `[ops]` section: the operator listener (Prometheus' `GET /metrics`, and
    Alertmanager's webhook `POST /v1/alerts` behind a bearer token)."""

    listen: Address | None = None
    # relative to the spec file; without it the listener serves /metrics only
    token_file: str | None = Field(default=None, min_length=1)


_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


def _label_names(labels: dict[str, str]) -> dict[str, str]:
    for name in labels:
        if not _LABEL_NAME.fullmatch(name) or name.startswith("__"):
            raise ValueError(
                f"invalid label name {name!r}; expected a Prometheus label name "
                "(letters, digits and _, not starting with a digit or __)"
            )
    return labels


class GuardSettings(StrictModel):
    """The `[guard]` section: a window after every rollout in which a failure rolls back
    (an analysis, a firing alert), and the labels that make an alert this service's."""

    window: Duration | None = None
    analysis: str | None = None  # an [analysis.NAME] run over the window
    # an alert whose labels hold all of these is this service's; default: the service's
    # name (and environment) as `changeover alerts rules` labels its alerts
    alert_labels: Annotated[dict[str, str], AfterValidator(_label_names)] = Field(
        default_factory=dict
    )

    @field_validator("window")
    @classmethod
    def _positive(cls, value: float | None) -> float | None:
        if value is not None and value <= 0:
            raise ValueError("must be greater than 0s (leave it out for no guard window)")
        return value


class ControlSettings(StrictModel):
    """`[control]`: who may use the agent's control socket besides its owner."""

    # the socket is 0660 for this group (its folder 0710), else 0600: members act as
    # themselves (SO_PEERCRED), so approvals and events name them
    group: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_.-]{0,31}$")


class Spec(StrictModel):
    app: App
    proxy: ProxySettings = ProxySettings()
    probes: Probes = Probes()
    termination: Termination = Termination()
    strategy: Strategy = Strategy()
    releases: ReleaseSettings = ReleaseSettings()
    analysis: dict[str, AnalysisTemplate] = Field(default_factory=dict)
    notify: Notify = Notify()
    logs: LogSettings = LogSettings()
    events: EventSettings = EventSettings()
    flags: FlagsSettings = FlagsSettings()
    ops: OpsSettings = OpsSettings()
    guard: GuardSettings = GuardSettings()
    control: ControlSettings = ControlSettings()
    migrations: MigrationSettings = MigrationSettings()
    environments: dict[EnvName, EnvironmentSettings] = Field(default_factory=dict)
