"""Secrets end to end, under continuous load (no retries): a replica really gets the
secret's value (the example app echoes HELLO_VERSION as X-Version, so here it stands for
a secret), `--env` refuses it, `history` shows only digests and a new value as a digest
change, a value changed under a running revision is an event and is used at the next
start, `up` after `down` still starts the revision, and nothing in the state directory
but the app's own output holds a value."""

from __future__ import annotations

import json
import os
import signal
import uuid
from pathlib import Path

from changeover.loadgen import BackgroundLoad
from tests.e2e.harness import Service, burst
from tests.helpers import wait_for

SECRET = "HELLO_VERSION"


def secret_service(service: Service, value: str) -> None:
    write_env(service, value)
    service.write_spec()
    text = service.spec.read_text().replace(
        'env = { HELLO_VERSION = "v1" }', f'env_file = ".env"\nsecret_env = ["{SECRET}"]'
    )
    assert "secret_env" in text
    service.spec.write_text(text)


def write_env(service: Service, value: str) -> None:
    dotenv = service.dir / ".env"
    dotenv.write_text(f"# the app's secrets\nexport {SECRET}='{value}'\nLOG_LEVEL=info\n")
    dotenv.chmod(0o600)


def state_bytes(state: Path) -> bytes:
    """Every regular file of the state directory but the replicas' own output."""
    files = [p for p in state.rglob("*") if p.is_file()]
    kept = [p for p in files if not (p.parent.name == "logs" and p.name.startswith("r"))]
    assert any(p.name == "agent.log" for p in kept), sorted(map(str, files))
    return b"".join(p.read_bytes() for p in kept)


def digests(service: Service) -> dict[int, str]:
    doc = json.loads(service.cli("history", "--json").stdout)
    return {r["revision"]: r["env"][SECRET] for r in doc["revisions"]}


def test_secrets_reach_replicas_and_nothing_else(service: Service) -> None:
    first, second, third = (f"s3cr3t-{n}-{uuid.uuid4().hex[:12]}" for n in range(3))
    values = (first, second, third)
    secret_service(service, first)
    url = service.up()
    outputs = []
    with BackgroundLoad(url, rate=300, connections=16, timeout=30, count_header="X-Version") as gen:
        refused = service.cli("deploy", "--version", "v2", "--env", f"{SECRET}={second}")
        write_env(service, second)
        deployed = service.cli("deploy", "--version", "v2")
    outputs += [refused.stdout + refused.stderr, deployed.stdout + deployed.stderr]
    assert refused.returncode == 2
    assert f"--env {SECRET}: {SECRET} is a secret (app.secret_env)" in outputs[0]
    assert deployed.returncode == 0, outputs[1]
    report = gen.report
    assert report.failed == 0, report.summary()
    assert report.ok == report.sent > 0
    assert set(report.header_counts) == {first, second}  # the replicas really got them

    found = digests(service)
    assert found[1].startswith("hmac-sha256:")
    assert found[2].startswith("hmac-sha256:")
    assert found[1] != found[2]  # a new value is a visible change, as a digest
    history = service.cli("history")
    outputs.append(history.stdout)
    assert f"env.{SECRET}:" in " ".join(history.stdout.split())

    # rotated under the running revision: the next start uses it, and says so
    write_env(service, third)
    pid = service.replica_pids()["r2-1"]
    os.kill(pid, signal.SIGKILL)
    event = f"r2-1: secret {SECRET} differs from the value revision 2 was deployed with"
    wait_for(lambda: event in json.dumps(service.status()["events"]), 30, "the secret event")
    wait_for(lambda: third in burst(url, 20).header_counts, 30, "r2-1 serving the new value")

    # a restarted agent starts the revision: the value is read, not stored
    assert service.cli("down").returncode == 0
    url = service.up()
    assert set(burst(url, 40).header_counts) == {third}
    assert digests(service) == found  # the revisions themselves are unchanged

    for args in (("status", "--json"), ("events", "--json", "--lines", "200"), ("history",)):
        result = service.cli(*args)
        assert result.returncode == 0, result.stderr
        outputs.append(result.stdout + result.stderr)
    outputs.append(service.cli("logs", "--agent", "--lines", "1000").stdout)
    raw = state_bytes(service.state)
    assert b"hmac-sha256:" in raw  # the grep reads the database: its digests are there
    for value in values:
        assert value.encode() not in raw, value
        for text in outputs:
            assert value not in text


def test_up_refuses_a_secret_found_nowhere_before_starting_anything(service: Service) -> None:
    secret_service(service, "unused")
    (service.dir / ".env").write_text("OTHER=1\n")
    result = service.cli("up", "--detach")
    assert result.returncode == 2, result.stdout + result.stderr
    assert (
        f"app.secret_env: {SECRET} was found nowhere; looked in {service.dir / '.env'} "
        "(app.env_file), the agent's environment" in result.stderr
    )
    assert "Traceback" not in result.stderr
    assert "never awaited" not in result.stderr  # the agent stopped cleanly
    wait_for(lambda: not service.alive(), 30, "the agent to exit")
