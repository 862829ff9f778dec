"""The pipe transport over a real child process (`fake_dial.py`, an HTTP server on its
stdin/stdout): keep-alive on one child, streaming both ways, a new child only after the
server closed, ssh-like failures as connect errors with the child's own message, the
first-answer deadline, and every child stopped by the end."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from changeover.cli.pipe import PipeTransport
from tests.helpers import gone, wait_for

FAKE = str(Path(__file__).with_name("fake_dial.py"))


def fake(mode: str) -> list[str]:
    return [sys.executable, FAKE, mode]


@pytest.fixture
def transport() -> Iterator[PipeTransport]:
    pipe = PipeTransport(fake("serve"))
    try:
        yield pipe
    finally:
        pipe.close()
        assert all(gone(pid) for pid in pipe.backend.started)


def client(transport: PipeTransport) -> httpx.Client:
    return httpx.Client(transport=transport, base_url="http://agent", timeout=10)


def test_requests_share_one_child_with_keep_alive(transport: PipeTransport) -> None:
    with client(transport) as http:
        pids = {http.get("/pid").text for _ in range(5)}
        missing = http.get("/nowhere")
    assert (missing.status_code, missing.text) == (404, "no such route")
    assert pids == {str(transport.backend.started[0])}
    assert len(transport.backend.started) == 1


def test_a_closed_connection_takes_a_new_child_for_the_next_request(
    transport: PipeTransport,
) -> None:
    with client(transport) as http:
        first = http.get("/pid").text
        assert http.get("/close").text == "bye"
        second = http.get("/pid").text
    assert first != second
    assert transport.backend.started == [int(first), int(second)]
    wait_for(lambda: gone(int(first)), 10, "the first child to be gone once it closed")


def test_a_response_streams_before_it_ends(transport: PipeTransport, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    with (
        client(transport) as http,
        http.stream("GET", "/stream", params={"gate": str(gate)}, timeout=None) as response,
    ):
        chunks = response.iter_bytes()
        assert next(chunks) == b"first\n"  # the server waits for the gate before the rest
        gate.touch()
        assert b"".join(chunks) == b"second\n"
        assert http.get("/pid").status_code == 200  # the connection is reusable after


def test_an_upload_streams_before_its_body_ends(transport: PipeTransport, tmp_path: Path) -> None:
    mark = tmp_path / "mark"

    def body() -> Iterator[bytes]:
        yield b"a" * 100_000
        wait_for(mark.exists, 10, "the server to have the first chunk")
        yield b"b" * 100_000

    with client(transport) as http:
        answer = http.post("/upload", params={"mark": str(mark)}, content=body()).json()
    assert answer == {"bytes": 200_000, "chunked": True}


def test_a_child_failing_like_ssh_is_a_connect_error_with_its_message() -> None:
    with (
        httpx.Client(transport=PipeTransport(fake("fail")), base_url="http://agent") as http,
        pytest.raises(httpx.ConnectError) as caught,
    ):
        http.get("/pid")
    lines = str(caught.value).splitlines()
    assert lines[0] == "ssh: connect to host nowhere port 22: Connection refused"
    assert lines[1].startswith(f"`{sys.executable} {FAKE} fail` exited with code 255")


def test_a_missing_program_is_a_connect_error_naming_it() -> None:
    transport = PipeTransport(["/nonexistent/ssh", "-T", "host"])
    with (
        httpx.Client(transport=transport, base_url="http://agent") as http,
        pytest.raises(httpx.ConnectError, match=r"cannot run /nonexistent/ssh -T host: "),
    ):
        http.get("/pid")


def test_a_silent_child_meets_the_first_answer_deadline_even_for_a_stream() -> None:
    transport = PipeTransport(fake("silent"), first_answer=0.5)
    with httpx.Client(transport=transport, base_url="http://agent") as http:
        with (
            pytest.raises(httpx.ConnectTimeout, match=r"no answer within 0.5s from `"),
            http.stream("GET", "/logs", timeout=None) as response,
        ):
            response.read()
        with pytest.raises(httpx.ConnectTimeout):
            http.get("/pid", timeout=0.2)  # a request's own shorter timeout holds too
    assert len(transport.backend.started) == 2
    assert all(gone(pid) for pid in transport.backend.started)
