"""The flag document on the wire: canonical bytes, strong ETags, `If-None-Match`, `wait`.

Invariant: the same document always encodes to the same bytes, so its ETag (the quoted
SHA-256 of the body) changes exactly when the served flags do; a `wait` is never longer
than MAX_WAIT.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

from changeover.agent.releases import BadRequest

MAX_WAIT = 60.0  # seconds a long-poll may hold; clients ask for 30

_TAGS = re.compile(r'(?:W/)?("[^"]*")')  # a tag may hold commas: not a split
_WAIT = re.compile(r"(\d{1,9}(?:\.\d{1,6})?)(ms|s)?")


def encode(document: Mapping[str, Any]) -> bytes:
    """Canonical bytes (sorted keys, no spaces): the same flags always give the same ETag."""
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def etag_of(body: bytes) -> str:
    return f'"{hashlib.sha256(body).hexdigest()}"'


def etag_matches(header: str | None, etag: str) -> bool:
    """`If-None-Match` as RFC 9110 reads it: a list, weak comparison, or `*`."""
    if header is None:
        return False
    return header.strip() == "*" or etag in _TAGS.findall(header)


def parse_wait(raw: str | None) -> float:
    """`30s`, `500ms` or plain seconds, capped at MAX_WAIT; 0 when absent."""
    if not raw:
        return 0.0
    found = _WAIT.fullmatch(raw.strip())
    if found is None:
        raise BadRequest(f"wait: expected a duration like 30s or 500ms, got {raw!r}")
    scale = 0.001 if found.group(2) == "ms" else 1.0
    return min(float(found.group(1)) * scale, MAX_WAIT)
