"""`changeover migrate status | expand | contract | rollback`: the schema steps by hand.

Invariant: a step runs in the agent (its folder, environment and lock), never in the
CLI; a step the rules refuse changes nothing and exits 2 with the reason, a step whose
command fails exits 1, a step that ran exits 0. The agent records each in its history.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer

from changeover.cli.client import AgentClient
from changeover.cli.common import (
    DEFAULT_SPEC,
    FAILED,
    OK,
    Json,
    SpecFile,
    StateDir,
    out,
    state_paths,
)

app = typer.Typer(no_args_is_help=True, help="Database migrations: expand, contract, rollback.")

Revision = Annotated[
    int | None,
    typer.Option("--revision", metavar="N", min=1, help="The revision whose command runs."),
]


@app.command("status")
def status(file: SpecFile = DEFAULT_SPEC, state_dir: StateDir = None, json: Json = False) -> None:
    """Each revision's schema state, and whether the contract is due."""
    with AgentClient(state_paths(state_dir, file)) as client:
        doc = client.get("/v1/migrations")
    if json:
        out.print_json(data=doc)
        return
    if not doc["configured"] and not doc["revisions"]:
        out.print("no [migrations] in the stable revision's spec; no schema step ever ran")
        return
    stable = doc["stable_revision"]
    if doc["running"]:
        out.print(f"running: {doc['running']}", markup=False)
    waits = doc["contract_waits"]
    if doc["configured"]:
        due = "due now" if waits is None else f"waits: {waits}"
        out.print(f"contract ({doc['contract_when']}) of revision {stable}: {due}", markup=False)
    if doc["rollback_candidate"] is not None:
        out.print(
            f"revision {doc['rollback_candidate']} is expanded but not serving: "
            "`changeover migrate rollback` undoes its expand",
            markup=False,
        )
    for r in doc["revisions"]:
        out.print(line(r, stable), markup=False, soft_wrap=True)


def line(r: dict[str, Any], stable: int | None) -> str:
    mark = "*" if r["revision"] == stable else " "
    at = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r["at"]))
    end = "" if r["exit_code"] is None else f" exit {r['exit_code']}"
    detail = f": {r['detail']}" if r["state"].endswith("failed") else ""
    schema = f" [{r['schema']}]" if r["schema"] else ""
    return (
        f"{mark} revision {r['revision']} ({r['version']}): {r['state']} "
        f"({r['step']}{end} at {at}){schema}{detail}"
    )


def _step(step: str, revision: int | None, file: Path, state_dir: Path | None, json: bool) -> None:
    with AgentClient(state_paths(state_dir, file)) as client:
        answer = client.post_waiting(f"/v1/migrations/{step}", {"revision": revision})
    if json:
        out.print_json(data=answer)
    else:
        colour = "green" if answer["ok"] else "red"
        out.print(f"[{colour}]{answer['message']}[/{colour}]", soft_wrap=True)
    raise typer.Exit(OK if answer["ok"] else FAILED)


@app.command("expand")
def expand(
    revision: Revision = None,
    file: SpecFile = DEFAULT_SPEC,
    state_dir: StateDir = None,
    json: Json = False,
) -> None:
    """Run the expand of the stable revision (or --revision N) now."""
    _step("expand", revision, file, state_dir, json)


@app.command("contract")
def contract(file: SpecFile = DEFAULT_SPEC, state_dir: StateDir = None, json: Json = False) -> None:
    """Run the stable revision's contract now, if no older code can run again."""
    _step("contract", None, file, state_dir, json)


@app.command("rollback")
def rollback(
    revision: Revision = None,
    file: SpecFile = DEFAULT_SPEC,
    state_dir: StateDir = None,
    json: Json = False,
) -> None:
    """Undo the expand of a revision newer than the stable one that no longer runs
    (default: the newest such)."""
    _step("rollback", revision, file, state_dir, json)
