"""One GET that returns JSON, for the HTTP providers, with failures turned into one line.

Invariant: `get_json` returns or raises `ProviderError` (`Unreachable` when nothing
answered: refused, no route, timed out); no httpx exception escapes it, and every message
says what went wrong (refused, timed out, bad URL) in one line.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from changeover.analysis.model import one_line
from changeover.analysis.verdict import fmt


class ProviderError(Exception):
    """A provider could not measure; the message is the reason, without the location."""


class Unreachable(ProviderError):
    """No answer at all: the connection was refused or failed, or the request timed out."""


def _refused(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ConnectionRefusedError) or "refused" in str(seen).lower():
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def describe(exc: Exception, timeout: float) -> str:
    """The reason an httpx request failed, in a few words."""
    if isinstance(exc, httpx.TimeoutException):
        return f"timed out after {fmt(timeout, 's')}"
    if isinstance(exc, httpx.ConnectError):
        return "connection refused" if _refused(exc) else f"cannot connect: {one_line(str(exc))}"
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return f"invalid URL ({one_line(str(exc))}); expected http://host:port/..."
    return f"{type(exc).__name__}: {one_line(str(exc)) or 'request failed'}"


async def get_json(
    http: httpx.AsyncClient, url: str, limit: float, params: dict[str, str] | None = None
) -> tuple[int, Any]:
    """HTTP status and parsed JSON body (None when the body is not JSON)."""
    try:
        response = await http.get(url, params=params, timeout=limit)
    except (httpx.TimeoutException, httpx.ConnectError) as exc:
        raise Unreachable(describe(exc, limit)) from None
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise ProviderError(describe(exc, limit)) from None
    try:
        return response.status_code, json.loads(response.content)
    except ValueError:
        return response.status_code, None
