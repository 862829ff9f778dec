"""A repository's web address from its git remote URL, to link commits in the notes.

Invariant: the result is an `http(s)://host/owner/repo` address with no credentials, no
port of an ssh remote and no `.git`, or None when the remote is not a hosted repository
(a local path, `file://`); `commit_url` appends `/commit/<hash>`, the form GitHub,
GitLab, Gitea and Forgejo all answer.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

# scp-like syntax: [user@]host:owner/repo(.git); git reads it so when no `//` precedes ":"
_SCP = re.compile(r"(?:[^@/\s]+@)?(?P<host>[^:/\s]+):(?!//)(?P<path>[^\s]+)")


def web_url(remote: str) -> str | None:
    """`https://host/owner/repo` for a remote like `git@host:owner/repo.git`."""
    text = remote.strip()
    if "://" in text:
        parts = urlsplit(text)
        if parts.scheme not in ("https", "http", "ssh", "git", "git+ssh", "ssh+git"):
            return None
        web = parts.scheme in ("https", "http")
        host = parts.hostname or ""
        if web and parts.port is not None:
            host = f"{host}:{parts.port}"  # a web port is part of the address; ssh's is not
        return _address(parts.scheme if web else "https", host, parts.path)
    match = _SCP.fullmatch(text)
    if match is None or len(match["host"]) == 1:
        return None  # a one-letter "host" is a Windows drive: C:/src/repo
    return _address("https", match["host"], match["path"])


def _address(scheme: str, host: str, path: str) -> str | None:
    segments = [s for s in path.strip("/").removesuffix(".git").split("/") if s]
    if not host or len(segments) < 2:
        return None  # owner/repo at least
    return f"{scheme}://{host.lower()}/{'/'.join(segments)}"


def commit_url(web: str, hash: str) -> str:
    return f"{web.rstrip('/')}/commit/{hash}"
