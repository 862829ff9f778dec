"""A real `Agent` serving environment staging of a small service, without a controller
(no replica runs): what the promotion tests of the agent and of the CLI share."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from changeover.agent.api import create_app
from changeover.agent.artifact_format import entry_for, pack
from changeover.agent.control import ControlServer, bind_control_socket
from changeover.agent.core import Agent
from changeover.agent.paths import StatePaths
from changeover.agent.peer import Peer
from changeover.cli.client import AgentClient
from changeover.proxy.server import Proxy
from changeover.rollout.phase import Phase
from changeover.spec.load import load_spec
from changeover.store import RevisionStatus, Store
from tests.helpers import bounded

T = TypeVar("T")
SPEC = """\
[app]
name = "svc"
command = "python app.py"
env = {{ HELLO_VERSION = "{version}" }}
env_file = ".env"
secret_env = ["DATABASE_URL"]

[environments.dev]
[environments.staging]
promote_from = "dev"
[environments.staging.spec.app]
replicas = 1
[environments.staging.spec.strategy]
type = "blue-green"
"""
ASKER = Peer(pid=1, uid=65534, gid=65534)  # "nobody" on most systems: any account will do
SECRET = "postgres://app:pw-on-the-host@db/app"


def release_tree(root: Path, version: str, spec: str = SPEC) -> bytes:
    """A service folder as `release create` packs it: spec and app, no env file."""
    root.mkdir(parents=True)
    (root / "changeover.toml").write_text(spec.format(version=version))
    (root / "app.py").write_text(f"print({version!r})\n")
    out = io.BytesIO()
    entries = [entry_for(root, n) for n in ("app.py", "changeover.toml")]
    pack(root, [e for e in entries if e is not None], 0, out)
    return out.getvalue()


@dataclass
class Setup:
    agent: Agent
    store: Store
    host: Path  # the host's service folder: its spec and .env
    tmp: Path

    async def hold(self, version: str, spec: str = SPEC) -> str:
        data = release_tree(self.tmp / f"build-{version}", version, spec)
        sha = hashlib.sha256(data).hexdigest()

        async def body() -> AsyncIterator[bytes]:
            yield data

        await self.agent.artifacts.receive(version, sha, len(data), body())
        return sha

    def succeed(self) -> None:
        """What the controller does when a rollout succeeds (no controller runs here)."""
        active = self.agent.controller.active
        assert active is not None
        self.agent.controller.active = None
        self.store.finish_rollout(active.rollout.id, phase=Phase.SUCCEEDED, reason="", now=9.0)


@contextlib.asynccontextmanager
async def staging_agent(
    tmp_path: Path, state: Path | None = None, spec: str = SPEC
) -> AsyncIterator[Setup]:
    """The staging agent of the service in `tmp_path/host` (state in `state`, by default
    `tmp_path/state`; its spec file `spec`), with revision 1 stable."""
    host = tmp_path / "host"
    host.mkdir(exist_ok=True)
    (host / "changeover.toml").write_text(spec.format(version="v1"))
    (host / ".env").write_text(f"DATABASE_URL={SECRET}\n")
    paths = StatePaths(state or tmp_path / "state")
    paths.ensure()
    proxy = Proxy()
    await proxy.serve(socket.create_server(("127.0.0.1", 0)))
    spec_path = host / "changeover.toml"
    with Store.open(paths.store) as store:
        agent = Agent(
            paths=paths,
            spec=load_spec(spec_path, "staging"),
            spec_path=spec_path,
            store=store,
            proxy=proxy,
            environment="staging",
        )
        first = store.create_revision(
            version="v1", path=str(host), command="python app.py", env={}, spec={},
            replicas=1, now=1.0,
        )  # fmt: skip
        store.set_revision_status(first.id, RevisionStatus.STABLE)
        try:
            yield Setup(agent, store, host, tmp_path)
        finally:
            agent.controller.cancel("test over")
            await proxy.shutdown(timeout=1.0)


def serve_and_call(
    tmp_path: Path, use: Callable[[AgentClient], T], state: Path | None = None
) -> tuple[T, list[str]]:
    """Serve a staging agent on its control socket; `use` a client in a thread, as the CLI
    does; its answer and the agent's events after."""

    async def main() -> tuple[T, list[str]]:
        async with staging_agent(tmp_path, state) as s:
            paths = s.agent.paths
            server = ControlServer(create_app(s.agent), bind_control_socket(paths.control_socket))
            await server.start()
            try:
                answer = await asyncio.to_thread(call, paths)
            finally:
                await server.stop()
            return answer, [e.message for e in s.store.events()]

    def call(paths: StatePaths) -> T:
        with AgentClient(paths, timeout=10.0) as client:
            return use(client)

    return bounded(main(), guard=30.0)
