"""The termination arithmetic: preStop hook, grace period, and the runtime's deadlines.

Invariant: `terminationGracePeriodSeconds >= preStop sleep + pre_stop bound +
drain_timeout + grace_period` for every spec and option (a Hypothesis property in the
tests), with each term rounded up to whole seconds, so the kubelet's SIGKILL never comes
before the sequence the spec allows locally has run its course, and SIGTERM is always at
least `drain_timeout + grace_period` before it (CHANGEOVER_GRACE_PERIOD says that much).

Locally the proxy takes a replica out of routing at once, drains it (at most
`drain_timeout`), then runs `pre_stop`, sends the stop signal and waits `grace_period`
(which also bounds `pre_stop`). In a pod, deletion starts two things at once: the
endpoint's removal, which reaches kube-proxy and the ingress some seconds later, and the
kubelet's preStop hook, after which SIGTERM is sent; the grace period counts from the
deletion. So the hook first sleeps for the endpoint removal to propagate (requests still
arrive meanwhile and are served), then runs `pre_stop`; after SIGTERM the app drains its
own in-flight requests (no proxy counts them) and shuts down.

A user's `pre_stop` runs inside the hook, before SIGTERM, and the kubelet counts its time
against the grace period; so the hook bounds it (`timeout <grace_period>`, as grace_period
bounds it locally) and the grace period gets that bound on top: otherwise a slow pre_stop
would eat into the time the app was promised after SIGTERM.
"""

from __future__ import annotations

import math
import shlex
from dataclasses import dataclass
from typing import Any

from changeover.k8s.options import KubeVersion
from changeover.runtime.config import ConfigError, Timing
from changeover.spec.models import Termination
from changeover.units import format_duration


@dataclass(frozen=True)
class Plan:
    sleep: int  # seconds the preStop hook waits for the endpoint removal
    drain: int  # drain_timeout, rounded up
    grace: int  # grace_period, rounded up
    period: int  # terminationGracePeriodSeconds
    pre_stop: dict[str, Any] | None  # the lifecycle handler, None: no hook
    after_signal: int  # from SIGTERM to SIGKILL, at the least
    drain_env: str | None  # CHANGEOVER_DRAIN_TIMEOUT, when the runtime accepts it
    hook_bound: int = 0  # seconds the user's pre_stop may take in the hook (0: none)

    def arithmetic(self) -> str:
        bound = f" + {self.hook_bound}s pre_stop (at most)" if self.hook_bound else ""
        total = self.sleep + self.hook_bound + self.drain + self.grace
        return (
            f"{self.sleep}s preStop sleep{bound} + {self.drain}s drain_timeout + "
            f"{self.grace}s grace_period = {total}s"
        )


def plan(term: Termination, endpoint_delay: float, version: KubeVersion) -> Plan:
    sleep = math.ceil(endpoint_delay)
    drain, grace = math.ceil(term.drain_timeout), math.ceil(term.grace_period)
    bound = max(1, grace) if term.pre_stop else 0  # `timeout 0` would mean no limit
    # 0 would mean "kill at once" (the API's force delete); one second is the least grace
    period = max(1, sleep + bound + drain + grace)
    after = period - sleep - bound
    return Plan(
        sleep=sleep,
        drain=drain,
        grace=grace,
        period=period,
        pre_stop=_hook(term.pre_stop, sleep, bound, version),
        after_signal=after,
        drain_env=_drain_env(after, term.drain_timeout),
        hook_bound=bound,
    )


def _hook(pre_stop: str, sleep: int, bound: int, version: KubeVersion) -> dict[str, Any] | None:
    if pre_stop:
        bounded = f"timeout {bound} /bin/sh -c {shlex.quote(pre_stop)}"
        script = f"sleep {sleep}; {bounded}" if sleep else bounded
        return {"exec": {"command": ["/bin/sh", "-c", script]}}
    if not sleep:
        return None
    if version.has_sleep_action:
        return {"sleep": {"seconds": sleep}}
    return {"exec": {"command": ["sleep", str(sleep)]}}


def _drain_env(after_signal: int, drain_timeout: float) -> str | None:
    """`drain_timeout` for changeover.runtime, if it fits the deadlines the runtime keeps
    (inside the grace period minus its exit margin); else the runtime's own default."""
    try:
        Timing(grace_period=after_signal, drain_timeout=drain_timeout)
    except ConfigError:
        return None
    return format_duration(drain_timeout)
