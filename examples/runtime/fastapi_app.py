"""FastAPI under changeover.runtime (FastAPI is not a dependency of changeover).

    pip install fastapi uvicorn
    uvicorn fastapi_app:app --port 8000

FastAPI's own lifespan (the `lifespan=` argument) still runs: the runtime forwards the
lifespan protocol to the wrapped app, then runs its own hooks after the app's shutdown.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from changeover.runtime import Lifecycle

lifecycle = Lifecycle()


@asynccontextmanager
async def lifespan(api: FastAPI) -> AsyncIterator[None]:
    api.state.pool = {"connected": True}  # stands in for a database pool
    yield
    api.state.pool["connected"] = False


api = FastAPI(lifespan=lifespan)


@lifecycle.readiness_check(timeout=1.0)
async def database() -> bool:
    return bool(api.state.pool["connected"])


@lifecycle.on_shutdown(timeout=5.0)
async def flush() -> None:
    await asyncio.sleep(0)  # e.g. flush buffered metrics


@api.get("/")
async def hello() -> dict[str, str]:
    return {"hello": "world"}


app = lifecycle.asgi(api)
