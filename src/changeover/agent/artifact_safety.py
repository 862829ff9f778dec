"""Whether the members of an artifact may be unpacked: pure decisions, no file touched.

Invariant: an artifact passes only if every member lands inside the release folder and
stays there: names are relative with no `.`, `..` or empty step, none repeats or lies
under a file or a link, links are symbolic and resolve (through the other links of the
artifact, as the kernel would) to a place inside, only files, folders and symbolic links
appear (no hard link, device, fifo), and the counts and sizes stay within `Limits`.
`release create` runs the same checks, so what it packs is what an agent accepts.
"""

from __future__ import annotations

import tarfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

Kind = Literal["file", "dir", "symlink", "hardlink", "other"]
MAX_LINK_HOPS = 40  # the kernel's own limit on symbolic links in one lookup


@dataclass(frozen=True)
class Limits:
    artifact_bytes: int = 1 << 30  # what an upload may weigh (gzipped)
    unpacked_bytes: int = 4 << 30  # the sum of the files' sizes
    files: int = 100_000  # members


@dataclass(frozen=True)
class Member:
    name: str
    kind: Kind
    size: int = 0
    target: str = ""  # a link's target


def member_of(info: tarfile.TarInfo) -> Member:
    kind: Kind = (
        "file"
        if info.isreg()
        else "dir"
        if info.isdir()
        else "symlink"
        if info.issym()
        else "hardlink"
        if info.islnk()
        else "other"
    )
    return Member(info.name, kind, info.size, info.linkname)


def problems(members: Sequence[Member], limits: Limits = Limits()) -> list[str]:
    """Every reason the artifact may not be unpacked, one line each; empty if it may."""
    out: list[str] = []
    if len(members) > limits.files:
        out.append(f"{len(members)} members, more than the {limits.files} allowed")
    total = sum(m.size for m in members if m.kind == "file")
    if total > limits.unpacked_bytes:
        out.append(f"{total} bytes unpacked, more than the {limits.unpacked_bytes} allowed")
    kinds: dict[str, Kind] = {}
    accepted: list[Member] = []
    for member in members:
        why = name_problem(member.name) or _kind_problem(member)
        if why is None and _steps(member.name) in kinds:
            why = "appears twice"
        if why is not None:
            out.append(f"{member.name!r}: {why}")
            continue
        kinds[_steps(member.name)] = member.kind
        accepted.append(member)
    links = {_steps(m.name): m.target for m in accepted if m.kind == "symlink"}
    for member in accepted:
        key = _steps(member.name)
        why = _parent_problem(key, kinds) or (
            _link_problem(key, links) if member.kind == "symlink" else None
        )
        if why is not None:
            out.append(f"{member.name!r}: {why}")
    return out


def name_problem(name: str) -> str | None:
    """Why `name` cannot be a path inside the release folder, or None."""
    if not name or name.startswith("/"):
        return "an absolute path (expected one relative to the release folder)"
    if "\\" in name or "\x00" in name:
        return "a backslash or NUL in the name"
    if any(step in ("", ".", "..") for step in name.removesuffix("/").split("/")):
        return "an empty, '.' or '..' step (expected a plain relative path)"
    return None


def _kind_problem(member: Member) -> str | None:
    if member.kind == "hardlink":
        return "a hard link (release artifacts hold files, folders and symbolic links only)"
    if member.kind == "other":
        return "a device, fifo or other special file (not allowed in a release)"
    return None


def _steps(name: str) -> str:
    return name.removesuffix("/")


def _parent_problem(key: str, kinds: Mapping[str, Kind]) -> str | None:
    """A member under a file or a link would be written through it: refused."""
    steps = key.split("/")
    for n in range(1, len(steps)):
        parent = "/".join(steps[:n])
        kind = kinds.get(parent)
        if kind in ("file", "symlink"):
            return f"lies under {parent!r}, which is a {'link' if kind == 'symlink' else 'file'}"
    return None


def _link_problem(key: str, links: Mapping[str, str]) -> str | None:
    target = links[key]
    if not target or target.startswith("/"):
        return f"a link to {target!r}: an absolute or empty target"
    parent = key.split("/")[:-1]
    if resolve([*parent, *target.split("/")], links) is None:
        return f"a link to {target!r}, which leads outside the release folder"
    return None


def resolve(steps: Sequence[str], links: Mapping[str, str]) -> list[str] | None:
    """Where `steps` lead from the release folder, following the artifact's links as the
    kernel would; None if that leaves the folder (or loops)."""
    pending = list(steps)
    done: list[str] = []
    hops = 0
    while pending:
        step = pending.pop(0)
        if step in ("", "."):
            continue
        if step == "..":
            if not done:
                return None
            done.pop()
            continue
        done.append(step)
        target = links.get("/".join(done))
        if target is None:
            continue
        hops += 1
        if hops > MAX_LINK_HOPS or target.startswith("/"):
            return None
        done.pop()
        pending = target.split("/") + pending
    return done
