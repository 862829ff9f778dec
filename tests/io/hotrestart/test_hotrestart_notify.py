"""The notify protocol: parsing, credentials, and a real generation saying READY=1."""

from __future__ import annotations

import array
import asyncio
import os
import signal
import socket
import stat
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from changeover.hotrestart.events import Terminate
from changeover.hotrestart.generation import Timing
from changeover.hotrestart.listen import Listener, bind, bound_address, parse_listen
from changeover.hotrestart.notify import (
    NotifySocket,
    manager_address,
    parse_message,
    sender_belongs,
)
from changeover.hotrestart.ready import NotifyReady
from changeover.hotrestart.runner import RunConfig, Runner


def test_parse_message_reads_key_value_lines() -> None:
    assert parse_message(b"READY=1\nSTATUS=up = fine\n\nbogus\n=x") == {
        "READY": "1",
        "STATUS": "up = fine",
    }


keys = st.text(st.characters(min_codepoint=65, max_codepoint=90), min_size=1, max_size=12)
values = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\n"))


@given(st.dictionaries(keys, values))
def test_parse_message_round_trips(fields: dict[str, str]) -> None:
    data = "\n".join(f"{k}={v}" for k, v in fields.items()).encode()
    assert parse_message(data) == fields


def test_manager_address_forms() -> None:
    assert manager_address({"NOTIFY_SOCKET": "@sd/notify"}) == "\0sd/notify"
    assert manager_address({"NOTIFY_SOCKET": "/run/systemd/notify"}) == "/run/systemd/notify"
    assert manager_address({"NOTIFY_SOCKET": "vsock:2:1234"}) is None
    assert manager_address({}) is None


def _raise(pid: int) -> int:
    raise ProcessLookupError(pid)


def test_sender_belongs_to_the_main_process_or_its_group() -> None:
    assert sender_belongs(40, 40, _raise)
    assert sender_belongs(41, 40, lambda pid: 40)
    assert not sender_belongs(41, 40, lambda pid: 41)
    assert not sender_belongs(41, 40, _raise)  # gone: nobody vouches
    assert not sender_belongs(None, 40, _raise)


def test_socket_reports_the_sender_pid_and_closes_passed_fds(short_tmp: Path) -> None:
    sock = NotifySocket(short_tmp / "n.sock")
    try:
        assert stat.S_IMODE(os.stat(short_tmp / "n.sock").st_mode) == 0o600
        r, w = os.pipe()
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as client:
            client.sendto(b"READY=1", str(short_tmp / "n.sock"))
            rights = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [r]).tobytes())]
            client.sendmsg([b"FDSTORE=1"], rights, 0, str(short_tmp / "n.sock"))
        os.close(r)
        got = sock.receive()
        assert got == [(os.getpid(), {"READY": "1"}), (os.getpid(), {"FDSTORE": "1"})]
        with pytest.raises(BrokenPipeError):  # the received copy of the read end was closed
            os.write(w, b"x")
    finally:
        os.close(w)
        sock.close()
    assert not (short_tmp / "n.sock").exists()


APP = """
import os, signal, socket, sys, time
path = os.environ["NOTIFY_SOCKET"]
with open("notify-path.new", "w") as f:  # renamed whole: the test never reads half of it
    f.write(path)
os.replace("notify-path.new", "notify-path")
if sys.argv[1] == "worker":  # READY=1 from another process of the same group
    if os.fork() == 0:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
            s.sendto(b"READY=1", path)
        time.sleep(60)  # alive while its message is read; the group kill ends it
        os._exit(0)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
while True:
    time.sleep(1)
"""


def run_app(tmp: Path, mode: str, lines: list[str], ready_timeout: float) -> int:
    (tmp / "app.py").write_text(APP)
    sock = bind(parse_listen("127.0.0.1:0"))
    config = RunConfig(
        argv=[sys.executable, "app.py", mode],
        workdir=tmp,
        listeners=[Listener(bound_address(sock, "http"), sock)],
        ready=NotifyReady(),
        timing=Timing(ready_timeout=ready_timeout, grace_period=5),
        env={"PATH": os.environ["PATH"]},
    )

    async def scenario() -> int:
        runner = Runner(config, say=lines.append)
        task = asyncio.create_task(runner.run())
        async with asyncio.timeout(20):
            while not any("is ready" in line or "not ready" in line for line in lines):
                if mode == "foreign" and (tmp / "notify-path").exists():
                    path = (tmp / "notify-path").read_text()
                    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
                        s.sendto(b"READY=1", path)
                    (tmp / "notify-path").unlink()
                await asyncio.sleep(0.01)
            if "generation 1 is ready" in lines:
                runner.post(Terminate(signal.SIGTERM))
            return await task

    return asyncio.run(scenario())


def test_ready_from_a_worker_of_the_generation_counts(tmp_path: Path) -> None:
    lines: list[str] = []
    assert run_app(tmp_path, "worker", lines, ready_timeout=20) == 0
    assert "generation 1 is ready" in lines


def test_ready_from_a_foreign_process_is_ignored(tmp_path: Path) -> None:
    lines: list[str] = []
    assert run_app(tmp_path, "foreign", lines, ready_timeout=1) == 1
    assert f"ignored a notify message from pid {os.getpid()}: not this generation's" in lines
    assert "error: generation 1 was not ready within 1s" in lines
    assert "generation 1 is ready" not in lines
