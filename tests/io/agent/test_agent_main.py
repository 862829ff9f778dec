"""The agent's life: a crashed background task stops the agent instead of leaving it blind."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any, cast

import pytest

from changeover.agent.main import bind_public, guarded


def test_a_crashed_background_task_stops_the_agent_with_a_reason() -> None:
    async def boom() -> None:
        raise RuntimeError("store is gone")

    async def main() -> Any:
        agent = SimpleNamespace(failure="", stopping=asyncio.Event())
        async with asyncio.TaskGroup() as group:  # the error does not escape into the group
            group.create_task(guarded("rollout controller", boom(), cast(Any, agent)))
        return agent

    agent = asyncio.run(main())
    assert agent.stopping.is_set()
    assert agent.failure == "rollout controller crashed: RuntimeError('store is gone')"


def test_a_cancelled_background_task_is_a_normal_stop() -> None:
    async def main() -> Any:
        agent = SimpleNamespace(failure="", stopping=asyncio.Event())
        async with asyncio.TaskGroup() as group:
            task = group.create_task(
                guarded("traffic sampler", asyncio.Event().wait(), cast(Any, agent))
            )
            await asyncio.sleep(0)
            task.cancel()
        assert task.cancelled()
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
