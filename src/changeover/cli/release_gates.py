"""The gates from the command line: the soak evidence a promotion carries, a promotion
waiting for its gates (listed, or waited for with `--wait`), and `release approve |
reject | check`.

Invariant: no command here names who acts: the target agent reads it from the connection
(SO_PEERCRED, over ssh the remote account). The soak evidence is fetched from the source
environment's agent at each request, never made up here; a promotion whose gates are not
met exits 1 listing each unmet gate and what would meet it, and stays on record, waiting.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from changeover.cli.client import AgentClient, Refused
from changeover.cli.common import (
    BAD_INPUT,
    DEFAULT_SPEC,
    FAILED,
    INTERRUPTED,
    Json,
    SpecFile,
    err,
    fail,
    out,
    spec_path,
)
from changeover.cli.release_env import client_for, settings_of, soaks
from changeover.spec.environments import EnvironmentSettings

POLL = 5.0  # seconds between evaluations while waiting (approvals wake it at once)
Version = Annotated[str, typer.Argument(metavar="V", help="The release's version.")]
To = Annotated[str, typer.Option("--to", metavar="ENV", help="The target environment.")]
MARK = {"met": "ok     ", "unmet": "WAITING", "skipped": "SKIPPED"}


# --- evidence --------------------------------------------------------------------------
def fetch_evidence(
    spec_file: Path, settings: EnvironmentSettings, version: str, sha256: str
) -> dict[str, Any] | None:
    """What the source environment's agent says of this release, when the target's soak
    needs it (None otherwise); exit 2 if the release never ran there, 3 if that agent
    cannot be reached."""
    source = settings.promote_from
    if source is None or not soaks(settings):
        return None
    try:
        with client_for(spec_file, source) as client:
            found: dict[str, Any] = client.get(f"/v1/releases/{version}/evidence", sha256=sha256)
    except Refused as exc:
        if exc.status != 404:
            raise
        fail(
            BAD_INPUT,
            f"no soak evidence for release {version} in {source}: {exc.lines[0]}",
            f"`changeover release promote {version} --to {source}` first, then let it soak",
        )
    return found


# --- waiting ---------------------------------------------------------------------------
def gates_lines(gates: list[dict[str, Any]]) -> list[str]:
    lines = []
    for g in gates:
        name = g["gate"] if g.get("item") is None else f"{g['gate']}: {g['item']}"
        lines.append(f"  {MARK.get(g['state'], g['state'])} {name}: {g['summary']}")
        if g["state"] == "unmet" and g.get("needs"):
            lines.append(f"          needs {g['needs']}")
    return lines


def say_waiting(answer: dict[str, Any], environment: str) -> None:
    p = answer["promotion"]
    err.print(
        f"promotion #{p['id']} of {p['version']} to {environment} is waiting for its gates "
        f"(on record; nothing rolled out), asked by {p['requested_by']}:",
        markup=False,
        soft_wrap=True,
    )
    for line in gates_lines(answer["gates"]):
        err.print(line, markup=False, soft_wrap=True)


def promote_through_gates(
    client: AgentClient,
    body: dict[str, Any],
    evidence: Any,
    *,
    wait: bool,
    wait_timeout: float | None,
    json: bool,
    environment: str,
    posted: Callable[[], None] = lambda: None,
) -> dict[str, Any]:
    """Post the promotion (with fresh evidence each time, from `evidence()`); the answer
    once its rollout started. Without `wait`, a promotion left waiting exits 1; with it,
    the gates are evaluated again as events arrive and every `POLL` seconds, until they
    pass or `wait_timeout` is over (exit 1). `posted` is called once the agent answered
    a post (the promotion is on record there, waiting or rolling out)."""
    deadline = None if wait_timeout is None else time.monotonic() + wait_timeout
    said = None
    try:
        while True:
            cursor = _last_event(client)  # what happens from here on wakes the wait
            answer: dict[str, Any] = client.post("/v1/promotions", {**body, "evidence": evidence()})
            posted()
            if not answer.get("waiting"):
                return answer
            summary = [
                (g["gate"], g.get("item"), g["state"], g["summary"]) for g in answer["gates"]
            ]
            if summary != said and not json:
                say_waiting(answer, environment)
                said = summary
            if not wait or (deadline is not None and time.monotonic() >= deadline):
                _give_up(answer, environment, json=json, waited=wait)
            _pause(client, cursor, deadline)
    except KeyboardInterrupt:
        err.print(
            f"stopped waiting: the promotion stays on record in {environment}, waiting; "
            "`changeover release promote` again picks it up",
            soft_wrap=True,
        )
        raise typer.Exit(INTERRUPTED) from None


def _last_event(client: AgentClient) -> int:
    last = client.get("/v1/events", last=1)["events"]
    return int(last[-1]["id"]) if last else 0


def _pause(client: AgentClient, cursor: int, deadline: float | None) -> None:
    """Until an event happens in the target after `cursor` (an approval, a tick, an
    unfreeze), `POLL` seconds pass, or the deadline."""
    left = POLL if deadline is None else max(0.0, min(POLL, deadline - time.monotonic()))
    client.get("/v1/events", after=cursor, wait=left)


def _give_up(answer: dict[str, Any], environment: str, *, json: bool, waited: bool) -> None:
    if json:
        out.print_json(data={"waiting": True, **answer})
    p = answer["promotion"]
    hint = "gave up waiting (--wait-timeout)" if waited else "not promoted"
    err.print(
        f"{hint}: {sum(g['state'] == 'unmet' for g in answer['gates'])} gate(s) unmet in "
        f"{environment}; `changeover release promote {p['version']} --to {environment} "
        "--wait` waits for them",
        markup=False,
        soft_wrap=True,
    )
    raise typer.Exit(FAILED)


# --- approve, reject, check ------------------------------------------------------------
def approve(
    version: Version,
    to: To,
    comment: Annotated[
        str, typer.Option("--comment", metavar="C", help="Why, for the record.")
    ] = "",
    file: SpecFile = DEFAULT_SPEC,
    json: Json = False,
) -> None:
    """Approve the promotion of release V waiting in ENV, as the account the agent sees on
    its connection (never one given here); exit 2 if refused (the requester, an account
    not among the approvers, no promotion waiting)."""
    _verdict("approve", version, to, comment, file, json)


def reject(
    version: Version,
    to: To,
    reason: Annotated[str, typer.Option("--reason", metavar="R", help="Why (required).")],
    file: SpecFile = DEFAULT_SPEC,
    json: Json = False,
) -> None:
    """Reject the promotion of release V waiting in ENV: it waits no more; a new
    `release promote` asks again, approvals starting over."""
    if not reason.strip():
        fail(BAD_INPUT, "--reason: say why the promotion is rejected")
    _verdict("reject", version, to, reason, file, json)


def check(
    version: Version,
    to: To,
    item: Annotated[str, typer.Argument(metavar="ITEM", help="The manual checklist item.")],
    file: SpecFile = DEFAULT_SPEC,
    json: Json = False,
) -> None:
    """Tick the manual checklist item ITEM of the promotion of release V waiting in ENV,
    as the account the agent sees on its connection."""
    spec_file = spec_path(file)
    settings_of(spec_file, to)
    with client_for(spec_file, to) as client:
        answer = client.post(f"/v1/releases/{version}/check", {"item": item})
    _said(answer, json, f"{item!r} ticked for {version} in {to}")


def _verdict(kind: str, version: str, to: str, note: str, file: Path, json: bool) -> None:
    spec_file = spec_path(file)
    settings_of(spec_file, to)
    with client_for(spec_file, to) as client:
        answer = client.post(f"/v1/releases/{version}/{kind}", {"note": note})
    done = "approved" if kind == "approve" else "rejected"
    _said(answer, json, f"promotion of {version} to {to} {done}")


def _said(answer: dict[str, Any], json: bool, what: str) -> None:
    if json:
        out.print_json(data=answer)
        return
    p = answer["promotion"]
    out.print(f"{what} (promotion #{p['id']}, now {p['state']}):", markup=False)
    for line in gates_lines(p.get("gates") or []):
        out.print(line, markup=False, soft_wrap=True)
