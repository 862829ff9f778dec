"""The top of `status`: the service, the rollout's phase and step, why it is paused and the
command that continues it, its guard window, and how traffic is spread.

Invariant: renders only what the status document holds (docs/cli-json.md): the pause
comes from `rollout.paused`, typed by the agent, never from event text; every
user-supplied string goes through `Text`, never rich markup.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.text import Text

from changeover.rollout.decision import PausedBy
from changeover.spec.startonly import pending_note
from changeover.units import format_duration

PHASE_STYLE = {
    "progressing": "cyan",
    "paused": "yellow",
    "guarding": "blue",
    "rolling-back": "red",
    "succeeded": "green",
    "failed": "red",
    "aborted": "red",
    "interrupted": "magenta",
}
COMMAND_STYLE = "bold"


def lead_parts(doc: dict[str, Any]) -> list[Text]:
    """The service, then the rollout (and why it is paused), then the traffic line."""
    parts = [head_line(doc)]
    tls = doc["agent"].get("tls") or {}
    if tls.get("warning"):  # near or past its end (tlsfiles.expiry)
        parts.append(Text(f"tls: {tls['warning']}", style="bold yellow"))
    pending = doc["agent"].get("pending_reload")
    if pending:  # start-only keys the latest deploy changed: not live until a reload
        parts.append(Text(f"note: {pending_note(pending)}", "yellow"))
    rollout = doc.get("rollout")
    if rollout:
        parts.append(rollout_line(rollout, doc.get("progress") or {}))
        if rollout["phase"] == "paused" and rollout.get("paused"):
            parts.append(pause_line(rollout["paused"], rollout, doc.get("traffic") or {}))
        if rollout["phase"] == "guarding" and rollout.get("guard"):
            parts.append(guard_line(rollout["guard"]))
    parts.append(Text(traffic_line(doc)))
    return parts


def head_line(doc: dict[str, Any]) -> Text:
    agent = doc["agent"]
    environment = agent.get("environment")
    return Text.assemble(
        (doc["service"], "bold"),
        (f" [{environment}]" if environment else "", "bold"),
        f"  {'https' if agent.get('tls') else 'http'}://{agent['listen']}  ",
        stable_label(doc["stable_revision"]),
        f"  agent pid {agent['pid']}",
    )


def stable_label(revision: int | None) -> tuple[str, str]:
    if revision is None:
        return ("no stable revision yet", "yellow")
    return (f"stable revision {revision}", "green")


def rollout_line(r: dict[str, Any], progress: dict[str, Any]) -> Text:
    """`rollout 9 (deploy, canary): revision 5 -> 6: paused at step 3/4` (and a reason)."""
    frm = r["from_revision"]
    line = Text(f"rollout {r['id']} ({r['kind']}, {r['strategy']}): ")
    line.append(
        f"revision {frm} -> {r['to_revision']}: " if frm else f"revision {r['to_revision']}: "
    )
    line.append(r["phase"], PHASE_STYLE.get(r["phase"], ""))
    # a guard window comes after every step: its own line says where it is
    where = step_label(progress) if r["finished_at"] is None and r["phase"] != "guarding" else ""
    if where:
        line.append(f" at {where}")
    if r["reason"]:
        line.append(" (").append(r["reason"]).append(")")
    return line


def step_label(progress: dict[str, Any]) -> str:
    """`step 3/4` of a canary, `promotion to 100%` after its last step; "" without steps."""
    steps, step = progress.get("steps") or [], progress.get("step")
    if not steps or step is None:
        return ""
    return "promotion to 100%" if step >= len(steps) else f"step {step + 1}/{len(steps)}"


def pause_line(paused: dict[str, Any], rollout: dict[str, Any], traffic: dict[str, Any]) -> Text:
    """Why the rollout waits and the command that continues it, as one line."""
    commands = [f"`changeover {c}`" for c in paused["continue"]] or ["`changeover resume`"]
    say = PAUSE_LINES.get(_paused_by(paused["by"]), _other)
    return say(paused["message"], " or ".join(commands), _preview(rollout, traffic))


def _paused_by(raw: str) -> PausedBy | None:
    return next((by for by in PausedBy if by.value == raw), None)  # None: a newer agent's


def _preview(rollout: dict[str, Any], traffic: dict[str, Any]) -> str:
    """`:8081`, the preview's port (the routing line has the whole address)."""
    listen = traffic.get("preview_listen")
    if rollout["strategy"] != "blue-green" or not listen:
        return ""
    return ":" + str(listen).rpartition(":")[2]


def _step(message: str, commands: str, preview: str) -> Text:
    why = f"{message} on {preview}" if preview else message
    return _assemble("paused: waiting for ", (commands, COMMAND_STYLE), " (", why, ")")


def _operator(message: str, commands: str, preview: str) -> Text:
    return _assemble(message, ": ", (commands, COMMAND_STYLE), " continues")


def _analysis(message: str, commands: str, preview: str) -> Text:
    return _assemble(
        "paused: ",
        message,
        ": ",
        (commands, COMMAND_STYLE),
        " accepts it, ",
        ("`changeover abort`", COMMAND_STYLE),
        " rolls back",
    )


def _other(message: str, commands: str, preview: str) -> Text:
    return _assemble("paused: ", message, ": ", (commands, COMMAND_STYLE), " continues")


def _assemble(*pieces: str | tuple[str, str]) -> Text:
    """Literal text (user strings included) with styles; never parsed as markup."""
    line = Text("", style=PHASE_STYLE["paused"])
    for piece in pieces:
        if isinstance(piece, tuple):
            line.append(*piece)
        else:
            line.append(piece)
    return line


PAUSE_LINES: dict[PausedBy | None, Callable[[str, str, str], Text]] = {
    PausedBy.STEP: _step,
    PausedBy.OPERATOR: _operator,
    PausedBy.ANALYSIS: _analysis,
}


def guard_line(guard: dict[str, Any]) -> Text:
    """`guard window 15m: 12m3s left; watching analysis 'slo', ...` (or why it holds)."""
    window = format_duration(float(guard["window"]))
    remaining = guard.get("remaining")
    if guard["state"] == "held":
        return Text.assemble((f"guard window {window}: ", "blue"), (guard["message"], "yellow"))
    left = "" if remaining is None else f"{format_duration(round(float(remaining)))} left; "
    return Text.assemble((f"guard window {window}: {left}", "blue"), guard["message"])


def traffic_line(doc: dict[str, Any]) -> str:
    weights = doc.get("weights")
    if weights:
        ordered = sorted(weights.items(), key=lambda kv: int(kv[0]))
        shares = ", ".join(f"revision {rev}: {w}%" for rev, w in ordered)
        return f"traffic weights: {shares}"
    ready = sum(1 for r in doc["replicas"] if r["state"] == "ready")
    return f"traffic: spread over {ready} ready replica(s), least in-flight first"
