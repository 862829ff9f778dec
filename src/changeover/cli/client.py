"""The CLI's only way to the agent: HTTP/JSON over the control unix socket, or for an
environment on another host over `ssh HOST changeover dial` (`cli.pipe`, `cli.ssh`).

Invariant: a missing or dead agent always surfaces as `Unreachable` (exit 3) and an
agent-side refusal as `Refused` with the agent's own lines (exit 2); never a traceback.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import httpx

from changeover.agent.lock import is_locked
from changeover.agent.paths import StatePaths
from changeover.cli.pipe import PipeTransport
from changeover.cli.ssh import RemotePaths

UPLOAD_TIMEOUT = 600.0  # seconds without progress before an upload is given up


class Unreachable(Exception):
    pass


class Refused(Exception):
    def __init__(self, status: int, lines: list[str]) -> None:
        self.status = status
        self.lines = lines or [f"the agent answered {status}"]
        super().__init__("\n".join(self.lines))


class AgentClient:
    def __init__(self, paths: StatePaths, timeout: float = 10.0) -> None:
        self.paths = paths
        self._http = httpx.Client(
            transport=_transport(paths), base_url="http://agent", timeout=timeout
        )

    def __enter__(self) -> AgentClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.close()

    def get(self, path: str, **params: Any) -> Any:
        return self._request("GET", path, params=params)

    def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        return self._request("POST", path, json=body or {})

    def post_waiting(self, path: str, body: dict[str, Any] | None = None) -> Any:
        """A POST whose answer comes when the agent's work ends (a migration command,
        bounded by its own timeout in the agent): no read timeout here."""
        return self._request("POST", path, json=body or {}, timeout=None)

    def delete(self, path: str, **params: Any) -> Any:
        return self._request("DELETE", path, params=params)

    def put(
        self,
        path: str,
        content: Iterable[bytes],
        *,
        size: int,
        timeout: float = UPLOAD_TIMEOUT,
        **params: Any,
    ) -> Any:
        """PUT a body streamed from `content`, `size` bytes in all (sent as Content-Length,
        so an agent can tell a body cut short from a complete one)."""
        headers = {"Content-Length": str(size), "Content-Type": "application/octet-stream"}
        return self._request(
            "PUT", path, params=params, content=content, headers=headers, timeout=timeout
        )

    def stream(self, path: str, **params: Any) -> Iterator[bytes]:
        try:
            with self._http.stream("GET", path, params=params, timeout=None) as response:
                if response.status_code >= 400:
                    response.read()
                    raise _refused(response)
                yield from response.iter_bytes()
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from None

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from None
        if response.status_code >= 400:
            raise _refused(response)
        return response.json()

    def _unreachable(self, exc: Exception) -> Unreachable:
        if isinstance(self.paths, RemotePaths):
            lines = str(exc).splitlines() or [type(exc).__name__]
            said = "".join(f"\n  {line}" for line in lines)
            return Unreachable(f"no answer from the agent of {self.paths.remote} over ssh:{said}")
        where = self.paths.root
        try:
            running = is_locked(self.paths.lock)
        except PermissionError:  # another account's agent ([control] group): unknown
            running = True
        if not running:
            return Unreachable(f"no agent is running for {where} (start one with `changeover up`)")
        return Unreachable(f"the agent for {where} did not answer: {exc}")


def _transport(paths: StatePaths) -> httpx.BaseTransport:
    """The agent's own socket, or one ssh process running `changeover dial` on its host."""
    if isinstance(paths, RemotePaths):
        return PipeTransport(paths.remote.dial())
    return httpx.HTTPTransport(uds=str(paths.control_socket))


def _refused(response: httpx.Response) -> Refused:
    try:
        body = response.json()
        lines = [str(line) for line in body.get("lines") or [body.get("error", "")] if line]
    except ValueError:
        lines = [response.text.strip()] if response.text.strip() else []
    return Refused(response.status_code, lines)
