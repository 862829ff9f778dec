"""Secrets through a real `Agent` (its store, events and documents; no replica runs):
`deploy` stores a digest, every document shows only digests, the replica template reads
the value at each start, and a changed value is an event naming digests, never values."""

from __future__ import annotations

import json
import logging
import socket
from pathlib import Path
from typing import Any

import pytest

from changeover.agent.core import Agent, BadRequest
from changeover.agent.paths import StatePaths
from changeover.agent.releases import DeployRequest, release_fields
from changeover.agent.secret_env import digest, load_key
from changeover.agent.status import diff_document, history_document, status_document
from changeover.proxy.server import Proxy
from changeover.spec.load import load_spec
from changeover.store import RevisionStatus, Store
from tests.helpers import bounded

SPEC = """\
[app]
name = "svc"
command = "python -m app"
env_file = ".env"
secret_env = ["DATABASE_URL", "API_TOKEN"]
"""
OLD, NEW, TOKEN = "postgres://app:old-pw-1@db/app", "postgres://app:new-pw-2@db/app", "tok-77"


def write(folder: Path, dotenv: str) -> Path:
    folder.mkdir(exist_ok=True)
    (folder / ".env").write_text(dotenv)
    spec = folder / "svc.toml"
    spec.write_text(SPEC)
    return spec


def deploy_body(spec: Path, version: str, **more: Any) -> DeployRequest:
    return DeployRequest(version=version, spec_text=spec.read_text(), spec_path=str(spec), **more)


async def scenario(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("API_TOKEN", TOKEN)
    spec_path = write(tmp_path / "svc", f"DATABASE_URL={OLD}\nLOG=debug\n")
    paths = StatePaths(tmp_path / "state")
    paths.ensure()
    sock = socket.create_server(("127.0.0.1", 0))
    proxy = Proxy()
    await proxy.serve(sock)
    with Store.open(paths.store) as store:
        agent = Agent(
            paths=paths, spec=load_spec(spec_path), spec_path=spec_path, store=store, proxy=proxy
        )
        first = agent.store.create_revision(**_fields(agent, deploy_body(spec_path, "v1")), now=1.0)
        store.set_revision_status(first.id, RevisionStatus.STABLE)
        template = agent.template(first.id)
        started = template.secrets("r1-1") if template.secrets else {}
        (spec_path.parent / ".env").write_text(f"DATABASE_URL={NEW}\nLOG=debug\n")
        restarted = template.secrets("r1-2") if template.secrets else {}
        with pytest.raises(BadRequest) as refused:
            await agent.deploy(deploy_body(spec_path, "v2", env={"DATABASE_URL": NEW}))
        rollout = await agent.deploy(deploy_body(spec_path, "v2"))
        out = {
            "template_env": template.env,
            "started": started,
            "restarted": restarted,
            "refused": refused.value.lines,
            "analysis_env": agent._release_env(store.revision(rollout.to_revision)),
            "history": history_document(agent),
            "diff": diff_document(agent, first.id, rollout.to_revision),
            "status": status_document(agent),
            "events": [e.message for e in store.events()],
            "key": load_key(paths.digest_key),
        }
        agent.controller.cancel("test over")
        await proxy.shutdown(timeout=1.0)
    return out


def _fields(agent: Agent, request: DeployRequest) -> dict[str, Any]:
    return release_fields(agent.spec, request, agent.digest_key)


@pytest.fixture
def result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> dict[str, Any]:
    caplog.set_level(logging.INFO)
    out = bounded(scenario(tmp_path, monkeypatch))
    out["log"] = caplog.text
    return out


def test_replicas_get_the_current_value_and_templates_hold_none(result: dict[str, Any]) -> None:
    assert result["started"] == {"DATABASE_URL": OLD, "API_TOKEN": TOKEN}
    assert result["restarted"] == {"DATABASE_URL": NEW, "API_TOKEN": TOKEN}
    assert "DATABASE_URL" not in result["template_env"]
    assert "API_TOKEN" not in result["template_env"]  # not even the agent's own copy
    assert result["template_env"]["LOG"] == "debug"
    assert result["analysis_env"]["DATABASE_URL"] == NEW  # analysis commands get it too


def test_a_changed_value_is_an_event_with_digests_only(result: dict[str, Any]) -> None:
    key = result["key"]
    expected = (
        f"r1-2: secret DATABASE_URL differs from the value revision 1 was deployed with "
        f"({digest(key, OLD)} -> {digest(key, NEW)}); starting with the current value "
        "(deploy again to record it)"
    )
    assert expected in result["events"]
    assert expected in result["log"]  # events are the agent's log lines too


def test_documents_show_digests_and_the_change_between_revisions(result: dict[str, Any]) -> None:
    key = result["key"]
    v1, v2 = (digest(key, OLD), digest(key, NEW))
    (second, first) = result["history"]["revisions"]
    assert first["env"] == {"LOG": "debug", "DATABASE_URL": v1, "API_TOKEN": digest(key, TOKEN)}
    assert second["env"]["DATABASE_URL"] == v2
    assert f"env.DATABASE_URL: {v1!r} -> {v2!r}" in second["changes"]
    assert [c["path"] for c in result["diff"]["changes"]] == ["env.DATABASE_URL", "version"]
    assert result["refused"][0].startswith("--env DATABASE_URL: DATABASE_URL is a secret")


def test_no_value_in_any_document_event_or_log_line(result: dict[str, Any]) -> None:
    text = json.dumps({k: v for k, v in result.items() if k not in ("started", "restarted",
                       "analysis_env", "key")})  # fmt: skip
    for value in (OLD, NEW, TOKEN, "old-pw-1", "new-pw-2"):
        assert value not in text
    assert "hmac-sha256:" in text


def test_the_database_file_holds_no_value(tmp_path: Path, result: dict[str, Any]) -> None:
    raw = b"".join(p.read_bytes() for p in (tmp_path / "state").iterdir() if p.is_file())
    for value in (OLD, NEW, TOKEN, "old-pw-1", "new-pw-2"):
        assert value.encode() not in raw
    assert b"hmac-sha256:" in raw  # the digests are there: the grep reads the right bytes
    assert b"postgres" not in raw


def test_the_digest_key_is_private(tmp_path: Path, result: dict[str, Any]) -> None:
    key_file = tmp_path / "state" / "digest.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert bytes.fromhex(key_file.read_text()) == result["key"]
