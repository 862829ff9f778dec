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
        version += " (pruned)" if m.get("pruned_at") else ""
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
        parts += [c for env in doc["environments"] if (c := checklist(env)) is not None]
    else:
        parts.append(Text("the spec defines no environments", style="dim"))
    return Group(*parts)


def environments_table(envs: list[dict[str, Any]]) -> Table:
    table = Table(box=None, pad_edge=False)
    for column in ("environment", "holds", "last promotion", "state", "outcome"):
        table.add_column(column)
    for env in envs:
        if not env["reachable"]:
            table.add_row(*plain(env["name"], "unreachable", env["error"], "-", "-"))
            continue
        said, result = last_promotion(env)
        state = env["promotions"][0].get("state", "-") if env["promotions"] else "-"
        table.add_row(*plain(env["name"], holds(env), said, state, result))
    return table


MARKS = {"met": ("ok", "green"), "unmet": ("WAITING", "yellow"), "skipped": ("SKIPPED", "bold red")}


def checklist(env: dict[str, Any]) -> RenderableType | None:
    """The gates of an environment's latest promotion, one line each with who, when and
    what would meet it; its approvals and freezes in force. None when there is nothing."""
    if not env.get("reachable") or not env.get("promotions"):
        return None
    p = env["promotions"][0]
    gates = p.get("gates") or []
    if not gates and not env.get("freezes"):
        return None
    lines = Text()
    hot = " HOTFIX" if p.get("hotfix") else ""
    lines.append(f"{env['name']}: promotion #{p['id']}{hot} ({p.get('state', '-')})", style="bold")
    for g in gates:
        mark, style = MARKS.get(g["state"], (g["state"], ""))
        name = g["gate"] if g.get("item") is None else f"{g['gate']}: {g['item']}"
        lines.append(f"\n  {mark:<8}", style=style)
        lines.append(f"{name}: {g['summary']}")
        if g["state"] == "unmet" and g.get("needs"):
            lines.append(f"\n           needs {g['needs']}", style="dim")
    for a in p.get("approvals") or []:
        verb = "approved" if a["verdict"] == "approve" else "REJECTED"
        note = f": {a['note']}" if a.get("note") else ""
        lines.append(f"\n  {verb} by {a['by']}, {when(a['at'])}{note}")
    for f in env.get("freezes") or []:
        lines.append(f"\n  frozen by {f['by']} until {when(f['until'])}: {f['reason']}")
    return lines


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
