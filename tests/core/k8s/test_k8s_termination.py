"""The termination arithmetic: the kubelet's SIGKILL never comes before preStop + drain +
grace, for any spec; the preStop hook is the native sleep where the version has it."""

from __future__ import annotations

import math
import shlex
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from changeover.k8s.options import NEWEST_MINOR, OLDEST_MINOR, KubeVersion, Options
from changeover.k8s.render import render
from changeover.k8s.termination import plan
from changeover.spec.models import Spec, Termination
from changeover.units import format_duration
from tests.core.k8s.kit import example

millis = st.integers(min_value=0, max_value=3_600_000).map(lambda ms: ms / 1000)
versions = st.integers(min_value=OLDEST_MINOR, max_value=NEWEST_MINOR).map(
    lambda minor: KubeVersion(1, minor)
)


def _spec(drain: float, grace: float, pre_stop: str) -> Spec:
    data: dict[str, Any] = {
        "app": {"name": "svc", "command": "uvicorn app:app --fd 3"},
        "termination": {
            "drain_timeout": format_duration(drain),
            "grace_period": format_duration(grace),
            "pre_stop": pre_stop,
        },
    }
    return Spec.model_validate(data)


def _hook_sleep(hook: dict[str, Any] | None) -> float:
    """Seconds the rendered preStop hook sleeps before anything else."""
    if hook is None:
        return 0
    if "sleep" in hook:
        return float(hook["sleep"]["seconds"])
    argv = hook["exec"]["command"]
    if argv[0] == "sleep":
        return float(argv[1])
    script = argv[2]
    return float(script.split(";")[0].removeprefix("sleep ")) if script.startswith("sleep ") else 0


@settings(max_examples=300, deadline=None)
@given(
    drain=millis,
    grace=millis,
    delay=millis,
    pre_stop=st.sampled_from(["", "kill -USR1 1", "curl -X POST localhost:9000/leave"]),
    version=versions,
)
def test_the_grace_period_covers_prestop_drain_and_grace_for_any_spec(
    drain: float, grace: float, delay: float, pre_stop: str, version: KubeVersion
) -> None:
    spec = _spec(drain, grace, pre_stop)
    rendering = render(spec, Options(kube_version=version, endpoint_delay=delay))
    pod = rendering.manifests[0].body["spec"]["template"]["spec"]
    hook = pod["containers"][0].get("lifecycle", {}).get("preStop")
    sleep = _hook_sleep(hook)
    assert sleep >= delay  # the endpoint removal is waited for in full
    period = pod["terminationGracePeriodSeconds"]
    assert isinstance(period, int)
    assert period >= 1
    term = spec.termination
    # a pre_stop may take up to grace_period inside the hook, before SIGTERM
    bound = max(1, math.ceil(term.grace_period)) if pre_stop else 0
    assert period >= sleep + bound + term.drain_timeout + term.grace_period
    env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
    after_signal = period - round(sleep) - bound  # SIGTERM comes this long before SIGKILL
    assert env["CHANGEOVER_GRACE_PERIOD"] == f"{after_signal}s"
    assert after_signal >= term.drain_timeout + term.grace_period
    if pre_stop:
        assert hook is not None
        assert hook["exec"]["command"][:2] == ["/bin/sh", "-c"]
        bounded = f"timeout {bound} /bin/sh -c {shlex.quote(pre_stop)}"
        assert hook["exec"]["command"][2].endswith(bounded)


def test_the_native_sleep_action_from_1_30_an_exec_sleep_before() -> None:
    term = Termination()
    assert plan(term, 5, KubeVersion.parse("1.30")).pre_stop == {"sleep": {"seconds": 5}}
    assert plan(term, 5, KubeVersion.parse("1.37")).pre_stop == {"sleep": {"seconds": 5}}
    old = plan(term, 5, KubeVersion.parse("1.29")).pre_stop
    assert old == {"exec": {"command": ["sleep", "5"]}}


def test_the_example_arithmetic() -> None:
    stop = render(example(), Options()).plan
    assert (stop.sleep, stop.drain, stop.grace, stop.period) == (5, 30, 10, 45)
    assert stop.after_signal == 40
    assert stop.drain_env == "30s"
    assert stop.arithmetic() == ("5s preStop sleep + 30s drain_timeout + 10s grace_period = 45s")


def test_a_drain_the_runtime_could_not_keep_is_left_to_its_default() -> None:
    # 30 s drain and no grace: after SIGTERM the runtime has 30 s and keeps an exit margin
    # of 1 s, so a 30 s drain does not fit; the env var would fail the app's start
    term = Termination.model_validate({"drain_timeout": "30s", "grace_period": "0s"})
    stop = plan(term, 0, KubeVersion.parse("1.30"))
    assert stop.period == 30
    assert stop.drain_env is None
    assert stop.pre_stop is None
