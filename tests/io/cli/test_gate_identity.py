"""Who approves is the account on the control connection, with two real accounts: the
agent's socket is 0660 for `[control] group`, co-alice asks for a promotion through it
and cannot approve it herself, co-bob can, an account not listed cannot; each as the
command line run as that account (setpriv), never an argument naming anyone."""

from __future__ import annotations

import asyncio
import grp
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

from changeover.agent.api import create_app
from changeover.agent.control import ControlServer, bind_control_socket
from changeover.agent.paths import StatePaths
from tests.accounts import Accounts, two_accounts
from tests.helpers import bounded
from tests.io.agent._releases import SPEC, staging_agent


def gated(accounts: Accounts) -> str:
    """Staging needs one approval among the two accounts; its socket is the group's."""
    return (
        SPEC.replace(
            'promote_from = "dev"',
            'promote_from = "dev"\napprovals = 1\n'
            f'approvers = ["{accounts.alice}", "{accounts.bob}"]',
        )
        + f'\n[control]\ngroup = "{accounts.group}"\n'
    )


def as_root(spec: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "changeover", *args],
                          cwd=spec.parent, capture_output=True, text=True, env=env,
                          timeout=120)  # fmt: skip


def test_approvals_name_the_account_the_socket_saw(tmp_path: Path) -> None:
    with two_accounts() as accounts:
        got = bounded(scenario(accounts), guard=300.0)
    socket_mode, folder_mode, socket_gid = got["modes"]
    assert socket_mode == 0o660
    assert folder_mode == 0o710
    assert socket_gid == got["gid"]
    asked = got["asked"]
    assert asked.returncode == 1, asked.stdout + asked.stderr
    assert f"waiting for its gates (on record; nothing rolled out), asked by {accounts.alice}" in (
        asked.stderr
    )
    assert "WAITING approvals: 0 of 1 approval(s): none yet" in asked.stderr
    own = got["own"]
    assert own.returncode == 2, own.stdout + own.stderr
    assert f"{accounts.alice} asked for this promotion and cannot approve it" in own.stderr
    stranger = got["stranger"]
    assert stranger.returncode == 2, stranger.stdout + stranger.stderr
    assert "root is not an approver of this environment" in stranger.stderr
    bob = got["bob"]
    assert bob.returncode == 0, bob.stdout + bob.stderr
    assert "promotion of 1.0.0 to staging approved (promotion #1, now waiting)" in bob.stdout
    assert "ok      approvals: 1 of 1 approval(s): " + accounts.bob in bob.stdout
    (approval,) = got["approvals"]
    assert (approval.by, approval.uid) == (accounts.bob, got["bob_uid"])
    assert got["requested"] == (accounts.alice, got["alice_uid"])


async def scenario(accounts: Accounts) -> dict[str, Any]:
    root = accounts.folder
    state = root / "host" / ".changeover" / "staging"
    async with staging_agent(root, state=state, spec=gated(accounts)) as s:
        spec = s.host / "changeover.toml"
        made = await asyncio.to_thread(as_root, spec, "release", "create", "--version", "1.0.0")
        assert made.returncode == 0, made.stdout + made.stderr
        os.chmod(s.host / ".changeover" / "releases", 0o755)  # alice uploads it
        paths = StatePaths(state)
        sock = bind_control_socket(paths.control_socket, accounts.group)
        server = ControlServer(create_app(s.agent), sock)
        await server.start()
        try:
            modes = (
                stat.S_IMODE(os.stat(paths.control_socket).st_mode),
                stat.S_IMODE(os.stat(state).st_mode),
                os.stat(paths.control_socket).st_gid,
            )

            def run_as(account: str, *args: str) -> subprocess.CompletedProcess[str]:
                argv = [*accounts.changeover(), *args]
                return accounts.run_as(account, argv, cwd=s.host)

            asked = await asyncio.to_thread(run_as, accounts.alice, "release", "promote",
                                            "1.0.0", "--to", "staging")  # fmt: skip
            own = await asyncio.to_thread(run_as, accounts.alice, "release", "approve", "1.0.0",
                                          "--to", "staging")  # fmt: skip
            stranger = await asyncio.to_thread(as_root, spec, "release", "approve", "1.0.0",
                                               "--to", "staging")  # fmt: skip
            bob = await asyncio.to_thread(run_as, accounts.bob, "release", "approve", "1.0.0",
                                          "--to", "staging", "--comment", "checked")  # fmt: skip
        finally:
            await server.stop()
        promotion = s.store.promotions()[0]
        return {
            "modes": modes, "gid": grp.getgrnam(accounts.group).gr_gid, "asked": asked,
            "own": own, "stranger": stranger, "bob": bob,
            "approvals": s.store.approvals(promotion.id),
            "requested": (promotion.requested_by, promotion.requested_uid),
            "alice_uid": _uid(accounts.alice), "bob_uid": _uid(accounts.bob),
        }  # fmt: skip


def _uid(name: str) -> int:
    import pwd

    return pwd.getpwnam(name).pw_uid
