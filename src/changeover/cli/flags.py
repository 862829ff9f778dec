"""`changeover flags`: list, read and change the feature flags the agent serves.

Invariant: the CLI only reads files, sends them and renders answers; the agent validates
each change against the whole flag state and records who made it, so a change is stored
(and audited) whole, or refused with every problem (exit 2). `stale` exits 1 when any
flag is expired or fully rolled out, for CI.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json as jsonlib
import os
import socket
import time
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import typer
from rich.markup import escape
from rich.table import Table

from changeover.cli.client import AgentClient, Refused
from changeover.cli.common import (
    BAD_INPUT,
    DEFAULT_SPEC,
    FAILED,
    Json,
    SpecFile,
    StateDir,
    err,
    fail,
    out,
    plain,
    state_paths,
)

app = typer.Typer(
    name="flags",
    no_args_is_help=True,
    help="Feature flags served by the agent (GET /v1/flags on its control socket).",
    rich_markup_mode=None,
)
Name = Annotated[str, typer.Argument(help="Flag name.", metavar="NAME")]
By = Annotated[
    str | None,
    typer.Option("--by", metavar="NAME", help="Who makes the change (default: user@host)."),
]
FlagFile = Annotated[
    Path, typer.Argument(help="TOML or JSON: one flag, or features + segments.", metavar="FILE")
]


class FlagFileError(ValueError):
    """A flags file cannot be read as a TOML or JSON table."""


@app.command("list")
def list_flags(
    archived: Annotated[bool, typer.Option("--archived", help="Include archived flags.")] = False,
    file: SpecFile = DEFAULT_SPEC,
    state_dir: StateDir = None,
    json: Json = False,
) -> None:
    """Flags: switch, rollout, owner, expiry, last change."""
    with AgentClient(state_paths(state_dir, file)) as client:
        flags = client.get("/v1/admin/flags", archived=int(archived))["flags"]
    if json:
        out.print_json(data=flags)
    elif not flags:
        out.print("no flags yet; create one with `changeover flags create FILE`")
    else:
        out.print(flags_table(flags))


@app.command()
def get(name: Name, file: SpecFile = DEFAULT_SPEC, state_dir: StateDir = None) -> None:
    """The flag's definition as JSON (an Unleash feature object)."""
    with AgentClient(state_paths(state_dir, file)) as client:
        out.print_json(data=client.get(_path(name))["definition"])


@app.command("set")
def set_flags(
    source: FlagFile, by: By = None, file: SpecFile = DEFAULT_SPEC, state_dir: StateDir = None
) -> None:
    """Create or replace the flags in FILE.

    FILE holds one flag, or `features` and `segments`; archived flags named in it come back.
    """
    _put(source, create=False, by=by, file=file, state_dir=state_dir)


@app.command()
def create(
    source: FlagFile, by: By = None, file: SpecFile = DEFAULT_SPEC, state_dir: StateDir = None
) -> None:
    """Create the flags in FILE; refuses names that exist."""
    _put(source, create=True, by=by, file=file, state_dir=state_dir)


@app.command()
def enable(
    name: Name, by: By = None, file: SpecFile = DEFAULT_SPEC, state_dir: StateDir = None
) -> None:
    """Switch the flag on; its strategies decide who gets it."""
    _act(name, "enable", {}, by, file, state_dir)


@app.command()
def disable(
    name: Name, by: By = None, file: SpecFile = DEFAULT_SPEC, state_dir: StateDir = None
) -> None:
    """Switch the flag off for everyone."""
    _act(name, "disable", {}, by, file, state_dir)


@app.command()
def rollout(
    name: Name,
    percent: Annotated[str, typer.Argument(help="0 to 100 (a % sign is fine).", metavar="PCT")],
    by: By = None,
    file: SpecFile = DEFAULT_SPEC,
    state_dir: StateDir = None,
) -> None:
    """Set the percentage of the flag's flexibleRollout strategy."""
    _act(name, "rollout", {"percent": parse_percent(percent)}, by, file, state_dir)


@app.command()
def archive(
    name: Name, by: By = None, file: SpecFile = DEFAULT_SPEC, state_dir: StateDir = None
) -> None:
    """Stop serving the flag.

    Applications then get their default; `set` brings the flag back.
    """
    _act(name, "archive", {}, by, file, state_dir)


@app.command()
def stale(file: SpecFile = DEFAULT_SPEC, state_dir: StateDir = None, json: Json = False) -> None:
    """Expired or fully rolled out flags; exit 1 if any.

    Expired: `expiresAt` has passed. Fully rolled out: on for everyone, with nothing left
    to vary (no constraints, variants or parent flags). For CI.
    """
    with AgentClient(state_paths(state_dir, file)) as client:
        flags = [f for f in client.get("/v1/admin/flags")["flags"] if f["stale"]]
    if json:
        out.print_json(data=[{k: f[k] for k in ("name", "owner", "stale")} for f in flags])
    for flag in [] if json else flags:
        owner = f" (owner {flag['owner']})" if flag["owner"] else ""
        out.print(escape(f"{flag['name']}{owner}: {'; '.join(flag['stale'])}"), soft_wrap=True)
    if flags:
        raise typer.Exit(FAILED)
    if not json:
        out.print("no stale flags")


def flags_table(flags: list[dict[str, Any]]) -> Table:
    table = Table(box=None, pad_edge=False)
    for column in ("name", "enabled", "rollout", "owner", "expires", "updated"):
        table.add_column(column)
    for f in flags:
        switch = "archived" if f["archived"] else "on" if f["enabled"] else "off"
        updated = f"{_when(f['updated_at'])} by {f['updated_by']}"
        expires = (f["expires_at"] or "-") + (" (stale)" if f["stale"] else "")
        table.add_row(*plain(f["name"], switch, f["rollout"], f["owner"] or "-", expires, updated))
    return table


def read_flags_file(path: Path) -> dict[str, Any]:
    """A TOML or JSON flags file as a JSON-ready mapping (TOML dates become ISO text)."""
    if path.suffix.lower() not in (".toml", ".json"):
        raise FlagFileError(f"{path}: expected a .toml or .json file")
    kind = "TOML" if path.suffix.lower() == ".toml" else "JSON"
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise FlagFileError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        data = tomllib.loads(text.decode()) if kind == "TOML" else jsonlib.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise FlagFileError(f"{path}: not valid {kind}: {exc}") from None
    if not isinstance(data, Mapping):
        raise FlagFileError(f"{path}: expected a {kind} object (one flag, or features)")
    return {str(k): _plain_json(v) for k, v in data.items()}


def _plain_json(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain_json(v) for v in value]
    if isinstance(value, dt.date | dt.time):  # TOML dates and times; datetime is a date
        return value.isoformat()
    return value


def parse_percent(raw: str) -> int:
    text = raw.strip().removesuffix("%")
    if not (text.isascii() and text.isdigit()) or int(text) > 100:
        fail(BAD_INPUT, f"PCT: expected a whole percentage from 0 to 100, got {raw!r}")
    return int(text)


def who(by: str | None) -> str:
    if by is not None:
        if not by.strip():
            fail(BAD_INPUT, "--by: expected who makes the change, got an empty name")
        return by.strip()
    try:
        user = getpass.getuser()
    except (OSError, KeyError):  # no login name (containers): the uid still says who
        user = f"uid{os.getuid()}"
    return f"{user}@{socket.gethostname()}"


def _put(source: Path, *, create: bool, by: str | None, file: Path, state_dir: Path | None) -> None:
    try:
        document = read_flags_file(source)
    except FlagFileError as exc:
        fail(BAD_INPUT, str(exc))
    body = {"document": document, "create": create, "by": who(by), "source": str(source)}
    with AgentClient(state_paths(state_dir, file)) as client:
        try:
            changes = client.post("/v1/admin/flags", body)["changes"]
        except Refused as exc:
            if exc.status != 400:
                raise
            for line in exc.lines:  # already `FILE: path: message`
                err.print(line, markup=False, soft_wrap=True)
            raise typer.Exit(BAD_INPUT) from None
    for change in changes or [f"no changes: {source} matches the stored flags"]:
        out.print(change, markup=False, soft_wrap=True)


def _act(
    name: str, action: str, body: dict[str, Any], by: str | None, file: Path, state: Path | None
) -> None:
    with AgentClient(state_paths(state, file)) as client:
        answer = client.post(f"{_path(name)}/{action}", {**body, "by": who(by)})
    out.print(answer["message"], markup=False, soft_wrap=True)


def _path(name: str) -> str:
    return f"/v1/admin/flags/{quote(name, safe='')}"


def _when(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts))
