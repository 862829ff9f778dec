"""A stand-in for `ssh HOST changeover dial` in the pipe transport's tests: an HTTP/1.1
server on its own stdin and stdout (h11), or a child that fails the way ssh does.

Usage: fake_dial.py serve | fail | silent
  serve   GET /pid               its pid (one process per connection)
          GET /stream?gate=FILE  "first\\n", then once FILE exists "second\\n" (chunked)
          POST /upload?mark=FILE creates FILE on the body's first chunk; answers its size
          GET /close             answers with Connection: close, then exits 0
  fail    ssh's message for a refused connection on stderr, exit 255
  silent  reads nothing, answers nothing (until it is stopped)
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import h11

GATE_WAIT = 30.0


def send(conn: h11.Connection, *events: h11.Event) -> None:
    for event in events:
        data = conn.send(event)
        if data:
            os.write(1, data)


def next_event(conn: h11.Connection) -> h11.Event:
    while True:
        event = conn.next_event()
        if event is not h11.NEED_DATA:
            return event  # type: ignore[return-value]
        conn.receive_data(os.read(0, 65536))


def answer(conn: h11.Connection, status: int, body: bytes, *extra: tuple[str, str]) -> None:
    headers = [("content-length", str(len(body))), *extra]
    send(conn, h11.Response(status_code=status, headers=headers), h11.Data(data=body))
    send(conn, h11.EndOfMessage())


def serve_one(conn: h11.Connection) -> bool:
    """One request; False once the connection is over."""
    event = next_event(conn)
    if isinstance(event, h11.ConnectionClosed):
        return False
    assert isinstance(event, h11.Request), event
    url = urlsplit(event.target.decode())
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    if url.path == "/upload":
        size, chunked = 0, any(k == b"transfer-encoding" for k, _ in event.headers)
        while isinstance(body := next_event(conn), h11.Data):
            if size == 0:
                Path(query["mark"]).touch()
            size += len(body.data)
        answer(conn, 200, json.dumps({"bytes": size, "chunked": chunked}).encode())
    else:
        assert isinstance(next_event(conn), h11.EndOfMessage)
        if url.path == "/pid":
            answer(conn, 200, str(os.getpid()).encode())
        elif url.path == "/stream":
            send(conn, h11.Response(status_code=200, headers=[("transfer-encoding", "chunked")]))
            send(conn, h11.Data(data=b"first\n"))
            deadline = time.monotonic() + GATE_WAIT
            while not Path(query["gate"]).exists() and time.monotonic() < deadline:
                time.sleep(0.01)
            send(conn, h11.Data(data=b"second\n"), h11.EndOfMessage())
        elif url.path == "/close":
            answer(conn, 200, b"bye", ("connection", "close"))
            return False
        else:
            answer(conn, 404, b"no such route")
    conn.start_next_cycle()
    return True


def main(mode: str) -> int:
    if mode == "fail":
        print("ssh: connect to host nowhere port 22: Connection refused", file=sys.stderr)
        return 255
    if mode == "silent":
        while True:
            time.sleep(60)
    conn = h11.Connection(h11.SERVER)
    while serve_one(conn):
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
