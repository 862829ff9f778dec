"""The gates through a real `Agent` (store, artifacts, checklist commands; no replica
runs): a promotion whose gates are unmet is recorded waiting and nothing rolls out; who
approves is the connection's account, never the requester; a rejection ends the waiting;
freezes, checklist commands that fail or hang; the soak evidence of a release that ran;
a hotfix is what its artifact says."""

from __future__ import annotations

import hashlib
import io
import os
import pwd
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import psutil
import pytest

from changeover.agent.artifact_format import HOTFIX_MARK, RELEASE_MARK, entry_for, pack
from changeover.agent.core import BadRequest
from changeover.agent.peer import Peer
from changeover.agent.promotions import PromotionRequest
from changeover.cli.client import AgentClient, Refused
from tests.helpers import bounded
from tests.io.agent._releases import ASKER, SPEC, Setup, serve_and_call, staging_agent

T = TypeVar("T")
BOB = Peer(pid=2, uid=0, gid=0)  # another account than ASKER's
GATED = SPEC.replace(  # SPEC is a format string: its braces are doubled
    'promote_from = "dev"',
    """promote_from = "dev"
approvals = 1
checklist = [{{ name = "backup taken", command = "CHECK", timeout = "1s" }},
             {{ name = "support told", manual = true }}]
hotfix_skips = ["checklist"]""",
)


def gated(check: str = "test -f app.py") -> str:
    return GATED.replace("CHECK", check)


def run(tmp_path: Path, spec: str, steps: Callable[[Setup], Awaitable[T]]) -> T:
    async def main() -> T:
        async with staging_agent(tmp_path, spec=spec) as setup:
            return await steps(setup)

    return bounded(main(), guard=30.0)


def ask(version: str, sha: str, **more: Any) -> PromotionRequest:
    return PromotionRequest(version=version, sha256=sha, from_environment="dev", **more)


def test_unmet_gates_record_a_waiting_promotion_that_an_approval_and_a_tick_let_through(
    tmp_path: Path,
) -> None:
    async def steps(s: Setup) -> dict[str, Any]:
        sha = await s.hold("1.0.0")
        first = await s.agent.promote(ask("1.0.0", sha), ASKER)
        again = await s.agent.promote(ask("1.0.0", sha), BOB)  # asking again: the same one
        with pytest.raises(BadRequest) as own:
            s.agent.gatekeeper.verdict("1.0.0", "approve", "", ASKER)
        approvals_after_own = len(s.store.approvals(first.promotion.id))
        s.agent.gatekeeper.verdict("1.0.0", "approve", "looks fine", BOB)
        with pytest.raises(BadRequest) as twice:
            s.agent.gatekeeper.verdict("1.0.0", "approve", "", BOB)
        still = await s.agent.promote(ask("1.0.0", sha), ASKER)
        s.agent.gatekeeper.tick("1.0.0", "support told", BOB)
        done = await s.agent.promote(ask("1.0.0", sha), ASKER)
        return {
            "first": first, "again": again, "own": own.value.lines, "twice": twice.value.lines,
            "approvals_after_own": approvals_after_own, "still": still, "done": done,
            "events": [e.message for e in s.store.events() if e.kind == "gate"],
            "revisions": len(s.store.revisions()),
        }  # fmt: skip

    got = run(tmp_path, gated(), steps)
    first, again, still, done = got["first"], got["again"], got["still"], got["done"]
    assert first.rollout is None
    assert first.promotion.state == "waiting"
    unmet = {g.name: g.needs for g in first.gates if g.state == "unmet"}
    assert set(unmet) == {"approvals", "checklist: backup taken", "checklist: support told"}
    assert unmet["checklist: support told"] == (
        '`changeover release check 1.0.0 --to staging "support told"`'
    )
    assert again.promotion.id == first.promotion.id
    assert again.promotion.requested_by == ASKER.account  # the first requester stays
    assert "asked for this promotion and cannot approve it" in got["own"][0]
    assert got["approvals_after_own"] == 0  # refused: nothing recorded
    assert "approved promotion #1 already" in got["twice"][0]
    assert still.rollout is None
    assert [g.name for g in still.gates if g.state == "unmet"] == [
        "checklist: backup taken", "checklist: support told",
    ]  # fmt: skip
    assert done.rollout is not None  # the command ran once everything else was met
    assert done.promotion.state == "started"
    command = next(g for g in done.gates if g.item == "backup taken")
    assert (command.state, command.summary) == ("met", "`test -f app.py` passed (exit 0)")
    events = got["events"]
    assert f"promotion #1 of 1.0.0 approved by {BOB.account} (looks fine)" in events
    assert f"checklist of promotion #1 (1.0.0): 'support told' ticked by {BOB.account}" in events
    assert any(e.startswith("promotion #1 of 1.0.0: approvals met") for e in events)
    assert got["revisions"] == 2  # one rollout, when the gates passed


def test_a_rejection_ends_the_waiting_until_a_new_request(tmp_path: Path) -> None:
    async def steps(s: Setup) -> dict[str, Any]:
        sha = await s.hold("1.0.0")
        first = await s.agent.promote(ask("1.0.0", sha), ASKER)
        rejected = s.agent.gatekeeper.verdict("1.0.0", "reject", "not on a Friday", BOB)
        with pytest.raises(BadRequest) as late:
            s.agent.gatekeeper.verdict("1.0.0", "approve", "", BOB)
        with pytest.raises(BadRequest) as tick:
            s.agent.gatekeeper.tick("1.0.0", "support told", BOB)
        second = await s.agent.promote(ask("1.0.0", sha), ASKER)
        return {"first": first, "rejected": rejected, "late": late.value.lines,
                "tick": tick.value.lines, "second": second}  # fmt: skip

    got = run(tmp_path, gated(), steps)
    assert got["rejected"].state == "rejected"
    assert got["late"][0] == (
        "no promotion of release 1.0.0 is waiting in environment staging: nothing changed"
    )
    assert got["tick"][0] == got["late"][0]
    second = got["second"].promotion
    assert (second.id, second.state) == (got["first"].promotion.id + 1, "waiting")
    approvals = next(g for g in got["second"].gates if g.gate == "approvals")
    assert approvals.summary == "0 of 1 approval(s): none yet"  # starting over


def test_a_freeze_holds_promotions_until_lifted(tmp_path: Path) -> None:
    async def steps(s: Setup) -> dict[str, Any]:
        sha = await s.hold("1.0.0")
        keeper = s.agent.gatekeeper
        with pytest.raises(BadRequest) as past:
            keeper.freeze(until=1.0, duration=None, reason="oops", peer=BOB)
        freeze = keeper.freeze(until=None, duration=3600.0, reason="release party", peer=BOB)
        frozen = await s.agent.promote(ask("1.0.0", sha), ASKER)
        lifted = keeper.unfreeze(ASKER)
        with pytest.raises(BadRequest) as again:
            keeper.unfreeze(ASKER)
        thawed = await s.agent.promote(ask("1.0.0", sha), ASKER)
        return {"past": past.value.lines, "freeze": freeze, "frozen": frozen, "lifted": lifted,
                "again": again.value.lines, "thawed": thawed,
                "events": [e.message for e in s.store.events() if e.kind == "gate"]}  # fmt: skip

    got = run(tmp_path, SPEC, steps)  # no gate set: freezes hold all the same
    assert "is not in the future" in got["past"][0]
    assert got["freeze"].by == BOB.account
    assert got["frozen"].rollout is None
    (blocked,) = [g for g in got["frozen"].gates if g.state == "unmet"]
    assert blocked.summary.startswith(f"frozen by {BOB.account} until ")
    assert blocked.summary.endswith(": release party")
    assert [f.id for f in got["lifted"]] == [got["freeze"].id]
    assert got["again"][0] == "environment staging is not frozen: nothing changed"
    assert got["thawed"].rollout is not None
    assert any(
        e.startswith(f"environment staging frozen by {BOB.account} until") for e in got["events"]
    )
    assert f"environment staging unfrozen by {ASKER.account}" in got["events"]


@pytest.mark.parametrize(
    ("check", "said"),
    [
        ("echo no backup tonight >&2; exit 3", "exit 3: no backup tonight"),
        ("sleep 30 # gates-test-hang", "timed out after 1s (its processes were killed)"),
    ],
)
def test_a_checklist_command_that_fails_or_hangs_keeps_the_promotion_waiting(
    tmp_path: Path, check: str, said: str
) -> None:
    async def steps(s: Setup) -> Any:
        sha = await s.hold("1.0.0")
        await s.agent.promote(ask("1.0.0", sha), ASKER)
        s.agent.gatekeeper.verdict("1.0.0", "approve", "", BOB)
        s.agent.gatekeeper.tick("1.0.0", "support told", BOB)
        return await s.agent.promote(ask("1.0.0", sha), ASKER)

    got = run(tmp_path, gated(check), steps)
    assert got.rollout is None
    (failed,) = [g for g in got.gates if g.state == "unmet"]
    assert failed.summary == f"`{check}` failed: {said}"
    # this test's own processes: another xdist worker may be running the other case
    hanging = [
        p
        for p in psutil.Process().children(recursive=True)
        if "gates-test-hang" in " ".join(p.cmdline())
    ]
    assert hanging == []  # the timeout killed its process group


def hotfix_artifact(root: Path, version: str) -> bytes:
    root.mkdir(parents=True)
    (root / "changeover.toml").write_text(gated().format(version=version))
    (root / "app.py").write_text("print('hotfix')\n")
    out = io.BytesIO()
    entries = [e for e in (entry_for(root, n) for n in ("app.py", "changeover.toml")) if e]
    pack(root, entries, 0, out, {RELEASE_MARK: HOTFIX_MARK})
    return out.getvalue()


def test_a_hotfix_is_what_its_artifact_says_and_skips_what_is_listed(tmp_path: Path) -> None:
    data = hotfix_artifact(tmp_path / "build", "1.0.1")
    sha = hashlib.sha256(data).hexdigest()

    async def steps(s: Setup) -> dict[str, Any]:
        async def body() -> Any:
            yield data

        held, _ = await s.agent.artifacts.receive("1.0.1", sha, len(data), body())
        with pytest.raises(BadRequest) as denied:
            await s.agent.promote(ask("1.0.1", sha), ASKER)  # says no hotfix: refused
        waiting = await s.agent.promote(ask("1.0.1", sha, hotfix=True), ASKER)
        return {"held": held, "denied": denied.value.lines, "waiting": waiting}

    got = run(tmp_path, gated(), steps)
    assert got["held"].hotfix is True
    assert "is a hotfix by its own artifact" in got["denied"][0]
    states = {g.name: g.state for g in got["waiting"].gates}
    assert states == {
        "approvals": "unmet",  # never skipped unless listed
        "freezes": "met",
        "checklist: backup taken": "skipped",
        "checklist: support told": "skipped",
    }
    assert got["waiting"].promotion.hotfix is True


def test_the_evidence_of_a_release_that_ran_and_of_one_that_did_not(tmp_path: Path) -> None:
    async def steps(s: Setup) -> dict[str, Any]:
        sha = await s.hold("1.0.0")
        with pytest.raises(KeyError) as never:
            s.agent.evidence("1.0.0", sha)
        await s.agent.promote(ask("1.0.0", sha), ASKER)
        s.succeed()
        s.agent.note_soak()
        return {
            "never": never.value.args[0],
            "evidence": s.agent.evidence("1.0.0", sha),
            "sha": sha,
        }

    got = run(tmp_path, SPEC, steps)
    assert got["never"].startswith("release 1.0.0 (sha256 ")
    assert "never ran in environment staging" in got["never"]
    e = got["evidence"]
    assert (e.environment, e.version, e.sha256, e.revision) == ("staging", "1.0.0", got["sha"], 2)
    assert e.stable_since == 9.0  # when its rollout succeeded (the fake end time)
    assert e.stable_until is None
    assert (e.served, e.failed) == (0, 0)  # no replica served here
    # this agent ran the whole rollout to it: what it served then (nothing, here) is known
    assert (e.rollout_served, e.rollout_failed) == (0, 0)


def test_over_the_socket_the_approver_is_the_connected_account(tmp_path: Path) -> None:
    def use(client: AgentClient) -> dict[str, Any]:
        with pytest.raises(Refused) as missing:
            client.get("/v1/releases/1.0.0/evidence", sha256="a" * 64)
        with pytest.raises(Refused) as nothing:
            client.post("/v1/releases/1.0.0/approve", {"note": ""})
        with pytest.raises(Refused) as spoof:
            client.post("/v1/releases/1.0.0/approve", {"note": "", "by": "bob"})
        frozen = client.post("/v1/freezes", {"seconds": 60, "reason": "drill"})
        listed = client.get("/v1/freezes")
        lifted = client.delete("/v1/freezes")
        return {"missing": missing.value, "nothing": nothing.value, "spoof": spoof.value,
                "frozen": frozen, "listed": listed, "lifted": lifted}  # fmt: skip

    got, _ = serve_and_call(tmp_path, use)
    assert got["missing"].status == 404
    assert "never ran in environment staging" in got["missing"].lines[0]
    assert got["nothing"].status == 400
    assert got["nothing"].lines[0].startswith("no promotion of release 1.0.0 is waiting")
    assert got["spoof"].status == 400  # an identity in the body is no field at all
    assert got["spoof"].lines == ["by: Extra inputs are not permitted"]
    me = pwd.getpwuid(os.getuid()).pw_name
    assert got["frozen"]["freeze"]["by"] == me
    assert got["listed"]["freezes"][0]["active"] is True
    assert [f["by"] for f in got["lifted"]["lifted"]] == [me]


def test_a_plain_deploy_to_a_gated_environment_is_refused_and_a_forced_one_says_who(
    tmp_path: Path,
) -> None:
    from changeover.agent.releases import DeployRequest

    async def steps(s: Setup) -> dict[str, Any]:
        spec_path = s.host / "changeover.toml"
        request = DeployRequest(
            version="2.0.0", spec_text=spec_path.read_text(), spec_path=str(spec_path)
        )
        with pytest.raises(BadRequest) as plain:
            await s.agent.deploy(request)
        after_plain = (len(s.store.revisions()), len(s.store.events()))
        forced = request.model_copy(update={"force": True})
        with pytest.raises(BadRequest) as nobody:
            await s.agent.deploy(forced, None)  # no account on the connection: refused
        after_nobody = (len(s.store.revisions()), len(s.store.events()))
        rollout = await s.agent.deploy(forced, BOB)
        gate_events = [e for e in s.store.events() if e.kind == "gate"]
        return {"plain": plain.value.lines, "after_plain": after_plain,
                "nobody": nobody.value.lines, "after_nobody": after_nobody,
                "rollout": rollout, "gate": gate_events,
                "revisions": len(s.store.revisions())}  # fmt: skip

    got = run(tmp_path, gated(), steps)
    assert got["plain"][0] == (
        "environment staging is gated (promotion from dev, 1 approval(s), checklist): "
        "a plain deploy would skip it; nothing changed"
    )
    assert "release promote VERSION --to staging" in got["plain"][1]
    assert got["after_plain"] == (1, 0)  # refused: nothing written
    assert "cannot force a deploy past the gates" in got["nobody"][0]
    assert got["after_nobody"] == (1, 0)
    assert got["revisions"] == 2
    [event] = got["gate"]
    assert event.rollout_id == got["rollout"].id
    assert event.message == (
        f"deploy of 2.0.0 FORCED past the gates of environment staging by {BOB.account}: "
        "skipped promotion from dev, 1 approval(s), checklist"
    )


def test_a_freeze_alone_gates_plain_deploys(tmp_path: Path) -> None:
    ungated = SPEC.replace('promote_from = "dev"\n', "")

    async def steps(s: Setup) -> tuple[list[str], list[str]]:
        before = s.agent.gatekeeper.deploy_bypasses()
        s.agent.gatekeeper.freeze(None, 3600.0, "release party", BOB)
        return before, s.agent.gatekeeper.deploy_bypasses()

    before, frozen = run(tmp_path, ungated, steps)
    assert before == []  # nothing configured: deploys go straight through
    assert frozen == ["a freeze in force"]
