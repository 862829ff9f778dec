"""Promotions through a real `Agent` (its store, artifacts and control API; no replica
runs): a held artifact is deployed with its own spec merged with the agent's environment,
secrets read from the host; who asked is the account on the control socket; refusals
record nothing; a rollback returns to the release that ran before."""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from changeover.agent.core import BadRequest, Busy
from changeover.agent.promotions import PromotionRequest
from changeover.agent.secret_env import digest, load_key
from changeover.cli.client import AgentClient, Refused
from tests.helpers import bounded, wait_for
from tests.io.agent._releases import (
    ASKER,
    SECRET,
    SPEC,
    Setup,
    release_tree,
    serve_and_call,
    staging_agent,
)

T = TypeVar("T")


def ask(version: str, sha: str) -> PromotionRequest:
    """A promotion to staging, from dev as the host's spec says."""
    return PromotionRequest(version=version, sha256=sha, from_environment="dev")


def body_of(version: str, sha: str) -> dict[str, Any]:
    return {"version": version, "sha256": sha, "from_environment": "dev"}


def scenario(tmp_path: Path, steps: Callable[[Setup], Awaitable[T]]) -> T:
    async def main() -> T:
        async with staging_agent(tmp_path) as setup:
            return await steps(setup)

    return bounded(main())


def test_a_promotion_deploys_the_artifact_with_the_environments_spec(tmp_path: Path) -> None:
    async def steps(s: Setup) -> dict[str, Any]:
        sha = await s.hold("1.0.0")
        request = ask("1.0.0", sha)
        s.agent.pending_reload = ["proxy.max_header_size"]  # an earlier deploy's note
        done = await s.agent.promote(request, ASKER)
        rollout, promotion = done.rollout, done.promotion
        assert rollout is not None
        return {
            "pending": s.agent.pending_reload,
            "sha": sha,
            "rollout": rollout,
            "promotion": promotion,
            "revision": s.store.revision(rollout.to_revision),
            "events": [(e.kind, e.rollout_id, e.message) for e in s.store.events()],
            "key": load_key(s.agent.paths.digest_key),
            "held": s.agent.artifacts.held("1.0.0"),
        }

    got = scenario(tmp_path, steps)
    rollout, promotion, revision = got["rollout"], got["promotion"], got["revision"]
    assert (rollout.strategy, rollout.from_revision) == ("blue-green", 1)  # staging's strategy
    assert revision.version == "1.0.0"
    assert revision.path == str(got["held"].path)  # the unpacked artifact, not the host folder
    assert revision.replicas == 1  # the staging overlay, from the artifact's own spec
    assert revision.env["HELLO_VERSION"] == "1.0.0"  # the artifact's spec, not the host's
    assert revision.env["DATABASE_URL"] == digest(got["key"], SECRET)  # the host's .env
    assert revision.secret_sources == {"DATABASE_URL": str(tmp_path / "host" / ".env")}
    assert (promotion.requested_by, promotion.requested_uid) == (ASKER.account, 65534)
    assert (promotion.version, promotion.sha256, promotion.kind) == ("1.0.0", got["sha"], "promote")
    assert (promotion.environment, promotion.from_environment) == ("staging", "dev")
    assert (promotion.revision, promotion.rollout_id, promotion.phase) == (
        revision.id, rollout.id, "progressing",
    )  # fmt: skip
    short = got["sha"][:12]
    who = ASKER.account
    message = f"promotion of 1.0.0 (sha256 {short}) from dev, asked by {who}: rollout {rollout.id}"
    assert ("promotion", rollout.id, message) in got["events"]
    # what is pending is the promoted spec's (none: it has the host's start-only keys)
    assert got["pending"] == []


def test_refused_promotions_record_nothing(tmp_path: Path) -> None:
    async def steps(s: Setup) -> dict[str, Any]:
        sha = await s.hold("1.0.0")
        no_env = await s.hold("0.9.0", spec=SPEC.split("[environments.staging]")[0])
        refusals = {}
        for name, request in {
            "unknown": PromotionRequest(version="2.0.0", sha256=sha),
            "other digest": PromotionRequest(version="1.0.0", sha256="0" * 64),
            "no such environment": ask("0.9.0", no_env),
            "another source": PromotionRequest(version="1.0.0", sha256=sha),
        }.items():
            with pytest.raises(BadRequest) as refused:
                await s.agent.promote(request, ASKER)
            refusals[name] = refused.value.lines
        revisions = len(s.store.revisions())
        await s.agent.promote(ask("1.0.0", sha), ASKER)
        with pytest.raises(Busy):
            await s.agent.promote(ask("1.0.0", sha), ASKER)
        return {
            "refusals": refusals,
            "revisions": (revisions, len(s.store.revisions())),
            "promotions": [p.version for p in s.store.promotions()],
        }

    got = scenario(tmp_path, steps)
    refusals = got["refusals"]
    assert refusals["unknown"][0].startswith("release 2.0.0 is not held by this agent")
    assert "is held here with sha256" in refusals["other digest"][0]
    assert "unknown environment 'staging'" in refusals["no such environment"][0]
    assert refusals["another source"][0] == (
        "environment staging promotes from dev in this host's spec, not from the build: "
        "nothing changed"
    )
    assert got["revisions"] == (1, 2)  # refusals created no revision; the promotion one
    assert got["promotions"] == ["1.0.0"]  # the promotion refused as busy is not on record


def test_a_rollback_returns_to_the_release_that_ran_before(tmp_path: Path) -> None:
    async def steps(s: Setup) -> list[Any]:
        with pytest.raises(BadRequest) as nothing:
            await s.agent.rollback_release(ASKER)
        for version in ("1.0.0", "1.1.0"):
            sha = await s.hold(version)
            await s.agent.promote(ask(version, sha), ASKER)
            s.succeed()
        rollout, promotion = await s.agent.rollback_release(ASKER)
        revision = s.store.revision(rollout.to_revision)
        s.succeed()
        _, toggled = await s.agent.rollback_release(ASKER)
        return [nothing.value.lines[0], promotion, revision, toggled]

    nothing, promotion, revision, toggled = scenario(tmp_path, steps)
    assert nothing.startswith("no earlier release to roll back to: environment staging")
    assert (promotion.kind, promotion.version, promotion.from_environment) == (
        "rollback", "1.0.0", None,
    )  # fmt: skip
    assert revision.version == "1.0.0"
    assert revision.path.endswith("/releases/1.0.0-" + promotion.sha256[:12])
    assert (toggled.kind, toggled.version) == ("rollback", "1.1.0")


def test_upload_and_promotion_over_the_socket_name_the_connected_account(tmp_path: Path) -> None:
    data = release_tree(tmp_path / "build", "1.0.0")
    sha = hashlib.sha256(data).hexdigest()

    def use(client: AgentClient) -> dict[str, Any]:
        with pytest.raises(Refused) as missing:
            client.get("/v1/artifacts/1.0.0")
        with pytest.raises(Refused) as mismatch:
            client.put("/v1/artifacts/1.0.0", iter([data]), size=len(data), sha256="0" * 64)
        put = client.put("/v1/artifacts/1.0.0", iter([data[:50], data[50:]]), size=len(data),
                         sha256=sha)  # fmt: skip
        again = client.put("/v1/artifacts/1.0.0", iter([data]), size=len(data), sha256=sha)
        held = client.get("/v1/artifacts/1.0.0")
        started = client.post("/v1/promotions", body_of("1.0.0", sha))
        with pytest.raises(Refused) as busy:
            client.post("/v1/promotions", body_of("1.0.0", sha))
        listed = client.get("/v1/promotions", version="1.0.0")
        return {
            "missing": missing.value, "mismatch": mismatch.value, "put": put, "again": again,
            "held": held, "started": started, "busy": busy.value, "listed": listed,
        }  # fmt: skip

    got, events = serve_and_call(tmp_path, use)
    me = pwd.getpwuid(os.getuid()).pw_name
    assert got["missing"].status == 404
    assert got["mismatch"].status == 400
    assert f"the upload's sha256 is {sha}, but {'0' * 64} was declared" in got["mismatch"].lines[0]
    assert (got["put"]["received"], got["again"]["received"]) == (True, False)
    assert got["held"]["sha256"] == sha
    assert any(m.startswith(f"release 1.0.0 received from {me} (sha256") for m in events)
    started = got["started"]
    assert (started["kind"], started["phase"], started["strategy"]) == (
        "deploy", "progressing", "blue-green",
    )  # fmt: skip
    assert started["events_after"] >= 1
    assert started["promotion"]["requested_by"] == me  # SO_PEERCRED, not a field of the body
    assert started["promotion"]["requested_uid"] == os.getuid()
    assert got["busy"].status == 409
    (listed,) = got["listed"]["promotions"]
    assert (listed["outcome"], listed["current"], listed["environment"]) == (
        "progressing", False, "staging",
    )  # fmt: skip
    assert got["listed"]["environment"] == "staging"


def test_an_upload_cut_off_mid_body_keeps_nothing(tmp_path: Path) -> None:
    def use(client: AgentClient) -> int:
        raw = socket.socket(socket.AF_UNIX)
        raw.connect(str(client.paths.control_socket))
        raw.sendall(
            b"PUT /v1/artifacts/1.0.0?sha256=" + b"a" * 64 + b" HTTP/1.1\r\n"
            b"Host: agent\r\nContent-Length: 100000\r\n\r\n" + b"x" * 1000
        )
        raw.close()  # the CLI killed mid-upload

        def cut_off() -> bool:
            found = client.get("/v1/events", after=0)["events"]
            return any("cut off" in e["message"] for e in found)

        wait_for(cut_off, 10, "the agent to see the upload cut off")
        with pytest.raises(Refused) as held:
            client.get("/v1/artifacts/1.0.0")
        return held.value.status

    status, events = serve_and_call(tmp_path, use)
    assert status == 404
    me = pwd.getpwuid(os.getuid()).pw_name
    assert f"upload of release 1.0.0 from {me} cut off: nothing kept" in events
    releases = tmp_path / "state" / "releases"
    assert not (releases / ".incoming").exists()
    assert not list(releases.glob("1.0.0-*"))


def test_a_promotion_whose_client_is_gone_still_starts_with_its_record(tmp_path: Path) -> None:
    data = release_tree(tmp_path / "build", "1.0.0")
    sha = hashlib.sha256(data).hexdigest()

    def use(client: AgentClient) -> dict[str, Any]:
        client.put("/v1/artifacts/1.0.0", iter([data]), size=len(data), sha256=sha)
        body = json.dumps(body_of("1.0.0", sha)).encode()
        raw = socket.socket(socket.AF_UNIX)
        raw.connect(str(client.paths.control_socket))
        raw.sendall(
            b"POST /v1/promotions HTTP/1.1\r\nHost: agent\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        raw.close()  # the CLI killed right after asking

        def started() -> list[dict[str, Any]]:
            found: list[dict[str, Any]] = client.get("/v1/promotions")["promotions"]
            return found

        (promotion,) = wait_for(started, 10, "the promotion to be recorded")
        return {"promotion": promotion, "status": client.get("/v1/status")}

    got, _ = serve_and_call(tmp_path, use)
    promotion, status = got["promotion"], got["status"]
    assert promotion["rollout_id"] == status["rollout"]["id"]  # rolling out, on record
    assert status["rollout"]["finished_at"] is None
    assert status["stable_revision"] == 1  # the old release serves meanwhile


def test_a_promotion_whose_artifact_changes_start_only_keys_names_them(tmp_path: Path) -> None:
    """Pending keys follow what runs: a promoted artifact that changes `[logs]` is noted,
    and the note says that a reload reads the host's file, not the artifact's."""

    async def steps(s: Setup) -> tuple[list[str], str]:
        sha = await s.hold("1.1.0", SPEC + "\n[logs]\nkeep = 7\n")
        done = await s.agent.promote(ask("1.1.0", sha), ASKER)
        assert done.rollout is not None
        notes = [e.message for e in s.store.events() if e.kind == "agent"]
        return list(s.agent.pending_reload), notes[-1]

    pending, note = scenario(tmp_path, steps)
    assert pending == ["logs.keep"]
    assert "logs.keep" in note
    assert f"changeover reload reads {tmp_path / 'host' / 'changeover.toml'}" in note
