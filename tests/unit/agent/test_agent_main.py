"""The agent's life: a crashed controller stops the agent instead of leaving it blind."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any, cast

import pytest

from changeover.agent.main import bind_public, controller_ended


def test_a_crashed_controller_stops_the_agent_with_a_reason() -> None:
    async def main() -> Any:
        agent = SimpleNamespace(failure="", stopping=asyncio.Event())

        async def boom() -> None:
            raise RuntimeError("store is gone")

        task = asyncio.create_task(boom())
        await asyncio.gather(task, return_exceptions=True)
        controller_ended(task, cast(Any, agent))
        return agent

    agent = asyncio.run(main())
    assert agent.stopping.is_set()
    assert "store is gone" in agent.failure


def test_a_cancelled_controller_is_a_normal_stop() -> None:
    async def main() -> Any:
        agent = SimpleNamespace(failure="", stopping=asyncio.Event())
        task = asyncio.create_task(asyncio.Event().wait())
        await asyncio.sleep(0)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        controller_ended(task, cast(Any, agent))
        return agent

    agent = asyncio.run(main())
    assert not agent.stopping.is_set()
    assert agent.failure == ""


def test_public_listener_binds_ipv4_and_reports_port_in_use() -> None:
    with bind_public("127.0.0.1:0") as sock:
        port = sock.getsockname()[1]
        assert port > 0
        with pytest.raises(OSError, match="in use"):
            bind_public(f"127.0.0.1:{port}").close()
