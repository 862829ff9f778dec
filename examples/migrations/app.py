"""An ASGI app whose every request writes a row and reads it back, so a schema change
matters: the notes table's text column is renamed from `body` to `content` with an
expand/contract migration (`migrate.py`), under load.

NOTES_COLUMN  the column this release's code writes and reads: body (v1) | content (v2)
DATABASE_URL  where the database is (a secret: from the env file, never printed)
FAULTY        "1": exit 3 at start-up (a release whose code is broken)

Routes: / (insert a note, read it back), /healthz, /readyz.
Run with: uvicorn app:app --fd 3
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import psycopg

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

VERSION = os.environ.get("CHANGEOVER_VERSION", "v1")
COLUMN = os.environ.get("NOTES_COLUMN", "body")
assert COLUMN in ("body", "content")
CONNECTIONS = 4
pool: asyncio.Queue[psycopg.AsyncConnection[Any]] = asyncio.Queue()


async def respond(send: Send, status: int, body: str) -> None:
    headers = [(b"content-type", b"text/plain"), (b"x-version", VERSION.encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body.encode()})


async def note(send: Send) -> None:
    conn = await pool.get()
    try:
        text = f"a note from {VERSION}"
        cur = await conn.execute(
            f"INSERT INTO notes ({COLUMN}) VALUES (%s) RETURNING id",
            (text,),
        )
        row = await cur.fetchone()
        assert row is not None
        cur = await conn.execute(f"SELECT {COLUMN} FROM notes WHERE id = %s", (row[0],))
        back = await cur.fetchone()
    except psycopg.Error as exc:
        await respond(send, 500, f"{VERSION}: {type(exc).__name__}: {exc}\n")
        return
    finally:
        pool.put_nowait(conn)
    if back is None or back[0] != text:
        await respond(send, 500, f"{VERSION}: read back {back!r}, wrote {text!r}\n")
    else:
        await respond(send, 200, f"{VERSION} wrote note {row[0]} in {COLUMN}\n")


async def lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            if os.environ.get("FAULTY") == "1":
                print(f"notes {VERSION}: broken release (FAULTY=1)", file=sys.stderr)
                sys.stderr.flush()
                os._exit(3)
            for _ in range(CONNECTIONS):
                conn = await psycopg.AsyncConnection.connect(
                    os.environ["DATABASE_URL"], autocommit=True
                )
                pool.put_nowait(conn)
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            while not pool.empty():
                await pool.get_nowait().close()
            await send({"type": "lifespan.shutdown.complete"})
            return


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await lifespan(receive, send)
    elif scope["path"] in ("/healthz", "/readyz"):
        await respond(send, 200, "ok\n")
    elif scope["path"] == "/":
        await note(send)
    else:
        await respond(send, 404, "not found\n")
