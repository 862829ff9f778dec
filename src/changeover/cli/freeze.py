"""`changeover -E ENV freeze --until T --reason R` and `unfreeze`: no promotion starts in
ENV while a freeze is in force.

Invariant: who froze is the account the agent sees on its connection (never an argument);
T is an instant (ISO 8601, with an offset, or local time without one) or a duration from
now on the agent's clock ("2h"); a T in the past, or a missing reason, changes nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import typer

from changeover.cli.client import AgentClient
from changeover.cli.common import BAD_INPUT, DEFAULT_SPEC, Json, SpecFile, fail, out, state_paths
from changeover.cli.release_view import when
from changeover.units import parse_duration


def until_body(raw: str) -> dict[str, float]:
    """{"seconds": S} for a duration, {"until": epoch} for an instant; exit 2 otherwise."""
    text = raw.strip()
    try:
        return {"seconds": parse_duration(text)}
    except ValueError:
        pass
    try:
        return {"until": datetime.fromisoformat(text).timestamp()}
    except ValueError:
        fail(
            BAD_INPUT,
            f"--until: expected an ISO 8601 time like 2026-05-09T18:00:00+02:00 or a "
            f"duration like 2h, got {raw!r}",
        )


def freeze(
    until: Annotated[
        str, typer.Option("--until", metavar="T", help="ISO 8601 time, or a duration (2h).")
    ],
    reason: Annotated[str, typer.Option("--reason", metavar="R", help="Why (required).")],
    file: SpecFile = DEFAULT_SPEC,
    json: Json = False,
) -> None:
    """Freeze the environment (-E ENV): no promotion starts there until T (or `unfreeze`);
    recorded with the account the agent sees on its connection."""
    if not reason.strip():
        fail(BAD_INPUT, "--reason: say why the environment is frozen")
    body: dict[str, Any] = {**until_body(until), "reason": reason}
    with AgentClient(state_paths(None, file)) as client:
        answer = client.post("/v1/freezes", body)
    if json:
        out.print_json(data=answer)
        return
    f = answer["freeze"]
    out.print(f"frozen until {when(f['until'])} by {f['by']}: {f['reason']}", markup=False)


def unfreeze(file: SpecFile = DEFAULT_SPEC, json: Json = False) -> None:
    """Lift every freeze in force in the environment (-E ENV); exit 2 if there is none."""
    with AgentClient(state_paths(None, file)) as client:
        answer = client.delete("/v1/freezes")
    if json:
        out.print_json(data=answer)
        return
    for f in answer["lifted"]:
        out.print(f"lifted the freeze of {f['by']} (until {when(f['until'])}): {f['reason']}",
                  markup=False)  # fmt: skip
