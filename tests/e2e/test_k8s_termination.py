"""The termination arithmetic `changeover k8s render` writes, run by the local agent under
load: the rendered preStop hook (the endpoint-removal sleep, then `pre_stop`), the drain
and the grace period, with the values the manifest carries, fail no request.

The agent's sequence differs from a pod's in one place, on purpose: its proxy takes a
replica out of routing at once, so there is no endpoint-removal race to sleep through;
the sleep still runs where the pod runs it, before the stop signal, and must fit the
budget. So the local spec gets `drain_timeout` as rendered and, as its grace period,
what a pod has left once drained: terminationGracePeriodSeconds - drain_timeout (the
sleep, `pre_stop` and the app's own shutdown). A replica that needed SIGKILL, a hook that
did not run, or a failed request fails the test.
"""

from __future__ import annotations

import json
import re

from changeover.loadgen import BackgroundLoad
from tests.e2e.harness import MIX, Service
from tests.helpers import wait_for

PRE_STOP = "touch prestop-$CHANGEOVER_REPLICA"  # proves the hook ran, for each replica


def _with_termination(service: Service, drain: str, grace: str, pre_stop: str) -> None:
    service.write_spec(grace=grace)
    text = service.spec.read_text()
    text = re.sub(r'drain_timeout = "[^"]*"', f'drain_timeout = "{drain}"', text)
    # a TOML basic string: JSON's escapes are TOML's, and the hook's script has quotes
    text = text.replace("[termination]\n", f"[termination]\npre_stop = {json.dumps(pre_stop)}\n")
    service.spec.write_text(text)


def _rendered(service: Service) -> dict[str, object]:
    result = service.cli("k8s", "render", "--json", "--endpoint-delay", "2s")
    assert result.returncode == 0, result.stderr
    termination: dict[str, object] = json.loads(result.stdout)["termination"]
    return termination


def test_the_rendered_termination_values_fail_no_request_under_load(service: Service) -> None:
    _with_termination(service, drain="20s", grace="10s", pre_stop=PRE_STOP)
    plan = _rendered(service)
    hook = plan["pre_stop"]
    assert isinstance(hook, dict)
    script = hook["exec"]["command"][2]
    assert script == f"sleep 2; timeout 10 /bin/sh -c '{PRE_STOP}'"
    period, drain = plan["termination_grace_period_seconds"], plan["drain_timeout"]
    assert (period, drain) == (42, 20)  # 2 s sleep + 10 s pre_stop at most + 20 s + 10 s
    assert isinstance(period, int)
    assert isinstance(drain, int)
    _with_termination(service, drain=f"{drain}s", grace=f"{period - drain}s", pre_stop=script)

    url = service.up()
    old = sorted(service.replica_pids())
    with BackgroundLoad(
        url, rate=300, connections=16, templates=MIX, timeout=30, count_header="X-Version"
    ) as gen:
        result = service.cli("deploy", "--version", "v2", "--env", "HELLO_VERSION=v2")
        assert result.returncode == 0, result.stdout + result.stderr
    report = gen.report
    assert report is not None
    assert report.failed == 0, report.summary()
    assert report.ok == report.sent > 0
    assert set(report.header_counts) == {"v1", "v2"}

    def stopped() -> list[dict[str, object]] | None:
        found = [r for r in service.status()["replicas"] if r["id"] in old]
        return found if all(r["state"] == "exited" for r in found) else None

    replicas = wait_for(stopped, 30, "the old replicas to exit")
    assert not [r for r in replicas if "killed" in str(r["last_error"] or "")], replicas
    for replica in old:  # each stopped replica ran the rendered hook, its sleep first
        assert (service.dir / f"prestop-{replica}").exists(), replica
