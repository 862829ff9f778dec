"""What commands do differently for an environment on another host: `up --detach` and
`down` run there, over ssh, with their output streamed here; `deploy` names the host's
folders (this one is not there).

Invariant: a command run on the host exits with its own code, except when ssh could not
run it (ssh's 255: unreachable host, refused key) or the host has no such program (the
shell's 126/127): those exit 3 (the agent could not be reached), naming the host and the
command after ssh's own message; Ctrl-C exits 130, saying the command may go on there.
"""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path
from typing import Any

from changeover.cli.common import BAD_INPUT, INTERRUPTED, UNREACHABLE, err, fail
from changeover.cli.ssh import REMOTE_VAR, SSH_VAR, Remote

SSH_FAILED = 255  # ssh's exit code for its own errors
NOT_RUNNABLE = (126, 127)  # the remote shell found no program to run


def run_on_host(remote: Remote, *args: str) -> int:
    """`changeover -E ENV ARGS` in the service folder on the host; its exit code."""
    argv = remote.command(*args)
    err.print(f"on {remote.host.url}: {remote.line(*args)}", markup=False, soft_wrap=True)
    try:
        code = subprocess.run(argv, stdin=subprocess.DEVNULL, check=False).returncode
    except OSError as exc:
        fail(UNREACHABLE, f"cannot run ssh ({argv[0]}): {exc.strerror or exc}", _set(SSH_VAR))
    except KeyboardInterrupt:
        fail(INTERRUPTED, f"interrupted; on {remote.host.url} the command may go on")
    if code == SSH_FAILED:
        fail(
            UNREACHABLE,
            f"ssh could not reach {remote.host.url} (its message is above)",
            f"command: {shlex.join(argv)}",
        )
    if code in NOT_RUNNABLE:
        fail(
            UNREACHABLE,
            f"{remote.host.url} could not run {shlex.join(remote.program)} (exit {code}; the "
            f"shell's message is above)",
            f"command: {shlex.join(argv)}",
            _set(REMOTE_VAR),
        )
    return code


def deploy_on_host(
    remote: Remote, body: dict[str, Any], spec: Path, path: Path | None, env_file: Path | None
) -> dict[str, Any]:
    """The deploy request for the agent on the host, whose folders are that host's:
    `--path` (required) and `--env-file` relative to the service folder there."""
    if path is None:
        fail(
            BAD_INPUT,
            f"{remote}: deploy needs --path naming the release's folder on that host "
            "(this folder is not there)",
            "or ship a release built here with "
            f"`changeover release promote VERSION --to {remote.environment}`",
        )
    return body | {
        "spec_path": remote.on_host(spec.name),
        "path": remote.on_host(path),
        "env_file": remote.on_host(env_file) if env_file else None,
    }


def _set(var: str) -> str:
    return f"set ${var} to choose another program"
