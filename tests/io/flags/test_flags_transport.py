"""The fetcher's connection handling when `close()` races a fetch (a real TCP listener)."""

from __future__ import annotations

import http.client
import socket
from collections.abc import Iterator

import pytest

from changeover.flags.transport import Fetcher


@pytest.fixture
def listener() -> Iterator[int]:
    # Accepting is the kernel's job (backlog): the fetch never gets far enough to need replies.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock.getsockname()[1]


def test_close_between_dial_and_request_leaves_no_open_socket(listener: int) -> None:
    fetcher = Fetcher(f"http://127.0.0.1:{listener}/v1/flags", timeout=2.0)
    dialed: list[http.client.HTTPConnection] = []
    connection = fetcher._connection

    def close_meanwhile(timeout: float) -> http.client.HTTPConnection:
        conn = connection(timeout)
        fetcher.close()  # what the app's thread does while the refresher is about to send
        dialed.append(conn)
        return conn

    fetcher._connection = close_meanwhile  # type: ignore[method-assign]
    with pytest.raises(ConnectionAbortedError):
        fetcher.fetch(None, None)
    # http.client dials a dropped connection again on request(); that socket must be closed.
    assert dialed[0].sock is None
