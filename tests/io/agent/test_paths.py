"""StatePaths: where the state directory is, and a control socket path that always binds."""

from __future__ import annotations

import os
import socket
import stat
import tempfile
from pathlib import Path

import pytest

from changeover.agent import paths as paths_module
from changeover.agent.paths import StatePaths, short_socket_dir


@pytest.fixture
def private_tempdir(monkeypatch: pytest.MonkeyPatch, short_tmp: Path) -> Path:
    """Make `tempfile.gettempdir()` (home of fallback sockets) a private short folder."""
    monkeypatch.setattr(tempfile, "tempdir", str(short_tmp))
    return short_tmp


def test_resolve_prefers_the_argument_then_the_environment_then_the_spec_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = tmp_path / "svc" / "changeover.toml"
    spec.parent.mkdir()
    spec.write_text("")
    monkeypatch.setenv("CHANGEOVER_STATE_DIR", str(tmp_path / "from-env"))
    assert StatePaths.resolve(tmp_path / "from-arg", spec).root == tmp_path / "from-arg"
    assert StatePaths.resolve(str(tmp_path / "from-arg"), spec).root == tmp_path / "from-arg"
    assert StatePaths.resolve(None, spec).root == tmp_path / "from-env"
    monkeypatch.delenv("CHANGEOVER_STATE_DIR")
    assert StatePaths.resolve(None, spec).root == tmp_path / "svc" / ".changeover"
    monkeypatch.setenv("CHANGEOVER_STATE_DIR", "")  # empty means unset
    assert StatePaths.resolve(None, spec).root == tmp_path / "svc" / ".changeover"


def test_resolve_makes_every_root_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CHANGEOVER_STATE_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "svc").mkdir()
    assert StatePaths.resolve("rel/state", Path("x.toml")).root == tmp_path / "rel" / "state"
    assert StatePaths.resolve(None, Path("svc/x.toml")).root == tmp_path / "svc" / ".changeover"
    monkeypatch.setenv("CHANGEOVER_STATE_DIR", "env-rel")
    assert StatePaths.resolve(None, Path("x.toml")).root == tmp_path / "env-rel"


def test_every_file_lives_in_the_state_dir() -> None:
    p = StatePaths(Path("/srv/hello/.changeover"))
    assert p.store == p.root / "state.db"
    assert p.lock == p.root / "agent.lock"
    assert p.pid_file == p.root / "agent.pid"
    assert p.agent_log == p.root / "agent.log"
    assert p.logs == p.root / "logs"
    assert p.control_socket == p.root / "agent.sock"


def _root_with_socket_path_of(length: int) -> Path:
    """An absolute root whose `agent.sock` path is exactly `length` bytes long."""
    fixed = len("/") + len("/agent.sock")
    return Path("/" + "d" * (length - fixed))


def test_control_socket_falls_back_above_100_bytes(private_tempdir: Path) -> None:
    at_limit = StatePaths(_root_with_socket_path_of(100))
    assert len(os.fsencode(at_limit.control_socket)) == 100
    assert at_limit.control_socket == at_limit.root / "agent.sock"

    over = StatePaths(_root_with_socket_path_of(101))
    sock = over.control_socket
    assert sock.parent == private_tempdir / f"changeover-{os.getuid()}"
    assert sock.parent == short_socket_dir()
    assert sock.suffix == ".sock"
    assert len(os.fsencode(sock)) <= 100


def test_fallback_socket_is_deterministic_per_root(private_tempdir: Path) -> None:
    a1 = StatePaths(Path("/a" * 60)).control_socket
    a2 = StatePaths(Path("/a" * 60)).control_socket
    b = StatePaths(Path("/b" * 60)).control_socket
    assert a1 == a2
    assert a1 != b
    assert a1.parent == b.parent


def test_fallback_socket_is_bindable_after_ensure(tmp_path: Path, private_tempdir: Path) -> None:
    root = tmp_path.joinpath(*["deep-state-directory"] * 6)
    assert len(os.fsencode(root / "agent.sock")) > 108  # too long to bind directly
    paths = StatePaths(root)
    paths.ensure()
    path = paths.control_socket
    assert path.is_relative_to(private_tempdir)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(str(path))
        server.listen(1)
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.connect(str(path))
            conn, _ = server.accept()
            with conn:
                client.sendall(b"ping")
                assert conn.recv(4) == b"ping"
    path.unlink()


def test_ensure_creates_private_directories(
    tmp_path: Path, private_tempdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(paths_module, "_SUN_PATH_MAX", 10)  # force the fallback socket dir
    old = os.umask(0o022)
    try:
        paths = StatePaths(tmp_path / "state")
        paths.ensure()
        paths.ensure()  # idempotent
    finally:
        os.umask(old)
    for folder in (paths.root, paths.logs, paths.control_socket.parent):
        assert folder.is_dir()
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    assert paths.control_socket.parent != paths.root


def test_ensure_does_not_trust_a_world_writable_fallback_socket_dir(
    tmp_path: Path, private_tempdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(paths_module, "_SUN_PATH_MAX", 10)
    planted = short_socket_dir()
    planted.mkdir()
    planted.chmod(0o777)
    paths = StatePaths(tmp_path / "state")
    try:
        paths.ensure()
    except OSError:
        return  # refusing is fine too
    assert stat.S_IMODE(planted.stat().st_mode) == 0o700
