"""What `release list` and `release show` print: pure functions of the documents.

Invariant: every value shown comes from a document given (the local metadata, each
environment's answers); an environment that could not be asked is shown as
unreachable with the reason, never left out.
"""

from __future__ import annotations

import time
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from changeover.cli.common import plain


def when(ts: float | None) -> str:
    return "-" if not ts else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


def size_text(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB"):
        if value < 1024 or unit == "MiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def origin(meta: dict[str, Any]) -> str:
    if meta.get("source") != "git":
        return "a folder (no git)"
    commit = meta.get("commit")
    state = "dirty" if meta.get("dirty") else "clean"
    return f"git commit {commit[:12]} ({state})" if commit else f"git, no commit ({state})"


def list_table(releases: list[dict[str, Any]]) -> RenderableType:
    if not releases:
        return Text("no releases yet: `changeover release create --version V` makes one")
    table = Table(box=None, pad_edge=False)
    for column in ("version", "created", "by", "sha256", "files", "size", "from"):
        table.add_column(column)
    for m in releases:
        version = m["version"] + (" HOTFIX" if m.get("hotfix") else "")
        table.add_row(
            *plain(
                version,
                when(m.get("created_at")),
                m.get("created_by", "-"),
                str(m.get("sha256", ""))[:12],
                m.get("files", "-"),
                size_text(int(m.get("size", 0))),
                origin(m),
            )
        )
    return table


def show_view(doc: dict[str, Any]) -> RenderableType:
    meta = doc["release"]
    head = Text(f"release {meta['version']}", style="bold")
    if meta.get("hotfix"):
        head.append("  HOTFIX", style="bold red")
    facts = Table(box=None, pad_edge=False, show_header=False)
    facts.add_column(style="dim")
    facts.add_column()
    facts.add_row(*plain("sha256", meta.get("sha256", "")))
    facts.add_row(*plain("size", f"{size_text(int(meta.get('size', 0)))}, {meta['files']} files"))
    facts.add_row(*plain("created", f"{when(meta.get('created_at'))} by {meta.get('created_by')}"))
    facts.add_row(*plain("from", origin(meta)))
    facts.add_row(*plain("artifact", meta.get("artifact", "")))
    parts: list[RenderableType] = [head, facts]
    if doc["environments"]:
        parts += [Text("environments", style="bold"), environments_table(doc["environments"])]
    else:
        parts.append(Text("the spec defines no environments", style="dim"))
    return Group(*parts)


def environments_table(envs: list[dict[str, Any]]) -> Table:
    table = Table(box=None, pad_edge=False)
    for column in ("environment", "holds", "last promotion", "outcome"):
        table.add_column(column)
    for env in envs:
        if not env["reachable"]:
            table.add_row(*plain(env["name"], "unreachable", env["error"], "-"))
            continue
        table.add_row(*plain(env["name"], holds(env), *last_promotion(env)))
    return table


def holds(env: dict[str, Any]) -> str:
    held = env["held"]
    if held is None:
        return "no"
    if not env["same_digest"]:
        return f"another artifact (sha256 {held['sha256'][:12]})"
    return "yes"


def last_promotion(env: dict[str, Any]) -> tuple[str, str]:
    promotions = env["promotions"]
    if not promotions:
        return "never promoted", "-"
    p = promotions[0]
    what = "rollback" if p["kind"] == "rollback" else "promoted"
    origin = f" from {p['from_environment']}" if p["from_environment"] else ""
    hotfix = " (hotfix)" if p["hotfix"] else ""
    said = f"{what}{origin}{hotfix} by {p['requested_by']}, {when(p['requested_at'])}"
    result = p["outcome"]
    if p["revision"] is not None:
        result += f" (revision {p['revision']}{', current' if p['current'] else ''})"
    return said, result
