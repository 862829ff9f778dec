"""Parsing --ready and --listen, the pid/status files, and --reload against a pretend instance."""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
from pathlib import Path
from types import FrameType

import pytest
from hypothesis import given
from hypothesis import strategies as st

from changeover.hotrestart.files import read_pid, status_path, write_atomic
from changeover.hotrestart.listen import Address, bind, parse_listen, probe_target
from changeover.hotrestart.ready import (
    AutoReady,
    DelayReady,
    HttpReady,
    NotifyReady,
    ReadyMode,
    parse_ready,
)
from changeover.hotrestart.reload import ReloadError, request_reload
from changeover.hotrestart.report import PidFileBusy, claim_check


def test_ready_forms() -> None:
    assert parse_ready("auto") == AutoReady()
    assert parse_ready("notify") == NotifyReady()
    assert parse_ready("http:/readyz?full=1") == HttpReady("/readyz?full=1")
    assert parse_ready("delay:1m30s") == DelayReady(90.0)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("http", "expected"),
        ("http:readyz", "starting with /"),
        ("http:/a b", "printable"),
        ("delay:2", "a duration with a unit"),
        ("notify:now", "expected"),
        ("auto:http", "got 'auto:http'"),
        ("tcp:80", "got 'tcp:80'"),
    ],
)
def test_ready_errors_say_what_is_expected(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_ready(text)


paths = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=20)
modes = st.one_of(
    st.just(AutoReady()),
    st.just(NotifyReady()),
    paths.map(lambda p: HttpReady("/" + p)),
    st.integers(0, 10**6).map(lambda ms: DelayReady(ms / 1000)),
)


@given(modes)
def test_ready_text_round_trips(mode: ReadyMode) -> None:
    assert str(parse_ready(str(mode))) == str(mode)


def test_listen_forms() -> None:
    assert parse_listen("127.0.0.1:8080") == Address("http", "127.0.0.1", 8080)
    assert parse_listen(":80") == Address("http", "0.0.0.0", 80)
    assert parse_listen("api=[::1]:0") == Address("api", "::1", 0)
    assert str(parse_listen("[::]:9")) == "[::]:9"
    assert probe_target(parse_listen(":80")) == ("127.0.0.1", 80)
    assert probe_target(parse_listen("[::]:80")) == ("::1", 80)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("8080", "expected \\[NAME=\\]HOST:PORT"),
        ("localhost:80", "not an IP address"),
        ("::1:80", "need brackets"),
        ("[127.0.0.1]:80", "brackets are for IPv6"),
        ("1.2.3.4:99999", "expected"),
        ("a:b=1.2.3.4:80", "name 'a:b'"),
    ],
)
def test_listen_errors_say_what_is_expected(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_listen(text)


def test_bind_sets_nodelay_and_reports_the_address_on_failure() -> None:
    sock = bind(parse_listen("127.0.0.1:0"))
    with sock:
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        taken = parse_listen(f"127.0.0.1:{sock.getsockname()[1]}")
        with socket.socket() as other:  # no SO_REUSEADDR: a real conflict
            other.bind(("127.0.0.1", 0))
            other.listen()
            busy = parse_listen(f"127.0.0.1:{other.getsockname()[1]}")
            with pytest.raises(OSError, match=f"cannot listen on {busy}: Address already in use"):
                bind(busy)
        assert taken.port > 0


def test_pid_file_errors_and_claims(tmp_path: Path) -> None:
    pid_file = tmp_path / "x.pid"
    with pytest.raises(ValueError, match="no such pid file"):
        read_pid(pid_file)
    write_atomic(pid_file, "12ab\n")
    with pytest.raises(ValueError, match="expected a process id, found '12ab'"):
        read_pid(pid_file)
    claim_check(pid_file)  # garbage: ours to overwrite
    write_atomic(pid_file, f"{os.getppid()}\n")
    with pytest.raises(PidFileBusy, match=f"process {os.getppid()} is running"):
        claim_check(pid_file)
    assert [p.name for p in tmp_path.iterdir()] == ["x.pid"]  # no temporary file left


def publish(pid_file: Path, reloads: int, outcomes: list[dict[str, object]]) -> None:
    doc = {"pid": os.getpid(), "reloads": reloads, "outcomes": outcomes}
    write_atomic(status_path(pid_file), json.dumps(doc))


def test_reload_waits_for_the_answer_to_its_own_signal(tmp_path: Path) -> None:
    pid_file = tmp_path / "run.pid"
    write_atomic(pid_file, f"{os.getpid()}\n")
    old = {"number": 1, "upgraded": True, "message": "an older answer"}
    publish(pid_file, 1, [old])
    hups: list[int] = []

    def on_hup(signum: int, frame: FrameType | None) -> None:
        hups.append(signum)
        # Answer a moment later from another thread, as a real instance would.
        mine = {"number": 2, "upgraded": False, "message": "generation 3 exited with code 3"}
        threading.Timer(0.1, publish, (pid_file, 2, [old, mine])).start()

    previous = signal.signal(signal.SIGHUP, on_hup)
    try:
        answer = request_reload(pid_file)
    finally:
        signal.signal(signal.SIGHUP, previous)
    assert hups == [signal.SIGHUP]
    assert not answer.upgraded
    assert answer.message == "generation 3 exited with code 3"


def test_reload_refuses_a_stale_status(tmp_path: Path) -> None:
    pid_file = tmp_path / "run.pid"
    with pytest.raises(ReloadError, match="no such pid file"):
        request_reload(pid_file)
    write_atomic(pid_file, f"{os.getpid()}\n")
    with pytest.raises(ReloadError, match="no status of process"):
        request_reload(pid_file)
